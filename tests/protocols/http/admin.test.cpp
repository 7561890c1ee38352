// The administration routes of the JSON API beyond listing and creating
// accounts (api.test.cpp has those): disabling, enabling and resetting
// the password of an account, the node's overview, its counters, its
// stores, and the offerings and products. Each is refused (404) by the site
// store actor to everyone but its admins, and bad input is 400.

#include <algorithm>

#include "tests/protocols/http/api_fixture.hpp"

using namespace mantissa;
using namespace api_test;
using nlohmann::json;

namespace {

struct admin_fixture : api_fixture {
  std::string admin_token;

  /// Starts the node, makes alice a site admin (as `mantissa user admin`
  /// does) and logs her in.
  void start_with_admin() {
    start();
    add_to_group(alice, "group:admin");
    admin_token = login(alice, "alice password");
  }

  http_response admin(const std::string& method, const std::string& target,
                      const std::string& body = {}) {
    return call(method, target, body, bearer(admin_token));
  }

  /// The user store's copy of its account (`mantissa.account`), as the node
  /// reads it.
  json account_copy(const std::string& address) {
    auto r = wait([&](auto done) {
      n->query(sys, address, R"({"type":"mantissa.account"})", std::move(done));
    });
    REQUIRE(r.ok);
    auto j = json::parse(r.body);
    REQUIRE(j["total"] == 1);
    return j["items"][0];
  }

  int login_status(const std::string& user, const std::string& password) {
    return call("POST", "/api/login",
                json{{"username", user}, {"password", password}}.dump())
      .status;
  }
};

const std::string bob_path = "/api/admin/users/bob@example.com";

} // namespace

TEST_CASE_METHOD(admin_fixture,
                 "the new admin routes answer only the site's admins",
                 "[http][api][admin]") {
  start();
  auto a = login(alice, "alice password");
  auto b = login(bob, "bob password");
  const std::vector<std::pair<std::string, std::string>> routes{
    {"GET", "/api/admin/overview"},  {"GET", "/api/admin/stats"},
    {"GET", "/api/admin/stores"},    {"GET", "/api/admin/offerings"},
    {"POST", bob_path + "/disable"}, {"POST", bob_path + "/enable"},
  };
  auto password = json{{"password", "a new password"}}.dump();
  for (auto& h : {bearer(a), bearer(b), headers{}}) {
    for (auto& [method, target] : routes) {
      INFO(method << " " << target);
      auto r = call(method, target, {}, h);
      CHECK(r.status == 404);
      CHECK(error_code_of(r) == "no_such_item");
    }
    auto r = call("POST", bob_path + "/password", password, h);
    CHECK(r.status == 404);
  }
  // Nothing changed: bob logs in with his password.
  CHECK(login_status(bob, "bob password") == 200);
  CHECK(login_status(bob, "a new password") == 401);

  REQUIRE(wait([&](auto done) {
            n->member(sys, "site", "user:" + alice, "group:admin", true,
                      std::move(done));
          }).ok);
  for (auto& [method, target] : routes) {
    INFO(method << " " << target);
    CHECK(call(method, target, {}, bearer(a)).status == 200);
  }
}

TEST_CASE_METHOD(admin_fixture,
                 "a disabled account cannot log in and its sessions end, and "
                 "enabling it lets it in again",
                 "[http][api][admin]") {
  start_with_admin();
  auto b = login(bob, "bob password");
  CHECK(call("GET", "/api/me", {}, bearer(b)).status == 200);

  auto off = admin("POST", bob_path + "/disable");
  INFO(off.body);
  REQUIRE(off.status == 200);
  CHECK(body_of(off)["address"] == bob);
  CHECK(body_of(off)["disabled"] == true);
  CHECK(body_of(off)["sessions_ended"] == 1);
  CHECK(off.body.find("argon2") == std::string::npos);

  CHECK(call("GET", "/api/me", {}, bearer(b)).status == 401);
  CHECK(login_status(bob, "bob password") == 401);
  // The list marks it; the user store's copy says so too.
  auto list = body_of(admin("GET", "/api/admin/users"))["users"];
  REQUIRE(list.size() == 2);
  CHECK(list[1]["address"] == bob);
  CHECK(list[1]["disabled"] == true);
  CHECK(account_copy(bob)["disabled"] == true);
  // Disabling again changes nothing and is not an error.
  CHECK(admin("POST", bob_path + "/disable", "{}").status == 200);

  auto on = admin("POST", bob_path + "/enable");
  INFO(on.body);
  REQUIRE(on.status == 200);
  CHECK(body_of(on)["disabled"] == false);
  CHECK(account_copy(bob)["disabled"] == false);
  CHECK(login_status(bob, "bob password") == 200);
}

TEST_CASE_METHOD(admin_fixture,
                 "an admin resets a password: the old one and the old "
                 "sessions stop working",
                 "[http][api][admin]") {
  start_with_admin();
  auto b = login(bob, "bob password");
  auto r = admin("POST", bob_path + "/password",
                 json{{"password", "bob's new password"}}.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(body_of(r)["sessions_ended"] == 1);
  CHECK(r.body.find("argon2") == std::string::npos);
  CHECK(call("GET", "/api/me", {}, bearer(b)).status == 401);
  CHECK(login_status(bob, "bob password") == 401);
  CHECK(login_status(bob, "bob's new password") == 200);
  // The copy in bob's store has the new hash (a newer revision).
  CHECK(account_copy(bob)["revision"].get<std::int64_t>() > 1);
  // The address is case-insensitive, like at login.
  CHECK(admin("POST", "/api/admin/users/BOB@Example.com/password",
              json{{"password", "third password"}}.dump())
          .status
        == 200);
  CHECK(login_status(bob, "third password") == 200);
}

TEST_CASE_METHOD(admin_fixture, "bad input to the admin routes is 400",
                 "[http][api][admin]") {
  start_with_admin();
  auto code = [&](const std::string& target, const std::string& body) {
    auto r = admin("POST", target, body);
    INFO(target << " " << body << " -> " << r.body);
    CHECK(r.status == 400);
    return error_code_of(r);
  };
  CHECK(code(bob_path + "/password", "{") == "invalid_json");
  CHECK(code(bob_path + "/password", "[]") == "invalid_value");
  CHECK(code(bob_path + "/password", "{}") == "invalid_value");
  CHECK(code(bob_path + "/password", R"({"password":""})") == "invalid_value");
  CHECK(code(bob_path + "/password", R"({"password":7})") == "invalid_value");
  CHECK(code(bob_path + "/password", R"({"password":"x","admin":true})")
        == "invalid_value");
  CHECK(code(bob_path + "/disable", "not json") == "invalid_json");
  CHECK(code(bob_path + "/disable", R"({"disabled":false})")
        == "invalid_value");
  CHECK(code("/api/admin/users/..%2Fetc/disable", "") == "invalid_path");
  CHECK(code("/api/admin/users/bob@@example.com/disable", "")
        == "invalid_name");
  CHECK(code("/api/admin/users/notes/disable", "") == "invalid_name");
  CHECK(
    code("/api/admin/users/bob%20x@example.com/password", R"({"password":"x"})")
    == "invalid_name");
  // An unknown account is a clear 404.
  auto unknown = admin("POST", "/api/admin/users/nobody@example.com/disable");
  CHECK(unknown.status == 404);
  CHECK(body_of(unknown)["error"]["message"].get<std::string>().find(
          "nobody@example.com")
        != std::string::npos);
  // Wrong method, unknown action.
  CHECK(admin("GET", bob_path + "/disable").status == 405);
  CHECK(admin("POST", bob_path + "/delete").status == 404);
  CHECK(admin("POST", "/api/admin/stats").status == 405);
  // A cookie-authenticated write needs X-Requested-With.
  headers cookie{{"Cookie", "mantissa_session=" + admin_token}};
  CHECK(call("POST", bob_path + "/disable", {}, cookie).status == 403);
  cookie.emplace_back("X-Requested-With", "mantissa");
  CHECK(call("POST", bob_path + "/disable", {}, cookie).status == 200);
  // Nothing broke: the node still answers.
  CHECK(admin("GET", "/api/admin/users").status == 200);
}

TEST_CASE_METHOD(admin_fixture,
                 "overview, stats, stores and offerings describe the node",
                 "[http][api][admin]") {
  start_with_admin();
  auto ov = admin("GET", "/api/admin/overview");
  INFO(ov.body);
  REQUIRE(ov.status == 200);
  auto o = body_of(ov);
  CHECK(o["node"] == n->options().name);
  CHECK(o["cluster"] == false);
  REQUIRE(o["members"].size() == 1);
  CHECK(o["members"][0]["state"] == "up");
  CHECK(o["stores"]["user"] == 2);
  CHECK(o["stores"]["total"].get<int>() >= 3); // site, alice, bob

  auto st = admin("GET", "/api/admin/stats");
  INFO(st.body);
  REQUIRE(st.status == 200);
  auto s = body_of(st);
  for (auto key : {"open_stores", "commits", "activations", "http_requests",
                   "http_client_errors", "time_ms"})
    CHECK(s.contains(key));
  auto before = s["http_requests"].get<std::int64_t>();
  CHECK(before >= 2); // the login and the overview at least
  auto again = body_of(admin("GET", "/api/admin/stats"));
  CHECK(again["http_requests"].get<std::int64_t>() > before);

  auto stores = body_of(admin("GET", "/api/admin/stores"));
  CHECK(stores["truncated"] == false);
  auto list = stores["stores"];
  CHECK(std::find(list.begin(), list.end(), json(alice)) != list.end());
  CHECK(std::find(list.begin(), list.end(), json("site")) != list.end());
  CHECK(stores["total"] == list.size());

  auto off = admin("GET", "/api/admin/offerings");
  INFO(off.body);
  REQUIRE(off.status == 200);
  auto offers = body_of(off);
  bool notes = false;
  for (auto& x : offers["offerings"])
    if (x["name"] == "notes") {
      notes = true;
      CHECK(x["known"] == true);
      CHECK(x["installed"] == false);
    }
  CHECK(notes);
  CHECK(offers["products"].is_array());
}

TEST_CASE_METHOD(api_fixture,
                 "the built-in web pages are static files for anyone, with "
                 "a strict content security policy",
                 "[http][api][pages]") {
  start();
  for (auto target : {"/admin", "/admin/", "/notes", "/notes/"}) {
    INFO(target);
    auto r = call("GET", target);
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(r.header("Content-Security-Policy").find("script-src 'self'")
          != std::string::npos);
    CHECK(r.header("Content-Security-Policy").find("frame-ancestors 'none'")
          != std::string::npos);
    CHECK(r.header("X-Frame-Options") == "DENY");
    CHECK(r.body.find("<script type=\"module\"") != std::string::npos);
  }
  auto js = call("GET", "/assets/api.js");
  CHECK(js.status == 200);
  CHECK(js.header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(js.body.find("X-Requested-With") != std::string::npos);
  CHECK(call("GET", "/admin/admin.css").header("Content-Type")
        == "text/css; charset=utf-8");
  // Only the table's files: no other names, no way out of it.
  CHECK(call("GET", "/admin/nothing.js").status == 404);
  CHECK(call("GET", "/admin/../notes/index.html").status == 404);
  CHECK(call("GET", "/assets/%2e%2e/admin/index.html").status == 404);
  CHECK(call("GET", "/assets/").status == 404);
  CHECK(call("POST", "/admin", "{}").status == 405);
  // Other paths are not the pages'.
  CHECK(call("GET", "/adminx").status == 404);
  CHECK(call("GET", "/admin-page").status == 404);
}

TEST_CASE_METHOD(admin_fixture,
                 "the store actions of the admin page: a backup of a store of "
                 "this node, and moves only in a cluster",
                 "[http][api][admin]") {
  start_with_admin();
  auto b = login(bob, "bob password");
  auto bob_store = "/api/admin/stores/" + bob;
  // Not for others.
  CHECK(call("POST", bob_store + "/backup", "{}", bearer(b)).status == 404);
  CHECK(call("POST", bob_store + "/move", R"({"to":"n2"})", bearer(b)).status
        == 404);

  auto r = admin("POST", bob_store + "/backup");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = body_of(r);
  CHECK(j["address"] == bob);
  std::filesystem::path copy = j["path"].get<std::string>();
  CHECK(copy.parent_path() == std::filesystem::absolute(data / "backups" / "manual"));
  CHECK(std::filesystem::file_size(copy) == j["bytes"].get<std::uint64_t>());
  CHECK(j["sha256"].get<std::string>().size() == 64);
  CHECK(admin("POST", "/api/admin/stores/site/backup").status == 200);

  // Bad input, and a node outside any cluster.
  CHECK(admin("POST", "/api/admin/stores/not%20an%20address/backup").status == 400);
  CHECK(admin("POST", "/api/admin/stores/nobody@example.com/backup").status == 404);
  CHECK(admin("POST", bob_store + "/move", "[]").status == 400);
  CHECK(admin("POST", bob_store + "/move", R"({"to":7})").status == 400);
  auto lonely = admin("POST", bob_store + "/move", R"({"to":"n2"})");
  CHECK(lonely.status == 400);
  CHECK(lonely.body.find("not part of a cluster") != std::string::npos);
  CHECK(admin("POST", "/api/admin/stores/site/move", R"({"to":"n2"})").status == 400);
  CHECK(admin("GET", bob_store + "/backup").status == 405);
}
