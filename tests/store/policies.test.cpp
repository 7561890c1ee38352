// Delete policies of references (store/store.hpp: remove, remove_where):
// nullify, cascade (through chains and cycles) and disallow, which must leave
// every row, count and installation exactly as it was.
#include <catch2/catch.hpp>

#include <map>
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

attribute_decl ref(std::string name, std::string target, delete_policy p,
                   bool nullable = true) {
  auto a = attr(std::move(name), attribute_type::reference);
  a.target_type = std::move(target);
  a.on_delete = p;
  a.nullable = nullable;
  return a;
}

type_decl decl(std::string name, std::vector<attribute_decl> attrs) {
  type_decl d;
  d.name = std::move(name);
  d.attributes = std::move(attrs);
  return d;
}

/// Every type used below, registered once per test. The order matters for
/// one test: `chain.b` is registered before `chain.guard`, so a delete of a
/// `chain.a` meets the cascade into `chain.b` before it meets the guard.
void declare_all(type_registry& reg) {
  auto name = [] { return attr("name", attribute_type::text); };
  REQUIRE(reg.add(decl("pol.target", {name()})));
  REQUIRE(reg.add(
    decl("pol.nullifier",
         {name(), ref("target", "pol.target", delete_policy::nullify)})));
  REQUIRE(reg.add(decl(
    "pol.cascader",
    {name(), ref("target", "pol.target", delete_policy::cascade, false)})));
  REQUIRE(reg.add(decl("pol.guard", {name(), ref("target", "pol.target",
                                                 delete_policy::disallow)})));
  // a <- b <- c <- d, each cascading; e refers to c with disallow.
  REQUIRE(reg.add(decl("chain.a", {name()})));
  REQUIRE(reg.add(
    decl("chain.b", {name(), ref("up", "chain.a", delete_policy::cascade)})));
  REQUIRE(reg.add(
    decl("chain.c", {name(), ref("up", "chain.b", delete_policy::cascade)})));
  REQUIRE(reg.add(
    decl("chain.d", {name(), ref("up", "chain.c", delete_policy::cascade)})));
  REQUIRE(reg.add(
    decl("chain.e", {name(), ref("up", "chain.c", delete_policy::disallow)})));
  // guard refers to b with disallow and to a with cascade: deleting a
  // removes both b and the guard, so nothing is left to disallow.
  REQUIRE(reg.add(
    decl("chain.guard", {name(), ref("b", "chain.b", delete_policy::disallow),
                         ref("a", "chain.a", delete_policy::cascade)})));
  // Two types that cascade into each other, and a self-referring ring.
  REQUIRE(reg.add(
    decl("cyc.x", {name(), ref("peer", "cyc.y", delete_policy::cascade)})));
  REQUIRE(reg.add(
    decl("cyc.y", {name(), ref("peer", "cyc.x", delete_policy::cascade)})));
  REQUIRE(reg.add(decl(
    "cyc.node", {name(), ref("next", "cyc.node", delete_policy::cascade)})));
  REQUIRE(reg.add(decl(
    "cyc.self", {name(), ref("me", "cyc.self", delete_policy::disallow)})));
  // A powerup type, to check that a refused delete keeps installations.
  auto p = decl("pol.power", {name()});
  p.powerup_interfaces = {{"tool", 0}};
  REQUIRE(reg.add(p));
}

struct fixture {
  temp_dir dir;
  type_registry reg;
  std::unique_ptr<store> s;

  fixture() {
    declare_all(reg);
    auto r = store::open(dir / "s.sqlite", reg);
    REQUIRE(r);
    s = std::move(*r);
  }

  /// Inserts an item of `type` with a name and the given references.
  item_id add(const std::string& type, const std::string& name,
              std::vector<item_id> refs = {}) {
    item it{0, type, {name}};
    for (auto r : refs)
      it.values.push_back(r == 0 ? value{} : value{reference{r}});
    auto id = s->insert(it);
    if (!id)
      FAIL("insert of " << type << " failed: " << id.error_value().message);
    return *id;
  }

  bool present(const std::string& type, item_id id) {
    auto r = s->get(type, id);
    if (!r && r.code() != errc::no_such_item)
      FAIL("get failed: " << r.error_value().message);
    return r.has_value();
  }

  std::int64_t count(const std::string& type) {
    auto n = s->count(type);
    REQUIRE(n);
    return *n;
  }

  /// Every item of every type plus every installation: what "nothing
  /// changed" is compared against.
  std::map<std::string, std::vector<item>> snapshot() {
    std::map<std::string, std::vector<item>> out;
    for (auto* d : reg.types()) {
      query q;
      q.type = d->name;
      auto r = s->select(q);
      REQUIRE(r);
      out[d->name] = std::move(*r);
    }
    std::vector<item> inst;
    for (item_id target : {item_id{0}}) {
      auto r = s->installations(target);
      REQUIRE(r);
      for (auto& i : *r)
        inst.push_back(item{i.powerup.id, i.interface, {i.priority}});
    }
    out["(installations)"] = std::move(inst);
    return out;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "nullify clears the references to a deleted item",
                 "[store][policies]") {
  auto t1 = add("pol.target", "t1");
  auto t2 = add("pol.target", "t2");
  auto n1 = add("pol.nullifier", "n1", {t1});
  auto n2 = add("pol.nullifier", "n2", {t1});
  auto n3 = add("pol.nullifier", "n3", {t2});
  REQUIRE(s->remove("pol.target", t1));
  CHECK_FALSE(present("pol.target", t1));
  CHECK(is_null(s->get("pol.nullifier", n1)->values[1]));
  CHECK(is_null(s->get("pol.nullifier", n2)->values[1]));
  // Other references and the referring items themselves are untouched.
  CHECK(s->get("pol.nullifier", n3)->values[1] == value{reference{t2}});
  CHECK(count("pol.nullifier") == 3);
  CHECK(std::get<std::string>(s->get("pol.nullifier", n1)->values[0]) == "n1");
}

TEST_CASE_METHOD(fixture, "cascade deletes the referring items",
                 "[store][policies]") {
  auto t1 = add("pol.target", "t1");
  auto t2 = add("pol.target", "t2");
  auto c1 = add("pol.cascader", "c1", {t1});
  auto c2 = add("pol.cascader", "c2", {t1});
  auto c3 = add("pol.cascader", "c3", {t2});
  REQUIRE(s->remove("pol.target", t1));
  CHECK_FALSE(present("pol.cascader", c1));
  CHECK_FALSE(present("pol.cascader", c2));
  CHECK(present("pol.cascader", c3));
  CHECK(present("pol.target", t2));
  CHECK(count("pol.cascader") == 1);
}

TEST_CASE_METHOD(fixture, "cascade follows a chain through several levels",
                 "[store][policies]") {
  auto a1 = add("chain.a", "a1");
  auto a2 = add("chain.a", "a2");
  std::vector<item_id> bs, cs, ds, other;
  for (int i = 0; i < 3; ++i) {
    auto b = add("chain.b", "b", {a1});
    bs.push_back(b);
    for (int j = 0; j < 2; ++j) {
      auto c = add("chain.c", "c", {b});
      cs.push_back(c);
      ds.push_back(add("chain.d", "d", {c}));
      ds.push_back(add("chain.d", "d", {c}));
    }
  }
  // An unrelated branch under a2 must survive.
  auto b2 = add("chain.b", "keep", {a2});
  auto c2 = add("chain.c", "keep", {b2});
  auto d2 = add("chain.d", "keep", {c2});
  REQUIRE(s->remove("chain.a", a1));
  for (auto id : bs)
    CHECK_FALSE(present("chain.b", id));
  for (auto id : cs)
    CHECK_FALSE(present("chain.c", id));
  for (auto id : ds)
    CHECK_FALSE(present("chain.d", id));
  CHECK(present("chain.a", a2));
  CHECK(present("chain.b", b2));
  CHECK(present("chain.c", c2));
  CHECK(present("chain.d", d2));
  CHECK(count("chain.b") == 1);
  CHECK(count("chain.c") == 1);
  CHECK(count("chain.d") == 1);
}

TEST_CASE_METHOD(fixture, "cascade through a cycle of two types ends",
                 "[store][policies]") {
  auto x = add("cyc.x", "x", {0});
  auto y = add("cyc.y", "y", {x});
  auto x_item = *s->get("cyc.x", x);
  x_item.values[1] = reference{y};
  REQUIRE(s->update(x_item));
  auto lone = add("cyc.x", "lone", {0});

  SECTION("deleting the first") {
    REQUIRE(s->remove("cyc.x", x));
  }
  SECTION("deleting the second") {
    REQUIRE(s->remove("cyc.y", y));
  }
  CHECK_FALSE(present("cyc.x", x));
  CHECK_FALSE(present("cyc.y", y));
  CHECK(present("cyc.x", lone));
  CHECK(count("cyc.y") == 0);
}

TEST_CASE_METHOD(fixture, "cascade around a ring of one type removes the ring",
                 "[store][policies]") {
  std::vector<item_id> ring;
  for (int i = 0; i < 6; ++i)
    ring.push_back(
      add("cyc.node", "n" + std::to_string(i), {i == 0 ? 0 : ring.back()}));
  auto first = *s->get("cyc.node", ring.front());
  first.values[1] = reference{ring.back()};
  REQUIRE(s->update(first));
  auto outside = add("cyc.node", "outside", {0});
  REQUIRE(s->remove("cyc.node", ring[3]));
  for (auto id : ring)
    CHECK_FALSE(present("cyc.node", id));
  CHECK(present("cyc.node", outside));
}

TEST_CASE_METHOD(fixture, "an item referring to itself with disallow can go",
                 "[store][policies]") {
  auto me = add("cyc.self", "me", {0});
  auto it = *s->get("cyc.self", me);
  it.values[1] = reference{me};
  REQUIRE(s->update(it));
  REQUIRE(s->remove("cyc.self", me));
  CHECK(count("cyc.self") == 0);
}

TEST_CASE_METHOD(fixture, "disallow refuses the delete and changes nothing",
                 "[store][policies]") {
  auto t1 = add("pol.target", "t1");
  auto t2 = add("pol.target", "t2");
  add("pol.nullifier", "n", {t1});
  add("pol.cascader", "c", {t1});
  add("pol.cascader", "c2", {t2});
  auto g = add("pol.guard", "g", {t1});
  auto power = add("pol.power", "p");
  REQUIRE(s->install({"pol.power", power}));
  auto before = snapshot();

  auto r = s->remove("pol.target", t1);
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::disallowed);
  // The message names what refused and what was to be deleted.
  CHECK(r.error_value().message.find("pol.guard") != std::string::npos);
  CHECK(r.error_value().message.find("#" + std::to_string(g))
        != std::string::npos);
  CHECK(snapshot() == before);
  CHECK(count("pol.target") == 2);
  CHECK(count("pol.cascader") == 2);
  CHECK_FALSE(s->in_transaction());

  // Once the guard lets go, the delete goes through with every policy.
  REQUIRE(s->remove("pol.guard", g));
  REQUIRE(s->remove("pol.target", t1));
  CHECK(count("pol.cascader") == 1);
  CHECK(count("pol.nullifier") == 1);
  query q;
  q.type = "pol.nullifier";
  CHECK(is_null(s->select(q)->front().values[1]));
}

TEST_CASE_METHOD(fixture,
                 "disallow deep inside a cascade chain changes nothing",
                 "[store][policies]") {
  auto a = add("chain.a", "a");
  auto b = add("chain.b", "b", {a});
  auto c1 = add("chain.c", "c1", {b});
  auto c2 = add("chain.c", "c2", {b});
  add("chain.d", "d1", {c1});
  add("chain.d", "d2", {c2});
  auto e = add("chain.e", "e", {c2}); // three levels below a
  auto before = snapshot();

  auto r = s->remove("chain.a", a);
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::disallowed);
  CHECK(r.error_value().message.find("chain.e") != std::string::npos);
  CHECK(snapshot() == before);
  CHECK(count("chain.a") == 1);
  CHECK(count("chain.b") == 1);
  CHECK(count("chain.c") == 2);
  CHECK(count("chain.d") == 2);

  // The same refusal inside a transaction: the transaction goes on, keeps
  // its own earlier writes, and commits.
  auto later = item_id{0};
  REQUIRE(s->transact([&]() -> result<void> {
    later = add("chain.a", "later");
    auto inner = s->remove("chain.b", b);
    CHECK(inner.code() == errc::disallowed);
    return {};
  }));
  CHECK(present("chain.a", later));
  auto after = snapshot();
  after["chain.a"].pop_back();
  CHECK(after == before);

  REQUIRE(s->remove("chain.e", e));
  REQUIRE(s->remove("chain.a", a));
  CHECK(count("chain.b") == 0);
  CHECK(count("chain.c") == 0);
  CHECK(count("chain.d") == 0);
}

TEST_CASE_METHOD(
  fixture, "disallow from an item the same cascade deletes does not refuse",
  "[store][policies]") {
  // The guard refers to b (disallow) and to a (cascade). Deleting a deletes
  // b and the guard alike, whichever the store meets first.
  auto a = add("chain.a", "a");
  auto b = add("chain.b", "b", {a});
  auto g = add("chain.guard", "g", {b, a});
  auto r = s->remove("chain.a", a);
  INFO((r ? std::string{"ok"} : r.error_value().message));
  REQUIRE(r);
  CHECK_FALSE(present("chain.b", b));
  CHECK_FALSE(present("chain.guard", g));

  // Deleting b alone is still refused by the guard.
  auto a2 = add("chain.a", "a2");
  auto b2 = add("chain.b", "b2", {a2});
  add("chain.guard", "g2", {b2, a2});
  CHECK(s->remove("chain.b", b2).code() == errc::disallowed);
  CHECK(present("chain.b", b2));
}

TEST_CASE_METHOD(fixture, "remove_where honours policies all or nothing",
                 "[store][policies]") {
  std::vector<item_id> targets, cascaders, nullifiers;
  for (int i = 0; i < 6; ++i) {
    auto t = add("pol.target", "t" + std::to_string(i));
    targets.push_back(t);
    cascaders.push_back(add("pol.cascader", "c", {t}));
    nullifiers.push_back(add("pol.nullifier", "n", {t}));
  }
  auto g = add("pol.guard", "g", {targets[4]});
  auto before = snapshot();

  auto all = s->remove_where("pol.target", {});
  REQUIRE_FALSE(all);
  CHECK(all.code() == errc::disallowed);
  CHECK(snapshot() == before);

  // Only the matching items, and the guarded one is not among them.
  auto some
    = s->remove_where("pol.target", in("name", {value{std::string{"t0"}},
                                                value{std::string{"t1"}},
                                                value{std::string{"t5"}}}));
  REQUIRE(some);
  CHECK(*some == 3);
  CHECK(count("pol.target") == 3);
  CHECK(count("pol.cascader") == 3);
  CHECK(count("pol.nullifier") == 6);
  for (int i : {0, 1, 5}) {
    CHECK_FALSE(
      present("pol.cascader", cascaders[static_cast<std::size_t>(i)]));
    CHECK(
      is_null(s->get("pol.nullifier", nullifiers[static_cast<std::size_t>(i)])
                ->values[1]));
  }
  for (int i : {2, 3, 4}) {
    CHECK(present("pol.cascader", cascaders[static_cast<std::size_t>(i)]));
    CHECK(s->get("pol.nullifier", nullifiers[static_cast<std::size_t>(i)])
            ->values[1]
          == value{reference{targets[static_cast<std::size_t>(i)]}});
  }

  // Matching nothing deletes nothing and reports zero.
  auto none
    = s->remove_where("pol.target", cmp("name", compare_op::eq, "missing"));
  REQUIRE(none);
  CHECK(*none == 0);

  REQUIRE(s->remove("pol.guard", g));
  auto rest = s->remove_where("pol.target", {});
  REQUIRE(rest);
  CHECK(*rest == 3);
  CHECK(count("pol.target") == 0);
  CHECK(count("pol.cascader") == 0);
}

TEST_CASE_METHOD(fixture,
                 "remove_where over items that cascade into each other",
                 "[store][policies]") {
  std::vector<item_id> ring;
  for (int i = 0; i < 4; ++i)
    ring.push_back(add("cyc.node", "r", {i == 0 ? 0 : ring.back()}));
  auto keep = add("cyc.node", "keep", {0});
  auto r = s->remove_where("cyc.node", cmp("name", compare_op::eq, "r"));
  REQUIRE(r);
  CHECK(*r == 4);
  CHECK(count("cyc.node") == 1);
  CHECK(present("cyc.node", keep));
}

TEST_CASE_METHOD(fixture,
                 "references must point at an existing item of the type",
                 "[store][policies]") {
  auto t = add("pol.target", "t");
  auto other = add("chain.a", "not a target");
  auto gone = add("pol.target", "gone");
  REQUIRE(s->remove("pol.target", gone));

  for (item_id bad : {item_id{999999}, other, gone}) {
    INFO("reference to #" << bad);
    item n{0, "pol.nullifier", {std::string{"n"}, reference{bad}}};
    auto r = s->insert(n);
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::invalid_value);
    CHECK(r.error_value().message.find("target") != std::string::npos);
    CHECK(n.id == 0);
  }
  CHECK(count("pol.nullifier") == 0);

  // A reference id that is not positive is refused as a value.
  item zero{0, "pol.nullifier", {std::string{"n"}, reference{0}}};
  CHECK(s->insert(zero).code() == errc::invalid_value);
  // A non-nullable reference must be given.
  item missing{0, "pol.cascader", {std::string{"c"}, value{}}};
  CHECK(s->insert(missing).code() == errc::invalid_value);
  CHECK(count("pol.cascader") == 0);

  // Updates are checked the same way and leave the item as it was.
  auto ok = add("pol.nullifier", "ok", {t});
  auto it = *s->get("pol.nullifier", ok);
  for (item_id bad : {item_id{999999}, other, gone}) {
    it.values[1] = reference{bad};
    CHECK(s->update(it).code() == errc::invalid_value);
  }
  CHECK(s->get("pol.nullifier", ok)->values[1] == value{reference{t}});
  it.values[1] = value{};
  REQUIRE(s->update(it));
  CHECK(is_null(s->get("pol.nullifier", ok)->values[1]));
}

TEST_CASE("a nullify reference must be nullable", "[store][policies]") {
  type_registry reg;
  auto d
    = decl("bad.ref", {ref("r", "bad.ref", delete_policy::nullify, false)});
  auto r = reg.add(d);
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::invalid_name);
}
