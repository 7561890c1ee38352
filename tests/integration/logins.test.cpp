// Logins, sessions and revocation tried as an attacker would
// (docs/security.md, "Logins and sessions"), against `mantissa start`
// processes on 127.0.0.1 with real clients: HTTP from different loopback
// source addresses (127.0.0.2 is the attacker, 127.0.0.3 its victim), the
// C++ client library on the actor port, and the offline commands.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <nlohmann/json.hpp>

#include "wire/errors.hpp"
#include "client/client.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/port_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/smtp_client.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using namespace mantissa::test::cluster;
using mantissa::test::http_connection;
using mantissa::test::http_request;
using mantissa::test::http_response;
using mantissa::test::port_client;
using mantissa::test::run;
using mantissa::test::temp_dir;
namespace actors = mantissa::actors;
namespace client = mantissa::client;

namespace {

const std::string pw = "correct horse battery";
const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
const std::string carol = "carol@example.com";
const std::string dave = "dave@example.com";
using headers = std::vector<std::pair<std::string, std::string>>;

/// Runs `mantissa ARGS --data DIR` while the node is stopped.
void offline(const fs::path& data, std::vector<std::string> args,
             const std::string& in = {}) {
  args.insert(args.begin(), MANTISSA_BINARY);
  args.push_back("--data");
  args.push_back(data.string());
  auto r = run(args, in, 60s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

/// A node with the notes offering, an administrator root and the users
/// alice, bob, carol and dave.
struct one_node {
  temp_dir dir;
  std::unique_ptr<node_process> node;

  explicit one_node(std::vector<std::string> extra = {}) {
    node = std::make_unique<node_process>(dir / "n1", "n1", std::move(extra));
    auto data = node->data();
    offline(data, {"init", "--domain", "example.com"});
    offline(data, {"offering", "install", "notes"});
    for (auto& u : {alice, bob, carol, dave})
      offline(data, {"user", "add", u, "--product", "notes", "--password-stdin"},
              pw + "\n");
    offline(data, {"user", "add", "root@example.com", "--password-stdin"},
            pw + "\n");
    offline(data, {"user", "admin", "root@example.com"});
    node->start();
  }

  [[nodiscard]] std::uint16_t http() const { return node->http(); }
  [[nodiscard]] std::string node_key() const {
    std::ifstream in{node->data() / "node.key"};
    std::string k;
    std::getline(in, k);
    return k;
  }
};

/// POST /api/login from `source` (a loopback address).
std::optional<http_response> login_from(std::uint16_t http,
                                        const std::string& source,
                                        const std::string& user,
                                        const std::string& password,
                                        std::chrono::milliseconds timeout = 60s) {
  http_connection c{http, timeout, source};
  return c.request("POST", "/api/login",
                   json{{"username", user}, {"password", password}}.dump());
}

int status_of(const std::optional<http_response>& r) {
  return r ? r->status : 0;
}

/// GET /api/me with `auth`: 200 while the session lives.
int me(std::uint16_t http, const headers& auth) {
  return status_of(http_request(http, "GET", "/api/me", {}, auth));
}

} // namespace

TEST_CASE("one client's failed logins slow that client, not its victims, "
          "and strangers never slow the node's own logins",
          "[logins][lockout]") {
  one_node site{{"--no-demo"}};
  auto http = site.http();
  const std::string attacker = "127.0.0.2";
  // 12 failed logins for alice, then 300 for distinct names, all at once
  // from the attacker's address.
  std::vector<std::thread> flood;
  std::atomic<int> refused{0};
  std::atomic<int> busy{0};
  std::atomic<int> other{0};
  auto attack = [&](std::string user) {
    auto r = login_from(http, attacker, user, "wrong guess", 120s);
    auto st = status_of(r);
    (st == 401 ? refused : st == 503 ? busy : other)++;
  };
  for (int i = 0; i < 12; ++i)
    flood.emplace_back(attack, alice);
  for (auto& t : flood)
    t.join();
  flood.clear();
  for (int i = 0; i < 300; ++i)
    flood.emplace_back(attack, "user" + std::to_string(i) + "@example.com");
  // Meanwhile alice, from her own address, logs in at once: over HTTP, and
  // the node's own tools log in with the node key on the port.
  auto mine = login_from(http, "127.0.0.3", alice, pw, 30s);
  CHECK(status_of(mine) == 200);
  // On the port (from 127.0.0.1) alice's login is not queued behind the
  // attacker's pile either, nor the node's own `system` login.
  port_client alice_port{site.node->listen(), alice, pw};
  CHECK(alice_port.s->caller().role == "user:" + alice);
  port_client sys{site.node->listen(), "system", site.node_key()};
  CHECK(sys.s->caller().role == "system");
  for (auto& t : flood)
    t.join();
  INFO("refused " << refused << ", busy " << busy << ", other " << other);
  // The attacker's pile beyond its share of the queue was refused at once.
  CHECK(busy > 0);
  CHECK(other == 0);
  // `system` over HTTP is nobody, in any case and look-alike; the failures
  // do not slow the node's own `system` logins on the port.
  // (From addresses of their own: the attacker's address is slowed down
  // by its own failures by now, as it should be.)
  int k = 0;
  auto fresh = [&k] { return "127.0.1." + std::to_string(++k); };
  for (std::string name : {"system", "SYSTEM", "System", "\xEF\xBD\x93ystem"}) {
    INFO(name);
    CHECK(status_of(login_from(http, fresh(), name, site.node_key())) == 401);
  }
  for (int i = 0; i < 12; ++i)
    CHECK(status_of(login_from(http, fresh(), "SYSTEM", "guess")) != 200);
  auto backup = run({MANTISSA_BINARY, "backup", "--connect",
                     "127.0.0.1:" + std::to_string(site.node->listen()),
                     "--key", (site.node->data() / "node.key").string(),
                     "--to", (site.dir / "backup").string()},
                    {}, 120s);
  INFO(backup.err);
  CHECK(backup.exit_code == 0);
}

TEST_CASE("disable, a new password and an admin's reset end every session: "
          "bearer tokens, port sessions, and after a restart",
          "[logins][revocation]") {
  one_node site{{"--no-demo"}};
  auto http = site.http();
  auto root = login(http, "root@example.com", pw);
  auto alice_web = login(http, alice, pw);
  auto bob_web = login(http, bob, pw);
  auto carol_web = login(http, carol, pw);
  auto dave_web = login(http, dave, pw);
  port_client alice_port{site.node->listen(), alice, pw};
  port_client bob_port{site.node->listen(), bob, pw};
  REQUIRE(alice_port.s->put(alice, "notes.note", {{"title", "mine"}}));
  REQUIRE(bob_port.s->put(bob, "notes.note", {{"title", "mine"}}));

  // Online: the administrator disables alice and resets bob's password.
  auto off = http_request(http, "POST",
                          "/api/admin/users/" + alice + "/disable", {}, root);
  REQUIRE(status_of(off) == 200);
  CHECK(json::parse(off->body)["sessions_ended"] == 2);
  auto reset = http_request(http, "POST",
                            "/api/admin/users/" + bob + "/password",
                            json{{"password", "a new one"}}.dump(), root);
  REQUIRE(status_of(reset) == 200);
  CHECK(me(http, alice_web) == 401);
  CHECK(me(http, bob_web) == 401);
  auto denied = alice_port.s->put(alice, "notes.note", {{"title", "after"}});
  REQUIRE_FALSE(denied);
  CHECK(actors::code_of(denied.error()) == actors::error_code::unauthorized);
  CHECK_FALSE(bob_port.s->get(bob, "notes.note", 1));
  CHECK(me(http, carol_web) == 200);

  // Offline: carol disabled and dave's password changed while the node is
  // stopped; neither session comes back with the restart, and root's does.
  site.node->stop();
  offline(site.node->data(), {"user", "disable", carol});
  offline(site.node->data(), {"user", "passwd", dave, "--password-stdin"},
          "another one\n");
  site.node->start();
  http = site.http();
  CHECK(me(http, carol_web) == 401);
  CHECK(me(http, dave_web) == 401);
  CHECK(me(http, root) == 200);
  CHECK(me(http, alice_web) == 401);
  // Enabling alice again does not bring back her old session.
  REQUIRE(status_of(http_request(http, "POST",
                                 "/api/admin/users/" + alice + "/enable",
                                 {}, root))
          == 200);
  CHECK(me(http, alice_web) == 401);
  CHECK(me(http, login(http, alice, pw)) == 200);
}

TEST_CASE("a session ended on one node ends on every node of the cluster",
          "[logins][revocation][cluster]") {
  temp_dir dir;
  test_cluster c{dir.path(), {"n1", "n2"}, pw};
  REQUIRE(add_user(c[0].endpoint(), c.key(), alice, pw, "n2").exit_code == 0);
  auto root = login(c[0].http(), "root@example.com", pw);
  auto on_n2 = login(c[1].http(), alice, pw);
  auto on_n1 = login(c[0].http(), alice, pw);
  port_client port_n2{c[1].listen(), alice, pw};
  REQUIRE(me(c[1].http(), on_n2) == 200);
  auto off = http_request(c[0].http(), "POST",
                          "/api/admin/users/" + alice + "/disable", {}, root);
  REQUIRE(status_of(off) == 200);
  INFO(off->body);
  CHECK(json::parse(off->body)["sessions_ended"] == 3);
  // The answer came after every node ended its sessions: no waiting.
  CHECK(me(c[1].http(), on_n2) == 401);
  CHECK(me(c[0].http(), on_n1) == 401);
  CHECK_FALSE(port_n2.s->query(alice, json{{"type", "mantissa.account"}}));
}

TEST_CASE("an owner can neither read nor write the node's records of its own "
          "store, and a store's account copy answers for its own address only",
          "[logins][own-store][cluster]") {
  temp_dir dir;
  test_cluster c{dir.path(), {"n1", "n2"}, pw};
  for (auto& u : {alice, bob})
    REQUIRE(add_user(c[0].endpoint(), c.key(), u, pw + u, "n2").exit_code == 0);
  {
    port_client a{c[1].listen(), alice, pw + alice};
    // The copy holds the password hash: the node reads it, nobody else.
    auto copy = a.s->query(alice, json{{"type", "mantissa.account"}});
    REQUIRE_FALSE(copy);
    CHECK(actors::code_of(copy.error()) == actors::error_code::forbidden);
    std::int64_t id = 1; // the copy is the first item of its type
    auto one = a.s->get(alice, "mantissa.account", id);
    REQUIRE_FALSE(one);
    CHECK(actors::code_of(one.error()) == actors::error_code::forbidden);
    auto n = a.s->count(alice, "mantissa.account");
    REQUIRE_FALSE(n);
    CHECK(actors::code_of(n.error()) == actors::error_code::forbidden);
    auto edit = a.s->update(alice, "mantissa.account", id,
                            {{"localpart", "bob"}, {"disabled", false}});
    REQUIRE_FALSE(edit);
    CHECK(actors::code_of(edit.error()) == actors::error_code::forbidden);
    auto add = a.s->put(alice, "mantissa.setting",
                        {{"name", "x"}, {"value", "y"}});
    REQUIRE_FALSE(add);
    CHECK(actors::code_of(add.error()) == actors::error_code::forbidden);
    auto del = a.s->remove(alice, "mantissa.account", id);
    REQUIRE_FALSE(del);
    CHECK(actors::code_of(del.error()) == actors::error_code::forbidden);
  }
  // Whoever edits the copy on disk (not the owner: the node refuses it),
  // it proves nothing for another account while the seed is away.
  c[1].stop();
  auto store = c[1].data() / "users" / "example.com" / "alice.sqlite";
  auto edit = run({"sqlite3", store.string(),
                   "UPDATE item_mantissa__account_v1 SET localpart = 'bob'"},
                  {}, 30s);
  INFO(edit.err);
  REQUIRE(edit.exit_code == 0);
  c[1].start();
  c[0].kill9();
  auto as_bob = http_request(c[1].http(), "POST", "/api/login",
                             json{{"username", bob}, {"password", pw + alice}}
                               .dump());
  CHECK(status_of(as_bob) == 401);
  // bob's own, untouched copy still logs him in while the seed is away.
  auto bob_in = http_request(c[1].http(), "POST", "/api/login",
                             json{{"username", bob}, {"password", pw + bob}}
                               .dump());
  CHECK(status_of(bob_in) == 200);
}

TEST_CASE("a store a caller may not see answers as a store that does not "
          "exist, over HTTP and on the port",
          "[logins][existence]") {
  one_node site{{"--no-demo"}};
  auto http = site.http();
  auto alice_web = login(http, alice, pw);
  auto note = http_request(http, "POST",
                           "/api/stores/" + bob + "/items/notes.note",
                           json{{"title", "t"}}.dump(), login(http, bob, pw));
  REQUIRE(status_of(note) == 201);
  auto note_id = json::parse(note->body).at("id").get<std::int64_t>();
  const std::string ghost = "ghost@example.com";
  for (const headers* auth : std::vector<const headers*>{nullptr, &alice_web}) {
    for (std::string path : {std::string{"/items/notes.note"}, std::string{"/shares"},
                             "/items/notes.note/" + std::to_string(note_id)}) {
      auto real = http_request(http, "GET", "/api/stores/" + bob + path, {},
                               auth ? *auth : headers{});
      auto none = http_request(http, "GET", "/api/stores/" + ghost + path, {},
                               auth ? *auth : headers{});
      REQUIRE(real);
      REQUIRE(none);
      INFO(path << ": " << real->body << " / " << none->body);
      CHECK(real->status == none->status);
      CHECK(real->status == 404);
      auto a = json::parse(real->body).at("error");
      auto b = json::parse(none->body).at("error");
      CHECK(a["code"] == b["code"]);
      auto text = b.value("message", "");
      REQUIRE(text.find(ghost) != std::string::npos);
      CHECK(a.value("message", "")
            == text.replace(text.find(ghost), ghost.size(), bob));
    }
  }
  port_client a{site.node->listen(), alice, pw};
  auto real = a.s->lookup(bob);
  auto none = a.s->lookup(ghost);
  REQUIRE_FALSE(real);
  REQUIRE_FALSE(none);
  CHECK(actors::code_of(real.error()) == actors::code_of(none.error()));
  CHECK(actors::code_of(real.error()) == actors::error_code::no_such_store);
  // Once bob shares a note with alice, his store is there for her.
  auto bob_web = login(http, bob, pw);
  auto share = http_request(http, "POST", "/api/stores/" + bob + "/shares",
                            json{{"type", "notes.note"}, {"item", note_id},
                                 {"role", "user:" + alice},
                                 {"interfaces", {"read"}}}
                              .dump(),
                            bob_web);
  REQUIRE(share);
  INFO(share->body);
  REQUIRE(share->status / 100 == 2);
  CHECK(status_of(http_request(http, "GET",
                               "/api/stores/" + bob + "/items/notes.note", {},
                               alice_web))
        == 200);
  CHECK(a.s->lookup(bob));
}

TEST_CASE("answers carry nosniff, share pages may not be framed",
          "[logins][headers]") {
  one_node site{{"--no-demo"}};
  auto http = site.http();
  auto r = http_request(http, "GET", "/api/me", {}, login(http, alice, pw));
  REQUIRE(r);
  CHECK(r->header("X-Content-Type-Options") == "nosniff");
  CHECK(r->header("X-Frame-Options") == "DENY");
  auto bob_web = login(http, bob, pw);
  auto note = http_request(http, "POST",
                           "/api/stores/" + bob + "/items/notes.note",
                           json{{"title", "public"}}.dump(), bob_web);
  REQUIRE(status_of(note) == 201);
  auto note_id = json::parse(note->body).at("id").get<std::int64_t>();
  auto share = http_request(http, "POST", "/api/stores/" + bob + "/shares",
                            json{{"type", "notes.note"}, {"item", note_id},
                                 {"role", "everyone"},
                                 {"interfaces", {"read"}}}
                              .dump(),
                            bob_web);
  REQUIRE(share);
  INFO(share->body);
  auto url = json::parse(share->body).at("url").get<std::string>();
  auto page = http_request(http, "GET", url);
  REQUIRE(page);
  INFO(page->body.substr(0, 200));
  CHECK(page->status == 200);
  CHECK(page->header("Content-Security-Policy").find("frame-ancestors 'none'")
        != std::string::npos);
  CHECK(page->header("X-Frame-Options") == "DENY");
  CHECK(page->header("X-Content-Type-Options") == "nosniff");
}

TEST_CASE("behind a reverse proxy: only a listed proxy names the client, and "
          "neither /metrics nor SMTP AUTH without TLS is for every local "
          "client",
          "[logins][proxy]") {
  temp_dir dir;
  auto smtp_port = free_port();
  node_process node{dir / "n1", "n1",
                    {"--no-demo", "--smtp",
                     "127.0.0.1:" + std::to_string(smtp_port)}};
  auto data = node.data();
  offline(data, {"init", "--domain", "example.com"});
  offline(data, {"user", "add", alice, "--password-stdin"}, pw + "\n");
  offline(data, {"config", "set", "http.trusted_proxies", "127.0.0.1"});
  offline(data, {"config", "set", "smtp.auth_over_plain", "never"});
  node.start();
  auto http = node.http();
  // By default /metrics is for local clients that did not pass a proxy.
  CHECK(status_of(http_request(http, "GET", "/metrics")) == 200);
  CHECK(status_of(http_request(http, "GET", "/metrics", {},
                               {{"X-Forwarded-For", "203.0.113.9"}}))
        == 404);
  CHECK(status_of(http_request(http, "GET", "/metrics", {},
                               {{"X-Real-IP", "127.0.0.1"}}))
        == 404);
  // The proxy's clients are told apart by X-Forwarded-For: one client's
  // pile of attempts is refused beyond its share, another gets in.
  auto via = [&](const std::string& client, const std::string& password) {
    return status_of(http_request(
      http, "POST", "/api/login",
      json{{"username", alice}, {"password", password}}.dump(),
      {{"X-Forwarded-For", "198.51.100.1, " + client}}));
  };
  for (int i = 0; i < 5; ++i)
    CHECK(via("203.0.113.9", "wrong") == 401);
  std::vector<std::thread> pile;
  std::atomic<int> busy{0};
  for (int i = 0; i < 12; ++i)
    pile.emplace_back([&] {
      if (via("203.0.113.9", "wrong") == 503)
        ++busy;
    });
  // The pile fills that client's queue (its first attempts wait 0.5 s+):
  // the ones beyond its share come back busy at once, and show it is full.
  for (int i = 0; i < 3000 && busy.load() < 4; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(busy.load() >= 4);
  CHECK(via("203.0.113.10", pw) == 200);
  for (auto& t : pile)
    t.join();
  CHECK(busy >= 4);
  // SMTP: AUTH without TLS is not offered even on loopback.
  mantissa::test::smtp_connection smtp{smtp_port};
  auto greeting = smtp.read_reply();
  REQUIRE(greeting);
  smtp.send("EHLO client.example\r\n");
  auto ehlo = smtp.read_reply();
  REQUIRE(ehlo);
  INFO(ehlo->text());
  CHECK(ehlo->code == 250);
  CHECK(ehlo->text().find("AUTH") == std::string::npos);
  node.stop();
  // With a token, /metrics is for whoever shows it, from anywhere.
  offline(data, {"config", "set", "http.metrics_access", "token"});
  offline(data, {"config", "set", "http.metrics_token",
                 "a-metrics-token-of-32-characters"});
  node.start();
  http = node.http();
  CHECK(status_of(http_request(http, "GET", "/metrics")) == 404);
  CHECK(status_of(http_request(http, "GET", "/metrics", {},
                               {{"Authorization", "Bearer wrong"}}))
        == 404);
  CHECK(status_of(http_request(
          http, "GET", "/metrics", {},
          {{"Authorization", "Bearer a-metrics-token-of-32-characters"},
           {"X-Forwarded-For", "203.0.113.9"}}))
        == 200);
  node.stop();
}
