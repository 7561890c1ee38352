// The front door through the real front end: the landing page at `/`,
// `GET /api/site`, the 404 of an unknown path (HTML for browsers, JSON for
// clients), and items shared from an offering's app store at
// `/{offering}/{share_id}`. A node over real SQLite files whose site was
// set up offline (offerings installed as `mantissa offering install` does),
// the HTTP server on 127.0.0.1.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/site_config.hpp"
#include "offerings/site.hpp"
#include "protocols/http/api_util.hpp"
#include "tests/offerings/fixture.hpp"
#include "tests/support/front_end.hpp"
#include "tests/support/http_client.hpp"

using namespace mantissa;
using nlohmann::json;
using test::http_response;

namespace {

using headers = test::header_list;

/// What Chromium sends when it navigates to a page.
const std::string browser_accept
  = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,*/*;q=0.8";

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A site with the notes offering and `testapp` installed (mail is known
/// but not installed), Alice with a password, and the front end.
struct home_fixture : test::offerings_fixture {
  test::front_end web;

  home_fixture() {
    // Known to the node, never installed.
    offerings::offering spare;
    spare.name = "spare";
    spare.description = "Not installed";
    REQUIRE(known.add(spare));
    REQUIRE(actors::add_account(*site, addr("alice@example.com"),
                                std::string{"alice password"}));
    REQUIRE(offerings::install_offering(*site, ctx(), "notes"));
    REQUIRE(offerings::install_offering(*site, ctx(), "testapp"));
  }

  void setting(const std::string& key, const std::string& value) {
    REQUIRE(actors::set_setting(*site, key, value));
  }

  /// Starts the node (every known offering registered) and the server.
  void serve() {
    start_node(&known);
    web.start(*n, &known);
  }

  ~home_fixture() {
    web.stop();
    if (n)
      n->stop();
  }

  http_response get(const std::string& target, const headers& h = {}) {
    return web.get(target, h);
  }

  json site_info() {
    auto r = get("/api/site");
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "application/json");
    return json::parse(r.body);
  }

  std::string login(const std::string& user, const std::string& password) {
    auto r = test::http_request(
      web.srv->port(), "POST", "/api/login",
      json{{"username", user}, {"password", password}}.dump(),
      {{"Content-Type", "application/json"}});
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    return json::parse(r->body)["token"].get<std::string>();
  }

  /// Puts a `testapp.tool` in the app store of testapp as the system and
  /// shares it with `role` under `share_id`.
  void app_share(const std::string& role, const std::string& share_id,
                 std::int64_t value) {
    auto put = call([&](auto done) {
      n->put(sys, "testapp", "testapp.tool", json{{"n", value}}.dump(),
             std::move(done));
    });
    INFO(put.message);
    REQUIRE(put.ok);
    auto id = json::parse(put.body)["id"].get<std::int64_t>();
    auto shared = call([&](auto done) {
      n->share(sys, "testapp", "testapp.tool", id, role, R"(["read"])",
               share_id, std::move(done));
    });
    INFO(shared.message);
    REQUIRE(shared.ok);
  }
};

} // namespace

TEST_CASE_METHOD(home_fixture,
                 "/ is the landing page, with the pages' security headers",
                 "[home]") {
  serve();
  for (auto* accept : {browser_accept.c_str(), "*/*", ""}) {
    INFO(accept);
    auto r = get("/", {{"Accept", accept}});
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(has(r.header("Content-Security-Policy"), "script-src 'self'"));
    CHECK(has(r.header("Content-Security-Policy"), "frame-ancestors 'none'"));
    CHECK(r.header("X-Frame-Options") == "DENY");
    CHECK(r.header("X-Content-Type-Options") == "nosniff");
    CHECK(has(r.body, "id=\"login-form\""));
    CHECK(has(r.body, "/assets/home.js"));
  }
  CHECK(get("/assets/home.js").status == 200);
  CHECK(get("/assets/home.css").header("Content-Type")
        == "text/css; charset=utf-8");
  web.check_get_only("/");
}

TEST_CASE_METHOD(home_fixture,
                 "GET /api/site names the site and its installed offerings",
                 "[home]") {
  SECTION("the name is site.name") {
    setting("site.domain", "example.com");
    setting("site.name", "Example <Co>");
    serve();
    CHECK(site_info()["name"] == "Example <Co>");
  }
  SECTION("else site.domain") {
    setting("site.domain", "example.com");
    serve();
    CHECK(site_info()["name"] == "example.com");
  }
  SECTION("else Mantissa; the offerings are the installed ones") {
    serve();
    auto j = site_info();
    CHECK(j["name"] == "Mantissa");
    // notes has its built-in page, testapp none; mail and spare are known
    // but not installed.
    CHECK(j["offerings"]
          == json::array({{{"name", "notes"},
                           {"description", known.find("notes")->description},
                           {"page", "/notes"}},
                          {{"name", "testapp"},
                           {"description", "An offering for tests"},
                           {"page", nullptr}}}));
    // Public, and the same for a logged-in caller.
    auto token = login("alice@example.com", "alice password");
    auto as_alice = get("/api/site", {{"Authorization", "Bearer " + token}});
    REQUIRE(as_alice.status == 200);
    CHECK(json::parse(as_alice.body) == j);
    web.check_get_only("/api/site");
  }
}

TEST_CASE_METHOD(home_fixture,
                 "an unknown path is an HTML page for a browser and JSON "
                 "for an API client",
                 "[home]") {
  serve();
  for (auto* target : {"/nothing", "/a/b/c", "/notes/missing.js",
                       "/admin/missing.css", "/index.html"}) {
    INFO(target);
    auto page = get(target, {{"Accept", browser_accept}});
    CHECK(page.status == 404);
    CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(has(page.body, "<a href=\"/\""));
    CHECK(has(page.header("Content-Security-Policy"), "default-src 'none'"));
    for (auto* accept : {"*/*", "application/json", ""}) {
      INFO(accept);
      auto api = get(target, {{"Accept", accept}});
      CHECK(api.status == 404);
      CHECK(api.header("Content-Type") == "application/json");
      CHECK(json::parse(api.body)["error"]["code"] == "not_found");
    }
  }
  // The API answers JSON whatever the client prefers.
  auto api = get("/api/nothing", {{"Accept", browser_accept}});
  CHECK(api.status == 404);
  CHECK(api.header("Content-Type") == "application/json");
}

TEST_CASE_METHOD(home_fixture,
                 "an item shared from an installed offering's app store is "
                 "served at /{offering}/{share_id}",
                 "[home][websharing]") {
  serve();
  app_share("everyone", "welcome", 7);
  app_share("authenticated", "members", 8);
  app_share("user:alice@example.com", "for-alice", 9);

  auto page = get("/testapp/welcome", {{"Accept", browser_accept}});
  REQUIRE(page.status == 200);
  CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(has(page.body, "<dt>n</dt><dd>7</dd>"));
  CHECK(has(page.body, "Shared by testapp"));
  CHECK(page.header("Content-Security-Policy")
        == "default-src 'none'; style-src 'unsafe-inline'; "
           "frame-ancestors 'none'");
  auto j = get("/testapp/welcome", {{"Accept", "application/json"}});
  REQUIRE(j.status == 200);
  CHECK(json::parse(j.body)["item"]["n"] == 7);

  // Anonymous visitors see only what is shared with everyone; a logged-in
  // user also what is shared with the authenticated and with them.
  auto anon_members = get("/testapp/members", {{"Accept", "application/json"}});
  CHECK(anon_members.status == 404);
  CHECK(get("/testapp/for-alice").status == 404);
  auto token = login("alice@example.com", "alice password");
  headers as_alice{{"Accept", "application/json"},
                   {"Authorization", "Bearer " + token}};
  auto members = get("/testapp/members", as_alice);
  REQUIRE(members.status == 200);
  CHECK(json::parse(members.body)["item"]["n"] == 8);
  CHECK(get("/testapp/for-alice", as_alice).status == 200);
  CHECK(get("/testapp/for-alice", {{"Cookie", "mantissa_session=" + token}})
          .status
        == 200);

  // An unknown share, an offering that is known but not installed, one
  // that does not exist and a malformed name: the same 404 as an unknown
  // share of a user.
  auto missing = get("/testapp/nosuch", {{"Accept", "application/json"}});
  CHECK(missing.status == 404);
  CHECK(json::parse(missing.body) == json::parse(anon_members.body));
  for (auto* target : {"/spare/welcome", "/nosuch/welcome", "/Test%20app/x",
                       "/testapp/bad%21id"}) {
    INFO(target);
    auto r = get(target, {{"Accept", "application/json"}});
    CHECK(r.status == 404);
    CHECK(r.body == missing.body);
  }
  CHECK(get("/users/alice/welcome").status == 404); // not Alice's share
  // Not a share page: three segments, a trailing slash, writes.
  CHECK(get("/testapp/welcome/x", {{"Accept", "application/json"}}).body
        != missing.body);
  CHECK(get("/testapp/").status == 404);
  web.check_get_only("/testapp/welcome");
}

TEST_CASE_METHOD(home_fixture,
                 "the host form and the app store form live side by side",
                 "[home][websharing]") {
  serve();
  app_share("everyone", "welcome", 7);
  // On the bare domain, www and an address: `/` is the landing page and
  // `/{offering}/{share_id}` the app store's share.
  for (auto* host : {"example.com", "www.example.com", "127.0.0.1"}) {
    INFO(host);
    auto home = web.get_host("/", host, browser_accept);
    CHECK(home.status == 200);
    CHECK(has(home.body, "id=\"login-form\""));
    CHECK(web.get_host("/testapp/welcome", host, "application/json").status
          == 200);
  }
  // On a user's host every path is that user's: `/` is the default share
  // (Alice has none) and two segments are nothing.
  auto user_root = web.get_host("/", "alice.example.com", "application/json");
  CHECK(user_root.status == 404);
  CHECK_FALSE(has(user_root.body, "login-form"));
  CHECK(web.get_host("/testapp/welcome", "alice.example.com", "application/json")
          .status
        == 404);
}

TEST_CASE("app store share paths", "[home]") {
  for (auto* yes : {"/testapp/welcome", "/a/b", "/x-y/Z_1"})
    CHECK(http::app_share_path(yes));
  for (auto* no : {"/", "/testapp", "/testapp/", "//x", "/a/b/c", "/a/b/",
                   "/admin/admin.js", "/notes/x", "/users/alice",
                   "/static/x", "/api/site", "/apps/x", "/signup/x",
                   "/mail/x", "/healthz/x", "/metrics/x", "/assets/x"})
    CHECK_FALSE(http::app_share_path(no));
}
