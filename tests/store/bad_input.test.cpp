// Bad input: damaged and foreign files, directories that cannot be written,
// read-only stores, values that do not fit, and the edges of every value
// type.
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::temp_dir;
namespace fs = std::filesystem;

namespace {

attribute_decl attr(std::string name, attribute_type t, bool nullable = true) {
  attribute_decl a;
  a.name = std::move(name);
  a.type = t;
  a.nullable = nullable;
  return a;
}

// bad.thing: one attribute of every kind (all nullable), plus a text with a
// limit of its own.
type_decl thing_decl() {
  type_decl d{
    "bad.thing",
    1,
    {attr("i", attribute_type::integer), attr("r", attribute_type::real),
     attr("t", attribute_type::text), attr("data", attribute_type::bytes),
     attr("b", attribute_type::boolean), attr("ts", attribute_type::timestamp),
     attr("doc", attribute_type::json), attr("short", attribute_type::text)}};
  d.attributes[7].max_size = 10;
  return d;
}

item thing() {
  return {
    0,
    "bad.thing",
    {value{}, value{}, value{}, value{}, value{}, value{}, value{}, value{}}};
}

enum col { i_, r_, t_, data_, b_, ts_, doc_, short_ };

item with(col c, value v) {
  auto it = thing();
  it.values[static_cast<std::size_t>(c)] = std::move(v);
  return it;
}

struct fixture {
  temp_dir dir;
  type_registry reg;
  fs::path file = dir / "s.sqlite";

  fixture() { REQUIRE(reg.add(thing_decl())); }

  std::unique_ptr<store> open(store_options opts = {}) {
    auto s = store::open(file, reg, opts);
    if (!s)
      FAIL("open failed: " << s.error_value().message);
    return std::move(*s);
  }

  /// A store with `n` items holding some text each (several pages' worth).
  void fill(int n) {
    auto s = open();
    REQUIRE(s->transact([&]() -> result<void> {
      for (int k = 0; k < n; ++k) {
        auto it = thing();
        it.values[i_] = std::int64_t{k};
        it.values[t_] = std::string(200, static_cast<char>('a' + k % 26));
        MANTISSA_TRY(s->insert(it));
      }
      return {};
    }));
  }

  /// Opens the file and reads everything; the first error met, if any.
  std::optional<error> first_error() {
    auto s = store::open(file, reg);
    if (!s)
      return s.error_value();
    query q;
    q.type = "bad.thing";
    if (auto r = (*s)->select(q); !r)
      return r.error_value();
    if (auto r
        = (*s)->count("bad.thing", cmp("i", compare_op::ge, std::int64_t{0}));
        !r)
      return r.error_value();
    auto more = thing();
    if (auto r = (*s)->insert(more); !r)
      return r.error_value();
    return std::nullopt;
  }

  item round_trip(item it) {
    auto s = open();
    REQUIRE(s->insert(it));
    s.reset();
    s = open();
    auto back = s->get("bad.thing", it.id);
    REQUIRE(back);
    return *back;
  }
};

/// Page size and root page of `table` in the file at `path`.
std::pair<std::int64_t, std::int64_t> page_of(const fs::path& path,
                                              const std::string& table) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr)
          == SQLITE_OK);
  std::int64_t page_size = 0, root = 0;
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, nullptr)
          == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  page_size = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  REQUIRE(
    sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = ?",
                       -1, &st, nullptr)
    == SQLITE_OK);
  sqlite3_bind_text(st, 1, table.c_str(), -1, SQLITE_TRANSIENT);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  root = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return {page_size, root};
}

void overwrite(const fs::path& path, std::int64_t offset,
               const std::string& bytes) {
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  REQUIRE(f);
  f.seekp(offset);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f);
}

bool damaged(errc c) {
  return c == errc::corrupt || c == errc::not_a_database;
}

} // namespace

TEST_CASE_METHOD(fixture, "a truncated store file gives a clear error",
                 "[store][bad-input]") {
  fill(400);
  // A closed store leaves only an empty WAL file: everything is in the
  // main file, which is what is damaged below.
  REQUIRE((!fs::exists(dir / "s.sqlite-wal")
           || fs::file_size(dir / "s.sqlite-wal") == 0));
  auto size = fs::file_size(file);
  REQUIRE(size > 64 * 1024);
  SECTION("cut in half") {
    fs::resize_file(file, size / 2);
  }
  SECTION("cut inside the first page") {
    fs::resize_file(file, 1000);
  }
  SECTION("cut to the header") {
    fs::resize_file(file, 100);
  }
  auto e = first_error();
  REQUIRE(e);
  INFO(e->message);
  CHECK(damaged(e->code));
  CHECK(e->message.find("s.sqlite") != std::string::npos);
}

TEST_CASE_METHOD(fixture, "bytes overwritten in the middle give a clear error",
                 "[store][bad-input]") {
  fill(400);
  auto [page_size, root] = page_of(file, "item_bad__thing_v1");
  auto size = static_cast<std::int64_t>(fs::file_size(file));
  SECTION("the item table's root page") {
    overwrite(file, (root - 1) * page_size,
              std::string(static_cast<std::size_t>(page_size), '\xff'));
  }
  SECTION("a page in the middle of the file") {
    auto middle = size / page_size / 2;
    const auto seed = mantissa::test::test_seed("bad_input page");
    INFO("seed " << seed << " (MANTISSA_SEED replays it)");
    std::mt19937 rng{seed};
    std::string junk(static_cast<std::size_t>(page_size), '\0');
    for (auto& ch : junk)
      ch = static_cast<char>(rng());
    junk[0] = '\x42'; // not a valid b-tree page type
    overwrite(file, middle * page_size, junk);
  }
  auto e = first_error();
  REQUIRE(e);
  INFO(e->message);
  CHECK(damaged(e->code));
}

TEST_CASE_METHOD(fixture, "files that are not stores are refused",
                 "[store][bad-input]") {
  SECTION("random bytes") {
    const auto seed = mantissa::test::test_seed("bad_input file");
    INFO("seed " << seed << " (MANTISSA_SEED replays it)");
    std::mt19937 rng{seed};
    std::string junk(10000, '\0');
    for (auto& ch : junk)
      ch = static_cast<char>(rng());
    std::ofstream{file, std::ios::binary} << junk;
    auto s = store::open(file, reg);
    REQUIRE_FALSE(s);
    CHECK(s.code() == errc::not_a_database);
    CHECK(fs::file_size(file) == 10000);
  }
  SECTION("an SQLite header followed by garbage") {
    std::string junk
      = std::string("SQLite format 3") + '\0' + std::string(8000, '\x07');
    std::ofstream{file, std::ios::binary} << junk;
    auto s = store::open(file, reg);
    REQUIRE_FALSE(s);
    CHECK(damaged(s.code()));
  }
  SECTION("a directory") {
    fs::create_directory(file);
    auto s = store::open(file, reg);
    REQUIRE_FALSE(s);
    CHECK(s.code() == errc::io_error);
  }
  SECTION("a missing directory") {
    auto s = store::open(dir / "nope" / "s.sqlite", reg);
    REQUIRE_FALSE(s);
    CHECK(s.code() == errc::io_error);
    CHECK(s.error_value().message.find("nope") != std::string::npos);
  }
  SECTION("a missing file without create") {
    store_options o;
    o.create = false;
    auto s = store::open(file, reg, o);
    REQUIRE_FALSE(s);
    CHECK(s.code() == errc::io_error);
    CHECK_FALSE(fs::exists(file));
  }
  SECTION("a missing file opened read-only") {
    store_options o;
    o.read_only = true;
    CHECK_FALSE(store::open(file, reg, o));
    CHECK_FALSE(fs::exists(file));
  }
}

TEST_CASE_METHOD(fixture, "an empty file opens as a new store",
                 "[store][bad-input]") {
  std::ofstream{file};
  REQUIRE(fs::file_size(file) == 0);
  auto s = open();
  auto it = with(i_, std::int64_t{1});
  REQUIRE(s->insert(it));
  CHECK(*s->count("bad.thing") == 1);
}

TEST_CASE_METHOD(fixture, "a store opened read-only refuses every write",
                 "[store][bad-input]") {
  item kept = with(t_, std::string{"kept"});
  {
    auto s = open();
    REQUIRE(s->insert(kept));
  }
  store_options ro;
  ro.read_only = true;
  auto s = open(ro);
  // Reads work.
  CHECK(*s->get("bad.thing", kept.id) == kept);
  CHECK(*s->count("bad.thing") == 1);
  // Writes do not.
  auto fresh = with(i_, std::int64_t{5});
  CHECK(s->insert(fresh).code() == errc::read_only);
  auto changed = kept;
  changed.values[t_] = std::string{"changed"};
  CHECK(s->update(changed).code() == errc::read_only);
  CHECK(s->remove("bad.thing", kept.id).code() == errc::read_only);
  CHECK(s->remove_where("bad.thing", {}).code() == errc::read_only);
  CHECK(s->begin().code() == errc::read_only);
  CHECK(s->transact([&]() -> result<void> { return {}; }).code()
        == errc::read_only);
  CHECK_FALSE(s->in_transaction());
  s.reset();
  auto rw = open();
  CHECK(*rw->get("bad.thing", kept.id) == kept);
  CHECK(*rw->count("bad.thing") == 1);
}

namespace {

/// What opening (and, when that works, writing to) a store in `dir` gives:
/// 0 when everything worked, else the error code.
int try_store_in(const fs::path& path, const type_registry& reg) {
  auto s = store::open(path, reg);
  if (!s)
    return static_cast<int>(s.code());
  auto it = with(i_, std::int64_t{1});
  if (auto r = (*s)->insert(it); !r)
    return static_cast<int>(r.code());
  return 0;
}

/// Runs `try_store_in` as an unprivileged user in a child process, because
/// permissions do not apply to root. Returns -1 when that is not possible.
int try_store_as_nobody(const fs::path& path, const type_registry& reg) {
  auto pid = ::fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0)
      ::_exit(254);
    ::_exit(try_store_in(path, reg));
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  auto code = WEXITSTATUS(status);
  return code == 254 ? -1 : code;
}

} // namespace

TEST_CASE_METHOD(fixture,
                 "a directory that cannot be written gives a clear error",
                 "[store][bad-input]") {
  auto ro_dir = dir / "locked";
  fs::create_directory(ro_dir);
  {
    // An existing store inside it, made before it was locked.
    auto s = store::open(ro_dir / "old.sqlite", reg);
    REQUIRE(s);
  }
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read
                                | fs::perms::group_exec | fs::perms::others_read
                                | fs::perms::others_exec);
  fs::permissions(ro_dir, fs::perms::owner_read | fs::perms::owner_exec
                            | fs::perms::group_read | fs::perms::group_exec
                            | fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(ro_dir / "old.sqlite",
                  fs::perms::owner_read | fs::perms::owner_write
                    | fs::perms::group_read | fs::perms::others_read);
  auto attempt = [&](const fs::path& p) {
    if (::geteuid() != 0)
      return try_store_in(p, reg);
    return try_store_as_nobody(p, reg);
  };
  auto fresh = attempt(ro_dir / "new.sqlite");
  auto old = attempt(ro_dir / "old.sqlite");
  fs::permissions(ro_dir, fs::perms::owner_all);
  if (fresh == -1 || old == -1) {
    WARN("running as root and cannot drop privileges: permissions are not "
         "enforced, so the read-only directory case is not exercised");
    return;
  }
  INFO("new store: " << fresh << ", existing store: " << old);
  // Creating a store there fails cleanly (SQLite cannot create the file).
  CHECK((fresh == static_cast<int>(errc::io_error)
         || fresh == static_cast<int>(errc::read_only)));
  // An existing store whose files cannot be written is refused cleanly:
  // at open (its persistent WAL file cannot be opened for writing) or at
  // the first write.
  CHECK((old == static_cast<int>(errc::io_error)
         || old == static_cast<int>(errc::read_only)));
  CHECK_FALSE(fs::exists(ro_dir / "new.sqlite"));
}

TEST_CASE_METHOD(fixture, "values larger than the limits are refused",
                 "[store][bad-input]") {
  store_options small;
  small.max_value_size = 1000;
  auto s = open(small);
  auto ok_text = with(t_, std::string(1000, 'x'));
  REQUIRE(s->insert(ok_text));
  auto big_text = with(t_, std::string(1001, 'x'));
  auto r = s->insert(big_text);
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::invalid_value);
  CHECK(r.error_value().message.find("'t'") != std::string::npos);
  auto big_blob = with(data_, blob{std::string(1001, '\0')});
  CHECK(s->insert(big_blob).code() == errc::invalid_value);
  auto big_doc = with(doc_, nlohmann::json(std::string(1000, 'y')));
  CHECK(s->insert(big_doc).code() == errc::invalid_value);
  // The attribute's own limit wins.
  auto short_ok = with(short_, std::string(10, 's'));
  REQUIRE(s->insert(short_ok));
  auto too_long = with(short_, std::string(11, 's'));
  CHECK(s->insert(too_long).code() == errc::invalid_value);
  // Updates are checked too and leave the item alone.
  auto grown = ok_text;
  grown.values[t_] = std::string(1001, 'x');
  CHECK(s->update(grown).code() == errc::invalid_value);
  CHECK(*s->get("bad.thing", ok_text.id) == ok_text);
  CHECK(*s->count("bad.thing") == 2);
}

TEST_CASE_METHOD(fixture, "values of the wrong type are refused",
                 "[store][bad-input]") {
  auto s = open();
  std::vector<std::pair<col, value>> wrong = {
    {i_, value{std::string{"1"}}},
    {i_, value{1.0}},
    {i_, value{true}},
    {i_, value{timestamp{1}}},
    {i_, value{reference{1}}},
    {r_, value{std::string{"1.5"}}},
    {r_, value{true}},
    {t_, value{std::int64_t{1}}},
    {t_, value{blob{"text"}}},
    {data_, value{std::string{"bytes"}}},
    {b_, value{std::int64_t{1}}},
    {b_, value{std::string{"true"}}},
    {ts_, value{std::int64_t{1}}},
    {ts_, value{std::string{"2024-01-01"}}},
    {doc_, value{std::string{"{}"}}},
  };
  for (auto& [c, v] : wrong) {
    INFO("attribute " << thing_decl().attributes[c].name << " given "
                      << describe(v));
    auto it = with(c, v);
    auto r = s->insert(it);
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::invalid_value);
    CHECK(
      r.error_value().message.find("'" + thing_decl().attributes[c].name + "'")
      != std::string::npos);
  }
  // Integers are accepted for reals and stored as reals.
  auto widened = with(r_, std::int64_t{3});
  REQUIRE(s->insert(widened));
  CHECK(s->get("bad.thing", widened.id)->values[r_] == value{3.0});
  // The wrong number of values, or an undeclared type.
  auto few = thing();
  few.values.pop_back();
  CHECK(s->insert(few).code() == errc::invalid_value);
  auto many = thing();
  many.values.push_back(value{});
  CHECK(s->insert(many).code() == errc::invalid_value);
  item stranger{0, "bad.unknown", {}};
  CHECK(s->insert(stranger).code() == errc::no_such_type);
  CHECK(*s->count("bad.thing") == 1);
}

TEST_CASE_METHOD(fixture, "text must be UTF-8 without NUL",
                 "[store][bad-input]") {
  auto s = open();
  for (auto bad :
       {std::string("a\0b", 3), std::string(1, '\0'), std::string("\xff\xfe"),
        std::string("\xc3"), std::string("\xed\xa0\x80") /* a surrogate */,
        std::string("\xc0\xaf") /* overlong */}) {
    auto it = with(t_, bad);
    auto r = s->insert(it);
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::invalid_value);
  }
  // The same bytes are fine as bytes.
  auto bytes = with(data_, blob{std::string("a\0b\xff", 4)});
  REQUIRE(s->insert(bytes));
  CHECK(s->get("bad.thing", bytes.id)->values[data_]
        == value{blob{std::string("a\0b\xff", 4)}});
  // A JSON string holding NUL is stored escaped and comes back whole.
  auto doc = with(doc_, nlohmann::json(std::string("x\0y", 3)));
  REQUIRE(s->insert(doc));
  CHECK(s->get("bad.thing", doc.id)->values[doc_] == doc.values[doc_]);
}

TEST_CASE_METHOD(fixture, "edge values survive the round trip",
                 "[store][bad-input]") {
  using lim = std::numeric_limits<std::int64_t>;
  SECTION("64-bit integer limits") {
    for (auto v : {lim::min(), lim::max(), std::int64_t{0}, std::int64_t{-1}}) {
      auto back = round_trip(with(i_, v));
      CHECK(back.values[i_] == value{v});
    }
    auto s = open();
    CHECK(*s->count("bad.thing", cmp("i", compare_op::eq, lim::min())) == 1);
    CHECK(*s->count("bad.thing", cmp("i", compare_op::gt, lim::max() - 1))
          == 1);
  }
  SECTION("empty text and empty bytes are not null") {
    auto it = thing();
    it.values[t_] = std::string{};
    it.values[data_] = blob{};
    auto back = round_trip(it);
    CHECK(back.values[t_] == value{std::string{}});
    CHECK(back.values[data_] == value{blob{}});
    auto s = open();
    CHECK(*s->count("bad.thing", is_null("t")) == 0);
    CHECK(*s->count("bad.thing", cmp("t", compare_op::eq, "")) == 1);
  }
  SECTION("a 5 MB blob") {
    std::string big(5 * 1024 * 1024, '\0');
    const auto seed = mantissa::test::test_seed("bad_input blob");
    INFO("seed " << seed << " (MANTISSA_SEED replays it)");
    std::mt19937 rng{seed};
    for (auto& ch : big)
      ch = static_cast<char>(rng());
    auto back = round_trip(with(data_, blob{big}));
    CHECK(std::get<blob>(back.values[data_]).data == big);
  }
  SECTION("timestamps before 1970") {
    for (auto v : {std::int64_t{-1}, std::int64_t{-86400000000},
                   std::int64_t{-62135596800000000} /* year 1 */, lim::min()}) {
      auto back = round_trip(with(ts_, timestamp{v}));
      CHECK(back.values[ts_] == value{timestamp{v}});
    }
    auto s = open();
    CHECK(*s->count("bad.thing", cmp("ts", compare_op::lt, timestamp{0})) == 4);
  }
  SECTION("extreme doubles") {
    for (double v : {1e308, -1e308, std::numeric_limits<double>::max(),
                     std::numeric_limits<double>::denorm_min(),
                     std::numeric_limits<double>::infinity(), 0.1}) {
      INFO(v);
      auto back = round_trip(with(r_, v));
      CHECK(back.values[r_] == value{v});
    }
  }
  SECTION("negative zero") {
    // SQLite keeps reals without a fraction as integers on disk, so the sign
    // of zero is not kept; the value still compares equal to zero.
    auto back = round_trip(with(r_, -0.0));
    REQUIRE(std::holds_alternative<double>(back.values[r_]));
    CHECK(std::get<double>(back.values[r_]) == 0.0);
    auto s = open();
    CHECK(*s->count("bad.thing", cmp("r", compare_op::eq, 0.0)) == 1);
  }
  SECTION("not a number is refused, not turned into null") {
    auto s = open();
    auto it = with(r_, std::numeric_limits<double>::quiet_NaN());
    auto r = s->insert(it);
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::invalid_value);
    CHECK(*s->count("bad.thing") == 0);
  }
  SECTION("booleans and JSON documents") {
    auto it = thing();
    it.values[b_] = false;
    it.values[doc_] = nlohmann::json{{"k", {1, 2.5, nullptr, "s"}},
                                     {"e", nlohmann::json::object()}};
    auto back = round_trip(it);
    CHECK(back.values[b_] == value{false});
    CHECK(back.values[doc_] == it.values[doc_]);
  }
}
