// Authorization inside the store actors: what each role may do with the
// items of a store it does not own, through shares, groups, the default
// share and the owner-only operations; who may run a handler; and a
// randomized matrix of roles, items and shares checked through the actors
// against an independent model. Real node, real SQLite files.

#include <catch2/catch.hpp>

#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "actors/node.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/node.hpp"

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

/// Answers what it was given: its arguments and the title of the shared
/// item, if any.
store::result<json> peek(store::store& s, const json& args,
                         const actors::caller&) {
  json out{{"args", args}};
  if (args.is_object() && args.contains("shared")) {
    auto& sh = args["shared"];
    auto it = s.get(sh["type"].get<std::string>(),
                    sh["id"].get<std::int64_t>());
    if (!it)
      return it.error_value();
    out["title"] = std::get<std::string>(it->values.at(0));
  }
  return out;
}

struct access_fixture : test::node_fixture {
  access_fixture() {
    start_node({}, [](actors::node& node) {
      REQUIRE(node.types().add(test::note_decl(false)));
      REQUIRE(node.handlers().add("t.peek", peek, "read"));
      REQUIRE(node.handlers().add("t.mine", peek));
    });
    for (auto* a : {"alice@example.com", "bob@example.com"})
      REQUIRE(create_store(a).ok);
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

  /// Runs `handler` in alice's store, through `share_id` when not empty.
  reply run(const actors::caller& who, const std::string& handler,
            const json& args, const std::string& share_id = "") {
    auto text = args.is_null() ? std::string{} : args.dump();
    return call([&](auto done) {
      if (share_id.empty())
        n->run(who, alice, handler, text, std::move(done));
      else
        n->run_shared(who, alice, handler, text, share_id, std::move(done));
    });
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
  // A handler a caller may not run is answered as one that does not exist.
  auto refused = [&](error_code want, error_code run_want) {
    auto is = [want](const reply& r) {
      INFO(r.message);
      return !r.ok && r.code == want;
    };
    auto is_run = [run_want](const reply& r) {
      INFO(r.message);
      return !r.ok && r.code == run_want;
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
    CHECK(is_run(call([&](auto done) {
      n->run(bob, alice, "mantissa.login_lookup", "{}", std::move(done));
    })));
    CHECK(is(call([&](auto done) {
      n->powerups(bob, alice, "x", std::move(done));
    })));
  };
  // Nothing shared with bob: the store is not there for him.
  refused(error_code::no_such_store, error_code::no_such_store);
  // Something shared with him: he sees the store, and may not change it.
  share(note("for bob"), "user:bob@example.com", {"read"});
  refused(error_code::forbidden, error_code::no_such_handler);
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
  // A handler a non-admin may not run in the site store: as if there
  // were none.
  CHECK(call([&](auto done) {
          n->run(owner, "site", "mantissa.login_lookup",
                 R"({"username":"alice@example.com"})", std::move(done));
        }).code
        == error_code::no_such_handler);
  REQUIRE(call([&](auto done) {
            n->member(sys, "site", "user:alice@example.com", "group:admin",
                      true, std::move(done));
          }).ok);
  CHECK(put_setting(owner).ok);
  CHECK(put_setting(bob).code == error_code::forbidden);
}

namespace {

/// The rules of docs/security.md ("Roles", "Shares and interfaces"), kept
/// with plain containers: no call into the code under test.
struct access_model {
  std::set<std::pair<std::string, std::string>> members;  // (member, group)
  struct grant {
    std::int64_t item = 0;
    std::set<std::string> ifaces;
  };
  std::map<std::pair<std::string, std::string>, grant> shares;  // (sid, role)
  std::set<std::int64_t> live;

  /// The item a share id names, 0 when it names none.
  std::int64_t item_of(const std::string& sid) const {
    for (auto& [key, g] : shares)
      if (key.first == sid)
        return g.item;
    return 0;
  }

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

  bool may(const std::string& role, std::int64_t item,
           const std::string& iface) const {
    if (live.count(item) == 0)
      return false;
    auto cl = closure(role);
    for (auto& [key, g] : shares)
      if (g.item == item && cl.count(key.second) != 0
          && g.ifaces.count(iface) != 0)
        return true;
    return false;
  }

  /// docs/security.md, "Who exists": a store where nothing is shared with
  /// any role of the caller's closure answers as if it did not exist.
  bool hidden(const std::string& role) const {
    auto cl = closure(role);
    for (auto& [key, g] : shares)
      if (cl.count(key.second) != 0)
        return false;
    return true;
  }

  void remove(std::int64_t item) {
    live.erase(item);
    for (auto i = shares.begin(); i != shares.end();)
      i = i->second.item == item ? shares.erase(i) : std::next(i);
  }
};

} // namespace

TEST_CASE_METHOD(access_fixture, "randomized roles, groups and shares checked "
                                 "through the store actor against a model",
                 "[access]") {
  // A fresh seed each run (printed; MANTISSA_SEED replays it). The size:
  // docs/security.md, "The randomized matrix".
  const auto seed = test::test_seed("access matrix");
  INFO("seed " << seed << " (MANTISSA_SEED=" << seed << " replays it)");
  struct sizes {
    int users, groups, items, share_ids, rounds, steps;
  };
  const sizes z = test::nightly_size() ? sizes{24, 12, 80, 60, 12, 200}
                                       : sizes{10, 6, 24, 16, 5, 80};
  std::mt19937 rng{seed};
  auto pick = [&](std::size_t size) {
    return std::uniform_int_distribution<std::size_t>{0, size - 1}(rng);
  };
  auto chance = [&](int percent) {
    return static_cast<int>(pick(100)) < percent;
  };
  std::vector<std::string> users, groups, sids;
  for (int i = 0; i < z.users; ++i)
    users.push_back("user:u" + std::to_string(i) + "@example.com");
  for (int i = 0; i < z.groups; ++i)
    groups.push_back("group:g" + std::to_string(i));
  for (int i = 0; i < z.share_ids; ++i)
    sids.push_back("s" + std::to_string(i));
  const std::vector<std::string> ifaces{"read", "write"};
  std::vector<std::string> roles = users;
  roles.insert(roles.end(), groups.begin(), groups.end());
  roles.push_back("everyone");
  roles.push_back("authenticated");
  // Callers: every user, an anonymous one, and a user the store never
  // heard of (who still is `authenticated`).
  std::vector<std::string> callers = users;
  callers.push_back("everyone");
  callers.push_back("user:stranger@example.com");

  access_model m;
  std::vector<std::int64_t> all_items;  // live and deleted, in order
  auto add_item = [&] {
    auto id = note("n" + std::to_string(all_items.size()));
    all_items.push_back(id);
    m.live.insert(id);
  };
  for (int i = 0; i < z.items; ++i)
    add_item();
  auto any_live = [&]() -> std::int64_t {
    auto i = m.live.begin();
    std::advance(i, static_cast<std::ptrdiff_t>(pick(m.live.size())));
    return *i;
  };

  int checks = 0;
  int mismatches = 0;
  std::map<std::string, int> events;
  // One caller's get and update of one item against the model. A refusal
  // looks like an item (or store) that does not exist, never like an error.
  auto check_item = [&](const std::string& role, std::int64_t item) {
    actors::caller who{role, "t"};
    auto r = get(who, item);
    auto w = call([&](auto done) {
      n->update(who, alice, "notes.note", item, "{}", std::move(done));
    });
    bool can_read = m.may(role, item, "read");
    bool can_write = m.may(role, item, "write");
    auto refused = m.hidden(role) ? error_code::no_such_store
                                  : error_code::no_such_item;
    checks += 2;
    auto as_expected = [&](const reply& x, bool allowed) {
      return allowed ? x.ok : !x.ok && x.code == refused;
    };
    if (!as_expected(r, can_read) || !as_expected(w, can_write)) {
      ++mismatches;
      UNSCOPED_INFO("role " << role << " item " << item << " read " << r.ok
                            << "/" << can_read << " (" << r.message
                            << ") write " << w.ok << "/" << can_write << " ("
                            << w.message << ")");
    }
  };

  auto step = [&] {
    auto op = pick(100);
    if (op < 40 && !m.live.empty()) {
      // Share: a share id naming another item is refused.
      auto item = any_live();
      auto role = roles[pick(roles.size())];
      // Mostly the item's own id; else one of a small shared pool, which
      // is often another item's.
      auto sid = chance(60) ? "i" + std::to_string(item) : sids[pick(sids.size())];
      std::set<std::string> chosen;
      for (auto& f : ifaces)
        if (chance(50))
          chosen.insert(f);
      if (chosen.empty())
        chosen.insert("read");
      auto r = call([&](auto done) {
        n->share(owner, alice, "notes.note", item, role,
                 json(std::vector<std::string>(chosen.begin(), chosen.end()))
                   .dump(),
                 sid, std::move(done));
      });
      auto named = m.item_of(sid);
      if (named != 0 && named != item) {
        ++events["refused share"];
        if (r.ok) {
          ++mismatches;
          UNSCOPED_INFO("share id " << sid << " of item " << named
                                    << " was given to item " << item);
        }
        return;
      }
      INFO(r.message);
      REQUIRE(r.ok);
      ++events["share"];
      m.shares[{sid, role}] = access_model::grant{item, chosen};
    } else if (op < 52) {
      // Unshare one role, or every role, of a share id.
      auto sid = chance(50) ? "i" + std::to_string(all_items[pick(all_items.size())])
                            : sids[pick(sids.size())];
      std::string role = chance(30) ? std::string{} : roles[pick(roles.size())];
      std::size_t expected = 0;
      for (auto i = m.shares.begin(); i != m.shares.end();)
        if (i->first.first == sid && (role.empty() || i->first.second == role)) {
          ++expected;
          i = m.shares.erase(i);
        } else {
          ++i;
        }
      auto r = call([&](auto done) {
        n->unshare(owner, alice, sid, role, std::move(done));
      });
      REQUIRE(r.ok);
      ++checks;
      CHECK(json::parse(r.body)["removed"] == expected);
      events["unshared"] += static_cast<int>(expected);
    } else if (op < 80) {
      // A membership added or removed (users in groups, groups in groups,
      // cycles included).
      auto group = groups[pick(groups.size())];
      auto who = chance(50) ? users[pick(users.size())]
                            : groups[pick(groups.size())];
      if (who == group)
        return;
      bool add = chance(65);
      REQUIRE(call([&](auto done) {
                n->member(owner, alice, who, group, add, std::move(done));
              }).ok);
      if (add)
        m.members.insert({who, group});
      else
        m.members.erase({who, group});
      ++events[add ? "member added" : "member removed"];
    } else if (op < 86 && !m.live.empty()) {
      // The owner deletes an item: its shares go with it.
      auto item = any_live();
      REQUIRE(call([&](auto done) {
                n->remove(owner, alice, "notes.note", item, std::move(done));
              }).ok);
      m.remove(item);
      ++events["deleted"];
    } else if (op < 92) {
      add_item();
      ++events["inserted"];
    } else if (!m.live.empty()) {
      // Right after a change: one caller, one item (the actor's access
      // cache must have forgotten what the change made stale).
      check_item(callers[pick(callers.size())],
                 all_items[pick(all_items.size())]);
      ++events["spot check"];
    }
  };

  for (int round = 0; round < z.rounds; ++round) {
    for (int i = 0; i < z.steps; ++i)
      step();
    for (auto& role : callers) {
      for (auto item : all_items)
        check_item(role, item);
      std::int64_t visible = 0;
      for (auto item : m.live)
        visible += m.may(role, item, "read") ? 1 : 0;
      auto q = call([&](auto done) {
        n->query(actors::caller{role, "t"}, alice,
                 json{{"type", "notes.note"}}.dump(), std::move(done));
      });
      ++checks;
      bool hidden = m.hidden(role);
      if (q.ok == hidden
          || (q.ok && json::parse(q.body)["total"] != visible)
          || (!q.ok && q.code != error_code::no_such_store)) {
        ++mismatches;
        UNSCOPED_INFO("round " << round << ": role " << role << " (hidden "
                               << hidden << ") sees " << visible << ": "
                               << (q.ok ? q.body : q.message));
      }
    }
  }
  std::cout << "access matrix: " << checks << " checks, " << all_items.size()
            << " items, " << m.shares.size() << " shares, "
            << m.members.size() << " memberships at the end;";
  for (auto& [event, count] : events)
    std::cout << " " << event << " " << count;
  std::cout << std::endl;
  CHECK(checks > 1000);
  CHECK(mismatches == 0);
  if (mismatches != 0)
    FAIL("replay with MANTISSA_SEED=" << seed);
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

namespace {

/// Who may run a handler (docs/offerings.md, "Who may run a handler"):
/// refused as if it did not exist.
bool refused(const reply& r) {
  INFO(r.message);
  return !r.ok && r.code == error_code::no_such_handler;
}

} // namespace

TEST_CASE_METHOD(access_fixture, "the owner runs every handler, with or "
                                  "without a share",
                 "[access][handlers]") {
  auto id = note("mine");
  auto sid = share(id, "user:bob@example.com", {"read"});
  // Without a share: a `shared` it sends is not the store's, so it goes.
  auto r = run(owner, "t.mine", {{"shared", {{"id", 42}}}, {"x", 1}});
  REQUIRE(r.ok);
  CHECK(json::parse(r.body)["args"] == json{{"x", 1}});
  // Through a share, even a handler without an interface; null arguments
  // become an object with the share.
  r = run(owner, "t.mine", nullptr, sid);
  REQUIRE(r.ok);
  auto j = json::parse(r.body);
  CHECK(j["title"] == "mine");
  CHECK(j["args"]["shared"]["share_id"] == sid);
  CHECK(j["args"]["shared"]["interfaces"] == json{"*"});
  // A share that does not exist is a missing item for the owner.
  CHECK(run(owner, "t.peek", {}, "nosuchshare").code
        == error_code::no_such_item);
  CHECK(refused(run(owner, "t.nothing", {})));
}

TEST_CASE_METHOD(access_fixture, "a share granting the interface runs the "
                                  "handler on the shared item only",
                 "[access][handlers]") {
  auto shared = note("shared with bob");
  note("not shared");
  auto sid = share(shared, "user:bob@example.com", {"read"});
  // Bob names the share: the store tells the handler which item it is,
  // whatever bob claims.
  auto r = run(bob, "t.peek", {{"shared", {{"type", "notes.note"}, {"id", 2}}}},
               sid);
  INFO(r.message);
  REQUIRE(r.ok);
  auto j = json::parse(r.body);
  CHECK(j["title"] == "shared with bob");
  CHECK(j["args"]["shared"]["id"] == shared);
  CHECK(j["args"]["shared"]["interfaces"] == json{"read"});
  // Not an object: refused, the handler does not run.
  CHECK(run(bob, "t.peek", json::array(), sid).code
        == error_code::invalid_value);
  // Without naming the share, or a handler without an interface, or an
  // unknown share: as if there were no such handler.
  CHECK(refused(run(bob, "t.peek", {})));
  CHECK(refused(run(bob, "t.mine", {}, sid)));
  CHECK(refused(run(bob, "t.peek", {}, "nosuchshare")));
  CHECK(refused(run(bob, "t.nothing", {}, sid)));
}

TEST_CASE_METHOD(access_fixture, "a share without the interface, or a "
                                  "stranger, gets no_such_handler",
                 "[access][handlers]") {
  auto id = note("x");
  auto write_only = share(id, "user:bob@example.com", {"write"});
  CHECK(refused(run(bob, "t.peek", {}, write_only)));
  // Carol sees nothing of alice's store: the store is not there for her,
  // handler or not.
  CHECK(run(carol, "t.peek", {}, write_only).code == error_code::no_such_store);
  // Shared with bob only: carol, now able to see the store, still may not.
  auto other = share(note("y"), "user:carol@example.com", {"write"});
  CHECK(refused(run(carol, "t.peek", {}, write_only)));
  CHECK(refused(run(carol, "t.peek", {}, other)));
}

TEST_CASE_METHOD(access_fixture, "shares with everyone and authenticated "
                                  "let anonymous and logged-in callers run",
                 "[access][handlers]") {
  auto pub = share(note("public"), "everyone", {"read"});
  auto users = share(note("members"), "authenticated", {"read"});
  auto r = run(anon, "t.peek", {}, pub);
  REQUIRE(r.ok);
  CHECK(json::parse(r.body)["title"] == "public");
  CHECK(refused(run(anon, "t.peek", {}, users)));
  r = run(carol, "t.peek", {}, users);
  REQUIRE(r.ok);
  CHECK(json::parse(r.body)["title"] == "members");
}
