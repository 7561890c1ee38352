// Signup over the JSON API against a real node and server: free signup
// (the new account is logged in and its store has the product's powerup),
// ticket signup with single-use, expiring invitations, every refusal with
// its own code, the per-client limit of free signups, and who may open
// signups and make tickets.

#include "actors/site_config.hpp"
#include "offerings/site.hpp"
#include "protocols/http/routes.hpp"
#include "tests/protocols/http/api_fixture.hpp"

using namespace mantissa;
using namespace api_test;
using nlohmann::json;

namespace {

struct signup_fixture : api_fixture {
  std::string admin_token;

  /// The tests of other things than the limit sign up more often than a
  /// client may; the limit's own test puts the default back.
  signup_fixture() {
    auto many = http::signup_rate_options();
    many.free_failures = 1000;
    ctx.signup_limiter = std::make_shared<actors::rate_limiter>(many);
  }

  /// Installs the notes offering (and so its product `notes`) and sets
  /// site.domain offline, as `mantissa init` and `offering install` do;
  /// then starts the node and makes alice an admin.
  void start_site() {
    store::type_registry types;
    offerings::offering_registry known;
    REQUIRE(actors::register_account_types(types));
    REQUIRE(actors::register_site_config_types(types));
    REQUIRE(offerings::register_site_types(types));
    REQUIRE(offerings::add_builtin_offerings(known));
    REQUIRE(known.register_types(types));
    {
      auto site = store::store::open(actors::site_path(data), types);
      REQUIRE(site);
      REQUIRE(actors::set_setting(**site, "site.domain", "example.com"));
      REQUIRE(
        offerings::install_offering(**site, {data, &known, &types}, "notes"));
    }
    start();
    add_to_group(alice, "group:admin");
    admin_token = login(alice, "alice password");
  }

  json open(const std::string& kind, const json& more = json::object()) {
    json body{{"kind", kind}, {"product", "notes"}};
    body.update(more);
    auto r = call("POST", "/api/admin/signups", body.dump(),
                  bearer(admin_token));
    INFO(r.body);
    REQUIRE(r.status == 201);
    return body_of(r);
  }

  http_response ticket(std::int64_t signup, const std::string& token,
                       const json& body = json::object()) {
    return call("POST", "/api/signups/" + std::to_string(signup) + "/tickets",
                body.dump(), bearer(token));
  }

  std::string secret_of(const http_response& r) {
    INFO(r.body);
    REQUIRE(r.status == 201);
    auto j = body_of(r);
    auto secret = j["ticket"].get<std::string>();
    CHECK(j["url"] == "/signup?ticket=" + secret);
    return secret;
  }

  http_response sign_up(const std::string& user,
                        std::optional<std::string> ticket = std::nullopt) {
    json body{{"username", user}, {"password", user + " secret"}};
    if (ticket)
      body["ticket"] = *ticket;
    return call("POST", "/api/signup", body.dump());
  }

  int login_status_of(const std::string& user, const std::string& password) {
    return call("POST", "/api/login",
                json{{"username", user}, {"password", password}}.dump())
      .status;
  }

  /// A note made in the new account's own store with the token signup
  /// answered: the notes product's powerup is there.
  void check_notes_work(const http_response& r, const std::string& address) {
    INFO(r.body);
    REQUIRE(r.status == 201);
    auto j = body_of(r);
    CHECK(j["address"] == address);
    CHECK(j["logged_in"] == true);
    auto token = j["token"].get<std::string>();
    CHECK(r.header("Set-Cookie").find("mantissa_session=" + token) == 0);
    create_note(token, "my first note", address);
    auto me = call("GET", "/api/me", {}, bearer(token));
    CHECK(body_of(me)["address"] == address);
  }
};

} // namespace

TEST_CASE_METHOD(signup_fixture,
                 "a free signup makes a logged-in account with the product",
                 "[http][signup]") {
  start_site();
  CHECK(body_of(call("GET", "/api/signup")) == json{{"open", false},
                                                     {"free", false}});
  CHECK(error_code_of(sign_up("carol")) == "signup_closed");
  auto opened = open("free");
  CHECK(opened["domain"] == "example.com");
  CHECK(opened["opened_by"] == "user:" + alice);
  CHECK(body_of(call("GET", "/api/signup")) == json{{"open", true},
                                                     {"free", true}});
  check_notes_work(sign_up("carol"), "carol@example.com");
  // Installing a product is the node's: the store's owner may not.
  auto by_owner = wait([&](auto done) {
    n->run(actors::caller{"user:carol@example.com", "test"},
           "carol@example.com", "mantissa.install_product",
           json{{"product", {{"name", "notes"}, {"powerups", {"notebook"}}}}}
             .dump(),
           std::move(done));
  });
  CHECK(by_owner.code == actors::error_code::forbidden);
  // The grant is recorded like an administrator's give: the offering
  // cannot be uninstalled while the new user has its product.
  auto uninstall = call("POST", "/api/admin/offerings/notes/uninstall", "",
                        bearer(admin_token));
  CHECK(uninstall.status == 409);
  CHECK(uninstall.body.find("carol@example.com") != std::string::npos);
  // Indistinguishable afterwards: it logs in like any account.
  login("carol@example.com", "carol secret");
  // The name is taken now, in any form; another domain is refused.
  auto again = sign_up("Carol@example.com");
  CHECK(again.status == 409);
  CHECK(error_code_of(again) == "name_taken");
  CHECK(error_code_of(sign_up("dave@elsewhere.org")) == "invalid_name");
  CHECK(sign_up("").status == 400);
  // A second free signup cannot be open at the same time.
  auto second = call("POST", "/api/admin/signups",
                     json{{"kind", "free"}, {"product", "notes"}}.dump(),
                     bearer(admin_token));
  CHECK(second.status == 409);
  // Closed: refused again.
  auto closed = call("POST",
                     "/api/admin/signups/" + std::to_string(opened["id"].get<
                                                            std::int64_t>())
                       + "/close",
                     {}, bearer(admin_token));
  INFO(closed.body);
  CHECK(closed.status == 200);
  CHECK(body_of(closed)["closed"] == true);
  auto refused = sign_up("erin");
  CHECK(refused.status == 403);
  CHECK(error_code_of(refused) == "signup_closed");
}

TEST_CASE_METHOD(signup_fixture,
                 "free signups are limited per client address",
                 "[http][signup]") {
  ctx.signup_limiter
    = std::make_shared<actors::rate_limiter>(http::signup_rate_options());
  start_site();
  open("free");
  // Three are answered (the second refused for its name still counts).
  REQUIRE(sign_up("u1").status == 201);
  REQUIRE(sign_up("u1").status == 409);
  REQUIRE(sign_up("u2").status == 201);
  auto limited = sign_up("u3");
  CHECK(limited.status == 429);
  CHECK(error_code_of(limited) == "rate_limited");
  CHECK_FALSE(limited.header("Retry-After").empty());
  CHECK(login_status_of("u3@example.com", "u3 secret") == 401);
}

TEST_CASE_METHOD(signup_fixture,
                 "a ticket signs up once, and not after it expired",
                 "[http][signup]") {
  start_site();
  auto s = open("ticket", {{"inviters", "group:inviters"}});
  auto id = s["id"].get<std::int64_t>();
  CHECK(body_of(call("GET", "/api/signup")) == json{{"open", true},
                                                     {"free", false}});
  // No free signup: a ticket is needed.
  CHECK(error_code_of(sign_up("carol")) == "signup_closed");

  auto secret = secret_of(ticket(id, admin_token));
  check_notes_work(sign_up("carol", secret), "carol@example.com");
  auto reused = sign_up("dave", secret);
  CHECK(reused.status == 410);
  CHECK(error_code_of(reused) == "ticket_used");

  auto expired = secret_of(ticket(id, admin_token, {{"expires_in", 0}}));
  auto late = sign_up("dave", expired);
  CHECK(late.status == 410);
  CHECK(error_code_of(late) == "ticket_expired");

  auto unknown = sign_up("dave", std::string(43, 'A'));
  CHECK(unknown.status == 404);
  CHECK(error_code_of(unknown) == "no_such_ticket");

  // A refused name does not use the ticket up.
  auto fresh = secret_of(ticket(id, admin_token));
  CHECK(error_code_of(sign_up("carol", fresh)) == "name_taken");
  CHECK(sign_up("dave", fresh).status == 201);

  // Tickets of a closed signup stop working.
  auto pending = secret_of(ticket(id, admin_token));
  REQUIRE(call("POST", "/api/admin/signups/" + std::to_string(id) + "/close",
               {}, bearer(admin_token))
            .status
          == 200);
  CHECK(error_code_of(sign_up("erin", pending)) == "signup_closed");
  CHECK(ticket(id, admin_token).status == 409);

  auto listed = body_of(call("GET", "/api/admin/signups", {},
                             bearer(admin_token)))["signups"];
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["closed"] == true);
  CHECK(listed[0]["tickets"]
        == json{{"total", 4}, {"used", 2}, {"expired", 1}});
}

TEST_CASE_METHOD(signup_fixture,
                 "only admins and the signup's inviters make tickets",
                 "[http][signup]") {
  start_site();
  auto id = open("ticket", {{"inviters", "group:inviters"}})["id"]
              .get<std::int64_t>();
  auto bob_token = login(bob, "bob password");
  // A stranger learns nothing; an anonymous caller must log in.
  auto stranger = ticket(id, bob_token);
  CHECK(stranger.status == 404);
  CHECK(ticket(id + 100, bob_token).status == 404);
  CHECK(call("POST", "/api/signups/" + std::to_string(id) + "/tickets")
          .status
        == 401);
  add_to_group(bob, "group:inviters");
  auto secret = secret_of(ticket(id, bob_token));
  CHECK(sign_up("carol", secret).status == 201);

  // Opening, listing and closing signups is for admins only.
  auto refused = call("POST", "/api/admin/signups",
                      json{{"kind", "free"}, {"product", "notes"}}.dump(),
                      bearer(bob_token));
  CHECK(refused.status == 404);
  CHECK(call("GET", "/api/admin/signups", {}, bearer(bob_token)).status
        == 404);
  CHECK(call("POST", "/api/admin/signups/" + std::to_string(id) + "/close",
             {}, bearer(bob_token))
          .status
        == 404);
  // Bad input is 400.
  for (auto body : {json{{"kind", "open"}, {"product", "notes"}},
                    json{{"kind", "free"}},
                    json{{"kind", "free"}, {"product", "notes"}, {"x", "y"}},
                    json{{"kind", "ticket"},
                         {"product", "notes"},
                         {"inviters", "user:x@example.com"}}}) {
    auto r = call("POST", "/api/admin/signups", body.dump(),
                  bearer(admin_token));
    INFO(body.dump() << " -> " << r.body);
    CHECK(r.status == 400);
  }
  CHECK(call("POST", "/api/admin/signups",
             json{{"kind", "free"}, {"product", "nope"}}.dump(),
             bearer(admin_token))
          .status
        == 404);
  CHECK(ticket(id, admin_token, {{"expires_in", -1}}).status == 400);
  CHECK(ticket(id, admin_token, {{"expires_in", "soon"}}).status == 400);
  CHECK(call("POST", "/api/signup", "{\"username\":\"x\"}").status == 400);
  CHECK(call("POST", "/api/signup", "not json").status == 400);
  CHECK(call("POST", "/api/signup",
             json{{"username", "x"}, {"password", "y"}, {"ticket", 5}}.dump())
          .status
        == 400);
}
