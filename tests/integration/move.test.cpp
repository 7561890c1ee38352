// Moving user stores between the nodes of a cluster of real `mantissa
// start` processes (docs/operations.md, "Moving a store"): a store moves
// there and back while a client writes to it and another store sends it
// reliable messages (every acknowledged write and every message is there
// exactly once afterwards), the source or the target is killed with
// kill -9 at each step of a move (one copy stays authoritative, the move
// can be retried), and `cluster rebalance` evens out the nodes.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
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
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using namespace mantissa::test::cluster;
using mantissa::actors::error_message;
using mantissa::test::http_request;
using mantissa::test::run;
using mantissa::test::temp_dir;
using nlohmann::json;
namespace client = mantissa::client;
namespace fs = std::filesystem;

namespace {

const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
const std::string pw = "correct horse battery";

using headers = std::vector<std::pair<std::string, std::string>>;

fs::path store_file(node_process& n, const std::string& local) {
  return n.data() / "users" / "example.com" / (local + ".sqlite");
}

/// `mantissa store move ADDRESS --to NODE --connect ENDPOINT`.
mantissa::test::run_result move(const std::string& endpoint, const fs::path& key,
                                const std::string& address,
                                const std::string& to) {
  return run({MANTISSA_BINARY, "store", "move", address, "--to", to,
              "--connect", endpoint, "--key", key.string(), "--quiet"},
             {}, 120s);
}

/// Posts `n` notes titled PREFIX0.. with `body` to `address` over HTTP.
void add_notes(std::uint16_t http, const headers& auth,
               const std::string& address, const std::string& prefix, int n,
               const std::string& body) {
  for (int i = 0; i < n; ++i) {
    auto r = http_request(http, "POST",
                          "/api/stores/" + address + "/items/notes.note",
                          json{{"title", prefix + std::to_string(i)},
                               {"body", body}}
                            .dump(),
                          auth);
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 201);
  }
}

/// A custom actor's system (client/client.hpp).
class client_system {
 public:
  client_system() {
    client::configure(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }
  [[nodiscard]] caf::actor_system& sys() noexcept { return *sys_; }

 private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
};

/// Waits until node `n`'s stderr shows the failpoint `name` reached.
bool reached(node_process& n, const std::string& name) {
  return eventually(
    [&] {
      return n.err().find("failpoint " + name + " reached") != std::string::npos;
    },
    60s);
}

} // namespace

TEST_CASE("a store moves there and back while it is written to and sent "
          "reliable messages, and every acknowledged write and message is there "
          "exactly once", "[integration][move]") {
  temp_dir dir;
  test_cluster c{dir.path(), {"n1", "n2", "n3"}, pw};
  auto& n1 = c[0];
  auto& n2 = c[1];
  auto& n3 = c[2];
  auto key = c.key();
  auto a = add_user(n1.endpoint(), key, alice, pw, "n1");
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  auto b = add_user(n1.endpoint(), key, bob, pw, "n3");
  INFO(b.err);
  REQUIRE(b.exit_code == 0);

  // Alice's store gets a few MiB (several chunks) and a share that lets
  // bob send it copies of notes.
  auto alice_on_n3 = login(n3.http(), alice, pw);
  add_notes(n3.http(), alice_on_n3, alice, "bulk ", 96,
            std::string(48 * 1024, 'x'));
  auto made = http_request(n3.http(), "POST",
                           "/api/stores/" + alice + "/items/notes.note",
                           json{{"title", "inbox"}}.dump(), alice_on_n3);
  REQUIRE(made);
  REQUIRE(made->status == 201);
  auto inbox = json::parse(made->body).at("id").get<std::int64_t>();
  auto shared = http_request(
    n3.http(), "POST", "/api/stores/" + alice + "/shares",
    json{{"type", "notes.note"},
         {"item", inbox},
         {"role", "user:" + bob},
         {"interfaces", {"messages"}},
         {"share_id", "inbox"}}
      .dump(),
    alice_on_n3);
  REQUIRE(shared);
  INFO(shared->body);
  REQUIRE((shared->status == 200 || shared->status == 201));

  // Bob, a custom actor at n3, sends reliable messages to alice.
  client_system cs;
  auto gw = client::connect(cs.sys(), "127.0.0.1", n3.listen());
  REQUIRE(gw);
  auto session = client::session::login(cs.sys(), *gw, bob, pw);
  INFO((session ? std::string{} : error_message(session.error())));
  REQUIRE(session);

  std::atomic<bool> stop{false};
  std::mutex m;
  std::vector<std::string> written;    // acknowledged writes
  std::vector<std::string> failures;   // anything that was not
  std::vector<std::string> sent;       // messages bob's outbox took
  std::thread writer{[&] {
    for (int i = 0; !stop; ++i) {
      auto title = "w" + std::to_string(i);
      auto r = http_request(n3.http(), "POST",
                            "/api/stores/" + alice + "/items/notes.note",
                            json{{"title", title}, {"body", "during"}}.dump(),
                            alice_on_n3);
      std::lock_guard<std::mutex> g{m};
      if (r && r->status == 201)
        written.push_back(title);
      else
        failures.push_back(title + ": "
                           + (r ? std::to_string(r->status) + " " + r->body
                                : std::string{"no answer"}));
    }
  }};
  std::thread sender{[&] {
    for (int i = 0; !stop; ++i) {
      auto title = "m" + std::to_string(i);
      auto r = session->run(bob, "mantissa.send",
                            {{"target", alice},
                             {"share", "inbox"},
                             {"type", "notes.copy"},
                             {"payload", {{"title", title}, {"body", "msg"}}}});
      std::lock_guard<std::mutex> g{m};
      if (r)
        sent.push_back(title);
      else
        failures.push_back(title + ": " + error_message(r.error()));
      std::this_thread::sleep_for(5ms);
    }
  }};
  auto stop_all = [&] {
    stop = true;
    writer.join();
    sender.join();
  };

  // Before, between and after the moves, wait until both have had a few
  // more requests answered: the moves happen while the store is in use.
  auto progressed = [&] {
    std::size_t w0 = 0, s0 = 0;
    {
      std::lock_guard<std::mutex> g{m};
      w0 = written.size();
      s0 = sent.size();
    }
    return eventually(
      [&] {
        std::lock_guard<std::mutex> g{m};
        return written.size() >= w0 + 4 && sent.size() >= s0 + 4;
      },
      60s);
  };
  bool before_moves = progressed();
  auto there = move(n2.endpoint(), key, alice, "n2");  // asked at the target
  INFO(there.err);
  bool moved_there = there.exit_code == 0;
  bool between_moves = progressed();
  auto back = move(n1.endpoint(), key, alice, "n1");
  INFO(back.err);
  bool moved_back = back.exit_code == 0;
  bool after_moves = progressed();
  stop_all();
  INFO("n1: " << n1.err() << "\nn2: " << n2.err());
  CHECK(before_moves);
  CHECK(between_moves);
  CHECK(after_moves);
  REQUIRE(moved_there);
  REQUIRE(moved_back);
  auto first = json::parse(there.out);
  CHECK(first.at("from") == "n1");
  CHECK(first.at("to") == "n2");
  CHECK(first.at("bytes").get<std::int64_t>() > 4 * 1024 * 1024);
  INFO("pause of the first move: " << first.dump());
  auto second = json::parse(back.out);
  CHECK(second.at("from") == "n2");
  CHECK(second.at("to") == "n1");

  // The nodes count their moves.
  auto metrics_of = [](std::uint16_t http) {
    auto r = http_request(http, "GET", "/metrics", {}, {});
    return r && r->status == 200 ? r->body : std::string{};
  };
  CHECK(metrics_of(n1.http()).find("mantissa_moves_total{result=\"ok\"} 1\n")
        != std::string::npos);
  CHECK(metrics_of(n2.http()).find("mantissa_moves_total{result=\"ok\"} 1\n")
        != std::string::npos);
  CHECK(metrics_of(n1.http()).find("mantissa_moves_in_progress 0\n")
        != std::string::npos);

  // One copy, at the new home; none left behind.
  CHECK(fs::exists(store_file(n1, "alice")));
  CHECK_FALSE(fs::exists(store_file(n2, "alice")));
  CHECK_FALSE(fs::exists(fs::path{store_file(n1, "alice").string() + ".moving-out"}));
  CHECK_FALSE(fs::exists(fs::path{store_file(n1, "alice").string() + ".moving-in"}));

  {
    std::lock_guard<std::mutex> g{m};
    INFO("failed requests: " << failures.size() << (failures.empty() ? "" : ", first: " + failures.front()));
    CHECK(failures.empty());
    CHECK(written.size() > 10);
    CHECK(sent.size() > 10);
  }
  // Every message leaves bob's outbox, and each is in alice's store once.
  REQUIRE(eventually(
    [&] {
      auto r = session->run(bob, "mantissa.outbox", {{"limit", 100}});
      return r && r->at("messages").empty();
    },
    60s));
  bool ok = false;
  auto titles = note_titles(n2.http(), login(n2.http(), alice, pw), alice, ok);
  REQUIRE(ok);
  std::size_t dup = 0, lost = 0;
  for (auto& t : written)
    titles[t] == 1 ? 0 : (titles[t] == 0 ? ++lost : ++dup);
  for (auto& t : sent)
    titles[t] == 1 ? 0 : (titles[t] == 0 ? ++lost : ++dup);
  CHECK(lost == 0);
  CHECK(dup == 0);
  for (int i = 0; i < 96; ++i)
    CHECK(titles["bulk " + std::to_string(i)] == 1);
}

TEST_CASE("kill -9 of the source or the target at each step of a move "
          "leaves one authoritative copy, and the move can be retried",
          "[integration][move]") {
  temp_dir dir;
  test_cluster c{dir.path(), {"n1", "n2", "n3"}, pw};
  auto& n1 = c[0];  // the seed: keeps the directory while n2 and n3 die
  auto& n2 = c[1];
  auto& n3 = c[2];
  auto key = c.key();
  auto a = add_user(n1.endpoint(), key, alice, pw, "n2");
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  auto auth = login(n1.http(), alice, pw);
  add_notes(n1.http(), auth, alice, "note ", 40, std::string(8 * 1024, 'y'));
  int serial = 0;
  // Alice's notes, read through n1, and one more written: the store is
  // served, with all it had.
  auto check_served = [&](const std::string& step) {
    INFO("after " << step);
    bool ok = false;
    std::map<std::string, int> titles;
    REQUIRE(eventually(
      [&] {
        titles = note_titles(n1.http(), auth, alice, ok);
        return ok;
      },
      30s));
    for (int i = 0; i < 40; ++i)
      CHECK(titles["note " + std::to_string(i)] == 1);
    for (int i = 0; i < serial; ++i)
      CHECK(titles["extra " + std::to_string(i)] == 1);
    auto r = http_request(n1.http(), "POST",
                          "/api/stores/" + alice + "/items/notes.note",
                          json{{"title", "extra " + std::to_string(serial)}}.dump(),
                          auth);
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 201);
    ++serial;
  };
  // Exactly one node holds an unmarked copy: the one that serves.
  auto holders = [&] {
    std::vector<std::string> out;
    for (auto* n : {&n2, &n3}) {
      auto f = store_file(*n, "alice");
      if (fs::exists(f) && !fs::exists(fs::path{f.string() + ".moving-in"})
          && !fs::exists(fs::path{f.string() + ".moving-out"}))
        out.push_back(n->name());
    }
    return out;
  };
  check_served("the start");

  // Each case: the failpoint, which node dies there, and where the store
  // is served afterwards.
  struct step {
    const char* failpoint;
    bool kill_source;
    bool moves;  // the directory names the target after the kill
  };
  const step steps[] = {
    {"move.shipping", true, false},
    {"move.applied", true, false},
    {"move.received", false, false},
    {"move.committed", true, true},
  };
  std::string home = "n2";
  for (auto& s : steps) {
    INFO("failpoint " << s.failpoint << ", killing the "
                      << (s.kill_source ? "source" : "target"));
    auto& source = home == "n2" ? n2 : n3;
    auto& target = home == "n2" ? n3 : n2;
    auto& victim = s.kill_source ? source : target;
    victim.kill9();
    victim.set_env("MANTISSA_FAILPOINTS", s.failpoint);
    victim.start();
    c.wait_all_up();
    auto mv = std::make_unique<mantissa::test::child>(std::vector<std::string>{
      MANTISSA_BINARY, "store", "move", alice, "--to", target.name(),
      "--connect", n1.endpoint(), "--key", key.string(), "--quiet"});
    REQUIRE(reached(victim, s.failpoint));
    victim.kill9();
    victim.set_env("MANTISSA_FAILPOINTS", "");
    auto code = mv->wait(60s);
    REQUIRE(code);
    if (s.moves) {
      home = target.name();
    }
    victim.start();
    c.wait_all_up();
    check_served(s.failpoint);
    CHECK(holders() == std::vector<std::string>{home});
    // The move can be retried (or, once committed, made back).
    auto other = home == "n2" ? "n3" : "n2";
    auto again = move(n1.endpoint(), key, alice, other);
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
    home = other;
    check_served(std::string{s.failpoint} + " and a retry");
    CHECK(holders() == std::vector<std::string>{home});
  }
}

TEST_CASE("cluster rebalance evens out the nodes, and --dry-run only tells",
          "[integration][move]") {
  temp_dir dir;
  test_cluster c{dir.path(), {"n1", "n2"}, pw};
  auto& n1 = c[0];
  auto& n2 = c[1];
  auto key = c.key();
  for (int i = 0; i < 6; ++i) {
    auto r = add_user(n1.endpoint(), key, "u" + std::to_string(i) + "@example.com",
                      pw, "n2");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  auto rebalance = [&](bool dry) {
    std::vector<std::string> argv{MANTISSA_BINARY, "cluster", "rebalance",
                                  "--connect", n1.endpoint(), "--key",
                                  key.string(), "--quiet"};
    if (dry)
      argv.push_back("--dry-run");
    return run(argv, {}, 120s);
  };
  auto count = [&](node_process& n) {
    int k = 0;
    for (int i = 0; i < 6; ++i)
      k += fs::exists(store_file(n, "u" + std::to_string(i))) ? 1 : 0;
    return k;
  };
  // root's store is on n1: 1 and 6.
  auto plan = rebalance(true);
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("would move") != std::string::npos);
  CHECK(plan.out.find("planned 2 moves") != std::string::npos);
  CHECK(count(n2) == 6);
  auto done = rebalance(false);
  INFO(done.out << done.err);
  REQUIRE(done.exit_code == 0);
  CHECK(done.out.find("done: 2 moves") != std::string::npos);
  CHECK(count(n2) == 4);
  CHECK(count(n1) == 2);
  auto again = rebalance(true);
  CHECK(again.out.find("balanced") != std::string::npos);
  // The admin page's move: POST /api/admin/stores/{address}/move through
  // any node, run by the node that holds the store.
  auto root = login(n1.http(), "root@example.com", pw);
  auto moved = http_request(n1.http(), "POST", "/api/admin/stores/u0@example.com/move",
                            json{{"to", "n1"}}.dump(), root);
  REQUIRE(moved);
  INFO(moved->body);
  REQUIRE(moved->status == 200);
  CHECK(json::parse(moved->body).at("from") == "n2");
  CHECK(fs::exists(store_file(n1, "u0")));
  CHECK_FALSE(fs::exists(store_file(n2, "u0")));
  auto refused = http_request(n1.http(), "POST",
                              "/api/admin/stores/u0@example.com/move",
                              json{{"to", "n1"}}.dump(),
                              login(n1.http(), "u0@example.com", pw));
  REQUIRE(refused);
  CHECK(refused->status == 404);
  // Every moved user still logs in and reads their store.
  for (int i = 0; i < 6; ++i) {
    auto u = "u" + std::to_string(i) + "@example.com";
    auto auth = login(n1.http(), u, pw);
    bool ok = false;
    note_titles(n1.http(), auth, u, ok);
    CHECK(ok);
  }
}

namespace {

std::string metrics_of(std::uint16_t http) {
  auto r = http_request(http, "GET", "/metrics", {}, {});
  return r && r->status == 200 ? r->body : std::string{};
}

/// Everything the node's replicas were sent is confirmed.
bool replicas_current(node_process& n) {
  auto m = metrics_of(n.http());
  return m.find("mantissa_replication_pending 0\n") != std::string::npos
         && m.find("mantissa_replication_changesets_total{result=\"ok\"} 0\n")
              == std::string::npos;
}

mantissa::test::run_result cli(std::vector<std::string> args,
                               const std::string& endpoint, const fs::path& key) {
  args.insert(args.begin(), MANTISSA_BINARY);
  args.insert(args.end(), {"--connect", endpoint, "--key", key.string()});
  return run(args, {}, 120s);
}

} // namespace

TEST_CASE("a replica kept current is promoted when its primary's node dies, "
          "and the old node, back, serves nothing stale",
          "[integration][move][replica]") {
  temp_dir dir;
  test_cluster c{dir.path(), {"n1", "n2", "n3"}, pw};
  auto& n1 = c[0];
  auto& n2 = c[1];
  auto& n3 = c[2];
  auto key = c.key();
  auto a = add_user(n1.endpoint(), key, alice, pw, "n2");
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  auto auth = login(n1.http(), alice, pw);
  add_notes(n1.http(), auth, alice, "before ", 20, std::string(4096, 'b'));

  auto rep = cli({"store", "replicate", alice, "--on", "n3", "--quiet"},
                 n1.endpoint(), key);
  INFO(rep.out << rep.err);
  REQUIRE(rep.exit_code == 0);
  auto set = json::parse(rep.out);
  CHECK(set.at("primary") == "n2");
  CHECK(set.at("replica") == "n3");
  CHECK(set.at("epoch") == 1);
  CHECK(fs::exists(fs::path{store_file(n3, "alice").string() + ".replica"}));
  CHECK_FALSE(fs::exists(store_file(n3, "alice")));  // never served there
  add_notes(n1.http(), auth, alice, "after ", 20, std::string(4096, 'a'));
  REQUIRE(eventually([&] { return replicas_current(n2); }, 30s));

  // A promotion needs the primary's node down (or --force).
  auto early = cli({"store", "promote", alice}, n1.endpoint(), key);
  CHECK(early.exit_code != 0);
  CHECK(early.err.find("is up") != std::string::npos);

  n2.kill9();
  REQUIRE(eventually([&] { return status(n1.endpoint(), key)["n2"] == "down"; },
                     30s));
  auto promoted = cli({"store", "promote", alice}, n1.endpoint(), key);
  INFO(promoted.out << promoted.err);
  REQUIRE(promoted.exit_code == 0);
  auto p = json::parse(promoted.out);
  CHECK(p.at("node") == "n3");
  CHECK(p.at("epoch") == 2);
  CHECK_FALSE(p.contains("warning"));

  // Every acknowledged write that the replica confirmed is there, once.
  bool ok = false;
  auto titles = note_titles(n1.http(), auth, alice, ok);
  REQUIRE(ok);
  for (int i = 0; i < 20; ++i) {
    CHECK(titles["before " + std::to_string(i)] == 1);
    CHECK(titles["after " + std::to_string(i)] == 1);
  }
  add_notes(n1.http(), auth, alice, "promoted ", 1, "on n3");
  CHECK(fs::exists(store_file(n3, "alice")));

  // n2 comes back with its old copy (epoch 1): it is not served, and goes.
  n2.start();
  c.wait_all_up();
  auto on_n2 = login(n2.http(), alice, pw);
  titles = note_titles(n2.http(), on_n2, alice, ok);
  REQUIRE(ok);
  CHECK(titles["promoted 0"] == 1);
  CHECK(titles["after 19"] == 1);
  CHECK_FALSE(fs::exists(store_file(n2, "alice")));
  add_notes(n2.http(), on_n2, alice, "through n2 ", 1, "to n3");
  titles = note_titles(n1.http(), auth, alice, ok);
  CHECK(titles["through n2 0"] == 1);
}

TEST_CASE("with --failover-after the seed promotes the replicas of a node "
          "that stays down", "[integration][move][replica]") {
  temp_dir dir;
  // One second more than the nodes' --node-down-after.
  auto failover_after
    = std::to_string(std::stod(node_process::down_after()) + 1);
  test_cluster c{dir.path(), {"n1", "n2", "n3"}, pw,
                 {{"n1", {"--failover-after", failover_after}}}};
  auto& n1 = c[0];
  auto& n2 = c[1];
  auto& n3 = c[2];
  auto key = c.key();
  auto a = add_user(n1.endpoint(), key, alice, pw, "n2");
  REQUIRE(a.exit_code == 0);
  auto auth = login(n1.http(), alice, pw);
  add_notes(n1.http(), auth, alice, "note ", 5, "x");
  auto rep = cli({"store", "replicate", alice, "--on", "n3", "--quiet"},
                 n1.endpoint(), key);
  INFO(rep.err);
  REQUIRE(rep.exit_code == 0);
  add_notes(n1.http(), auth, alice, "more ", 5, "y");
  REQUIRE(eventually([&] { return replicas_current(n2); }, 30s));
  n2.kill9();
  // Down after 2 s, promoted a second later: reads work again through n1.
  REQUIRE(eventually(
    [&] {
      bool ok = false;
      auto t = note_titles(n1.http(), auth, alice, ok);
      return ok && t["more 4"] == 1;
    },
    60s));
  CHECK(fs::exists(store_file(n3, "alice")));
}
