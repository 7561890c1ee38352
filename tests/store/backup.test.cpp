// store/backup.hpp: the stepped online backup of an open store, with writes
// through the same connection between the steps.

#include <catch2/catch.hpp>

#include <filesystem>

#include "store/backup.hpp"
#include "store/store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::temp_dir;

namespace {

type_decl entry_decl() {
  attribute_decl n{"n", attribute_type::integer};
  n.indexed = true;
  attribute_decl body{"body", attribute_type::text};
  return {"test.entry", 1, {n, body}};
}

item entry(std::int64_t n) {
  item it;
  it.type = "test.entry";
  it.values = {value{n}, value{std::string(500, static_cast<char>('a' + n % 26))}};
  return it;
}

std::int64_t count_in(const std::filesystem::path& file,
                      const type_registry& reg) {
  auto s = store::open(file, reg);
  REQUIRE(s);
  REQUIRE(*(*s)->integrity_check() == "ok");
  auto n = (*s)->count("test.entry", {});
  REQUIRE(n);
  return *n;
}

} // namespace

TEST_CASE("online_backup copies in steps and keeps up with writes between "
          "them",
          "[store][backup]") {
  temp_dir dir;
  type_registry reg;
  REQUIRE(reg.add(entry_decl()));
  auto s = store::open(dir / "src.sqlite", reg);
  REQUIRE(s);
  auto& db = **s;
  REQUIRE(db.begin());
  for (std::int64_t i = 0; i < 2000; ++i) {
    auto it = entry(i);
    REQUIRE(db.insert(it));
  }
  REQUIRE(db.commit());

  auto dest = dir / "out/copy.sqlite";
  auto b = online_backup::start(db.connection(), dest);
  REQUIRE(b);
  std::int64_t written = 2000;
  int rounds = 0;
  for (;;) {
    auto done = (*b)->step(16);
    REQUIRE(done);
    if (*done)
      break;
    CHECK((*b)->page_count() > 0);
    CHECK(!std::filesystem::exists(dest));  // only the temporary file yet
    CHECK(std::filesystem::exists(dir / "out/copy.sqlite.tmp"));
    // A write between steps (its own transaction): in the copy as well.
    auto it = entry(written++);
    REQUIRE(db.insert(it));
    ++rounds;
  }
  CHECK(rounds > 5);
  CHECK((*b)->steps() == rounds + 1);
  auto bytes = (*b)->finish();
  REQUIRE(bytes);
  CHECK(*bytes == std::filesystem::file_size(dest));
  CHECK(!std::filesystem::exists(dir / "out/copy.sqlite.tmp"));
  CHECK(count_in(dest, reg) == written);
}

TEST_CASE("online_backup refuses to step inside a transaction and cleans "
          "up when abandoned",
          "[store][backup]") {
  temp_dir dir;
  type_registry reg;
  REQUIRE(reg.add(entry_decl()));
  auto s = store::open(dir / "src.sqlite", reg);
  REQUIRE(s);
  auto it = entry(1);
  REQUIRE((*s)->insert(it));
  {
    auto b = online_backup::start((*s)->connection(), dir / "copy.sqlite");
    REQUIRE(b);
    REQUIRE((*s)->begin());
    auto uncommitted = entry(2);
    REQUIRE((*s)->insert(uncommitted));
    auto r = (*b)->step(-1);
    REQUIRE(!r);
    CHECK(r.code() == errc::busy);
    (*s)->rollback();
    CHECK(std::filesystem::exists(dir / "copy.sqlite.tmp"));
  }
  CHECK(!std::filesystem::exists(dir / "copy.sqlite.tmp"));
  CHECK(!std::filesystem::exists(dir / "copy.sqlite"));
  // A directory that cannot be made is an error naming it.
  auto bad = online_backup::start((*s)->connection(),
                                  dir / "src.sqlite" / "under/file.sqlite");
  REQUIRE(!bad);
  CHECK(bad.error_value().message.find("src.sqlite") != std::string::npos);
}
