// Sharing (store/sharing.hpp): roles, group membership, shares, the default
// share and the visibility restriction of queries (store/store.hpp), on real
// SQLite files; plus a randomized run checked against an in-memory model.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sqlite3.h>
#include <string>
#include <vector>

#include "store/sharing.hpp"
#include "store/store.hpp"
#include "tests/support/result.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::ok;
using mantissa::test::temp_dir;

namespace {

using strings = std::vector<std::string>;

// share.doc(title text indexed, n integer); share.note(title, n, doc →
// share.doc, cascade); share.base and share.tool (which requires share.base)
// for the powerup path of deletion.
constexpr const char* doc_type = "share.doc";
constexpr const char* note_type = "share.note";

attribute_decl attr(const char* name, attribute_type t, bool indexed = false) {
  attribute_decl a;
  a.name = name;
  a.type = t;
  a.indexed = indexed;
  return a;
}

void declare(type_registry& reg) {
  type_decl doc;
  doc.name = doc_type;
  doc.attributes = {attr("title", attribute_type::text, true),
                    attr("n", attribute_type::integer)};
  REQUIRE(reg.add(doc));
  type_decl note;
  note.name = note_type;
  auto ref = attr("doc", attribute_type::reference);
  ref.target_type = doc_type;
  ref.on_delete = delete_policy::cascade;
  note.attributes = {attr("title", attribute_type::text),
                     attr("n", attribute_type::integer), ref};
  REQUIRE(reg.add(note));
  type_decl base;
  base.name = "share.base";
  base.attributes = {attr("x", attribute_type::integer)};
  base.powerup_interfaces = {{"base", 0}};
  REQUIRE(reg.add(base));
  type_decl tool;
  tool.name = "share.tool";
  tool.attributes = {attr("x", attribute_type::integer)};
  tool.powerup_interfaces = {{"tool", 0}};
  tool.requires_types = {"share.base"};
  REQUIRE(reg.add(tool));
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

struct fixture {
  temp_dir dir;
  std::filesystem::path file = dir / "s.sqlite";
  type_registry reg;
  std::unique_ptr<store> s;

  fixture() {
    declare(reg);
    reopen();
  }

  void reopen(store_options opts = {}) {
    s.reset();
    auto r = store::open(file, reg, opts);
    REQUIRE(r);
    s = std::move(*r);
  }

  item_ref doc(const std::string& title, std::int64_t n = 0) {
    item it{0, doc_type, {title, n}};
    REQUIRE(s->insert(it));
    return {doc_type, it.id};
  }

  item_ref note(const std::string& title, const item_ref& d) {
    item it{0, note_type, {title, std::int64_t{0}, reference{d.id}}};
    REQUIRE(s->insert(it));
    return {note_type, it.id};
  }

  std::string grant(const item_ref& it, const std::string& role,
                    const strings& ifaces, const std::string& id = {}) {
    auto r = share_item(*s, it, role, ifaces, id);
    if (!r)
      FAIL("share_item: " << r.error_value().message);
    return *r;
  }

  strings closure(const std::string& role) {
    auto r = role_closure(*s, role);
    REQUIRE(r);
    return *r;
  }

  strings ifaces(const std::string& role, const item_ref& it) {
    auto r = interfaces_for(*s, closure(role), it.id);
    REQUIRE(r);
    return *r;
  }

  /// The interfaces `role` gets through `share_id`; empty: no_such_item.
  strings through(const std::string& role, const std::string& share_id) {
    auto r = get_share(*s, closure(role), share_id);
    if (!r) {
      CHECK(r.code() == errc::no_such_item);
      return {};
    }
    return r->interfaces;
  }

  std::vector<item_id> visible(const query& q, const std::string& role,
                               const std::string& iface = "read") {
    auto r = s->select(q, visibility{closure(role), iface});
    REQUIRE(r);
    std::vector<item_id> out;
    for (auto& it : *r)
      out.push_back(it.id);
    return out;
  }

  std::int64_t visible_count(const std::string& type, const condition& where,
                             const std::string& role,
                             const std::string& iface = "read") {
    auto r = s->count(type, where, visibility{closure(role), iface});
    REQUIRE(r);
    return *r;
  }

  std::size_t share_rows() {
    auto r = list_shares(*s);
    REQUIRE(r);
    return r->size();
  }
};

query docs() {
  query q;
  q.type = doc_type;
  return q;
}

} // namespace

TEST_CASE_METHOD(fixture,
                 "one share id gives different interfaces to different users",
                 "[store][sharing]") {
  auto d = doc("plan");
  CHECK(grant(d, "user:alice@example.com", {"write", "read"}, "plan-1")
        == "plan-1");
  CHECK(grant(d, "user:bob@example.com", {"read"}, "plan-1") == "plan-1");

  auto alice = get_share(*s, closure("user:alice@example.com"), "plan-1");
  REQUIRE(alice);
  CHECK(alice->share_id == "plan-1");
  CHECK(alice->item == d);
  CHECK(alice->interfaces == strings{"read", "write"});
  CHECK(through("user:bob@example.com", "plan-1") == strings{"read"});
  CHECK(through("user:carol@example.com", "plan-1").empty());
  CHECK(through("everyone", "plan-1").empty());

  // Sharing the same (share id, role) again replaces its interfaces.
  grant(d, "user:alice@example.com", {"delete", "delete"}, "plan-1");
  CHECK(through("user:alice@example.com", "plan-1") == strings{"delete"});

  auto all = list_shares(*s);
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0] == share{"plan-1", "user:alice@example.com", d, {"delete"}});
  CHECK((*all)[1] == share{"plan-1", "user:bob@example.com", d, {"read"}});

  // What is granted is in the file, not in memory.
  reopen();
  CHECK(through("user:bob@example.com", "plan-1") == strings{"read"});
}

TEST_CASE_METHOD(fixture, "without a share there is no access",
                 "[store][sharing]") {
  auto d = doc("secret");
  CHECK(ifaces("user:alice", d).empty());
  auto none = get_share(*s, closure("user:alice"), "nothing-here");
  REQUIRE_FALSE(none);
  CHECK(none.code() == errc::no_such_item);
  CHECK(visible(docs(), "user:alice").empty());
  CHECK(visible_count(doc_type, {}, "user:alice") == 0);

  // Sharing a missing item, or an item under the wrong type, writes nothing.
  auto missing = share_item(*s, {doc_type, d.id + 100}, "everyone", {"read"});
  REQUIRE_FALSE(missing);
  CHECK(missing.code() == errc::no_such_item);
  auto wrong = share_item(*s, {note_type, d.id}, "everyone", {"read"});
  REQUIRE_FALSE(wrong);
  CHECK(wrong.code() == errc::no_such_item);
  CHECK(share_rows() == 0);
}

TEST_CASE_METHOD(fixture, "a random share id is 32 lower-case hex characters",
                 "[store][sharing]") {
  auto d = doc("x");
  auto a = grant(d, "everyone", {"read"});
  auto b = grant(d, "everyone", {"read"});
  CHECK(a != b);
  for (auto& id : {a, b}) {
    CHECK(id.size() == 32);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(through("user:anyone", id) == strings{"read"});
  }
}

TEST_CASE_METHOD(fixture,
                 "deleting an item deletes its shares, also through a cascade",
                 "[store][sharing]") {
  auto d = doc("parent");
  auto n = note("child", d);
  auto other = doc("other");
  grant(d, "everyone", {"read"}, "d");
  grant(n, "everyone", {"read"}, "n");
  grant(n, "user:alice", {"write"}, "n");
  grant(other, "everyone", {"read"}, "other");

  SECTION("remove, cascading to a note") {
    REQUIRE(s->remove(doc_type, d.id));
  }
  SECTION("remove_where") {
    CHECK(ok(s->remove_where(doc_type,
                            cmp("title", compare_op::eq, "parent")))
          == 1);
  }
  CHECK(ok(s->count(note_type)) == 0);
  for (auto id : {"d", "n"}) {
    CHECK(through("user:alice", id).empty());
    CHECK(through("everyone", id).empty());
  }
  auto left = list_shares(*s);
  REQUIRE(left);
  REQUIRE(left->size() == 1);
  CHECK(left->front().share_id == "other");
  CHECK(list_shares(*s, d.id)->empty());
  CHECK(ifaces("user:alice", n).empty());
  // The share id is free again, and may now name another item.
  grant(other, "everyone", {"read"}, "d");
  CHECK(through("user:x", "d") == strings{"read"});
}

TEST_CASE_METHOD(
  fixture, "a failed delete keeps the shares, a deleted powerup loses them",
  "[store][sharing]") {
  item tool{0, "share.tool", {std::int64_t{1}}};
  REQUIRE(s->insert(tool));
  REQUIRE(s->install({"share.tool", tool.id}));
  auto installed = s->installations();
  REQUIRE(installed);
  item_ref base;
  for (auto& i : *installed)
    if (i.powerup.type == "share.base")
      base = i.powerup;
  REQUIRE(base.id != 0);
  grant(base, "everyone", {"read"}, "base");

  // The base is in use: deleting it fails and changes nothing.
  auto refused = s->remove(base.type, base.id);
  REQUIRE_FALSE(refused);
  CHECK(refused.code() == errc::in_use);
  CHECK(through("everyone", "base") == strings{"read"});

  // Uninstalling the tool deletes the base it created, and its share.
  REQUIRE(s->uninstall({"share.tool", tool.id}));
  CHECK_FALSE(s->get(base.type, base.id));
  CHECK(through("everyone", "base").empty());
  CHECK(share_rows() == 0);
}

TEST_CASE_METHOD(fixture,
                 "interfaces from nested group memberships combine",
                 "[store][sharing]") {
  auto d = doc("team doc");
  REQUIRE(add_member(*s, "user:alice", "group:editors"));
  REQUIRE(add_member(*s, "group:editors", "group:staff"));
  REQUIRE(add_member(*s, "user:bob", "group:staff"));
  grant(d, "group:editors", {"write"}, "t");
  grant(d, "group:staff", {"read"}, "t");
  grant(d, "authenticated", {"comment"}, "t");

  CHECK(ifaces("user:alice", d) == strings{"comment", "read", "write"});
  CHECK(through("user:alice", "t") == strings{"comment", "read", "write"});
  CHECK(ifaces("user:bob", d) == strings{"comment", "read"});
  CHECK(ifaces("user:carol", d) == strings{"comment"});
  CHECK(ifaces("everyone", d).empty());
  CHECK(ifaces("group:editors", d) == strings{"read", "write"});

  // Adding a membership twice changes nothing; removing it once ends it.
  REQUIRE(add_member(*s, "user:alice", "group:editors"));
  CHECK(ok(members_of(*s, "group:editors")) == strings{"user:alice"});
  CHECK(ok(members_of(*s, "group:staff"))
        == strings{"group:editors", "user:bob"});
  CHECK(ok(remove_member(*s, "user:alice", "group:editors")));
  CHECK_FALSE(ok(remove_member(*s, "user:alice", "group:editors")));
  CHECK(ifaces("user:alice", d) == strings{"comment"});
  CHECK(members_of(*s, "group:editors")->empty());
}

TEST_CASE_METHOD(fixture, "role_closure holds every role a role acts as",
                 "[store][sharing]") {
  CHECK(closure("everyone") == strings{"everyone"});
  CHECK(closure("authenticated") == strings{"authenticated", "everyone"});
  CHECK(closure("user:a") == strings{"authenticated", "everyone", "user:a"});
  // Only user: roles are authenticated.
  CHECK(closure("group:g") == strings{"everyone", "group:g"});
  CHECK(closure("session:42") == strings{"everyone", "session:42"});

  REQUIRE(add_member(*s, "user:a", "group:one"));
  REQUIRE(add_member(*s, "group:one", "group:two"));
  REQUIRE(add_member(*s, "group:two", "group:three"));
  REQUIRE(add_member(*s, "user:b", "group:two"));
  CHECK(closure("user:a")
        == strings{"authenticated", "everyone", "group:one", "group:three",
                   "group:two", "user:a"});
  CHECK(closure("user:b") == strings{"authenticated", "everyone",
                                     "group:three", "group:two", "user:b"});
  CHECK(closure("group:two")
        == strings{"everyone", "group:three", "group:two"});

  // Cycles, including a group in itself, end.
  REQUIRE(add_member(*s, "group:three", "group:one"));
  REQUIRE(add_member(*s, "group:one", "group:one"));
  CHECK(closure("user:b")
        == strings{"authenticated", "everyone", "group:one", "group:three",
                   "group:two", "user:b"});
  CHECK(closure("group:one")
        == strings{"everyone", "group:one", "group:three", "group:two"});

  auto empty = role_closure(*s, "");
  REQUIRE_FALSE(empty);
  CHECK(empty.code() == errc::invalid_name);
}

TEST_CASE_METHOD(fixture,
                 "a visible query honours where, sort, limit, offset and count",
                 "[store][sharing]") {
  // Titles a..j with n = index; even ones shared for read with alice,
  // multiples of 3 for write with everyone, 'j' with bob only.
  std::vector<item_ref> d;
  for (int i = 0; i < 10; ++i)
    d.push_back(doc(std::string(1, static_cast<char>('a' + i)), i));
  for (int i = 0; i < 10; i += 2)
    grant(d[i], "user:alice", {"read"});
  for (int i = 0; i < 10; i += 3)
    grant(d[i], "everyone", {"write"});
  grant(d[9], "user:bob", {"read"});
  auto n = note("not a doc", d[0]);
  grant(n, "user:alice", {"read"});

  auto ids = [&](std::initializer_list<int> idx) {
    std::vector<item_id> out;
    for (auto i : idx)
      out.push_back(d[static_cast<std::size_t>(i)].id);
    return out;
  };
  auto q = docs();
  CHECK(visible(q, "user:alice") == ids({0, 2, 4, 6, 8}));
  CHECK(visible(q, "user:alice", "write") == ids({0, 3, 6, 9}));
  CHECK(visible(q, "user:bob") == ids({9}));
  CHECK(visible(q, "user:alice", "delete").empty());
  CHECK(visible_count(doc_type, {}, "user:alice") == 5);
  CHECK(visible_count(doc_type, {}, "user:carol", "write") == 4);

  q.sort = {{"title", true}};
  CHECK(visible(q, "user:alice") == ids({8, 6, 4, 2, 0}));
  q.limit = 2;
  CHECK(visible(q, "user:alice") == ids({8, 6}));
  q.offset = 2;
  CHECK(visible(q, "user:alice") == ids({4, 2}));
  q.offset = 4;
  CHECK(visible(q, "user:alice") == ids({0}));
  q.offset = 5;
  CHECK(visible(q, "user:alice").empty());

  q = docs();
  q.where = cmp("n", compare_op::ge, std::int64_t{3});
  CHECK(visible(q, "user:alice") == ids({4, 6, 8}));
  CHECK(visible_count(doc_type, q.where, "user:alice") == 3);
  CHECK(visible_count(doc_type, q.where, "user:bob") == 1);
  // The unrestricted query still sees everything.
  CHECK(ok(s->count(doc_type, q.where)) == 7);

  // Paging through every item alice can read, two at a time.
  std::vector<item_id> paged;
  for (std::int64_t off = 0;; off += 2) {
    auto page = docs();
    page.limit = 2;
    page.offset = off;
    auto got = visible(page, "user:alice");
    if (got.empty())
      break;
    paged.insert(paged.end(), got.begin(), got.end());
  }
  CHECK(paged == ids({0, 2, 4, 6, 8}));

  // for_each, and no roles: nothing visible.
  std::vector<item_id> seen;
  REQUIRE(s->for_each(
    docs(), [&](item&& it) { seen.push_back(it.id); },
    visibility{closure("user:bob"), "read"}));
  CHECK(seen == ids({9}));
  auto none = s->select(docs(), visibility{{}, "write"});
  REQUIRE(none);
  CHECK(none->empty());
  CHECK(ok(s->count(doc_type, {}, visibility{{}, "write"})) == 0);

  // A bad query is still reported as one.
  auto bad = docs();
  bad.where = cmp("nope", compare_op::eq, std::int64_t{1});
  auto r = s->select(bad, visibility{closure("user:alice"), "read"});
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::no_such_attribute);
}

TEST_CASE_METHOD(fixture, "the default share answers an empty share id",
                 "[store][sharing]") {
  auto home = doc("home");
  CHECK(ok(default_share(*s)).empty());
  CHECK(through("everyone", "").empty());

  // Set before it exists: still no such share.
  REQUIRE(set_default_share(*s, "home"));
  CHECK(ok(default_share(*s)) == "home");
  CHECK(through("everyone", "").empty());

  grant(home, "everyone", {"read"}, "home");
  auto r = get_share(*s, closure("user:x"), "");
  REQUIRE(r);
  CHECK(r->share_id == "home");
  CHECK(r->item == home);
  CHECK(r->interfaces == strings{"read"});

  reopen();
  CHECK(ok(default_share(*s)) == "home");
  REQUIRE(set_default_share(*s, ""));
  CHECK(ok(default_share(*s)).empty());
  CHECK(through("everyone", "").empty());
  CHECK(through("everyone", "home") == strings{"read"});
  // The store's own entries in mantissa_meta are untouched.
  auto more = doc("after");
  CHECK(more.id > home.id);
}

TEST_CASE_METHOD(fixture,
                 "a share id naming another item is already_exists",
                 "[store][sharing]") {
  auto a = doc("a");
  auto b = doc("b");
  grant(a, "user:alice", {"read"}, "mine");
  auto before = list_shares(*s);
  REQUIRE(before);
  for (auto role : {"user:alice", "user:bob"}) {
    auto r = share_item(*s, b, role, {"write"}, "mine");
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::already_exists);
  }
  CHECK(ok(list_shares(*s)) == *before);
  CHECK(through("user:alice", "mine") == strings{"read"});

  // Inside a transaction the failure does not doom it.
  REQUIRE(s->begin());
  CHECK_FALSE(share_item(*s, b, "user:bob", {"write"}, "mine"));
  CHECK(grant(b, "user:bob", {"write"}, "theirs") == "theirs");
  REQUIRE(s->commit());
  CHECK(through("user:bob", "theirs") == strings{"write"});
}

TEST_CASE_METHOD(fixture, "invalid roles, share ids and interfaces are refused",
                 "[store][sharing]") {
  auto d = doc("x");
  for (auto role : {"", "nobody", "Everyone", "user:", "user:Alice", "group:",
                    "group:a@b", "user:a b", "group:x/y", "owner"})
    CHECK(validate_role(role).code() == errc::invalid_name);
  CHECK(validate_role(std::string{"user:a\0b", 8}).code()
        == errc::invalid_name);
  for (auto role : {"everyone", "authenticated", "user:a.b+c@d-e.org",
                    "group:team_1.a-b"})
    CHECK(validate_role(role));
  CHECK(validate_role("user:" + std::string(320, 'a')));
  CHECK_FALSE(validate_role("user:" + std::string(321, 'a')));
  CHECK(validate_role("group:" + std::string(64, 'a')));
  CHECK_FALSE(validate_role("group:" + std::string(65, 'a')));
  // The message names the role, cut short.
  auto long_role = validate_role("bad:" + std::string(1000, 'x'));
  CHECK(long_role.error_value().message.find("bad:xxx") != std::string::npos);
  CHECK(long_role.error_value().message.size() < 200);

  for (auto id : {"", "a b", "a/b", "a.b", "é"})
    CHECK(validate_share_id(id).code() == errc::invalid_name);
  CHECK(validate_share_id(std::string(64, 'Z')));
  CHECK_FALSE(validate_share_id(std::string(65, 'Z')));
  CHECK(validate_share_id("Az09_-"));

  CHECK(share_item(*s, d, "nobody", {"read"}).code() == errc::invalid_name);
  CHECK(share_item(*s, d, "everyone", {"read"}, "no way").code()
        == errc::invalid_name);
  CHECK(share_item(*s, d, "everyone", {}).code() == errc::invalid_value);
  CHECK(share_item(*s, d, "everyone", {"read", "Write"}).code()
        == errc::invalid_value);
  CHECK(share_item(*s, d, "everyone", {"a b"}).code() == errc::invalid_value);
  CHECK(unshare(*s, "", "everyone").code() == errc::invalid_name);
  CHECK(unshare(*s, "ok", "nobody").code() == errc::invalid_name);
  CHECK(get_share(*s, {"everyone"}, "no way").code() == errc::invalid_name);
  CHECK(set_default_share(*s, "no way").code() == errc::invalid_name);
  CHECK(add_member(*s, "everyone", "group:g").code() == errc::invalid_name);
  CHECK(add_member(*s, "authenticated", "group:g").code()
        == errc::invalid_name);
  CHECK(add_member(*s, "user:a", "user:b").code() == errc::invalid_name);
  CHECK(add_member(*s, "nobody", "group:g").code() == errc::invalid_name);
  CHECK(remove_member(*s, "user:a", "everyone").code() == errc::invalid_name);
  CHECK(members_of(*s, "user:a").code() == errc::invalid_name);
  CHECK(share_rows() == 0);
  CHECK(members_of(*s, "group:g")->empty());
  CHECK(user_role("alice@example.com") == "user:alice@example.com");
}

TEST_CASE_METHOD(fixture, "unshare revokes one role or every role",
                 "[store][sharing]") {
  auto d = doc("x");
  grant(d, "user:a", {"read", "write"}, "s");
  grant(d, "user:b", {"read"}, "s");
  grant(d, "user:c", {"comment"}, "s");
  grant(d, "user:a", {"read"}, "other");

  CHECK(ok(unshare(*s, "s", "user:a")) == 1);
  CHECK(ok(unshare(*s, "s", "user:a")) == 0);
  CHECK(through("user:a", "s").empty());
  CHECK(through("user:b", "s") == strings{"read"});
  CHECK(through("user:a", "other") == strings{"read"});

  CHECK(ok(unshare(*s, "s")) == 2);
  CHECK(through("user:b", "s").empty());
  CHECK(through("user:c", "s").empty());
  CHECK(ok(unshare(*s, "s")) == 0);
  CHECK(ok(unshare(*s, "never")) == 0);
  CHECK(ok(list_shares(*s))
        == std::vector<share>{{"other", "user:a", d, {"read"}}});
}

TEST_CASE_METHOD(fixture, "a store file from before the sharing tables works",
                 "[store][sharing]") {
  auto d = doc("old");
  s.reset();
  exec_raw(file, "DROP TABLE mantissa_shares; DROP TABLE mantissa_members; "
                 "DELETE FROM mantissa_meta WHERE key = 'catalogue';");

  // Read-only: no shares, nothing visible, writes refused.
  store_options ro;
  ro.read_only = true;
  reopen(ro);
  CHECK_FALSE(s->has_sharing_tables());
  CHECK(s->get(doc_type, d.id));
  CHECK(list_shares(*s)->empty());
  CHECK(closure("user:a") == strings{"authenticated", "everyone", "user:a"});
  CHECK(members_of(*s, "group:g")->empty());
  CHECK(ifaces("user:a", d).empty());
  CHECK(through("user:a", "any").empty());
  CHECK(through("user:a", "").empty());
  CHECK(ok(default_share(*s)).empty());
  CHECK(visible(docs(), "user:a").empty());
  CHECK(visible_count(doc_type, {}, "user:a") == 0);
  CHECK(share_item(*s, d, "everyone", {"read"}).code() == errc::read_only);
  CHECK(add_member(*s, "user:a", "group:g").code() == errc::read_only);

  // Read-write: the tables are created and everything works.
  reopen();
  CHECK(s->has_sharing_tables());
  grant(d, "everyone", {"read"}, "old");
  REQUIRE(add_member(*s, "user:a", "group:g"));
  CHECK(through("user:a", "old") == strings{"read"});
  CHECK(visible(docs(), "user:a") == std::vector<item_id>{d.id});
  reopen(ro);
  CHECK(s->has_sharing_tables());
  CHECK(through("user:a", "old") == strings{"read"});
  CHECK(closure("user:a")
        == strings{"authenticated", "everyone", "group:g", "user:a"});
}

namespace {

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

} // namespace

TEST_CASE_METHOD(fixture,
                 "opening a store with the sharing tables writes nothing",
                 "[store][sharing]") {
  auto d = doc("x");
  grant(d, "everyone", {"read"}, "x");
  s.reset();
  // A file from before the sharing tables gets them once, on its first
  // read-write open; later opens change nothing in the file.
  exec_raw(file, "DROP TABLE mantissa_shares; DROP TABLE mantissa_members; "
                 "DELETE FROM mantissa_meta WHERE key = 'catalogue';");
  auto old = file_bytes(file);
  reopen();
  CHECK(s->has_sharing_tables());
  s.reset();
  auto upgraded = file_bytes(file);
  CHECK(upgraded != old);
  for (int i = 0; i < 3; ++i) {
    reopen();
    CHECK(sqlite3_total_changes(s->connection().handle()) == 0);
    CHECK(s->connection().in_transaction() == false);
    CHECK(through("everyone", "x").empty());
    s.reset();
    CHECK(file_bytes(file) == upgraded);
  }
}

TEST_CASE_METHOD(fixture, "sharing lookups search indexes",
                 "[store][sharing]") {
  // The plans of the statements store.cpp and sharing.cpp run, by shape.
  auto plan = [&](const std::string& sql) {
    auto st = s->connection().prepare("EXPLAIN QUERY PLAN " + sql);
    REQUIRE(st);
    std::string out;
    while (ok((*st)->step()))
      out += std::string{(*st)->column_text(3)} + "\n";
    return out;
  };
  grant(doc("x"), "everyone", {"read"});
  auto visible_docs = plan(
    "SELECT \"id\" FROM item_share__doc_v1 WHERE 1 AND \"id\" IN (SELECT "
    "item_id FROM mantissa_shares WHERE item_type = ? AND interface = ? AND "
    "role IN (?, ?, ?)) ORDER BY \"id\"");
  INFO(visible_docs);
  CHECK(visible_docs.find("COVERING INDEX mantissa_shares_by_visibility")
        != std::string::npos);
  CHECK(visible_docs.find("SCAN mantissa_shares") == std::string::npos);
  auto by_item = plan("SELECT DISTINCT interface FROM mantissa_shares WHERE "
                      "item_id = ? AND role IN (?, ?)");
  INFO(by_item);
  CHECK(by_item.find("INDEX mantissa_shares_by_item") != std::string::npos);
  auto closure_plan = plan(
    "WITH RECURSIVE closure(r) AS (SELECT ? UNION SELECT grp FROM "
    "mantissa_members JOIN closure ON member = r) SELECT r FROM closure");
  INFO(closure_plan);
  CHECK(closure_plan.find("SCAN mantissa_members") == std::string::npos);
}

// -- randomized matrix -------------------------------------------------------

namespace {

const strings all_interfaces = {"comment", "delete", "read", "write"};

/// The documented semantics, kept with plain containers and no call to the
/// functions under test.
struct model {
  struct thing {
    std::string type;
    std::string title;
    std::int64_t n = 0;
    item_id doc = 0;  // notes: the doc they refer to (0: none)
  };
  struct share_entry {
    item_id item = 0;
    std::map<std::string, std::set<std::string>> roles;
  };
  std::map<item_id, thing> items;
  std::map<std::string, share_entry> shares;
  std::set<std::pair<std::string, std::string>> members;  // (member, group)
  std::string default_id;

  std::set<std::string> closure(const std::string& role) const {
    std::set<std::string> out{role, "everyone"};
    if (role.rfind("user:", 0) == 0)
      out.insert("authenticated");
    std::vector<std::string> todo{role};
    while (!todo.empty()) {
      auto r = todo.back();
      todo.pop_back();
      for (auto& [member, group] : members)
        if (member == r && out.insert(group).second)
          todo.push_back(group);
    }
    return out;
  }

  std::set<std::string> granted(const std::set<std::string>& roles,
                                const share_entry& e) const {
    std::set<std::string> out;
    for (auto& [role, ifaces] : e.roles)
      if (roles.count(role) != 0)
        out.insert(ifaces.begin(), ifaces.end());
    return out;
  }

  std::set<std::string> interfaces(const std::set<std::string>& roles,
                                   item_id id) const {
    std::set<std::string> out;
    for (auto& [sid, e] : shares)
      if (e.item == id) {
        auto g = granted(roles, e);
        out.insert(g.begin(), g.end());
      }
    return out;
  }

  void remove(item_id id) {
    if (items.erase(id) == 0)
      return;
    for (auto i = shares.begin(); i != shares.end();)
      i = i->second.item == id ? shares.erase(i) : std::next(i);
    std::vector<item_id> notes;
    for (auto& [nid, t] : items)
      if (t.doc == id)
        notes.push_back(nid);
    for (auto nid : notes)
      remove(nid);
  }

  void unshare(const std::string& sid, const std::string& role) {
    auto i = shares.find(sid);
    if (i == shares.end())
      return;
    if (role.empty())
      i->second.roles.clear();
    else
      i->second.roles.erase(role);
    if (i->second.roles.empty())
      shares.erase(i);
  }
};

struct matrix {
  fixture f;
  model m;
  std::mt19937 rng;
  strings users, groups, roles;
  // Every share id ever used, in order of first use: picks come from here
  // (not from the model's map, ordered by the store's random ids) so that
  // a seed replays the same run. Revoked ones stay: they test no-ops.
  strings ids;
  std::int64_t checks = 0;
  std::map<std::string, int> events;  // what the run exercised, for the log

  matrix(std::uint32_t seed, int user_count, int group_count) : rng(seed) {
    for (int i = 0; i < user_count; ++i)
      users.push_back("user:u" + std::to_string(i) + "@example.com");
    for (int i = 0; i < group_count; ++i)
      groups.push_back("group:g" + std::to_string(i));
    roles = {"everyone", "authenticated"};
    roles.insert(roles.end(), users.begin(), users.end());
    roles.insert(roles.end(), groups.begin(), groups.end());
  }

  int pick(int n) { return std::uniform_int_distribution<int>{0, n - 1}(rng); }
  bool chance(int percent) { return pick(100) < percent; }
  template <class C>
  const auto& any(const C& c) {
    auto i = c.begin();
    std::advance(i, pick(static_cast<int>(c.size())));
    return *i;
  }

  std::string random_share_id() {
    static const std::string chars
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    std::string id;
    for (int n = 1 + pick(12); n > 0; --n)
      id += chars[static_cast<std::size_t>(
        pick(static_cast<int>(chars.size())))];
    return id;
  }

  strings random_interfaces() {
    strings out;
    while (out.empty())
      for (auto& i : all_interfaces)
        if (chance(40))
          out.push_back(i);
    return out;
  }

  void insert_op() {
    model::thing t;
    t.title = std::string(1, static_cast<char>('a' + pick(5)));
    t.n = pick(10);
    std::vector<item_id> docs;
    for (auto& [id, it] : m.items)
      if (it.type == doc_type)
        docs.push_back(id);
    item it;
    if (docs.empty() || chance(50)) {
      t.type = doc_type;
      it = item{0, doc_type, {t.title, t.n}};
    } else {
      t.type = note_type;
      t.doc = chance(80) ? any(docs) : 0;
      value ref = t.doc != 0 ? value{reference{t.doc}} : value{};
      it = item{0, note_type, {t.title, t.n, ref}};
    }
    REQUIRE(f.s->insert(it));
    m.items[it.id] = t;
  }

  /// A live item, or now and then one that was deleted or never existed.
  item_ref random_item(bool& exists) {
    exists = !m.items.empty() && !chance(5);
    if (!exists)
      return {chance(50) ? doc_type : note_type, 100000 + pick(100)};
    auto& [id, t] = any(m.items);
    return {t.type, id};
  }

  void share_op() {
    bool exists = false;
    auto target = random_item(exists);
    auto role = any(roles);
    auto ifaces = random_interfaces();
    std::string sid;
    int kind = pick(10);
    if (kind < 4 && !ids.empty())
      sid = any(ids);  // often another item's: already_exists
    else if (kind < 8)
      sid = random_share_id();
    auto r = share_item(*f.s, target, role, ifaces, sid);
    auto known = m.shares.find(sid);
    if (!exists) {
      REQUIRE_FALSE(r);
      CHECK(r.code() == errc::no_such_item);
      ++events["no_such_item"];
      return;
    }
    if (!sid.empty() && known != m.shares.end()
        && known->second.item != target.id) {
      REQUIRE_FALSE(r);
      CHECK(r.code() == errc::already_exists);
      ++events["already_exists"];
      return;
    }
    if (!r)
      FAIL("share_item: " << r.error_value().message);
    ++events["shared"];
    if (sid.empty()) {
      CHECK(r->size() == 32);
      CHECK(m.shares.count(*r) == 0);
    } else {
      CHECK(*r == sid);
    }
    if (std::find(ids.begin(), ids.end(), *r) == ids.end())
      ids.push_back(*r);
    auto& e = m.shares[*r];
    e.item = target.id;
    e.roles[role] = {ifaces.begin(), ifaces.end()};
  }

  void unshare_op() {
    if (ids.empty())
      return;
    std::string id = any(ids);
    std::string role = chance(30) ? std::string{} : any(roles);
    std::size_t expected = 0;
    if (auto e = m.shares.find(id); e != m.shares.end())
      expected = role.empty() ? e->second.roles.size()
                              : e->second.roles.count(role);
    CHECK(ok(::mantissa::store::unshare(*f.s, id, role))
          == static_cast<std::int64_t>(expected));
    events["unshared"] += static_cast<int>(expected);
    m.unshare(id, role);
  }

  void remove_op() {
    if (m.items.empty())
      return;
    auto& [id, t] = any(m.items);
    item_id gone = id;
    REQUIRE(f.s->remove(t.type, gone));
    auto before = m.items.size();
    m.remove(gone);
    events["deleted"] += static_cast<int>(before - m.items.size());
  }

  void membership_op() {
    auto group = any(groups);
    auto member = chance(50) ? any(users) : any(groups);
    if (chance(70)) {
      REQUIRE(add_member(*f.s, member, group));
      m.members.insert({member, group});
    } else {
      auto r = remove_member(*f.s, member, group);
      REQUIRE(r);
      CHECK(*r == (m.members.erase({member, group}) == 1));
    }
  }

  void step() {
    int op = pick(100);
    if (op < 25)
      insert_op();
    else if (op < 60)
      share_op();
    else if (op < 70)
      unshare_op();
    else if (op < 78)
      remove_op();
    else if (op < 93)
      membership_op();
    else if (op < 96) {
      std::string sid = chance(70) && !ids.empty() ? any(ids)
                                                   : random_share_id();
      REQUIRE(set_default_share(*f.s, sid));
      m.default_id = sid;
    } else {
      f.reopen();
    }
  }

  static strings sorted(const std::set<std::string>& s) {
    return {s.begin(), s.end()};
  }

  void check_role(const std::string& role) {
    INFO("role " << role);
    auto expected_closure = m.closure(role);
    auto closure = f.closure(role);
    ++checks;
    REQUIRE(closure == sorted(expected_closure));

    for (auto& [id, t] : m.items) {
      auto got = interfaces_for(*f.s, closure, id);
      REQUIRE(got);
      auto want = m.interfaces(expected_closure, id);
      for (auto& iface : all_interfaces) {
        ++checks;
        bool has = std::find(got->begin(), got->end(), iface) != got->end();
        if (has != (want.count(iface) != 0))
          FAIL("item " << id << " interface " << iface << ": store says "
                       << has);
      }
    }

    // Every share id, and the default one (half of the time through "").
    auto all_ids = ids;
    if (std::find(ids.begin(), ids.end(), m.default_id) == ids.end())
      all_ids.push_back(m.default_id);
    for (auto& want_id : all_ids) {
      auto r = get_share(*f.s, closure, want_id == m.default_id && chance(50)
                                          ? std::string{}
                                          : want_id);
      if (want_id.empty())
        continue;
      ++checks;
      auto e = m.shares.find(want_id);
      auto want = e == m.shares.end() ? std::set<std::string>{}
                                      : m.granted(expected_closure, e->second);
      if (want.empty()) {
        INFO("share " << want_id);
        REQUIRE_FALSE(r);
        CHECK(r.code() == errc::no_such_item);
        continue;
      }
      INFO("share " << want_id);
      REQUIRE(r);
      CHECK(r->share_id == want_id);
      CHECK(r->item.id == e->second.item);
      CHECK(r->item.type == m.items.at(e->second.item).type);
      CHECK(r->interfaces == sorted(want));
    }

    for (auto type : {doc_type, note_type})
      for (auto& iface : all_interfaces)
        check_query(type, iface, closure, expected_closure);
  }

  void check_query(const std::string& type, const std::string& iface,
                   const strings& closure,
                   const std::set<std::string>& expected_closure) {
    // Visible items of `type`, sorted by title descending then id, with
    // n >= 3 in half of the cases, then one page of them.
    bool filtered = chance(50);
    std::vector<std::pair<std::string, item_id>> want;
    for (auto& [id, t] : m.items)
      if (t.type == type && (!filtered || t.n >= 3)
          && m.interfaces(expected_closure, id).count(iface) != 0)
        want.push_back({t.title, id});
    std::sort(want.begin(), want.end(), [](auto& a, auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    query q;
    q.type = type;
    if (filtered)
      q.where = cmp("n", compare_op::ge, std::int64_t{3});
    q.sort = {{"title", true}};
    std::int64_t total = static_cast<std::int64_t>(want.size());
    if (chance(50)) {
      q.limit = pick(4);
      q.offset = pick(static_cast<int>(want.size()) + 2);
      auto from = std::min<std::size_t>(want.size(),
                                        static_cast<std::size_t>(q.offset));
      auto to = std::min<std::size_t>(want.size(),
                                      from + static_cast<std::size_t>(q.limit));
      want = {want.begin() + static_cast<std::ptrdiff_t>(from),
              want.begin() + static_cast<std::ptrdiff_t>(to)};
    }
    visibility vis{closure, iface};
    auto got = ok(f.s->select(q, vis));
    std::vector<item_id> got_ids, want_ids;
    for (auto& it : got)
      got_ids.push_back(it.id);
    for (auto& [title, id] : want)
      want_ids.push_back(id);
    INFO("query " << to_json(q).dump() << " interface " << iface);
    ++checks;
    CHECK(got_ids == want_ids);
    ++checks;
    CHECK(ok(f.s->count(type, q.where, vis)) == total);
  }

  void check_all() {
    for (auto& role : roles)
      check_role(role);
    check_role("user:stranger@example.com");
    check_role("group:unknown");

    // The share table holds exactly the model's shares.
    auto listed = list_shares(*f.s);
    REQUIRE(listed);
    std::vector<::mantissa::store::share> want;
    for (auto& [sid, e] : m.shares)
      for (auto& [role, ifaces] : e.roles)
        want.push_back({sid, role, {m.items.at(e.item).type, e.item},
                        sorted(ifaces)});
    ++checks;
    CHECK(*listed == want);
  }
};

} // namespace

TEST_CASE("random shares, memberships and deletions agree with a model",
          "[store][sharing][model]") {
  // A fresh seed each run (printed; MANTISSA_SEED replays it); the size:
  // docs/security.md, "The randomized matrix".
  auto seed = mantissa::test::test_seed("sharing matrix");
  INFO("seed " << seed << " (MANTISSA_SEED=" << seed << " replays it)");
  const bool nightly = mantissa::test::nightly_size();
  matrix x{seed, nightly ? 20 : 7, nightly ? 12 : 6};
  for (int round = 0; round < (nightly ? 40 : 6); ++round) {
    for (int i = 0; i < 80; ++i)
      x.step();
    INFO("round " << round);
    x.check_all();
  }
  std::cout << "sharing matrix: " << x.checks << " checks, "
            << x.m.items.size() << " items, " << x.m.shares.size()
            << " share ids;";
  for (auto& [event, n] : x.events)
    std::cout << " " << event << " " << n;
  std::cout << "\n";
  CHECK(x.checks > 5000);
}
