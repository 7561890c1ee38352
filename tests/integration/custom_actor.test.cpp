// Custom actors (client/client.hpp) against a real node process started with
// `mantissa start --listen`: round trips through the blocking session and
// from an event-based actor, the protocol's errors across the wire, a node
// that stops or dies under a connected client, and the session's retry when
// a store passivates (against an in-process stand-in for the gateway).

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <regex>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "client/client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::actors::code_of;
using mantissa::actors::error_code;
using mantissa::actors::error_message;
using mantissa::test::child;
using mantissa::test::temp_dir;
using nlohmann::json;
namespace client = mantissa::client;
namespace actors = mantissa::actors;

namespace {

constexpr const char* setting_type = "mantissa.setting";

/// A `mantissa start` process listening for actors on a free port.
class node_process {
 public:
  node_process()
    : proc_({MANTISSA_BINARY, "start", "--data", (dir_ / "data").string(),
             "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0"}) {
    auto line = proc_.wait_for_line("listening for actors on", 30s);
    INFO("node stderr: " << proc_.err());
    REQUIRE(line);
    std::smatch m;
    REQUIRE(std::regex_search(*line, m, std::regex{R"(:(\d+)\s*$)"}));
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::filesystem::path key_file() const {
    return dir_ / "data" / "node.key";
  }
  /// The node key: the password of the `system` user.
  [[nodiscard]] std::string key() const {
    std::ifstream in{key_file()};
    std::string k;
    std::getline(in, k);
    return k;
  }
  /// The demo account's address and password, from demo-login.txt.
  [[nodiscard]] std::pair<std::string, std::string> demo() const {
    std::ifstream in{dir_ / "data" / "demo-login.txt"};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    std::smatch m;
    std::regex re{R"((\S+@\S+)\s+(\S+))"};
    if (!std::regex_search(text, m, re))
      return {};
    return {m[1], m[2]};
  }
  [[nodiscard]] child& proc() noexcept { return proc_; }

 private:
  temp_dir dir_;
  child proc_;
  std::uint16_t port_ = 0;
};

/// An actor system configured by `client::configure`.
class client_system {
 public:
  client_system() {
    client::configure(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }

  [[nodiscard]] caf::actor_system& sys() noexcept { return *sys_; }

  [[nodiscard]] caf::actor connect(std::uint16_t port) {
    auto gw = client::connect(*sys_, "127.0.0.1", port);
    INFO((gw ? std::string{} : sys_->render(gw.error())));
    REQUIRE(gw);
    return *gw;
  }

 private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_; // destroyed before cfg_
};

/// A session logged in as `system` with the node key.
client::session system_session(client_system& cs, const node_process& node,
                               client::session_options opts = {}) {
  auto s = client::session::login(cs.sys(), cs.connect(node.port()), "system",
                                  node.key(), opts);
  INFO((s ? std::string{} : error_message(s.error())));
  REQUIRE(s);
  return std::move(*s);
}

/// The code of a failed call, failing the test when the call succeeded.
template<class T>
error_code failure(const caf::expected<T>& r) {
  REQUIRE_FALSE(r);
  INFO(error_message(r.error()));
  CHECK(r.error().category() == caf::atom("mantissa"));
  return code_of(r.error());
}

template<class T>
const T& success(const caf::expected<T>& r) {
  INFO((r ? std::string{} : error_message(r.error())));
  REQUIRE(r);
  return *r;
}

} // namespace

TEST_CASE("a session writes, reads, queries and deletes a setting in the "
          "site store of a running node",
          "[integration][client]") {
  node_process node;
  client_system cs;
  auto s = system_session(cs, node);

  json greeting{
    {"key", "example.greeting"}, {"value", "hello"}, {"secret", false}};
  auto put = success(s.put("site", setting_type, greeting));
  REQUIRE(put.contains("id"));
  auto id = put["id"].get<std::int64_t>();
  CHECK(put["value"] == "hello");

  auto got = success(s.get("site", setting_type, id));
  CHECK(got["key"] == "example.greeting");
  CHECK(got["value"] == "hello");
  CHECK(got["secret"] == false);

  auto updated = success(s.update("site", setting_type, id, {{"value", "hi"}}));
  CHECK(updated["value"] == "hi");
  CHECK(updated["key"] == "example.greeting");

  auto found = success(s.query(
    "site", {{"type", setting_type},
             {"where",
              {{"attr", "key"}, {"op", "="}, {"value", "example.greeting"}}}}));
  CHECK(found["total"] == 1);
  REQUIRE(found["items"].size() == 1);
  CHECK(found["items"][0]["value"] == "hi");

  auto counted = success(s.count("site", setting_type));
  CHECK(counted["count"].get<std::int64_t>() >= 1);

  auto removed = success(s.remove("site", setting_type, id));
  CHECK(removed["ok"] == true);
  CHECK(failure(s.get("site", setting_type, id)) == error_code::no_such_item);

  node.proc().signal(SIGTERM);
  CHECK(node.proc().wait(5s) == 0);
}

TEST_CASE("errors of the protocol arrive as mantissa errors across the wire",
          "[integration][client]") {
  node_process node;
  client_system cs;
  auto s = system_session(cs, node);

  SECTION("an unknown store") {
    CHECK(failure(s.lookup("alice@example.com")) == error_code::no_such_store);
    CHECK(failure(s.put("alice@example.com", setting_type,
                        {{"key", "a.b"}, {"value", "c"}}))
          == error_code::no_such_store);
  }
  SECTION("a malformed address") {
    CHECK(failure(s.lookup("../etc")) == error_code::invalid_name);
  }
  SECTION("an unknown type") {
    CHECK(failure(s.put("site", "example.no_such_type", {{"title", "x"}}))
          == error_code::no_such_type);
  }
  SECTION("a value that does not fit its attribute") {
    CHECK(failure(s.put("site", setting_type,
                        {{"key", "a.b"}, {"value", "c"}, {"secret", "yes"}}))
          == error_code::invalid_value);
  }
  SECTION("an item that does not exist") {
    CHECK(failure(s.get("site", setting_type, 999'999))
          == error_code::no_such_item);
  }
  SECTION("text that is not JSON, sent as a raw protocol message") {
    auto store = s.lookup("site");
    REQUIRE(store);
    caf::scoped_actor self{cs.sys()};
    caf::error err;
    auto who = s.caller();
    who.request_id = "test";
    self
      ->request(*store, 10s, actors::put_atom::value, who,
                std::string{setting_type}, std::string{"{\"key\": "})
      .receive([](const std::string&) { FAIL("a reply to invalid JSON"); },
               [&](caf::error& e) { err = std::move(e); });
    CHECK(err.category() == caf::atom("mantissa"));
    CHECK(code_of(err) == error_code::invalid_query);
    CHECK(error_message(err).find("invalid JSON") != std::string::npos);
  }

  node.proc().signal(SIGTERM);
  CHECK(node.proc().wait(5s) == 0);
}

TEST_CASE("a custom actor that forges the role in its messages gets no "
          "further than the role it logged in as",
          "[integration][client][security]") {
  node_process node;
  client_system cs;
  auto [user, password] = node.demo();
  REQUIRE_FALSE(user.empty());
  auto gateway = cs.connect(node.port());
  CHECK(failure(client::session::login(cs.sys(), gateway, user, password + "x"))
        == error_code::unauthorized);
  CHECK(failure(client::session::login(cs.sys(), gateway, "system", "guess"))
        == error_code::unauthorized);
  auto s = client::session::login(cs.sys(), gateway, user, password);
  INFO((s ? std::string{} : error_message(s.error())));
  REQUIRE(s);
  // Its own store is its own, but the node's records in it (settings, its
  // account's copy) are the node's: only `system` writes them.
  CHECK(failure(s->put(user, setting_type, {{"key", "a.b"}, {"value", "mine"}}))
        == error_code::forbidden);
  // A setting in the site store, made by the system.
  auto admin = system_session(cs, node);
  auto secret = success(
    admin.put("site", setting_type, {{"key", "secret.k"}, {"value", "v"}}));
  auto id = secret["id"].get<std::int64_t>();

  auto site = s->lookup("site");
  REQUIRE(site);
  caf::scoped_actor self{cs.sys()};
  caf::error err;
  // Without the session's capability nothing gets through at all.
  self
    ->request(*site, 10s, actors::get_atom::value,
              actors::caller{actors::system_role, "no capability"},
              std::string{setting_type}, id)
    .receive([](const std::string&) { FAIL("a message without capability"); },
             [&](caf::error& e) { err = std::move(e); });
  CHECK(code_of(err) == error_code::unauthorized);
  // With it, the role written in the message is replaced by the session's.
  auto forged = actors::caller{actors::system_role, "forged",
                               s->caller().capability};
  self
    ->request(*site, 10s, actors::put_atom::value, forged,
              std::string{setting_type},
              std::string{R"({"key":"x.y","value":"z"})"})
    .receive([](const std::string&) { FAIL("a forged system role wrote"); },
             [&](caf::error& e) { err = std::move(e); });
  CHECK(code_of(err) == error_code::forbidden);
  self
    ->request(*site, 10s, actors::get_atom::value, forged,
              std::string{setting_type}, id)
    .receive([](const std::string&) { FAIL("a forged system role read"); },
             [&](caf::error& e) { err = std::move(e); });
  // The node's own records are read by the node only.
  CHECK(code_of(err) == error_code::forbidden);

  node.proc().signal(SIGTERM);
  CHECK(node.proc().wait(5s) == 0);
}

namespace {

/// What the documented event-based example does: look the site store up,
/// put a setting, read it back, and report the item (or the error).
void put_then_get(caf::event_based_actor* self, caf::actor gateway,
                  std::string key,
                  std::shared_ptr<std::promise<std::string>> done) {
  auto fail = [done](const caf::error& err) {
    done->set_value("error: " + error_message(err));
  };
  self->request(gateway, 10s, actors::login_atom::value, std::string{"system"},
                key)
    .then([self, done, fail](caf::actor& session, actors::caller& login) {
  self->request(session, 10s, actors::store_atom::value, login,
                std::string{"site"})
    .then(
      [self, done, fail, login](caf::actor& store) {
        self->monitor(store);
        auto who = login;
        who.request_id = "event-based";
        auto item = json{{"key", "example.event"}, {"value", "v"}}.dump();
        self
          ->request(store, 10s, actors::put_atom::value, who,
                    std::string{setting_type}, item)
          .then(
            [self, done, fail, store, who](const std::string& put) {
              auto id = json::parse(put)["id"].get<std::int64_t>();
              self
                ->request(store, 10s, actors::get_atom::value, who,
                          std::string{setting_type}, id)
                .then([done](const std::string& got) { done->set_value(got); },
                      fail);
            },
            fail);
      },
      fail);
    }, fail);
}

} // namespace

TEST_CASE("an event-based actor sends the protocol messages itself",
          "[integration][client]") {
  node_process node;
  client_system cs;
  auto gateway = cs.connect(node.port());
  auto done = std::make_shared<std::promise<std::string>>();
  auto result = done->get_future();
  auto worker = cs.sys().spawn(put_then_get, gateway, node.key(), done);
  REQUIRE(result.wait_for(20s) == std::future_status::ready);
  auto text = result.get();
  INFO(text);
  REQUIRE(text.rfind("error", 0) != 0);
  CHECK(json::parse(text)["value"] == "v");
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);

  node.proc().signal(SIGTERM);
  CHECK(node.proc().wait(5s) == 0);
}

TEST_CASE("a node stops within 5 s of SIGTERM while a client is connected, "
          "and the client then fails fast",
          "[integration][client]") {
  node_process node;
  client_system cs;
  auto s = system_session(cs, node, client::session_options{30s});
  success(s.put("site", setting_type, {{"key", "a.b"}, {"value", "c"}}));

  auto begin = std::chrono::steady_clock::now();
  node.proc().signal(SIGTERM);
  auto code = node.proc().wait(5s);
  INFO("node stderr: " << node.proc().err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(std::chrono::steady_clock::now() - begin <= 5s);

  // The session's cached store and the gateway are gone: no 30 s timeout.
  begin = std::chrono::steady_clock::now();
  auto code_after = failure(s.get("site", setting_type, 1));
  CHECK(code_after == error_code::store_unavailable);
  CHECK(std::chrono::steady_clock::now() - begin < 10s);
}

TEST_CASE("a killed node fails the client's requests without waiting for "
          "the timeout",
          "[integration][client]") {
  node_process node;
  client_system cs;
  auto s = system_session(cs, node, client::session_options{30s});
  success(s.put("site", setting_type, {{"key", "a.b"}, {"value", "c"}}));

  node.proc().signal(SIGKILL);
  REQUIRE(node.proc().wait(5s));
  auto begin = std::chrono::steady_clock::now();
  CHECK(failure(s.get("site", setting_type, 1))
        == error_code::store_unavailable);
  CHECK(failure(s.lookup("site")) == error_code::store_unavailable);
  CHECK(std::chrono::steady_clock::now() - begin < 10s);
}

// -- retries, against an in-process stand-in for a node's gateway ------------

namespace {

/// Answers `(get_atom, caller, type, id)` with a fixed item; stops (with
/// a normal exit, as a passivating store does) on `ok_atom`.
caf::behavior fake_store(caf::event_based_actor* self, std::string item) {
  return {
    [item](actors::get_atom, const actors::caller&, const std::string&,
           std::int64_t) { return item; },
    [self](caf::ok_atom) { self->quit(); },
  };
}

struct fake_gateway_state {
  static inline const char* name = "test.fake_gateway";
  std::vector<caf::actor> answers;
  std::size_t lookups = 0;
};

/// Answers lookups with `answers` in turn, repeating the last one; reports
/// how many lookups it saw on `(caf::get_atom)`.
caf::behavior fake_gateway(caf::stateful_actor<fake_gateway_state>* self,
                           std::vector<caf::actor> answers) {
  self->state.answers = std::move(answers);
  return {
    [self](actors::store_atom, const actors::caller&, const std::string&) {
      auto& st = self->state;
      auto i = std::min(st.lookups, st.answers.size() - 1);
      ++st.lookups;
      return st.answers[i];
    },
    [self](caf::get_atom) { return self->state.lookups; },
    [self](actors::login_atom, const std::string&, const std::string&) {
      return caf::make_message(caf::actor_cast<caf::actor>(self),
                               actors::caller{"user:u", {}, "cap"});
    },
    [](actors::logout_atom, const actors::caller&) { return caf::ok_atom::value; },
  };
}

/// A store actor that has stopped, as a passivated store has.
caf::actor stopped_store(caf::actor_system& sys) {
  auto a = sys.spawn(fake_store, std::string{"{}"});
  caf::scoped_actor self{sys};
  self->monitor(a);
  caf::anon_send(a, caf::ok_atom::value);
  self->receive([](const caf::down_msg&) {});
  return a;
}

std::size_t lookups(caf::actor_system& sys, const caf::actor& gateway) {
  caf::scoped_actor self{sys};
  std::size_t n = 0;
  self->request(gateway, 5s, caf::get_atom::value)
    .receive([&](std::size_t x) { n = x; }, [](caf::error&) {});
  return n;
}

} // namespace

TEST_CASE("a session looks a store up again when it passivated", "[client]") {
  client_system cs;
  auto& sys = cs.sys();
  auto live = sys.spawn(fake_store, std::string{R"({"id":7,"type":"t"})"});
  auto gateway = sys.spawn(
    fake_gateway,
    std::vector<caf::actor>{stopped_store(sys), stopped_store(sys), live});
  {
    auto s = std::move(*client::session::login(sys, gateway, "u", "p"));
    auto item = success(s.get("u@example.com", "t", 7));
    CHECK(item["id"] == 7);
    CHECK(lookups(sys, gateway) == 3);
    // The live store is cached now.
    success(s.get("u@example.com", "t", 7));
    CHECK(lookups(sys, gateway) == 3);
  }
  caf::anon_send_exit(live, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
}

TEST_CASE("a session gives up on a store that keeps passivating", "[client]") {
  client_system cs;
  auto& sys = cs.sys();
  auto gateway
    = sys.spawn(fake_gateway, std::vector<caf::actor>{stopped_store(sys)});
  {
    auto s = std::move(*client::session::login(
      sys, gateway, "u", "p", client::session_options{5s, 2}));
    CHECK(failure(s.get("u@example.com", "t", 1))
          == error_code::store_unavailable);
    CHECK(lookups(sys, gateway) == 3); // the first try and two retries
  }
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
}

// -- the out-of-tree example, built against the installed package ------------

TEST_CASE("the example program writes a setting and reads it back",
          "[integration][client][example]") {
  // Built by the CTest fixture "examples: …" (tests/CMakeLists.txt), which
  // CTest runs first; missing means that fixture failed or did not run.
  INFO("the example, built by the CTest fixture \"examples: …\": "
       MANTISSA_EXAMPLE_BINARY);
  REQUIRE(std::filesystem::exists(MANTISSA_EXAMPLE_BINARY));
  node_process node;
  auto port = std::to_string(node.port());
  auto key_file = node.key_file().string();
  auto ok = mantissa::test::run({MANTISSA_EXAMPLE_BINARY, "--host", "127.0.0.1",
                                 "--port", port, "--password-file", key_file});
  INFO("stderr: " << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("\"example.greeting\"") != std::string::npos);
  CHECK(ok.out.find("\"hello\"") != std::string::npos);

  auto missing = mantissa::test::run(
    {MANTISSA_EXAMPLE_BINARY, "--port", port, "--password-file", key_file,
     "--store", "alice@example.com"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("no_such_store") != std::string::npos);

  node.proc().signal(SIGTERM);
  CHECK(node.proc().wait(5s) == 0);
}
