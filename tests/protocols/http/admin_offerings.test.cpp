// Online administration over the JSON API (offerings/online.hpp): install
// and uninstall an offering, create a product, give it to a user and take
// it away, on a running node. Only the site's admins may; the site store
// actor refuses everyone else (404) before anything changes.

#include "tests/protocols/http/api_fixture.hpp"

using namespace mantissa;
using namespace api_test;
using nlohmann::json;

namespace {

struct online_fixture : admin_api_fixture {
  /// An admin request that must answer `status`; its JSON body.
  json ok(const std::string& method, const std::string& target,
          const std::string& body = {}, int status = 200) {
    auto r = admin(method, target, body);
    INFO(method << " " << target << ": " << r.body);
    REQUIRE(r.status == status);
    return body_of(r);
  }

  /// The status of `name` in GET /api/admin/offerings.
  json offering(const std::string& name) {
    auto j = body_of(admin("GET", "/api/admin/offerings"));
    for (auto& o : j["offerings"])
      if (o["name"] == name)
        return o;
    return {};
  }

  std::vector<std::string> products() {
    std::vector<std::string> out;
    auto j = body_of(admin("GET", "/api/admin/offerings"));
    for (auto& p : j["products"])
      out.push_back(p["name"]);
    return out;
  }

  /// How many items of `type` the store at `address` holds (as the node).
  std::int64_t count(const std::string& address, const std::string& type) {
    auto r = wait([&](auto done) {
      n->query(sys, address, json{{"type", type}}.dump(), std::move(done));
    });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body)["total"].get<std::int64_t>();
  }

  /// Runs notes.list in bob's store as bob.
  bool bob_has_notes() {
    return wait([&](auto done) {
             n->run({"user:" + bob, "test"}, bob, "notes.list", "{}",
                    std::move(done));
           })
      .ok;
  }
};

const std::string give_bob = "/api/admin/users/" + bob + "/products";

} // namespace

TEST_CASE_METHOD(online_fixture,
                 "online administration answers only the site's admins",
                 "[http][api][admin][online]") {
  start_with_admin();
  auto b = login(bob, "bob password");
  const std::vector<std::array<std::string, 3>> routes{
    {"POST", "/api/admin/offerings/notes/install", ""},
    {"POST", "/api/admin/offerings/notes/uninstall", ""},
    {"POST", "/api/admin/products", R"({"name":"p","powerups":["notebook"]})"},
    {"POST", give_bob, R"({"product":"notes"})"},
    {"DELETE", give_bob + "/notes", ""},
  };
  for (auto& h : {bearer(b), headers{}})
    for (auto& [method, target, body] : routes) {
      INFO(method << " " << target);
      auto r = call(method, target, body, h);
      CHECK(r.status == 404);
    }
  CHECK(offering("notes")["installed"] == false);
  CHECK(products().empty());
  CHECK_FALSE(bob_has_notes());
}

TEST_CASE_METHOD(online_fixture,
                 "install an offering, give its product, uninstall refused "
                 "naming the store until the product is taken away",
                 "[http][api][admin][online]") {
  start_with_admin();
  CHECK(ok("POST", "/api/admin/offerings/notes/install")
        == json{{"name", "notes"}, {"version", "1.0"}, {"products", {"notes"}}});
  CHECK(offering("notes")["installed"] == true);
  CHECK(products() == std::vector<std::string>{"notes"});
  // Its app store holds the offering account's copy.
  CHECK(count("notes", "mantissa.account") == 1);
  CHECK(admin("POST", "/api/admin/offerings/notes/install").status == 409);

  CHECK_FALSE(bob_has_notes());
  CHECK(ok("POST", give_bob, R"({"product":"notes"})")["address"] == bob);
  CHECK(bob_has_notes());
  CHECK(count(bob, "mantissa.product_installation") == 1);
  CHECK(admin("POST", give_bob, R"({"product":"notes"})").status == 409);

  auto r = admin("POST", "/api/admin/offerings/notes/uninstall");
  CHECK(r.status == 409);
  CHECK(error_code_of(r) == "in_use");
  CHECK(r.body.find(bob) != std::string::npos);
  CHECK(offering("notes")["installed"] == true);

  ok("DELETE", give_bob + "/notes");
  CHECK_FALSE(bob_has_notes());
  CHECK(count(bob, "mantissa.product_installation") == 0);
  CHECK(admin("DELETE", give_bob + "/notes").status == 404);

  CHECK(ok("POST", "/api/admin/offerings/notes/uninstall")["products"]
        == json{"notes"});
  CHECK(offering("notes")["installed"] == false);
  CHECK(products().empty());
  CHECK(admin("POST", "/api/admin/offerings/notes/uninstall").status == 404);

  // Installed again: the app store and the account are used again.
  REQUIRE(admin("POST", "/api/admin/offerings/notes/install").status == 200);
  CHECK(count("notes", "mantissa.account") == 1);
}

TEST_CASE_METHOD(online_fixture, "create a product online, and bad input",
                 "[http][api][admin][online]") {
  start_with_admin();
  // Its powerups' offering is not installed yet.
  auto made = R"({"name":"plain","powerups":["notebook"]})";
  CHECK(admin("POST", "/api/admin/products", made).status == 404);
  REQUIRE(admin("POST", "/api/admin/offerings/notes/install").status == 200);
  CHECK(ok("POST", "/api/admin/products", made, 201)
        == json{{"name", "plain"}, {"powerups", {"notebook"}}});
  CHECK(admin("POST", "/api/admin/products", made).status == 409);
  REQUIRE(admin("POST", give_bob, R"({"product":"plain"})").status == 200);
  CHECK(bob_has_notes());

  CHECK(admin("POST", "/api/admin/offerings/nothing/install").status == 404);
  CHECK(admin("POST", "/api/admin/products", R"({"name":"x","powerups":[]})")
          .status
        == 400);
  CHECK(admin("POST", "/api/admin/products", R"({"name":"x","powerups":[1]})")
          .status
        == 400);
  CHECK(admin("POST", "/api/admin/products", "[]").status == 400);
  CHECK(admin("POST", give_bob, "{}").status == 400);
  CHECK(admin("POST", give_bob, R"({"product":"nothing"})").status == 404);
  CHECK(admin("POST", "/api/admin/users/nobody@example.com/products",
              R"({"product":"plain"})")
          .status
        == 404);
  CHECK(admin("POST", "/api/admin/users/notes/products",
              R"({"product":"plain"})")
          .status
        == 400);
  CHECK(admin("GET", "/api/admin/offerings/notes/install").status == 405);
  CHECK(admin("POST", "/api/admin/offerings/notes/remove").status == 404);
}
