// Logins and sessions against a real node over real SQLite files: right
// and wrong passwords, unknown, disabled and artificial accounts, the node
// key, session expiry (idle and absolute), logout and revocation, sessions
// surviving a restart, and the slowing down of repeated failures.

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <mutex>
#include <vector>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "actors/node.hpp"
#include "actors/site_config.hpp"
#include "store/store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using actors::error_code;
using actors::login_result;

namespace {

struct auth_fixture {
  test::temp_dir dir;
  std::unique_ptr<actors::node> n;

  std::filesystem::path data() const { return dir / "data"; }

  /// Adds an account to the site store while no node runs.
  void add_account(const std::string& address,
                   std::optional<std::string> password, bool disabled = false) {
    std::filesystem::create_directories(data());
    store::type_registry reg;
    REQUIRE(actors::register_account_types(reg));
    auto site = store::store::open(actors::site_path(data()), reg);
    REQUIRE(site);
    auto addr = actors::parse_address(address);
    REQUIRE(addr);
    REQUIRE(actors::add_account(**site, *addr, std::move(password)));
    if (disabled)
      REQUIRE(actors::set_disabled(**site, *addr, true));
  }

  void start(actors::auth_options auth = {}) {
    actors::node_options opts;
    opts.data_dir = data();
    opts.auth = auth;
    n = std::make_unique<actors::node>(opts);
    std::string err;
    INFO(err);
    REQUIRE(n->start(err));
  }

  void stop() {
    n->stop();
    n.reset();
  }

  login_result login(const std::string& user, const std::string& password,
                     const std::string& client = "127.0.0.1",
                     actors::login_channel channel = actors::login_channel::web) {
    std::promise<login_result> p;
    auto f = p.get_future();
    n->auth().login(
      user, password, client,
      [&p](login_result r) { p.set_value(std::move(r)); }, channel);
    REQUIRE(f.wait_for(60s) == std::future_status::ready);
    return f.get();
  }
};

} // namespace

TEST_CASE_METHOD(auth_fixture, "the right password opens a session with the "
                               "account's primary role",
                 "[auth]") {
  add_account("alice@example.com", "correct horse");
  start();
  auto r = login("Alice@Example.com", "correct horse");
  INFO(r.message);
  REQUIRE(r.ok);
  CHECK(r.token.size() == 43);  // 256 bits in base64url
  CHECK(r.who.address == "alice@example.com");
  CHECK(r.who.role == "user:alice@example.com");
  auto s = n->auth().validate(r.token);
  REQUIRE(s);
  CHECK(s->role == "user:alice@example.com");
  // Another login gets another token; both are valid.
  auto r2 = login("alice@example.com", "correct horse");
  REQUIRE(r2.ok);
  CHECK(r2.token != r.token);
  CHECK(n->auth().validate(r.token));
  CHECK(n->auth().validate(r2.token));
}

TEST_CASE_METHOD(auth_fixture, "bad credentials of every kind get one and "
                               "the same answer",
                 "[auth]") {
  add_account("alice@example.com", "correct horse");
  add_account("carol@example.com", "pw carol", /*disabled=*/true);
  add_account("shared@example.com", std::nullopt);  // artificial
  start();
  auto wrong = login("alice@example.com", "wrong");
  auto unknown = login("nobody@example.com", "correct horse");
  auto disabled = login("carol@example.com", "pw carol");
  auto artificial = login("shared@example.com", "");
  auto malformed = login("../../etc/passwd", "x");
  for (auto* r : {&wrong, &unknown, &disabled, &artificial, &malformed}) {
    CHECK_FALSE(r->ok);
    CHECK(r->code == error_code::unauthorized);
    CHECK(r->message == wrong.message);
    CHECK(r->token.empty());
  }
  CHECK(n->auth().sessions().size() == 0);
}

TEST_CASE_METHOD(auth_fixture, "the node key logs in as the system role "
                               "on the node's port, and nowhere else",
                 "[auth]") {
  start();
  auto port = actors::login_channel::port;
  auto r = login("system", n->node_key(), "127.0.0.1", port);
  REQUIRE(r.ok);
  CHECK(r.who.role == actors::system_role);
  CHECK(login("SYSTEM", n->node_key(), "127.0.0.1", port).ok);
  CHECK_FALSE(login("system", n->node_key() + "x", "127.0.0.1", port).ok);
  CHECK_FALSE(login("system", "", "127.0.0.1", port).ok);
  // Over HTTP and SMTP AUTH `system` is nobody, in any letter case and in
  // look-alikes (fullwidth letters, a Cyrillic "ѕ", a trailing NUL).
  int k = 0;  // each attempt from its own client: none is slowed down
  auto client = [&k] { return "10.0.0." + std::to_string(++k); };
  for (auto channel : {actors::login_channel::web, actors::login_channel::mail})
    for (const std::string& name : std::vector<std::string>{"system", "SYSTEM", "System", "sYsTeM", "\xEF\xBD\x93ystem",
          "\xD1\x95ystem", std::string{"system\0", 7}, "system@example.com"}) {
      INFO(name);
      auto refused = login(name, n->node_key(), client(), channel);
      CHECK_FALSE(refused.ok);
      CHECK(refused.code == error_code::unauthorized);
    }
  // Strangers' failures never slow the node's own logins: the keys are
  // checked at once, in the call, with no queue and no slow-down.
  for (int i = 0; i < 20; ++i)
    CHECK_FALSE(login("system", "guess", client()).ok);
  for (int i = 0; i < 20; ++i)
    CHECK_FALSE(login("system", "guess", "127.0.0.1", port).ok);
  bool answered = false;
  bool ok = false;
  n->auth().login(
    "system", n->node_key(), "127.0.0.1",
    [&](login_result res) {
      answered = true;
      ok = res.ok;
    },
    port);
  CHECK(answered);
  CHECK(ok);
}

TEST_CASE_METHOD(auth_fixture, "a token that was never issued is not valid",
                 "[auth]") {
  start();
  CHECK_FALSE(n->auth().validate(""));
  CHECK_FALSE(n->auth().validate("not-a-token"));
  CHECK_FALSE(n->auth().validate(actors::session_table::new_token()));
  CHECK_FALSE(n->auth().validate(std::string(10'000, 'a')));
}

TEST_CASE_METHOD(auth_fixture, "logout and revocation end sessions at once",
                 "[auth]") {
  add_account("alice@example.com", "pw");
  start();
  auto a1 = login("alice@example.com", "pw");
  auto a2 = login("alice@example.com", "pw");
  REQUIRE((a1.ok && a2.ok));
  CHECK(n->auth().logout(a1.token));
  CHECK_FALSE(n->auth().validate(a1.token));
  CHECK_FALSE(n->auth().logout(a1.token));
  CHECK(n->auth().validate(a2.token));
  CHECK(n->auth().revoke("alice@example.com") == 1);
  CHECK_FALSE(n->auth().validate(a2.token));
}

TEST_CASE_METHOD(auth_fixture, "an idle session expires, a used one lives on "
                               "until its absolute lifetime",
                 "[auth]") {
  add_account("alice@example.com", "pw");
  actors::auth_options o;
  o.session_idle = 400ms;
  o.session_lifetime = 1500ms;
  start(o);
  auto idle = login("alice@example.com", "pw");
  auto busy = login("alice@example.com", "pw");
  REQUIRE((idle.ok && busy.ok));
  // Keep one in use (more often than the idle timeout) and leave the other.
  auto begin = std::chrono::steady_clock::now();
  bool busy_alive_before_lifetime = true;
  while (std::chrono::steady_clock::now() - begin < 1000ms) {
    busy_alive_before_lifetime
      = busy_alive_before_lifetime && n->auth().validate(busy.token).has_value();
    std::this_thread::sleep_for(100ms);
  }
  CHECK(busy_alive_before_lifetime);
  CHECK_FALSE(n->auth().validate(idle.token));
  // Past the absolute lifetime, use does not help.
  while (std::chrono::steady_clock::now() - begin < 1800ms) {
    (void)n->auth().validate(busy.token);
    std::this_thread::sleep_for(100ms);
  }
  CHECK_FALSE(n->auth().validate(busy.token));
}

TEST_CASE_METHOD(auth_fixture, "sessions survive a restart of the node, "
                               "logged-out ones do not",
                 "[auth]") {
  add_account("alice@example.com", "pw");
  start();
  auto kept = login("alice@example.com", "pw");
  auto ended = login("alice@example.com", "pw");
  REQUIRE((kept.ok && ended.ok));
  REQUIRE(n->auth().logout(ended.token));
  // Wait until the asynchronous delete of the logged-out session has
  // landed in the site store (one session row left).
  bool deleted = false;
  for (int i = 0; i < 1000 && !deleted; ++i) {
    auto r = n->wait([&](actors::reply_handler done) {
      n->count(actors::caller{actors::system_role, "t"}, "site",
               "mantissa.session", "", std::move(done));
    });
    REQUIRE(r.ok);
    deleted = nlohmann::json::parse(r.body)["count"] == 1;
    if (!deleted)
      std::this_thread::sleep_for(20ms);
  }
  REQUIRE(deleted);
  stop();
  start();
  auto s = n->auth().validate(kept.token);
  REQUIRE(s);
  CHECK(s->role == "user:alice@example.com");
  CHECK_FALSE(n->auth().validate(ended.token));
}

TEST_CASE_METHOD(auth_fixture, "repeated failures slow down further attempts "
                               "for that account and client, and a success "
                               "resets them",
                 "[auth]") {
  add_account("alice@example.com", "pw");
  actors::auth_options o;
  o.free_failures = 2;
  o.base_delay = 600ms;
  o.max_delay = 2s;
  start(o);
  for (int i = 0; i < 3; ++i)
    CHECK_FALSE(login("alice@example.com", "wrong", "10.0.0.1").ok);
  // The next attempt, even with the right password, waits first.
  auto t0 = std::chrono::steady_clock::now();
  auto ok = login("alice@example.com", "pw", "10.0.0.1");
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(ok.ok);
  CHECK(waited >= 600ms);
  // The success forgot the account's and the client's failures.
  t0 = std::chrono::steady_clock::now();
  CHECK(login("alice@example.com", "pw", "10.0.0.1").ok);
  CHECK(std::chrono::steady_clock::now() - t0 < 600ms);
}

TEST_CASE_METHOD(auth_fixture, "one client's pile of failed logins delays "
                               "that client only: others are served in turn",
                 "[auth]") {
  add_account("alice@example.com", "pw");
  actors::auth_options o;
  o.free_failures = 2;
  o.base_delay = 10min;  // the attacker's next attempts wait for ages
  o.max_delay = 10min;
  o.max_pending_per_client = 4;
  start(o);
  const std::string attacker = "127.0.0.2";
  for (int i = 0; i < 2; ++i)
    CHECK_FALSE(login("alice@example.com", "wrong", attacker).ok);
  // The attacker's next attempts are queued for ten minutes, up to its
  // share of the queue; beyond that it is refused at once.
  struct answers {
    std::mutex m;
    std::vector<login_result> got;
  };
  auto seen = std::make_shared<answers>();
  for (int i = 0; i < 4; ++i)
    n->auth().login("user" + std::to_string(i) + "@example.com", "wrong",
                    attacker, [seen](login_result r) {
                      std::lock_guard<std::mutex> g{seen->m};
                      seen->got.push_back(std::move(r));
                    });
  auto busy = login("alice@example.com", "wrong", attacker);
  CHECK(busy.code == error_code::busy);
  {
    std::lock_guard<std::mutex> g{seen->m};
    CHECK(seen->got.empty());
  }
  // alice from her own address is not slowed by the attacker's failures on
  // her account (below the crowd's threshold), nor queued behind its pile.
  auto mine = login("alice@example.com", "pw", "127.0.0.3");
  CHECK(mine.ok);
  // The same for an IPv6 client, which stands for its /64: another address
  // of the attacker's /64 shares its queue, another /64 does not.
  for (int i = 0; i < 2; ++i)
    CHECK_FALSE(login("alice@example.com", "wrong", "2001:db8::1").ok);
  for (int i = 0; i < 4; ++i)
    n->auth().login("v6user@example.com", "wrong", "2001:db8::" + std::to_string(i + 2),
                    [seen](login_result r) {
                      std::lock_guard<std::mutex> g{seen->m};
                      seen->got.push_back(std::move(r));
                    });
  CHECK(login("alice@example.com", "pw", "2001:db8::ff").code
        == error_code::busy);
  CHECK(login("alice@example.com", "pw", "2001:db8:0:1::1").ok);
  stop();  // the queued attempts end with `busy`
  std::lock_guard<std::mutex> g{seen->m};
  CHECK(seen->got.size() == 8);
  for (auto& r : seen->got)
    CHECK(r.code == error_code::busy);
}

TEST_CASE("a crowd's failures slow the account for everyone only beyond "
          "their own threshold",
          "[auth]") {
  actors::auth_options o;
  o.free_failures = 2;
  o.account_free_failures = 6;
  o.base_delay = 100ms;
  actors::rate_limiter rl{o};
  auto t = actors::rate_limiter::clock::now();
  for (int i = 0; i < 6; ++i)
    rl.failure("account", t);
  CHECK(rl.delay("account", t) > 0ms);  // as a per-client key: slowed
  CHECK(rl.delay("account", t, o.account_free_failures) == 100ms);
  rl.failure("account", t);
  CHECK(rl.delay("account", t, o.account_free_failures) == 200ms);
}

TEST_CASE("the rate limiter doubles the delay beyond the free failures and "
          "forgets old ones",
          "[auth]") {
  actors::auth_options o;
  o.free_failures = 3;
  o.base_delay = 100ms;
  o.max_delay = 1s;
  o.forget_after = 60s;
  actors::rate_limiter rl{o, 4};
  auto t = actors::rate_limiter::clock::now();
  CHECK(rl.delay("k", t) == 0ms);
  for (int i = 0; i < 3; ++i)
    rl.failure("k", t);
  CHECK(rl.delay("k", t) == 100ms);
  rl.failure("k", t);
  CHECK(rl.delay("k", t) == 200ms);
  for (int i = 0; i < 10; ++i)
    rl.failure("k", t);
  CHECK(rl.delay("k", t) == 1000ms);
  CHECK(rl.delay("other", t) == 0ms);
  CHECK(rl.delay("k", t + 61s) == 0ms);
  rl.failure("k", t);
  rl.success("k");
  CHECK(rl.delay("k", t) == 0ms);
  // Bounded: many keys never grow it beyond its capacity.
  for (int i = 0; i < 100; ++i)
    rl.failure("key" + std::to_string(i), t + std::chrono::seconds(i));
  CHECK(rl.size() <= 4);
}
