// Powerups (store/store.hpp: install, uninstall, powerups_for,
// installations): priority order, power-down, several interfaces, targets,
// and dependencies declared with `requires_types`.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "store/store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::temp_dir;

namespace {

type_decl powerup_type(std::string name, std::vector<powerup_interface> ifaces,
                       std::vector<std::string> requires_types = {}) {
  type_decl d;
  d.name = std::move(name);
  attribute_decl a;
  a.name = "name";
  a.type = attribute_type::text;
  d.attributes.push_back(a);
  d.powerup_interfaces = std::move(ifaces);
  d.requires_types = std::move(requires_types);
  return d;
}

struct fixture {
  temp_dir dir;
  type_registry reg;
  std::unique_ptr<store> s;

  fixture() {
    REQUIRE(reg.add(powerup_type("pw.target", {})));
    REQUIRE(reg.add(powerup_type("pw.power", {{"tool", 0}})));
    REQUIRE(reg.add(powerup_type("pw.multi", {{"alpha", 5}, {"beta", -1}})));
    // top requires mid requires base; side requires base too.
    REQUIRE(reg.add(powerup_type("dep.base", {{"base", 0}})));
    REQUIRE(reg.add(powerup_type("dep.mid", {{"mid", 0}}, {"dep.base"})));
    REQUIRE(reg.add(powerup_type("dep.top", {{"top", 0}}, {"dep.mid"})));
    REQUIRE(reg.add(powerup_type("dep.side", {{"side", 0}}, {"dep.base"})));
    REQUIRE(reg.add(powerup_type("dep.bare", {})));
    REQUIRE(reg.add(powerup_type("dep.needy", {{"needy", 0}}, {"dep.bare"})));
    reopen();
  }

  void reopen() {
    s.reset();
    auto r = store::open(dir / "s.sqlite", reg);
    REQUIRE(r);
    s = std::move(*r);
  }

  item_ref make(const std::string& type, const std::string& name = "p") {
    item it{0, type, {name}};
    auto id = s->insert(it);
    REQUIRE(id);
    return {type, *id};
  }

  /// Ids of the powerups for `iface` on `target`, in the order returned.
  std::vector<item_id> ids_for(const std::string& iface, item_id target = 0) {
    auto r = s->powerups_for(iface, target);
    if (!r)
      FAIL("powerups_for failed: " << r.error_value().message);
    std::vector<item_id> out;
    for (auto& it : *r)
      out.push_back(it.id);
    return out;
  }

  std::int64_t count(const std::string& type) {
    auto n = s->count(type);
    REQUIRE(n);
    return *n;
  }

  bool present(const item_ref& r) { return s->get(r.type, r.id).has_value(); }

  /// The installation of `p` on `target` under `iface`, if any.
  std::optional<installation> find(const item_ref& p, const std::string& iface,
                                   item_id target = 0) {
    auto all = s->installations(target);
    REQUIRE(all);
    for (auto& i : *all)
      if (i.powerup == p && i.interface == iface)
        return i;
    return std::nullopt;
  }
};

std::vector<powerup_interface> under(const std::string& iface, int priority) {
  return {{iface, priority}};
}

} // namespace

TEST_CASE_METHOD(fixture,
                 "powerups come highest priority first, ties in install order",
                 "[store][powerups]") {
  auto p1 = make("pw.power", "p1");
  auto p2 = make("pw.power", "p2");
  auto p3 = make("pw.power", "p3");
  auto p4 = make("pw.power", "p4");
  auto p5 = make("pw.power", "p5");
  // Installed in an order unlike the id order on purpose.
  REQUIRE(s->install(p3, 0, under("tool", 0)));
  REQUIRE(s->install(p5, 0, under("tool", 10)));
  REQUIRE(s->install(p1, 0, under("tool", 0)));
  REQUIRE(s->install(p4, 0, under("tool", -5)));
  REQUIRE(s->install(p2, 0, under("tool", 10)));
  auto expected = std::vector<item_id>{p5.id, p2.id, p3.id, p1.id, p4.id};
  CHECK(ids_for("tool") == expected);
  // The loaded items are the powerups themselves.
  auto loaded = s->powerups_for("tool");
  REQUIRE(loaded);
  CHECK(std::get<std::string>(loaded->front().values[0]) == "p5");
  // The order is kept in the file.
  reopen();
  CHECK(ids_for("tool") == expected);
  // Nothing is installed under another interface.
  CHECK(ids_for("other").empty());
}

TEST_CASE_METHOD(fixture, "uninstall powers a powerup down",
                 "[store][powerups]") {
  auto a = make("pw.power", "a");
  auto b = make("pw.power", "b");
  REQUIRE(s->install(a)); // the type's interface: "tool", priority 0
  REQUIRE(s->install(b, 0, under("tool", 3)));
  CHECK(ids_for("tool") == std::vector<item_id>{b.id, a.id});
  REQUIRE(s->uninstall(b));
  CHECK(ids_for("tool") == std::vector<item_id>{a.id});
  // An explicitly installed powerup is not deleted by uninstalling it.
  CHECK(present(b));
  // Uninstalling again, or something never installed, is no_such_item.
  CHECK(s->uninstall(b).code() == errc::no_such_item);
  auto c = make("pw.power", "c");
  CHECK(s->uninstall(c).code() == errc::no_such_item);
  // It can be installed again afterwards, now last among equals.
  REQUIRE(s->install(b));
  CHECK(ids_for("tool") == std::vector<item_id>{a.id, b.id});
  REQUIRE(s->uninstall(a));
  REQUIRE(s->uninstall(b));
  CHECK(ids_for("tool").empty());
  CHECK(s->installations()->empty());
}

TEST_CASE_METHOD(fixture, "a powerup installs under several interfaces",
                 "[store][powerups]") {
  auto m = make("pw.multi");
  auto p = make("pw.power");
  REQUIRE(s->install(m));
  REQUIRE(s->install(p, 0, under("alpha", 6)));
  CHECK(ids_for("alpha") == std::vector<item_id>{p.id, m.id});
  CHECK(ids_for("beta") == std::vector<item_id>{m.id});
  auto alpha = find(m, "alpha");
  auto beta = find(m, "beta");
  REQUIRE(alpha);
  REQUIRE(beta);
  CHECK(alpha->priority == 5);
  CHECK(beta->priority == -1);
  CHECK(alpha->explicit_install);
  CHECK(alpha->target == 0);
  // Explicit interfaces replace the type's defaults.
  auto m2 = make("pw.multi");
  REQUIRE(s->install(
    m2, 0, std::vector<powerup_interface>{{"gamma", 1}, {"beta", 9}}));
  CHECK_FALSE(find(m2, "alpha"));
  CHECK(ids_for("beta") == std::vector<item_id>{m2.id, m.id});
  CHECK(ids_for("gamma") == std::vector<item_id>{m2.id});
  // Uninstalling takes it away from every interface.
  REQUIRE(s->uninstall(m));
  CHECK(ids_for("alpha") == std::vector<item_id>{p.id});
  CHECK(ids_for("beta") == std::vector<item_id>{m2.id});
}

TEST_CASE_METHOD(fixture, "powerups on the store and on items are separate",
                 "[store][powerups]") {
  auto t1 = make("pw.target", "t1");
  auto t2 = make("pw.target", "t2");
  auto a = make("pw.power", "a");
  auto b = make("pw.power", "b");
  REQUIRE(s->install(a));
  REQUIRE(s->install(a, t1.id));
  REQUIRE(s->install(b, t1.id, under("tool", 1)));
  CHECK(ids_for("tool") == std::vector<item_id>{a.id});
  CHECK(ids_for("tool", t1.id) == std::vector<item_id>{b.id, a.id});
  CHECK(ids_for("tool", t2.id).empty());
  auto on_t1 = s->installations(t1.id);
  REQUIRE(on_t1);
  CHECK(on_t1->size() == 2);
  for (auto& i : *on_t1)
    CHECK(i.target == t1.id);
  REQUIRE(s->uninstall(a, t1.id));
  CHECK(ids_for("tool") == std::vector<item_id>{a.id});
  CHECK(ids_for("tool", t1.id) == std::vector<item_id>{b.id});
  // Not installed on t2.
  CHECK(s->uninstall(a, t2.id).code() == errc::no_such_item);
}

TEST_CASE_METHOD(fixture,
                 "installing twice under one interface is already_exists",
                 "[store][powerups]") {
  auto a = make("pw.power");
  REQUIRE(s->install(a));
  auto again = s->install(a);
  REQUIRE_FALSE(again);
  CHECK(again.code() == errc::already_exists);
  CHECK(s->install(a, 0, under("tool", 7)).code() == errc::already_exists);
  CHECK(ids_for("tool") == std::vector<item_id>{a.id});
  CHECK(find(a, "tool")->priority == 0);
  // Another interface, or another target, is a new installation.
  REQUIRE(s->install(a, 0, under("spare", 1)));
  auto t = make("pw.target");
  REQUIRE(s->install(a, t.id));
  CHECK(s->installations()->size() == 2);
}

TEST_CASE_METHOD(fixture, "install refuses what cannot be installed",
                 "[store][powerups]") {
  CHECK(s->install({"pw.power", 424242}).code() == errc::no_such_item);
  CHECK(s->install({"no.such", 1}).code() == errc::no_such_type);
  auto t = make("pw.target");
  // A type without default interfaces needs them named.
  CHECK(s->install(t).code() == errc::invalid_value);
  CHECK(s->install(t, 0, under("Bad Name", 0)).code() == errc::invalid_name);
  // An item of another type under this type's name is not found.
  CHECK(s->install({"pw.power", t.id}).code() == errc::no_such_item);
  CHECK(s->installations()->empty());
}

TEST_CASE_METHOD(fixture, "installing a powerup installs what it requires",
                 "[store][powerups][dependencies]") {
  auto top = make("dep.top");
  REQUIRE(s->install(top));
  // mid and base were created with default values and installed.
  CHECK(count("dep.mid") == 1);
  CHECK(count("dep.base") == 1);
  auto mids = ids_for("mid");
  auto bases = ids_for("base");
  REQUIRE(mids.size() == 1);
  REQUIRE(bases.size() == 1);
  auto mid_inst = find({"dep.mid", mids[0]}, "mid");
  REQUIRE(mid_inst);
  CHECK_FALSE(mid_inst->explicit_install);
  CHECK(is_null(s->get("dep.mid", mids[0])->values[0]));
  CHECK(find(top, "top")->explicit_install);

  // Something they depend on cannot be uninstalled or deleted.
  CHECK(s->uninstall({"dep.mid", mids[0]}).code() == errc::in_use);
  CHECK(s->uninstall({"dep.base", bases[0]}).code() == errc::in_use);
  CHECK(s->remove("dep.base", bases[0]).code() == errc::in_use);
  CHECK(ids_for("base") == bases);
  CHECK(count("dep.base") == 1);

  // Uninstalling the dependent takes the created dependencies away and
  // deletes them.
  REQUIRE(s->uninstall(top));
  CHECK(ids_for("top").empty());
  CHECK(ids_for("mid").empty());
  CHECK(ids_for("base").empty());
  CHECK(count("dep.mid") == 0);
  CHECK(count("dep.base") == 0);
  CHECK(present(top));
  CHECK(s->installations()->empty());
}

TEST_CASE_METHOD(fixture, "an installed dependency is reused and kept",
                 "[store][powerups][dependencies]") {
  auto base = make("dep.base", "mine");
  REQUIRE(s->install(base));
  auto mid = make("dep.mid");
  REQUIRE(s->install(mid));
  CHECK(count("dep.base") == 1);
  CHECK(ids_for("base") == std::vector<item_id>{base.id});
  CHECK(s->uninstall(base).code() == errc::in_use);
  REQUIRE(s->uninstall(mid));
  // Explicitly installed: still installed and still there.
  CHECK(ids_for("base") == std::vector<item_id>{base.id});
  CHECK(present(base));
  REQUIRE(s->uninstall(base));
  CHECK(present(base));
}

TEST_CASE_METHOD(fixture,
                 "a dependency shared by two dependents stays for the last",
                 "[store][powerups][dependencies]") {
  auto mid = make("dep.mid");
  auto side = make("dep.side");
  REQUIRE(s->install(mid));
  REQUIRE(s->install(side));
  CHECK(count("dep.base") == 1);
  auto bases = ids_for("base");
  REQUIRE(bases.size() == 1);
  REQUIRE(s->uninstall(mid));
  CHECK(ids_for("base") == bases);
  CHECK(s->uninstall({"dep.base", bases[0]}).code() == errc::in_use);
  REQUIRE(s->uninstall(side));
  CHECK(ids_for("base").empty());
  CHECK(count("dep.base") == 0);
}

TEST_CASE_METHOD(fixture, "dependencies are per target",
                 "[store][powerups][dependencies]") {
  auto t1 = make("pw.target", "t1");
  auto t2 = make("pw.target", "t2");
  auto m1 = make("dep.mid");
  auto m2 = make("dep.mid");
  REQUIRE(s->install(m1, t1.id));
  REQUIRE(s->install(m2, t2.id));
  CHECK(count("dep.base") == 2);
  auto b1 = ids_for("base", t1.id);
  auto b2 = ids_for("base", t2.id);
  REQUIRE(b1.size() == 1);
  REQUIRE(b2.size() == 1);
  CHECK(b1 != b2);
  CHECK(ids_for("base").empty());
  REQUIRE(s->uninstall(m1, t1.id));
  CHECK(count("dep.base") == 1);
  CHECK(ids_for("base", t2.id) == b2);
}

TEST_CASE_METHOD(fixture, "a dependency installed explicitly later is kept",
                 "[store][powerups][dependencies]") {
  auto mid = make("dep.mid");
  REQUIRE(s->install(mid));
  auto bases = ids_for("base");
  REQUIRE(bases.size() == 1);
  item_ref base{"dep.base", bases[0]};
  // Claiming the created dependency explicitly is not an error...
  REQUIRE(s->install(base));
  CHECK(find(base, "base")->explicit_install);
  // ...and it survives its dependent's uninstall.
  REQUIRE(s->uninstall(mid));
  CHECK(ids_for("base") == bases);
  CHECK(present(base));
  // Uninstalled explicitly, it stays an item like any explicit powerup.
  REQUIRE(s->uninstall(base));
  CHECK(ids_for("base").empty());
  CHECK(present(base));
}

TEST_CASE_METHOD(fixture, "a failed install changes nothing",
                 "[store][powerups][dependencies]") {
  auto mid = make("dep.mid");
  REQUIRE(s->install(mid, 0, under("mid", 0)));
  // The second install fails on the interface after the dependency check.
  CHECK(s->install(mid, 0, under("mid", 0)).code() == errc::already_exists);
  CHECK(count("dep.base") == 1);
  CHECK(s->installations()->size() == 2);
  // A dependency that is created but cannot be installed (its type names
  // no interface) is not left behind.
  auto needy = make("dep.needy");
  auto r = s->install(needy);
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::invalid_value);
  CHECK(r.error_value().message.find("dep.bare") != std::string::npos);
  CHECK(count("dep.bare") == 0);
  CHECK(s->installations()->size() == 2);
  CHECK_FALSE(s->in_transaction());
}

TEST_CASE_METHOD(fixture, "deleting an item removes its installations",
                 "[store][powerups]") {
  auto t = make("pw.target");
  auto a = make("pw.power", "a");
  auto b = make("pw.power", "b");
  REQUIRE(s->install(a));
  REQUIRE(s->install(a, t.id));
  REQUIRE(s->install(b, t.id));
  REQUIRE(s->remove("pw.power", a.id));
  CHECK(ids_for("tool").empty());
  CHECK(ids_for("tool", t.id) == std::vector<item_id>{b.id});
  // Deleting the target removes what is installed on it (not the items).
  REQUIRE(s->remove("pw.target", t.id));
  CHECK(s->installations(t.id)->empty());
  CHECK(present(b));
  // Installing on it again would be on a target that no longer exists,
  // but the store keeps no installation of the deleted powerup anywhere.
  CHECK(s->install(a).code() == errc::no_such_item);
}

TEST_CASE_METHOD(fixture,
                 "deleting a dependent takes its created dependencies along",
                 "[store][powerups][dependencies]") {
  auto t = make("pw.target");
  auto top = make("dep.top");
  REQUIRE(s->install(top, t.id));
  CHECK(count("dep.base") == 1);
  SECTION("deleting the powerup") {
    REQUIRE(s->remove("dep.top", top.id));
  }
  SECTION("deleting the target") {
    REQUIRE(s->remove("pw.target", t.id));
    CHECK(present(top));
  }
  CHECK(s->installations(t.id)->empty());
  CHECK(count("dep.mid") == 0);
  CHECK(count("dep.base") == 0);
}
