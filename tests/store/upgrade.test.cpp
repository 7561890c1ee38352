// Schema upgrades (store/registry.hpp, store/store.hpp): a store written with
// an old version of a type, reopened with a registry where a newer version is
// current, upgraded lazily (get), wholesale (select) and in the background
// (upgrade_step); and the ways opening must fail instead.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::temp_dir;

namespace {

attribute_decl attr(std::string name, attribute_type t) {
  attribute_decl a;
  a.name = std::move(name);
  a.type = t;
  return a;
}

attribute_decl owner_ref() {
  auto a = attr("owner", attribute_type::reference);
  a.target_type = "up.person";
  a.on_delete = delete_policy::nullify;
  return a;
}

// up.note v1: title, count, owner
// up.note v2: title, doubled (= 2 * count), owner
// up.note v3: title, doubled, owner, summary (= "title:doubled")
type_decl note_v1() {
  return {"up.note",
          1,
          {attr("title", attribute_type::text),
           attr("count", attribute_type::integer), owner_ref()}};
}
type_decl note_v2() {
  return {"up.note",
          2,
          {attr("title", attribute_type::text),
           attr("doubled", attribute_type::integer), owner_ref()}};
}
type_decl note_v3() {
  return {"up.note",
          3,
          {attr("title", attribute_type::text),
           attr("doubled", attribute_type::integer), owner_ref(),
           attr("summary", attribute_type::text)}};
}
type_decl person() {
  return {"up.person", 1, {attr("name", attribute_type::text)}};
}
type_decl link() {
  auto note = attr("note", attribute_type::reference);
  note.target_type = "up.note";
  note.on_delete = delete_policy::cascade;
  return {"up.link", 1, {note, attr("label", attribute_type::text)}};
}

/// 1 → 2 as a function: doubles `count`; refuses titles "bad" when asked to.
upgrader_fn one_to_two(bool refuse_bad) {
  return [refuse_bad](const item& old, item& up) -> result<void> {
    if (refuse_bad && old.values[0] == value{std::string{"bad"}})
      return error{errc::invalid_value, "refusing a bad title"};
    up.values[0] = old.values[0];
    up.values[1] = is_null(old.values[1])
                     ? value{}
                     : value{std::get<std::int64_t>(old.values[1]) * 2};
    up.values[2] = old.values[2];
    return {};
  };
}

/// 2 → 3 post-copy hook: title, doubled and owner arrive copied.
result<void> fill_summary(const item& old, item& up) {
  if (up.values[0] != old.values[0] || up.values[1] != old.values[1]
      || up.values[2] != old.values[2])
    return error{errc::internal, "copy upgrader did not copy"};
  auto title = is_null(up.values[0]) ? std::string{"-"}
                                     : std::get<std::string>(up.values[0]);
  auto doubled = is_null(up.values[1])
                   ? std::string{"-"}
                   : std::to_string(std::get<std::int64_t>(up.values[1]));
  up.values[3] = title + ":" + doubled;
  return {};
}

void add_common(type_registry& reg) {
  REQUIRE(reg.add(person()));
  REQUIRE(reg.add(link()));
}

/// Only v1, current.
void make_v1_registry(type_registry& reg) {
  add_common(reg);
  REQUIRE(reg.add(note_v1()));
}

/// v2 current, v1 legacy, upgrader 1 → 2.
void make_v2_registry(type_registry& reg, bool refuse_bad = false) {
  add_common(reg);
  REQUIRE(reg.add(note_v2()));
  REQUIRE(reg.add_legacy(note_v1()));
  REQUIRE(reg.add_upgrader("up.note", 1, 2, one_to_two(refuse_bad)));
}

/// v3 current, v1 and v2 legacy, 1 → 2 a function, 2 → 3 a copy with hook.
void make_v3_registry(type_registry& reg) {
  add_common(reg);
  REQUIRE(reg.add(note_v3()));
  REQUIRE(reg.add_legacy(note_v1()));
  REQUIRE(reg.add_legacy(note_v2()));
  REQUIRE(reg.add_upgrader("up.note", 1, 2, one_to_two(false)));
  REQUIRE(reg.add_copy_upgrader("up.note", 2, 3, fill_summary));
}

/// What a v1 note (title, count, owner) becomes at v3.
item expected_v3(item_id id, const std::string& title, std::int64_t count,
                 item_id owner) {
  return {id,
          "up.note",
          {title, count * 2, owner == 0 ? value{} : value{reference{owner}},
           title + ":" + std::to_string(count * 2)}};
}

/// Names in the schema of an open store, read through its own connection
/// (an open store holds its file exclusively).
std::set<std::string> schema_names(store& s) {
  std::set<std::string> out;
  auto st = s.connection().prepare("SELECT name FROM sqlite_schema");
  REQUIRE(st);
  for (;;) {
    auto row = (*st)->step();
    REQUIRE(row);
    if (!*row)
      break;
    out.insert(std::string{(*st)->column_text(0)});
  }
  return out;
}

/// Names in the schema of the file at `path` (not open as a store), read
/// with a connection of its own.
std::set<std::string> schema_names(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr)
          == SQLITE_OK);
  std::set<std::string> out;
  sqlite3_stmt* st = nullptr;
  REQUIRE(
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema", -1, &st, nullptr)
    == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW)
    out.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void exec_raw(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr)
          == SQLITE_OK);
  char* msg = nullptr;
  auto rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
  INFO((msg ? msg : ""));
  sqlite3_free(msg);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

struct v1_note {
  item_id id;
  std::string title;
  std::int64_t count;
  item_id owner;
};

struct fixture {
  temp_dir dir;
  std::filesystem::path file = dir / "s.sqlite";
  type_registry reg_v1, reg_v2, reg_v3;
  item_id person_id = 0;
  std::vector<v1_note> notes;
  std::vector<item_id> links; // one link per note, same order

  fixture() {
    make_v1_registry(reg_v1);
    make_v2_registry(reg_v2);
    make_v3_registry(reg_v3);
  }

  std::unique_ptr<store> open(const type_registry& reg) {
    auto s = store::open(file, reg);
    if (!s)
      FAIL("open failed: " << s.error_value().message);
    return std::move(*s);
  }

  /// Writes `n` notes at v1 (every third without owner) and a link to each.
  void write_v1(int n, std::vector<std::string> titles = {}) {
    auto s = open(reg_v1);
    item p{0, "up.person", {std::string{"owner"}}};
    REQUIRE(s->insert(p));
    person_id = p.id;
    for (int i = 0; i < n; ++i) {
      auto title = i < static_cast<int>(titles.size())
                     ? titles[static_cast<std::size_t>(i)]
                     : "note " + std::to_string(i);
      item_id owner = i % 3 == 0 ? 0 : p.id;
      item it{0,
              "up.note",
              {title, std::int64_t{i + 1},
               owner == 0 ? value{} : value{reference{owner}}}};
      REQUIRE(s->insert(it));
      notes.push_back({it.id, title, i + 1, owner});
      item l{0, "up.link", {reference{it.id}, "link " + std::to_string(i)}};
      REQUIRE(s->insert(l));
      links.push_back(l.id);
    }
  }

  void check_all_v3(store& s) {
    for (auto& n : notes) {
      auto got = s.get("up.note", n.id);
      REQUIRE(got);
      CHECK(*got == expected_v3(n.id, n.title, n.count, n.owner));
    }
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "get upgrades one old item lazily, across two steps",
                 "[store][upgrade]") {
  write_v1(5);
  auto s = open(reg_v3);
  CHECK(s->pending_upgrades() == 5);
  auto got = s->get("up.note", notes[1].id);
  REQUIRE(got);
  CHECK(*got == expected_v3(notes[1].id, notes[1].title, 2, person_id));
  CHECK(s->pending_upgrades() == 4);
  // Loading it again finds it at the current version.
  CHECK(*s->get("up.note", notes[1].id) == *got);
  // The old table stays while it still holds items.
  CHECK(schema_names(*s).count("item_up__note_v1") == 1);
  CHECK(schema_names(*s).count("item_up__note_v3") == 1);
  check_all_v3(*s);
  CHECK(s->pending_upgrades() == 0);
  CHECK(schema_names(*s).count("item_up__note_v1") == 0);
  // A missing id is still just missing.
  CHECK(s->get("up.note", 999999).code() == errc::no_such_item);
  // The upgraded items stay upgraded in the file.
  s.reset();
  s = open(reg_v3);
  CHECK(s->pending_upgrades() == 0);
  check_all_v3(*s);
}

TEST_CASE_METHOD(fixture, "select upgrades every old item of the type first",
                 "[store][upgrade]") {
  write_v1(12);
  auto s = open(reg_v3);
  REQUIRE(s->get("up.note", notes[4].id)); // one already upgraded
  query q;
  q.type = "up.note";
  q.sort = {{"doubled", true}};
  auto all = s->select(q);
  REQUIRE(all);
  REQUIRE(all->size() == 12);
  CHECK(s->pending_upgrades() == 0);
  for (std::size_t i = 0; i < 12; ++i) {
    auto& n = notes[11 - i];
    CHECK((*all)[i] == expected_v3(n.id, n.title, n.count, n.owner));
  }
  // Queries over new attributes see every item.
  CHECK(*s->count("up.note", prefix("summary", "note 1")) == 3); // 1, 10, 11
  CHECK(schema_names(*s).count("item_up__note_v1") == 0);
  // New items get ids above every old one.
  item fresh{
    0,
    "up.note",
    {std::string{"fresh"}, std::int64_t{1}, value{}, std::string{"s"}}};
  REQUIRE(s->insert(fresh));
  CHECK(fresh.id > links.back());
}

TEST_CASE_METHOD(fixture, "upgrade_step works through old items in batches",
                 "[store][upgrade]") {
  write_v1(10);
  auto s = open(reg_v3);
  CHECK(s->pending_upgrades() == 10);
  std::vector<std::int64_t> left;
  for (;;) {
    auto r = s->upgrade_step(3);
    REQUIRE(r);
    left.push_back(*r);
    CHECK(*r == s->pending_upgrades());
    if (*r == 0)
      break;
    REQUIRE(left.size() < 10);
  }
  CHECK(left == std::vector<std::int64_t>{7, 4, 1, 0});
  auto names = schema_names(*s);
  CHECK(names.count("item_up__note_v1") == 0);
  CHECK(names.count("item_up__note_v3") == 1);
  // Nothing is left to do.
  CHECK(*s->upgrade_step(3) == 0);
  check_all_v3(*s);
  // The catalogue no longer lists the old version either.
  s.reset();
  auto reopened = open(reg_v3);
  CHECK(reopened->pending_upgrades() == 0);
}

TEST_CASE_METHOD(fixture,
                 "a partial upgrade is picked up again after reopening",
                 "[store][upgrade]") {
  write_v1(8);
  {
    auto s = open(reg_v3);
    REQUIRE(*s->upgrade_step(3) == 5);
  }
  auto s = open(reg_v3);
  CHECK(s->pending_upgrades() == 5);
  REQUIRE(*s->upgrade_step(100) == 0);
  check_all_v3(*s);
}

TEST_CASE_METHOD(fixture, "items at several old versions upgrade together",
                 "[store][upgrade]") {
  write_v1(9);
  item_id v2_only = 0;
  {
    // Half the items move to v2 with a registry where v2 is current, and
    // one is written at v2 directly.
    auto s = open(reg_v2);
    CHECK(s->pending_upgrades() == 9);
    for (std::size_t i = 0; i < 4; ++i) {
      auto got = s->get("up.note", notes[i].id);
      REQUIRE(got);
      CHECK(got->values[1] == value{notes[i].count * 2});
    }
    item it{
      0,
      "up.note",
      {std::string{"born v2"}, std::int64_t{14}, value{reference{person_id}}}};
    REQUIRE(s->insert(it));
    v2_only = it.id;
    CHECK(s->pending_upgrades() == 5);
  }
  auto names = schema_names(file);
  REQUIRE(names.count("item_up__note_v1") == 1);
  REQUIRE(names.count("item_up__note_v2") == 1);

  auto s = open(reg_v3);
  CHECK(s->pending_upgrades() == 10); // 5 at v1, 5 at v2
  // A v2 item takes one step, a v1 item two.
  CHECK(*s->get("up.note", notes[0].id)
        == expected_v3(notes[0].id, notes[0].title, notes[0].count, 0));
  CHECK(*s->get("up.note", notes[8].id)
        == expected_v3(notes[8].id, notes[8].title, notes[8].count, person_id));
  CHECK(s->pending_upgrades() == 8);
  std::int64_t before = s->pending_upgrades();
  for (;;) {
    auto r = s->upgrade_step(2);
    REQUIRE(r);
    CHECK(*r < before);
    before = *r;
    if (*r == 0)
      break;
  }
  check_all_v3(*s);
  auto born = s->get("up.note", v2_only);
  REQUIRE(born);
  CHECK(born->values[3] == value{std::string{"born v2:14"}});
  names = schema_names(*s);
  CHECK(names.count("item_up__note_v1") == 0);
  CHECK(names.count("item_up__note_v2") == 0);
}

TEST_CASE_METHOD(fixture, "references keep their ids across an upgrade",
                 "[store][upgrade]") {
  write_v1(4);
  auto s = open(reg_v3);
  // A link to a note that has not been upgraded yet can still be made.
  item l{0, "up.link", {reference{notes[3].id}, std::string{"late"}}};
  REQUIRE(s->insert(l));
  REQUIRE(*s->upgrade_step(100) == 0);
  for (std::size_t i = 0; i < notes.size(); ++i) {
    auto got = s->get("up.link", links[i]);
    REQUIRE(got);
    CHECK(got->values[0] == value{reference{notes[i].id}});
    auto note = s->get("up.note", notes[i].id);
    REQUIRE(note);
    CHECK(note->values[2]
          == (notes[i].owner == 0 ? value{} : value{reference{person_id}}));
  }
  // Policies still apply: deleting an upgraded note cascades to its links,
  // deleting the person nullifies the owners.
  REQUIRE(s->remove("up.note", notes[3].id));
  CHECK(s->get("up.link", links[3]).code() == errc::no_such_item);
  CHECK(s->get("up.link", l.id).code() == errc::no_such_item);
  REQUIRE(s->remove("up.person", person_id));
  CHECK(*s->count("up.note", not_null("owner")) == 0);
  CHECK(*s->count("up.link") == 3);
}

TEST_CASE_METHOD(fixture,
                 "deleting an old item's referent upgrades the referrers",
                 "[store][upgrade]") {
  write_v1(3);
  auto s = open(reg_v3);
  // The notes referring to the person are still at v1.
  REQUIRE(s->remove("up.person", person_id));
  CHECK(s->pending_upgrades() == 0);
  for (auto& n : notes)
    CHECK(is_null(s->get("up.note", n.id)->values[2]));
}

TEST_CASE_METHOD(fixture, "a failing upgrader leaves the old item untouched",
                 "[store][upgrade]") {
  write_v1(3, {"good", "bad", "fine"});
  type_registry refusing;
  make_v2_registry(refusing, true);
  {
    auto s = store::open(file, refusing);
    REQUIRE(s);
    auto bad = (*s)->get("up.note", notes[1].id);
    REQUIRE_FALSE(bad);
    CHECK(bad.code() == errc::invalid_value);
    CHECK(bad.error_value().message.find("refusing a bad title")
          != std::string::npos);
    CHECK(bad.error_value().message.find("up.note") != std::string::npos);
    CHECK_FALSE((*s)->in_transaction());
    // Other items upgrade.
    REQUIRE((*s)->get("up.note", notes[0].id));
    CHECK((*s)->pending_upgrades() == 2);
    // Background upgrading and whole-type queries report the error.
    auto step = (*s)->upgrade_step(10);
    REQUIRE_FALSE(step);
    CHECK(step.error_value().message.find("refusing") != std::string::npos);
    CHECK((*s)->count("up.note").code() == errc::invalid_value);
    CHECK((*s)->pending_upgrades() >= 1);
  }
  // The refused item is still there at v1, as it was.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr)
            == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db,
                               "SELECT title, count, owner FROM "
                               "item_up__note_v1 WHERE id = ?",
                               -1, &st, nullptr)
            == SQLITE_OK);
    sqlite3_bind_int64(st, 1, notes[1].id);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(std::string{reinterpret_cast<const char*>(sqlite3_column_text(st, 0))}
          == "bad");
    CHECK(sqlite3_column_int64(st, 1) == 2);
    CHECK(sqlite3_column_int64(st, 2) == person_id);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  // With an upgrader that accepts it, it upgrades normally.
  auto s = open(reg_v3);
  REQUIRE(*s->upgrade_step(10) == 0);
  check_all_v3(*s);
}

TEST_CASE_METHOD(fixture, "old items without an upgrade path refuse to open",
                 "[store][upgrade]") {
  write_v1(2);
  SECTION("no legacy declaration, no upgrader") {
    type_registry reg;
    add_common(reg);
    REQUIRE(reg.add(note_v3()));
    auto s = store::open(file, reg);
    REQUIRE_FALSE(s);
    CHECK(s.code() == errc::no_upgrade_path);
    auto& msg = s.error_value().message;
    CHECK(msg.find("up.note") != std::string::npos);
    CHECK(msg.find("version 1") != std::string::npos);
    CHECK(msg.find("version 3") != std::string::npos);
  }
  SECTION("a missing step in the middle") {
    type_registry reg;
    add_common(reg);
    REQUIRE(reg.add(note_v3()));
    REQUIRE(reg.add_legacy(note_v1()));
    REQUIRE(reg.add_legacy(note_v2()));
    REQUIRE(reg.add_upgrader("up.note", 1, 2, one_to_two(false)));
    auto s = store::open(file, reg);
    REQUIRE_FALSE(s);
    CHECK(s.code() == errc::no_upgrade_path);
    CHECK(s.error_value().message.find("up.note") != std::string::npos);
  }
  SECTION("an upgrader to a version that is not declared") {
    type_registry reg;
    add_common(reg);
    REQUIRE(reg.add(note_v3()));
    REQUIRE(reg.add_legacy(note_v1()));
    REQUIRE(reg.add_upgrader("up.note", 1, 2, one_to_two(false)));
    REQUIRE(reg.add_copy_upgrader("up.note", 2, 3));
    CHECK_FALSE(reg.has_path("up.note", 1));
    auto s = store::open(file, reg);
    REQUIRE_FALSE(s);
    CHECK(s.code() == errc::no_upgrade_path);
  }
  // The file is not damaged: the old registry still opens it.
  auto s = open(reg_v1);
  CHECK(*s->count("up.note") == 2);
}

TEST_CASE_METHOD(fixture, "an old version with no items left needs no path",
                 "[store][upgrade]") {
  write_v1(2);
  {
    auto s = open(reg_v1);
    REQUIRE(s->remove_where("up.note", {}));
  }
  type_registry reg;
  add_common(reg);
  REQUIRE(reg.add(note_v3()));
  auto s = store::open(file, reg);
  REQUIRE(s);
  CHECK((*s)->pending_upgrades() == 0);
  CHECK(*(*s)->count("up.note") == 0);
}

TEST_CASE_METHOD(fixture, "a store from a newer version of a type is refused",
                 "[store][upgrade]") {
  write_v1(2);
  {
    auto s = open(reg_v3);
    REQUIRE(*s->upgrade_step(10) == 0);
  }
  auto s = store::open(file, reg_v1);
  REQUIRE_FALSE(s);
  CHECK(s.code() == errc::version_too_new);
  CHECK(s.error_value().message.find("up.note") != std::string::npos);
  // Also with a registry where the stored version is only a legacy one.
  auto s2 = store::open(file, reg_v2);
  REQUIRE_FALSE(s2);
  CHECK(s2.code() == errc::version_too_new);
}

TEST_CASE_METHOD(fixture, "a store of a newer format is refused",
                 "[store][upgrade]") {
  write_v1(1);
  exec_raw(file, "UPDATE mantissa_meta SET value = 2 WHERE key = 'format'");
  auto s = store::open(file, reg_v1);
  REQUIRE_FALSE(s);
  CHECK(s.code() == errc::version_too_new);
  CHECK(s.error_value().message.find("format") != std::string::npos);
  store_options ro;
  ro.read_only = true;
  CHECK(store::open(file, reg_v1, ro).code() == errc::version_too_new);
}

TEST_CASE_METHOD(fixture,
                 "changing attributes without a new version is refused",
                 "[store][upgrade]") {
  write_v1(1);
  auto changed = note_v1();
  SECTION("an attribute added") {
    changed.attributes.push_back(attr("extra", attribute_type::text));
  }
  SECTION("an attribute's type changed") {
    changed.attributes[1].type = attribute_type::real;
  }
  SECTION("an attribute renamed") {
    changed.attributes[0].name = "heading";
  }
  SECTION("an attribute made non-nullable") {
    changed.attributes[0].nullable = false;
  }
  SECTION("a reference's target changed") {
    changed.attributes[2].target_type = "up.link";
  }
  type_registry reg;
  add_common(reg);
  REQUIRE(reg.add(changed));
  auto s = store::open(file, reg);
  REQUIRE_FALSE(s);
  CHECK(s.code() == errc::no_upgrade_path);
  CHECK(s.error_value().message.find("up.note") != std::string::npos);
  CHECK(s.error_value().message.find("new version") != std::string::npos);
  // Nothing was written: the original registry opens the file as before.
  auto again = open(reg_v1);
  CHECK(*again->count("up.note") == 1);
}

TEST_CASE_METHOD(fixture, "adding only an index keeps the version",
                 "[store][upgrade]") {
  write_v1(3);
  auto indexed = note_v1();
  indexed.attributes[0].indexed = true;
  indexed.compound_indexes = {{"count", "title"}};
  type_registry reg;
  add_common(reg);
  REQUIRE(reg.add(indexed));
  {
    auto s = store::open(file, reg);
    REQUIRE(s);
    CHECK(*(*s)->count("up.note", cmp("title", compare_op::eq, "note 1")) == 1);
  }
  auto names = schema_names(file);
  CHECK(names.count("idx_item_up__note_v1_title") == 1);
  CHECK(names.count("idx_item_up__note_v1_count_title") == 1);
  // Both the new and the old declaration open it afterwards.
  CHECK(store::open(file, reg).has_value());
  auto s = open(reg_v1);
  CHECK(*s->count("up.note") == 3);
}

TEST_CASE("a registry keeps versions and upgraders consistent",
          "[store][upgrade][registry]") {
  type_registry reg;
  REQUIRE(reg.add(note_v2()));
  CHECK(reg.add(note_v3()).code() == errc::already_exists);
  CHECK(reg.add_legacy(note_v2()).code() == errc::already_exists);
  CHECK(reg.add_legacy(note_v3()).code() == errc::already_exists);
  REQUIRE(reg.add_legacy(note_v1()));
  CHECK(reg.add_legacy(note_v1()).code() == errc::already_exists);
  CHECK(reg.add_upgrader("up.note", 2, 1, {}).code() == errc::invalid_value);
  CHECK(reg.add_upgrader("up.note", 0, 1, {}).code() == errc::invalid_value);
  CHECK(reg.add_upgrader("nope", 1, 2, {}).code() == errc::no_such_type);
  REQUIRE(reg.add_upgrader("up.note", 1, 2, one_to_two(false)));
  CHECK(reg.add_copy_upgrader("up.note", 1, 2).code() == errc::already_exists);
  CHECK(reg.has_path("up.note", 1));
  CHECK(reg.has_path("up.note", 2));
  CHECK_FALSE(reg.has_path("up.note", 3));
  CHECK(reg.find("up.note", 1)->version == 1);
  CHECK(reg.current("up.note")->version == 2);

  // Legacy first, then a current version that is not newer: refused.
  type_registry backwards;
  REQUIRE(backwards.add_legacy(note_v3()));
  auto r = backwards.add(note_v2());
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::already_exists);
  CHECK(backwards.current("up.note") == nullptr);
}
