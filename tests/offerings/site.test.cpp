// Installing offerings, creating products and adding them to users, on real
// store files (offerings/site.hpp).

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "tests/offerings/fixture.hpp"

using namespace mantissa;
using Catch::Matchers::Contains;
using test::offline_fixture;

namespace {

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream f{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{f}, std::istreambuf_iterator<char>{}};
}

/// Everything the site store holds about offerings, products and accounts.
std::string site_snapshot(store::store& site) {
  std::string out;
  for (auto type :
       {"mantissa.account", "mantissa.login_method", "mantissa.offering",
        "mantissa.product", "testapp.site_hook"}) {
    store::query q;
    q.type = type;
    auto items = site.select(q);
    REQUIRE(items);
    for (auto& it : *items)
      out += store::to_json(*site.registry().current(type), it).dump() + "\n";
  }
  return out;
}

std::vector<std::string> powerup_types(store::store& s,
                                       const std::string& interface) {
  auto p = s.powerups_for(interface);
  REQUIRE(p);
  std::vector<std::string> out;
  for (auto& it : *p)
    out.push_back(it.type + "#" + std::to_string(it.id));
  return out;
}

} // namespace

TEST_CASE_METHOD(
  offline_fixture,
  "installing an offering creates its app store and app powerups",
  "[offerings][install]") {
  auto rec = offerings::install_offering(*site, ctx(), "testapp");
  INFO((rec ? "" : rec.error_value().message));
  REQUIRE(rec);
  CHECK(rec->name == "testapp");
  CHECK(rec->version == "3");
  auto app_file = data / "apps/testapp.sqlite";
  REQUIRE(std::filesystem::exists(app_file));

  // The app store: the account's copy and the app powerup, installed under
  // its type's interface.
  auto app = open("testapp");
  auto settings = app->powerups_for("settings");
  REQUIRE(settings);
  REQUIRE(settings->size() == 1);
  CHECK((*settings)[0].type == "testapp.settings");
  CHECK(std::get<std::string>((*settings)[0].values[0]) == "hi");
  auto copy = actors::read_account_copy(*app);
  REQUIRE(copy);
  CHECK(copy->addr.localpart == "testapp");
  CHECK(copy->artificial());

  // The site store: an artificial account without domain, the record and
  // the shipped product.
  auto acct = actors::find_account(*site, addr("testapp"));
  REQUIRE(acct);
  CHECK(acct->artificial());
  CHECK(acct->login_methods.empty());
  auto found = offerings::find_installed_offering(*site, "testapp");
  REQUIRE(found);
  auto hooks = site->powerups_for("testapp_hook");
  REQUIRE(hooks);
  CHECK(hooks->size() == 1);
  auto pr = offerings::find_product(*site, "testapp");
  REQUIRE(pr);
  CHECK(pr->powerups == nlohmann::json{"testapp-tool"});

  auto list = offerings::list_offerings(*site, known);
  REQUIRE(list);
  REQUIRE(list->size() == 3);
  CHECK((*list)[0].name == "mail");
  CHECK_FALSE((*list)[0].installed);
  CHECK((*list)[2].name == "testapp");
  CHECK((*list)[2].installed);
  CHECK((*list)[2].known);
}

TEST_CASE_METHOD(offline_fixture,
                 "installing an offering twice is refused and changes nothing",
                 "[offerings][install]") {
  REQUIRE(offerings::install_offering(*site, ctx(), "testapp"));
  auto app_file = data / "apps/testapp.sqlite";
  auto app_before = file_bytes(app_file);
  auto site_before = site_snapshot(*site);
  auto again = offerings::install_offering(*site, ctx(), "testapp");
  REQUIRE_FALSE(again);
  CHECK(again.code() == store::errc::already_exists);
  CHECK_THAT(again.error_value().message, Contains("already installed"));
  CHECK(file_bytes(app_file) == app_before);
  CHECK(site_snapshot(*site) == site_before);
}

TEST_CASE_METHOD(offline_fixture,
                 "a failed install leaves no account, record or app store",
                 "[offerings][install][bad-input]") {
  auto unknown = offerings::install_offering(*site, ctx(), "nosuch");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.code() == store::errc::no_such_item);
  CHECK_THAT(unknown.error_value().message, Contains("known: mail, notes"));

  // A product of the name it ships exists already: refused before any
  // change.
  REQUIRE(offerings::install_offering(*site, ctx(), "notes"));
  REQUIRE(offerings::create_product(*site, known, "testapp", {"notebook"}));
  auto before = site_snapshot(*site);
  auto r = offerings::install_offering(*site, ctx(), "testapp");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error_value().message, Contains("product 'testapp'"));
  CHECK(site_snapshot(*site) == before);
  CHECK_FALSE(std::filesystem::exists(data / "apps/testapp.sqlite"));

  // The account exists already (created by hand): the transaction rolls
  // back and the app store file it created is removed.
  REQUIRE(site->remove("mantissa.product",
                       offerings::find_product(*site, "testapp")->id));
  REQUIRE(actors::add_account(*site, addr("testapp"), std::nullopt));
  before = site_snapshot(*site);
  r = offerings::install_offering(*site, ctx(), "testapp");
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::already_exists);
  CHECK(site_snapshot(*site) == before);
  CHECK_FALSE(std::filesystem::exists(data / "apps/testapp.sqlite"));
  CHECK_FALSE(offerings::find_installed_offering(*site, "testapp"));
}

TEST_CASE_METHOD(offline_fixture,
                 "products name powerups of installed offerings",
                 "[offerings][products]") {
  auto r = offerings::create_product(*site, known, "writer", {"notebook"});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error_value().message, Contains("not installed"));
  CHECK_THAT(r.error_value().message, Contains("notes"));

  REQUIRE(offerings::install_offering(*site, ctx(), "notes"));
  r = offerings::create_product(*site, known, "writer", {"nosuch"});
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::no_such_item);
  CHECK_THAT(r.error_value().message, Contains("unknown powerup 'nosuch'"));
  CHECK_THAT(r.error_value().message, Contains("notebook"));

  CHECK(offerings::create_product(*site, known, "Bad Name", {"notebook"}).code()
        == store::errc::invalid_name);
  CHECK(offerings::create_product(*site, known, "writer", {}).code()
        == store::errc::invalid_value);
  CHECK(
    offerings::create_product(*site, known, "writer", {"notebook", "notebook"})
      .code()
    == store::errc::invalid_value);

  REQUIRE(offerings::create_product(*site, known, "writer", {"notebook"}));
  CHECK(offerings::create_product(*site, known, "writer", {"notebook"}).code()
        == store::errc::already_exists);
  auto all = offerings::list_products(*site);
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].name == "notes");
  CHECK((*all)[1].name == "writer");
}

TEST_CASE_METHOD(offline_fixture,
                 "a product installs its powerups into the user store",
                 "[offerings][products]") {
  REQUIRE(offerings::install_offering(*site, ctx(), "notes"));
  add_user("alice@example.com");
  auto inst = offerings::add_product_to_user(
    *site, ctx(), addr("alice@example.com"), "notes");
  INFO((inst ? "" : inst.error_value().message));
  REQUIRE(inst);
  REQUIRE(inst->powerups.size() == 1);
  CHECK(inst->powerups[0]["name"] == "notebook");
  CHECK(inst->powerups[0]["created"] == true);
  {
    auto user = open("alice@example.com");
    CHECK(powerup_types(*user, "notes").size() == 1);
    auto installed = offerings::list_installed_products(*user);
    REQUIRE(installed);
    REQUIRE(installed->size() == 1);
    CHECK((*installed)[0].product == "notes");
    auto copy = actors::read_account_copy(*user);
    REQUIRE(copy); // a store created for the product carries the account
  }
  auto twice = offerings::add_product_to_user(
    *site, ctx(), addr("alice@example.com"), "notes");
  REQUIRE_FALSE(twice);
  CHECK(twice.code() == store::errc::already_exists);
  CHECK_THAT(twice.error_value().message, Contains("alice@example.com"));
  CHECK(powerup_types(*open("alice@example.com"), "notes").size() == 1);

  CHECK(offerings::add_product_to_user(*site, ctx(), addr("bob@example.com"),
                                       "notes")
          .code()
        == store::errc::no_such_item);
  CHECK(offerings::add_product_to_user(*site, ctx(), addr("alice@example.com"),
                                       "nosuch")
          .code()
        == store::errc::no_such_item);
  CHECK(
    offerings::add_product_to_user(*site, ctx(), addr("notes"), "notes").code()
    == store::errc::invalid_value);
  // Removing from an account without a store creates none.
  add_user("carol@example.com");
  CHECK(offerings::remove_product_from_user(*site, ctx(),
                                            addr("carol@example.com"), "notes")
          .code()
        == store::errc::no_such_item);
  CHECK_FALSE(std::filesystem::exists(data / "users/example.com/carol.sqlite"));
}

TEST_CASE_METHOD(offline_fixture,
                 "removing a product uninstalls only what nothing else needs",
                 "[offerings][products]") {
  REQUIRE(offerings::install_offering(*site, ctx(), "notes"));
  REQUIRE(offerings::install_offering(*site, ctx(), "mail"));
  REQUIRE(
    offerings::create_product(*site, known, "suite", {"notebook", "inbox"}));
  add_user("alice@example.com");
  auto alice = addr("alice@example.com");
  REQUIRE(offerings::add_product_to_user(*site, ctx(), alice, "notes"));
  auto suite = offerings::add_product_to_user(*site, ctx(), alice, "suite");
  REQUIRE(suite);
  // The notebook is shared, not created twice.
  CHECK(suite->powerups[0]["created"] == false);
  CHECK(suite->powerups[1]["created"] == true);
  {
    auto user = open("alice@example.com");
    CHECK(powerup_types(*user, "notes").size() == 1);
    CHECK(powerup_types(*user, "mail_delivery").size() == 1);
  }

  // notes goes; suite still needs the notebook.
  REQUIRE(offerings::remove_product_from_user(*site, ctx(), alice, "notes"));
  {
    auto user = open("alice@example.com");
    CHECK(powerup_types(*user, "notes").size() == 1);
    CHECK(powerup_types(*user, "mail_delivery").size() == 1);
    CHECK(*user->count("notes.notebook") == 1);
  }
  auto again
    = offerings::remove_product_from_user(*site, ctx(), alice, "notes");
  REQUIRE_FALSE(again);
  CHECK(again.code() == store::errc::no_such_item);

  // suite goes: now nothing needs either powerup; the notebook it took
  // over from notes is deleted too.
  REQUIRE(offerings::remove_product_from_user(*site, ctx(), alice, "suite"));
  auto user = open("alice@example.com");
  CHECK(powerup_types(*user, "notes").empty());
  CHECK(powerup_types(*user, "mail_delivery").empty());
  CHECK(*user->count("notes.notebook") == 0);
  CHECK(*user->count("mail.inbox") == 0);
  CHECK(*user->count("mantissa.product_installation") == 0);
}

TEST_CASE_METHOD(offline_fixture,
                 "a product's powerup needed by something else is not removed",
                 "[offerings][products]") {
  REQUIRE(offerings::install_offering(*site, ctx(), "testapp"));
  add_user("alice@example.com");
  auto alice = addr("alice@example.com");
  REQUIRE(offerings::add_product_to_user(*site, ctx(), alice, "testapp"));
  // Something outside the products depends on the tool.
  {
    auto user = open("alice@example.com");
    store::item addon{0, "testapp.addon", {std::int64_t{1}}};
    REQUIRE(user->insert(addon));
    REQUIRE(user->install({"testapp.addon", addon.id}));
    CHECK(powerup_types(*user, "tool").size() == 1); // reused, not a second
  }
  auto r = offerings::remove_product_from_user(*site, ctx(), alice, "testapp");
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::in_use);
  CHECK_THAT(r.error_value().message, Contains("testapp-tool"));
  {
    auto user = open("alice@example.com");
    CHECK(*user->count("testapp.tool") == 1);
    CHECK(*user->count("mantissa.product_installation") == 1);
    auto addons = user->powerups_for("addon");
    REQUIRE(addons);
    REQUIRE(addons->size() == 1);
    REQUIRE(user->uninstall({"testapp.addon", (*addons)[0].id}));
  }
  REQUIRE(offerings::remove_product_from_user(*site, ctx(), alice, "testapp"));
  auto user = open("alice@example.com");
  CHECK(*user->count("testapp.tool") == 0);
}
