#pragma once

// The fixture of the JSON API tests (api.test.cpp, admin.test.cpp): a real
// node over a temporary data directory with the built-in offerings, the
// real HTTP server on 127.0.0.1, and helpers for requests.

#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include <cctype>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/node.hpp"
#include "offerings/setup.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"
#include "store/store.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/node.hpp"

namespace api_test {

using namespace mantissa;
using namespace std::chrono_literals;
using nlohmann::json;
using test::http_response;

using headers = std::vector<std::pair<std::string, std::string>>;

inline const std::string alice = "alice@example.com";
inline const std::string bob = "bob@example.com";
inline const actors::caller sys{actors::system_role, "test"};

/// Percent-encodes a query parameter value.
inline std::string encode(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

inline headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

struct api_fixture : test::node_fixture {
  http::api_context ctx;
  std::unique_ptr<http::server> srv;

  api_fixture() {
    add_account(alice, "alice password", false, /*copy=*/true);
    add_account(bob, "bob password", false, /*copy=*/true);
  }

  ~api_fixture() {
    if (srv)
      srv->stop();
    if (n)
      n->stop();
  }

  /// Starts the node (with the built-in offerings, or every offering of
  /// `with`) and the server.
  void start(actors::auth_options auth = {},
             const offerings::offering_registry* with = nullptr) {
    actors::node_options opts;
    opts.auth = auth;
    start_with_offerings(with, opts);
    ctx.node = n.get();
    http::server_options sopts;
    sopts.port = 0;
    std::string err;
    srv = std::make_unique<http::server>(sopts, http::make_api_handler(ctx));
    REQUIRE(srv->start(err));
  }

  http_response call(const std::string& method, const std::string& target,
                     const std::string& body = {}, const headers& h = {}) {
    auto r = test::http_request(srv->port(), method, target, body, h);
    REQUIRE(r);
    return *r;
  }

  static json body_of(const http_response& r) {
    INFO(r.body);
    auto j = json::parse(r.body, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
  }

  static std::string error_code_of(const http_response& r) {
    auto j = body_of(r);
    REQUIRE(j.contains("error"));
    return j["error"]["code"].get<std::string>();
  }

  std::string login(const std::string& user, const std::string& password) {
    auto r = call("POST", "/api/login",
                  json{{"username", user}, {"password", password}}.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    return body_of(r)["token"].get<std::string>();
  }

  std::string items_path(const std::string& store,
                         const std::string& type = "notes.note") {
    return "/api/stores/" + store + "/items/" + type;
  }

  std::int64_t create_note(const std::string& token, const std::string& title,
                           const std::string& store = alice) {
    auto r = call("POST", items_path(store), json{{"title", title}}.dump(),
                  bearer(token));
    INFO(r.body);
    REQUIRE(r.status == 201);
    auto j = body_of(r);
    CHECK(j["title"] == title);
    CHECK(j["type"] == "notes.note");
    auto id = j["id"].get<std::int64_t>();
    CHECK(r.header("Location") == items_path(store) + "/" + std::to_string(id));
    return id;
  }

  std::string note_path(std::int64_t id, const std::string& store = alice) {
    return items_path(store) + "/" + std::to_string(id);
  }

  json share(const std::string& token, std::int64_t id, const std::string& role,
             const json& interfaces) {
    auto r = call("POST", "/api/stores/" + alice + "/shares",
                  json{{"type", "notes.note"},
                       {"item", id},
                       {"role", role},
                       {"interfaces", interfaces}}
                    .dump(),
                  bearer(token));
    INFO(r.body);
    REQUIRE(r.status == 201);
    return body_of(r);
  }

  /// The titles a list request answers, in order, and the total.
  std::pair<std::vector<std::string>, std::int64_t>
  titles(const std::string& target, const headers& h = {}) {
    auto r = call("GET", target, {}, h);
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto j = body_of(r);
    std::vector<std::string> out;
    for (auto& it : j["items"])
      out.push_back(it["title"].get<std::string>());
    return {out, j["total"].get<std::int64_t>()};
  }

  actors::reply wait(const std::function<void(actors::reply_handler)>& f) {
    return n->wait(f);
  }

  /// Makes `address` a member of `group` in the site store (as `mantissa
  /// user admin` does for group:admin).
  void add_to_group(const std::string& address, const std::string& group) {
    REQUIRE(wait([&](auto done) {
              n->member(sys, "site", "user:" + address, group, true,
                        std::move(done));
            }).ok);
  }
};

/// `api_fixture` with alice a site admin: the admin routes' tests.
struct admin_api_fixture : api_fixture {
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
};

} // namespace api_test
