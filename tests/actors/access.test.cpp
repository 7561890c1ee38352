// Authorization inside the store actors: what each role may do with the
// items of a store it does not own, through shares, groups, the default
// share and the owner-only operations; and a randomized matrix of roles,
// items and shares checked through the actors against an independent
// model. Real node, real SQLite files.

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "actors/node.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using actors::error_code;
using actors::reply;
using nlohmann::json;

namespace {

const std::string alice = "alice@example.com";
const actors::caller owner{"user:alice@example.com", "t"};
const actors::caller bob{"user:bob@example.com", "t"};
const actors::caller carol{"user:carol@example.com", "t"};
const actors::caller anon{"everyone", "t"};
const actors::caller sys{actors::system_role, "t"};

store::type_decl note_decl() {
  store::type_decl d{"notes.note", 1, {}};
  store::attribute_decl title{"title", store::attribute_type::text};
  title.indexed = true;
  d.attributes = {title};
  return d;
}

struct access_fixture {
  test::temp_dir dir;
  std::unique_ptr<actors::node> n;

  access_fixture() {
    actors::node_options opts;
    opts.data_dir = dir / "data";
    n = std::make_unique<actors::node>(opts);
    REQUIRE(n->types().add(note_decl()));
    std::string err;
    REQUIRE(n->start(err));
    for (auto* a : {"alice@example.com", "bob@example.com"})
      REQUIRE(call([&](auto done) { n->create_store(a, std::move(done)); }).ok);
  }

  template <class F>
  reply call(F&& f) {
    return n->wait([&](actors::reply_handler done) { f(std::move(done)); });
  }

  std::int64_t note(const std::string& title) {
    auto r = call([&](auto done) {
      n->put(owner, alice, "notes.note", json{{"title", title}}.dump(),
             std::move(done));
    });
    REQUIRE(r.ok);
    return json::parse(r.body)["id"].get<std::int64_t>();
  }

  reply get(const actors::caller& who, std::int64_t id) {
    return call(
      [&](auto done) { n->get(who, alice, "notes.note", id, std::move(done)); });
  }

  reply update(const actors::caller& who, std::int64_t id) {
    return call([&](auto done) {
      n->update(who, alice, "notes.note", id, R"({"title":"changed"})",
                std::move(done));
    });
  }

  std::string share(std::int64_t id, const std::string& role,
                    const json& interfaces, const std::string& share_id = "") {
    auto r = call([&](auto done) {
      n->share(owner, alice, "notes.note", id, role, interfaces.dump(),
               share_id, std::move(done));
    });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body)["share_id"].get<std::string>();
  }

  reply get_share(const actors::caller& who, const std::string& share_id) {
    return call(
      [&](auto done) { n->get_share(who, alice, share_id, std::move(done)); });
  }

  json query(const actors::caller& who, const json& q) {
    auto r = call(
      [&](auto done) { n->query(who, alice, q.dump(), std::move(done)); });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body);
  }
};

} // namespace

TEST_CASE_METHOD(access_fixture, "without a share another user's item is "
                                 "not found, exactly like a missing one",
                 "[access]") {
  auto id = note("private");
  CHECK(get(owner, id).ok);
  // Nothing of alice's store is shared with bob: for him the store is not
  // there, exactly like a store that does not exist.
  auto unseen = get(bob, id);
  CHECK_FALSE(unseen.ok);
  CHECK(unseen.code == error_code::no_such_store);
  CHECK(get(bob, id + 1000).code == error_code::no_such_store);
  auto ghost = call([&](auto done) {
    n->get(bob, "ghost@example.com", "notes.note", id, std::move(done));
  });
  CHECK(ghost.code == error_code::no_such_store);
  CHECK(ghost.message.substr(0, 13) == unseen.message.substr(0, 13));
  CHECK(anon.role == "everyone");
  CHECK(get(anon, id).code == error_code::no_such_store);
  CHECK(update(bob, id).code == error_code::no_such_store);
  CHECK(call([&](auto done) {
          n->remove(bob, alice, "notes.note", id, std::move(done));
        }).code
        == error_code::no_such_store);
  // Once another note is shared with him, the store is there, and the
  // private note is not found, exactly like a missing one.
  share(note("for bob"), "user:bob@example.com", {"read"});
  auto hidden = get(bob, id);
  auto missing = get(bob, id + 1000);
  CHECK(hidden.code == error_code::no_such_item);
  CHECK(missing.code == error_code::no_such_item);
  CHECK(update(bob, id).code == error_code::no_such_item);
  CHECK(call([&](auto done) {
          n->remove(bob, alice, "notes.note", id, std::move(done));
        }).code
        == error_code::no_such_item);
  CHECK(get(anon, id).code == error_code::no_such_store);
  CHECK(get(owner, id).ok);  // still there
}

TEST_CASE_METHOD(access_fixture, "one share id gives different interfaces to "
                                 "different users",
                 "[access]") {
  auto id = note("shared");
  share(id, "user:bob@example.com", {"read"}, "s1");
  share(id, "user:carol@example.com", {"read", "write"}, "s1");
  CHECK(get(bob, id).ok);
  CHECK(update(bob, id).code == error_code::no_such_item);
  CHECK(get(carol, id).ok);
  CHECK(update(carol, id).ok);
  auto b = get_share(bob, "s1");
  REQUIRE(b.ok);
  CHECK(json::parse(b.body)["interfaces"] == json{"read"});
  CHECK(json::parse(b.body)["item"]["title"] == "changed");
  auto c = get_share(carol, "s1");
  REQUIRE(c.ok);
  CHECK(json::parse(c.body)["interfaces"] == json({"read", "write"}));
  CHECK(get_share(anon, "s1").code == error_code::no_such_store);
  CHECK(get_share(bob, "no-such-share").code == error_code::no_such_item);
}

TEST_CASE_METHOD(access_fixture, "unsharing and deleting revoke access at once",
                 "[access]") {
  auto id = note("soon gone");
  auto sid = share(id, "everyone", {"read"});
  CHECK(sid.size() == 32);
  CHECK(get(anon, id).ok);
  CHECK(get(bob, id).ok);  // bob is a member of everyone
  auto r = call([&](auto done) {
    n->unshare(owner, alice, sid, "", std::move(done));
  });
  REQUIRE(r.ok);
  CHECK(json::parse(r.body)["removed"] == 1);
  CHECK(get(anon, id).code == error_code::no_such_store);
  sid = share(id, "everyone", {"read"});
  CHECK(get_share(anon, sid).ok);
  REQUIRE(call([&](auto done) {
            n->remove(owner, alice, "notes.note", id, std::move(done));
          }).ok);
  CHECK(get_share(anon, sid).code == error_code::no_such_store);
  CHECK(get(anon, id).code == error_code::no_such_store);
}

TEST_CASE_METHOD(access_fixture, "interfaces from group memberships combine",
                 "[access]") {
  auto id = note("team note");
  REQUIRE(call([&](auto done) {
            n->member(owner, alice, "user:bob@example.com", "group:editors",
                      true, std::move(done));
          }).ok);
  REQUIRE(call([&](auto done) {
            n->member(owner, alice, "group:editors", "group:staff", true,
                      std::move(done));
          }).ok);
  share(id, "group:staff", {"read"}, "team");
  share(id, "group:editors", {"write"}, "team");
  CHECK(get(bob, id).ok);
  CHECK(update(bob, id).ok);
  CHECK(get(carol, id).code == error_code::no_such_store);
  auto s = get_share(bob, "team");
  REQUIRE(s.ok);
  CHECK(json::parse(s.body)["interfaces"] == json({"read", "write"}));
  // Leaving the group takes its rights away at once.
  REQUIRE(call([&](auto done) {
            n->member(owner, alice, "user:bob@example.com", "group:editors",
                      false, std::move(done));
          }).ok);
  CHECK(get(bob, id).code == error_code::no_such_store);
}

TEST_CASE_METHOD(access_fixture, "authenticated covers every logged-in role "
                                 "but not anonymous callers",
                 "[access]") {
  auto id = note("members only");
  share(id, "authenticated", {"read"});
  CHECK(get(bob, id).ok);
  CHECK(get(carol, id).ok);
  CHECK(get(anon, id).code == error_code::no_such_store);
}

TEST_CASE_METHOD(access_fixture, "queries and counts by other roles see only "
                                 "shared items, with sort, limit and offset",
                 "[access]") {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 10; ++i)
    ids.push_back(note("note " + std::to_string(i)));
  for (int i : {1, 3, 4, 8})
    share(ids[static_cast<std::size_t>(i)], "user:bob@example.com", {"read"});
  share(ids[5], "user:bob@example.com", {"write"});  // not readable
  auto page = query(bob, {{"type", "notes.note"},
                          {"sort", "-title"},
                          {"limit", 2},
                          {"offset", 1}});
  CHECK(page["total"] == 4);
  REQUIRE(page["items"].size() == 2);
  CHECK(page["items"][0]["title"] == "note 4");
  CHECK(page["items"][1]["title"] == "note 3");
  auto all = query(owner, {{"type", "notes.note"}});
  CHECK(all["total"] == 10);
  CHECK(call([&](auto done) {
          n->query(anon, alice, R"({"type":"notes.note"})", std::move(done));
        }).code
        == error_code::no_such_store);
  auto c = call([&](auto done) {
    n->count(bob, alice, "notes.note", "", std::move(done));
  });
  REQUIRE(c.ok);
  CHECK(json::parse(c.body)["count"] == 4);
}

TEST_CASE_METHOD(access_fixture, "the default share answers an empty share id",
                 "[access]") {
  auto id = note("home page");
  CHECK(get_share(anon, "").code == error_code::no_such_store);
  share(id, "everyone", {"read"}, "home");
  REQUIRE(call([&](auto done) {
            n->set_default_share(owner, alice, "home", std::move(done));
          }).ok);
  auto r = get_share(anon, "");
  REQUIRE(r.ok);
  CHECK(json::parse(r.body)["share_id"] == "home");
  CHECK(json::parse(r.body)["item"]["title"] == "home page");
  // The owner sees its own shares with every interface.
  auto o = get_share(owner, "home");
  REQUIRE(o.ok);
  CHECK(json::parse(o.body)["interfaces"] == json{"*"});
}

TEST_CASE_METHOD(access_fixture, "store-wide operations need the owner",
                 "[access]") {
  auto id = note("x");
  auto refused = [&](error_code want) {
    auto is = [want](const reply& r) {
      INFO(r.message);
      return !r.ok && r.code == want;
    };
    CHECK(is(call([&](auto done) {
      n->put(bob, alice, "notes.note", R"({"title":"y"})", std::move(done));
    })));
    CHECK(is(call([&](auto done) {
      n->share(bob, alice, "notes.note", id, "everyone", R"(["read"])", "",
               std::move(done));
    })));
    CHECK(is(call([&](auto done) {
      n->member(bob, alice, "user:bob@example.com", "group:x", true,
                std::move(done));
    })));
    CHECK(is(call([&](auto done) {
      n->shares(bob, alice, 0, std::move(done));
    })));
    CHECK(is(call([&](auto done) {
      n->run(bob, alice, "mantissa.login_lookup", "{}", std::move(done));
    })));
    CHECK(is(call([&](auto done) {
      n->powerups(bob, alice, "x", std::move(done));
    })));
  };
  // Nothing shared with bob: the store is not there for him.
  refused(error_code::no_such_store);
  // Something shared with him: he sees the store, and may not change it.
  share(note("for bob"), "user:bob@example.com", {"read"});
  refused(error_code::forbidden);
  // The owner of one store is nobody in another.
  CHECK(call([&](auto done) {
          n->put(owner, "bob@example.com", "notes.note", R"({"title":"y"})",
                 std::move(done));
        }).code
        == error_code::no_such_store);
  // The system role may do everything.
  CHECK(call([&](auto done) {
          n->put(sys, alice, "notes.note", R"({"title":"y"})", std::move(done));
        }).ok);
}

TEST_CASE_METHOD(access_fixture, "site administration needs group:admin in "
                                 "the site store",
                 "[access]") {
  auto put_setting = [&](const actors::caller& who) {
    return call([&](auto done) {
      n->put(who, "site", "mantissa.setting",
             R"({"key":"a.b","value":"c","secret":false})", std::move(done));
    });
  };
  CHECK(put_setting(owner).code == error_code::forbidden);
  CHECK(call([&](auto done) {
          n->run(owner, "site", "mantissa.login_lookup",
                 R"({"username":"alice@example.com"})", std::move(done));
        }).code
        == error_code::forbidden);
  REQUIRE(call([&](auto done) {
            n->member(sys, "site", "user:alice@example.com", "group:admin",
                      true, std::move(done));
          }).ok);
  CHECK(put_setting(owner).ok);
  CHECK(put_setting(bob).code == error_code::forbidden);
}

TEST_CASE_METHOD(access_fixture, "randomized roles, groups and shares checked "
                                 "through the store actor against a model",
                 "[access]") {
  auto seed = static_cast<unsigned>(
    std::getenv("MANTISSA_SEED") ? std::stoul(std::getenv("MANTISSA_SEED"))
                                 : 20261122u);
  INFO("seed " << seed);
  std::mt19937 rng{seed};
  auto pick = [&](std::size_t size) {
    return std::uniform_int_distribution<std::size_t>{0, size - 1}(rng);
  };
  const std::vector<std::string> users{"user:u0@example.com", "user:u1@example.com",
                                       "user:u2@example.com", "user:u3@example.com"};
  const std::vector<std::string> groups{"group:g0", "group:g1", "group:g2"};
  const std::vector<std::string> ifaces{"read", "write"};
  // The model: memberships, and (share id, role) -> (item, interfaces).
  std::map<std::string, std::set<std::string>> member_of;
  struct share_row {
    std::int64_t item;
    std::set<std::string> ifaces;
  };
  std::map<std::pair<std::string, std::string>, share_row> shares;
  std::vector<std::int64_t> items;
  for (int i = 0; i < 12; ++i)
    items.push_back(note("n" + std::to_string(i)));
  for (auto& g : groups) {
    auto who = pick(2) == 0 ? users[pick(users.size())] : groups[pick(groups.size())];
    if (who == g)
      continue;
    REQUIRE(call([&](auto done) {
              n->member(owner, alice, who, g, true, std::move(done));
            }).ok);
    member_of[who].insert(g);
  }
  std::vector<std::string> roles = users;
  roles.insert(roles.end(), groups.begin(), groups.end());
  roles.push_back("everyone");
  roles.push_back("authenticated");
  for (int i = 0; i < 40; ++i) {
    auto item = items[pick(items.size())];
    auto role = roles[pick(roles.size())];
    std::set<std::string> chosen;
    for (auto& f : ifaces)
      if (pick(2) == 0)
        chosen.insert(f);
    if (chosen.empty())
      chosen.insert("read");
    std::string sid = "s" + std::to_string(item);  // one id per item
    share(item, role, json(std::vector<std::string>(chosen.begin(), chosen.end())),
          sid);
    shares[{sid, role}] = share_row{item, chosen};
  }
  auto closure = [&](const std::string& role) {
    std::set<std::string> out{role, "everyone"};
    if (role.rfind("user:", 0) == 0)
      out.insert("authenticated");
    std::vector<std::string> todo{role};
    while (!todo.empty()) {
      auto r = todo.back();
      todo.pop_back();
      for (auto& g : member_of[r])
        if (out.insert(g).second)
          todo.push_back(g);
    }
    return out;
  };
  auto expect = [&](const std::string& role, std::int64_t item,
                    const std::string& iface) {
    auto cl = closure(role);
    for (auto& [key, row] : shares)
      if (row.item == item && cl.count(key.second) && row.ifaces.count(iface))
        return true;
    return false;
  };
  std::vector<std::string> callers = users;
  callers.push_back("everyone");
  int checks = 0;
  int mismatches = 0;
  for (auto& role : callers) {
    actors::caller who{role, "t"};
    std::int64_t visible = 0;
    for (auto item : items) {
      bool can_read = expect(role, item, "read");
      bool can_write = expect(role, item, "write");
      visible += can_read ? 1 : 0;
      bool got_read = get(who, item).ok;
      bool got_write = call([&](auto done) {
                         n->update(who, alice, "notes.note", item, "{}",
                                   std::move(done));
                       }).ok;
      checks += 2;
      if (got_read != can_read || got_write != can_write) {
        ++mismatches;
        UNSCOPED_INFO("role " << role << " item " << item << " read "
                              << got_read << "/" << can_read << " write "
                              << got_write << "/" << can_write);
      }
    }
    auto q = query(who, {{"type", "notes.note"}});
    ++checks;
    if (q["total"] != visible) {
      ++mismatches;
      UNSCOPED_INFO("role " << role << " sees " << q["total"] << " of "
                            << visible);
    }
  }
  CHECK(checks > 100);
  CHECK(mismatches == 0);
}

TEST_CASE_METHOD(access_fixture, "an address in another case reaches the same "
                                 "store and the same owner",
                 "[access]") {
  auto id = note("case");
  for (const char* spelled : {"Alice@Example.COM", "ALICE@example.com"}) {
    auto r = call([&](auto done) {
      n->get(owner, spelled, "notes.note", id, std::move(done));
    });
    INFO(spelled << ": " << r.message);
    CHECK(r.ok);
  }
  CHECK(get(owner, id).ok);
}
