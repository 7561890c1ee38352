// Three `mantissa start` processes on 127.0.0.1 joined into one cluster
// (docs/cluster.md): users placed on each node, HTTP on node 1 reading and
// writing a store on node 3, a reliable message from a store on node 2 to
// one on node 3 across a kill -9 and restart of node 3 (delivered exactly
// once), fast store_unavailable while node 3 is down, the seed restarting
// while the others keep serving, and a TLS cluster refusing a node without
// a certificate of its CA.

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <nlohmann/json.hpp>

#include "wire/protocol.hpp"
#include "client/client.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::actors::error_message;
using mantissa::test::child;
using mantissa::test::http_connection;
using mantissa::test::http_request;
using mantissa::test::http_response;
using mantissa::test::run;
using mantissa::test::temp_dir;
using nlohmann::json;
namespace client = mantissa::client;
namespace fs = std::filesystem;
using namespace mantissa::test::cluster;

namespace {

/// How many of `address`'s notes have `title`, read over HTTP on `http`
/// (-1 when the request failed).
int notes_titled(std::uint16_t http,
                 const std::vector<std::pair<std::string, std::string>>& auth,
                 const std::string& address, const std::string& title) {
  auto r = http_request(http, "GET",
                        "/api/stores/" + address
                          + "/items/notes.note?limit=1000",
                        {}, auth);
  if (!r || r->status != 200)
    return -1;
  int n = 0;
  auto body = json::parse(r->body);
  for (auto& it : body.at("items"))
    if (it.value("title", std::string{}) == title)
      ++n;
  return n;
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

const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
const std::string carol = "carol@example.com";
const std::string pw = "correct horse battery";

} // namespace

TEST_CASE("three nodes serve each other's stores, survive kill -9 of a node "
          "and of the seed, and deliver reliable messages exactly once",
          "[integration][cluster]") {
  temp_dir dir;
  node_process n1{dir / "n1", "n1", {"--no-demo"}};
  // The seed's site, made offline, with an administrator.
  auto offline = [&](std::vector<std::string> args, const std::string& in = {}) {
    args.insert(args.begin(), MANTISSA_BINARY);
    args.push_back("--data");
    args.push_back(n1.data().string());
    auto r = run(args, in, 60s);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  };
  offline({"init", "--domain", "example.com"});
  offline({"user", "add", "root@example.com", "--password-stdin"}, pw + "\n");
  offline({"user", "admin", "root@example.com"});
  n1.start();
  auto key = n1.data() / "cluster.key";
  REQUIRE(fs::exists(key));
  std::vector<std::string> join{"--join", n1.endpoint(), "--cluster-key",
                                key.string()};
  node_process n2{dir / "n2", "n2", join};
  node_process n3{dir / "n3", "n3", join};
  n2.start();
  n3.start();
  INFO("n2: " << n2.err() << "\nn3: " << n3.err());
  REQUIRE(eventually([&] { return all_up(n1.endpoint(), key, {"n1", "n2", "n3"}); },
                     30s));

  // Placement: named nodes, through the seed and through another node.
  auto a = add_user(n2.endpoint(), key, alice, pw, "n2");
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  CHECK(a.out.find("on node n2") != std::string::npos);
  auto b = add_user(n1.endpoint(), key, bob, pw, "n3");
  INFO(b.err);
  REQUIRE(b.exit_code == 0);
  CHECK(b.out.find("on node n3") != std::string::npos);
  auto c = add_user(n1.endpoint(), key, carol, pw); // fewest stores
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  CHECK(c.out.find("on node n1") != std::string::npos);
  auto store_file = [](const node_process& n, const std::string& local) {
    return n.data() / "users" / "example.com" / (local + ".sqlite");
  };
  CHECK(fs::exists(store_file(n2, "alice")));
  CHECK(fs::exists(store_file(n3, "bob")));
  CHECK_FALSE(fs::exists(store_file(n1, "bob")));
  CHECK_FALSE(fs::exists(store_file(n2, "bob")));

  // The HTTP API's account creation goes through the cluster too: an
  // administrator at node 2 adds an account, placed by the seed.
  {
    auto body = json{{"username", "erin@example.com"}, {"password", pw}}.dump();
    auto alice_auth = login(n2.http(), alice, pw);
    auto refused = http_request(n2.http(), "POST", "/api/admin/users", body,
                                alice_auth);
    REQUIRE(refused);
    CHECK(refused->status == 404);
    auto root = login(n2.http(), "root@example.com", pw);
    auto added = http_request(n2.http(), "POST", "/api/admin/users", body, root);
    REQUIRE(added);
    INFO(added->body);
    REQUIRE(added->status == 201);
    auto where = json::parse(added->body).at("node").get<std::string>();
    node_process* holder = where == "n1" ? &n1 : where == "n2" ? &n2 : &n3;
    CHECK(fs::exists(store_file(*holder, "erin")));
    auto erin = login(n1.http(), "erin@example.com", pw);
    CHECK(notes_titled(n1.http(), erin, "erin@example.com", "none") == 0);
  }

  // HTTP on node 1 writes and reads bob's store on node 3.
  auto bob_on_n1 = login(n1.http(), bob, pw);
  auto made = http_request(n1.http(), "POST",
                           "/api/stores/" + bob + "/items/notes.note",
                           json{{"title", "inbox"}, {"body", "for copies"}}.dump(),
                           bob_on_n1);
  REQUIRE(made);
  INFO(made->body);
  REQUIRE(made->status == 201);
  auto note_id = json::parse(made->body).at("id").get<std::int64_t>();
  auto note_path = "/api/stores/" + bob + "/items/notes.note/"
                   + std::to_string(note_id);
  auto read = http_request(n1.http(), "GET", note_path, {}, bob_on_n1);
  REQUIRE(read);
  CHECK(read->status == 200);
  CHECK(json::parse(read->body).at("body") == "for copies");
  auto shared = http_request(
    n1.http(), "POST", "/api/stores/" + bob + "/shares",
    json{{"type", "notes.note"},
         {"item", note_id},
         {"role", "user:" + alice},
         {"interfaces", {"messages"}},
         {"share_id", "inbox"}}
      .dump(),
    bob_on_n1);
  REQUIRE(shared);
  INFO(shared->body);
  REQUIRE((shared->status == 200 || shared->status == 201));

  // A reliable message from alice (node 2) to bob (node 3), sent by a
  // custom actor logged in as alice at node 2.
  client_system cs;
  auto gw = client::connect(cs.sys(), "127.0.0.1", n2.listen());
  REQUIRE(gw);
  auto session = client::session::login(cs.sys(), *gw, alice, pw);
  INFO((session ? std::string{} : error_message(session.error())));
  REQUIRE(session);
  auto send = [&](const std::string& title) {
    return session->run(alice, "mantissa.send",
                        {{"target", bob},
                         {"share", "inbox"},
                         {"type", "notes.copy"},
                         {"payload", {{"title", title}, {"body", "hello"}}}});
  };
  auto pending = [&]() -> int {
    auto r = session->run(alice, "mantissa.outbox", {{"limit", 100}});
    return r ? static_cast<int>(r->at("messages").size()) : -1;
  };
  auto first = send("copy 1");
  INFO((first ? std::string{} : error_message(first.error())));
  REQUIRE(first);
  REQUIRE(eventually([&] { return notes_titled(n1.http(), bob_on_n1, bob, "copy 1") == 1; },
                     30s));
  REQUIRE(eventually([&] { return pending() == 0; }, 30s));

  // kill -9 node 3: its stores answer store_unavailable at once (a 503
  // with Retry-After over HTTP, well within 10 s), nothing hangs.
  n3.kill9();
  {
    http_connection conn{n1.http(), 10s};
    auto t0 = clock_type::now();
    auto r = conn.request("GET", note_path, {}, bob_on_n1);
    auto took = clock_type::now() - t0;
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 503);
    CHECK(r->body.find("store_unavailable") != std::string::npos);
    CHECK_FALSE(r->header("Retry-After").empty());
    CHECK(took < 10s);
  }
  // A reliable message to it waits in alice's outbox.
  auto second = send("copy 2");
  INFO((second ? std::string{} : error_message(second.error())));
  REQUIRE(second);
  auto metrics_of = [](std::uint16_t http) {
    auto r = http_request(http, "GET", "/metrics", {}, {});
    return r && r->status == 200 ? r->body : std::string{};
  };
  // Wait until node 2 has tried to deliver it and failed (a retry counted):
  // only then does "still pending" mean something.
  auto retries = [&] {
    std::smatch m;
    auto text = metrics_of(n2.http());
    static const std::regex line{
      "mantissa_interstore_deliveries_total\\{result=\"retry\"\\} ([0-9.e+]+)"};
    return std::regex_search(text, m, line) ? std::stod(m[1]) : 0.0;
  };
  REQUIRE(eventually([&] { return retries() >= 1; }, 30s));
  CHECK(pending() == 1);
  // Node 2's metrics show it waiting, and the timer's retries.
  CHECK(metrics_of(n2.http()).find("mantissa_interstore_outbox_depth 1\n")
        != std::string::npos);

  // Node 3 returns: the message is delivered, once.
  n3.start();
  REQUIRE(eventually([&] { return all_up(n1.endpoint(), key, {"n1", "n2", "n3"}); },
                     30s));
  REQUIRE(eventually([&] { return notes_titled(n1.http(), bob_on_n1, bob, "copy 2") == 1; },
                     90s));
  REQUIRE(eventually([&] { return pending() == 0; }, 30s));
  CHECK(eventually(
    [&] {
      return metrics_of(n2.http()).find("mantissa_interstore_outbox_depth 0\n")
             != std::string::npos;
    },
    10s));
  CHECK(metrics_of(n2.http()).find("mantissa_scheduler_lag_seconds_count 0\n")
        == std::string::npos);
  CHECK(notes_titled(n1.http(), bob_on_n1, bob, "copy 1") == 1);
  CHECK(notes_titled(n1.http(), bob_on_n1, bob, "copy 2") == 1);

  // The seed dies: node 2 keeps serving from what it knows — a login
  // (the account copy in alice's own store) and bob's store on node 3
  // (its cached location).
  n1.kill9();
  auto alice_on_n2 = login(n2.http(), alice, pw);
  auto own = http_request(n2.http(), "POST",
                          "/api/stores/" + alice + "/items/notes.note",
                          json{{"title", "while the seed is down"}}.dump(),
                          alice_on_n2);
  REQUIRE(own);
  CHECK(own->status == 201);
  auto bob_on_n2 = login(n2.http(), bob, pw);
  auto via_cache = http_request(n2.http(), "GET", note_path, {}, bob_on_n2);
  REQUIRE(via_cache);
  INFO(via_cache->body);
  CHECK(via_cache->status == 200);
  // Directory changes need the seed: they fail with a clear error.
  auto refused = add_user(n2.endpoint(), key, "dave@example.com", pw);
  CHECK(refused.exit_code != 0);
  CHECK_FALSE(refused.err.empty());

  // The seed returns with its directory; changes work again.
  n1.start();
  REQUIRE(eventually([&] { return all_up(n1.endpoint(), key, {"n1", "n2", "n3"}); },
                     30s));
  auto d = add_user(n1.endpoint(), key, "dave@example.com", pw, "n2");
  INFO(d.err);
  CHECK(d.exit_code == 0);
  auto bob_again = login(n1.http(), bob, pw);
  CHECK(notes_titled(n1.http(), bob_again, bob, "copy 2") == 1);
}

TEST_CASE("a TLS cluster refuses nodes and clients without a certificate of "
          "its CA", "[integration][cluster][tls]") {
  temp_dir dir;
  auto pki = dir / "pki";
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), MANTISSA_BINARY);
    auto r = run(args, {}, 60s);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  };
  auto p = [&](const std::string& f) { return (pki / f).string(); };
  // The site's CA (as mantissa init makes it) and one certificate per node
  // and for an administrator, as in docs/cluster.md.
  auto site = (dir / "site").string();
  cli({"cert", "ca", "--data", site});
  for (std::string n : {"n1", "n2"})
    cli({"cert", "issue", n, "--node", "--data", site, "--out", pki.string()});
  cli({"cert", "issue", "admin", "--data", site, "--out", pki.string()});
  // Another site's CA and a node certificate of its own.
  auto rogue_site = (dir / "rogue-site").string();
  cli({"cert", "ca", "--data", rogue_site});
  cli({"cert", "issue", "rogue", "--node", "--data", rogue_site, "--out",
       (dir / "rogue-pki").string()});
  fs::copy_file(dir / "rogue-pki" / "rogue.pem", pki / "rogue.pem");
  fs::copy_file(dir / "rogue-pki" / "rogue.key", pki / "rogue.key");
  fs::copy_file(dir / "rogue-pki" / "ca.pem", pki / "rogue-ca.pem");
  auto tls = [&](const std::string& n, const std::string& ca = "ca.pem") {
    return std::vector<std::string>{"--tls-cert", p(n + ".pem"), "--tls-key",
                                    p(n + ".key"), "--tls-ca", p(ca)};
  };

  node_process n1{dir / "n1", "n1", tls("n1")};
  n1.start();
  auto key = n1.data() / "cluster.key";
  auto joining = [&](std::vector<std::string> extra) {
    std::vector<std::string> j{"--join", n1.endpoint(), "--cluster-key",
                               key.string()};
    j.insert(j.end(), extra.begin(), extra.end());
    return j;
  };
  node_process n2{dir / "n2", "n2", joining(tls("n2"))};
  n2.start();
  REQUIRE(eventually([&] { return all_up(n1.endpoint(), key, {"n1", "n2"}, tls("admin")); },
                     30s));

  // A node whose certificate another CA signed, and one without TLS.
  node_process rogue{dir / "rogue", "rogue", joining(tls("rogue", "rogue-ca.pem"))};
  rogue.start();
  node_process plain{dir / "plain", "plain", joining({})};
  plain.start();
  // Both have been refused (each logs its first failed join) before the
  // seed is asked who is in.
  CHECK(eventually([&] {
    auto e = rogue.err();
    return e.find("cannot join") != std::string::npos;
  }, 30s));
  CHECK(eventually([&] {
    auto e = plain.err();
    return e.find("cannot join") != std::string::npos;
  }, 30s));
  INFO("rogue: " << rogue.err() << "\nplain: " << plain.err());
  auto s = status(n1.endpoint(), key, tls("admin"));
  CHECK(s.size() == 2);
  CHECK(s.count("rogue") == 0);
  CHECK(s.count("plain") == 0);

  // Clients too: no certificate, or one of another CA, is refused.
  auto no_cert = run({MANTISSA_BINARY, "cluster", "status", "--connect",
                      n1.endpoint(), "--key", key.string()},
                     {}, 30s);
  CHECK(no_cert.exit_code != 0);
  auto argv = std::vector<std::string>{MANTISSA_BINARY, "cluster", "status",
                                       "--connect", n1.endpoint(), "--key",
                                       key.string()};
  for (auto& a : tls("rogue", "ca.pem"))
    argv.push_back(a);
  auto bad_cert = run(argv, {}, 30s);
  CHECK(bad_cert.exit_code != 0);
  CHECK(bad_cert.err.find("not signed by the CA") != std::string::npos);

  // A client's certificate cannot serve as a node's.
  auto as_node = run({MANTISSA_BINARY, "start", "--data",
                      (dir / "client-node").string(), "--listen",
                      "127.0.0.1:0", "--http", "127.0.0.1:0", "--tls-cert",
                      p("admin.pem"), "--tls-key", p("admin.key"), "--tls-ca",
                      p("ca.pem")},
                     {}, 30s);
  CHECK(as_node.exit_code != 0);
  CHECK(as_node.err.find("is not a node's") != std::string::npos);
}

TEST_CASE("a port that is not on loopback speaks mutual TLS unless told "
          "otherwise", "[integration][cluster][tls]") {
  temp_dir dir;
  auto data = dir / "site";
  auto r = run({MANTISSA_BINARY, "init", "--data", data.string(), "--domain",
                "example.com"},
               {}, 30s);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(data / "tls" / "ca.pem"));
  // On every address: not loopback, so TLS with the node's certificate,
  // which the node issues itself from the site's CA.
  auto port = free_port();
  child node{{MANTISSA_BINARY, "start", "--data", data.string(), "--name",
              "solo", "--listen", "0.0.0.0:" + std::to_string(port), "--http",
              "127.0.0.1:0", "--no-demo"}};
  auto line = node.wait_for_line("listening for actors", 60s);
  INFO(node.err());
  REQUIRE(line);
  CHECK(line->find("(mutual TLS)") != std::string::npos);
  CHECK(fs::exists(data / "tls" / "solo.pem"));
  auto endpoint = "127.0.0.1:" + std::to_string(port);
  auto key = (data / "node.key").string();
  // Plain TCP gets nothing; a client certificate of the site gets in.
  auto plain = run({MANTISSA_BINARY, "fanout", "--connect", endpoint, "--key",
                    key, "--type", "notes.note"},
                   {}, 60s);
  CHECK(plain.exit_code != 0);
  auto issued = run({MANTISSA_BINARY, "cert", "issue", "admin", "--data",
                     data.string(), "--out", (dir / "admin").string()},
                    {}, 30s);
  REQUIRE(issued.exit_code == 0);
  auto a = [&](const std::string& f) { return (dir / "admin" / f).string(); };
  auto ok = run({MANTISSA_BINARY, "fanout", "--connect", endpoint, "--key",
                 key, "--type", "notes.note", "--tls-cert", a("admin.pem"),
                 "--tls-key", a("admin.key"), "--tls-ca", a("ca.pem")},
                {}, 60s);
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  node.signal(SIGTERM);
  CHECK(node.wait(30s) == 0);
  // --insecure-listen: plain TCP, said so at start.
  child open{{MANTISSA_BINARY, "start", "--data", data.string(), "--name",
              "solo", "--listen", "0.0.0.0:" + std::to_string(port), "--http",
              "127.0.0.1:0", "--no-demo", "--insecure-listen"}};
  auto l2 = open.wait_for_line("listening for actors", 60s);
  REQUIRE(l2);
  CHECK(l2->find("TLS") == std::string::npos);
  CHECK(open.out().find("plain TCP (--insecure-listen)") != std::string::npos);
  auto plain_ok = run({MANTISSA_BINARY, "fanout", "--connect", endpoint,
                       "--key", key, "--type", "notes.note"},
                      {}, 60s);
  CHECK(plain_ok.exit_code == 0);
  open.signal(SIGTERM);
  CHECK(open.wait(30s) == 0);
}

namespace {

/// The first line of a key file (the key itself).
std::string read_key(const fs::path& file) {
  std::ifstream in{file};
  std::string key;
  std::getline(in, key);
  return key;
}

/// A system session at one node, speaking the protocol itself: stores are
/// created and read with `(route_atom, address, message)` (stores of that
/// node only).
class system_session {
 public:
  system_session(caf::actor_system& sys, const std::string& endpoint,
                 const std::string& key)
    : self_(sys) {
    auto colon = endpoint.rfind(':');
    auto gw = client::connect(
      sys, endpoint.substr(0, colon),
      static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1))));
    REQUIRE(gw);
    self_
      ->request(*gw, 10s, mantissa::actors::login_atom::value,
                std::string{"system"}, key)
      .receive(
        [&](caf::actor& s, mantissa::actors::caller& who) {
          session_ = s;
          who_ = who;
        },
        [&](caf::error& e) { FAIL("login: " << error_message(e)); });
  }
  ~system_session() {
    caf::anon_send(session_, mantissa::actors::logout_atom::value, who_);
  }

  /// The store's answer to `msg`, or "error: ..." .
  std::string route(const std::string& address, caf::message msg) {
    std::string out;
    self_
      ->request(session_, 30s, mantissa::actors::route_atom::value, who_,
                address, std::move(msg))
      .receive([&](std::string& body) { out = std::move(body); },
               [&](caf::error& e) { out = "error: " + error_message(e); });
    return out;
  }

 private:
  caf::scoped_actor self_;
  caf::actor session_;
  mantissa::actors::caller who_;
};

/// `mantissa fanout --connect ENDPOINT --key KEY ARGS...`: exit code and
/// the result (null when stdout is not JSON).
std::pair<int, json> fanout(const std::string& endpoint, const fs::path& key,
                            std::vector<std::string> args) {
  std::vector<std::string> argv{MANTISSA_BINARY, "fanout", "--connect",
                                endpoint,        "--key",  key.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv, {}, 120s);
  if (r.exit_code != 0)
    WARN("mantissa fanout " << args.front() << " exited " << r.exit_code
                            << ": " << r.err << "\n" << r.out.substr(0, 2000));
  return {r.exit_code, json::parse(r.out, nullptr, false)};
}

} // namespace

TEST_CASE("a fan-out over 999 stores on three nodes equals the same "
          "requests store by store, and reports a node that is down",
          "[integration][cluster][fanout]") {
  temp_dir dir;
  node_process n1{dir / "n1", "n1", {"--no-demo"}};
  n1.start();
  auto key = n1.data() / "cluster.key";
  REQUIRE(fs::exists(key));
  std::vector<std::string> join{"--join", n1.endpoint(), "--cluster-key",
                                key.string()};
  node_process n2{dir / "n2", "n2", join};
  node_process n3{dir / "n3", "n3", join};
  n2.start();
  n3.start();
  REQUIRE(eventually([&] { return all_up(n1.endpoint(), key, {"n1", "n2", "n3"}); },
                     30s));
  std::array<node_process*, 3> nodes{&n1, &n2, &n3};

  // 333 stores on each node; store i holds i % 5 notes of sizes i*10+k.
  constexpr int stores = 999;
  auto address = [](int i) { return "u" + std::to_string(i) + "@example.com"; };
  client_system cs;
  std::vector<std::unique_ptr<system_session>> sessions;
  for (auto* n : nodes)
    sessions.push_back(
      std::make_unique<system_session>(cs.sys(), n->endpoint(), read_key(key)));
  mantissa::actors::caller sys_caller{"system", "test"};
  std::int64_t notes = 0, size_sum = 0;
  for (int i = 0; i < stores; ++i) {
    auto& s = *sessions[static_cast<std::size_t>(i % 3)];
    REQUIRE(s.route(address(i),
                    caf::make_message(mantissa::actors::create_atom::value))
            == R"({"ok":true})");
    for (int k = 0; k < i % 5; ++k) {
      auto r = s.route(address(i),
                       caf::make_message(
                         mantissa::actors::put_atom::value, sys_caller,
                         std::string{"notes.note"},
                         json{{"title", "n" + std::to_string(k)},
                              {"body", std::to_string(i * 10 + k)}}
                           .dump()));
      REQUIRE(r.rfind("error", 0) != 0);
      ++notes;
      size_sum += i * 10 + k;
    }
  }

  // Node 3 restarts: joining, it tells the seed about the stores it holds
  // (they were made behind the directory's back, through route).
  sessions[2].reset();
  n3.kill9();
  n3.start();
  REQUIRE(eventually([&] { return all_up(n1.endpoint(), key, {"n1", "n2", "n3"}); },
                     30s));
  sessions[2] = std::make_unique<system_session>(cs.sys(), n3.endpoint(),
                                                 read_key(key));

  // Store by store, through each store's own node.
  std::int64_t counted = 0;
  std::vector<std::string> with_notes;
  for (int i = 0; i < stores; ++i) {
    auto r = sessions[static_cast<std::size_t>(i % 3)]->route(
      address(i), caf::make_message(mantissa::actors::count_atom::value,
                                    sys_caller, std::string{"notes.note"},
                                    std::string{"{}"}));
    auto n = json::parse(r, nullptr, false).value("count", -1);
    REQUIRE(n >= 0);
    counted += n;
    if (n > 0)
      with_notes.push_back(address(i));
  }
  CHECK(counted == notes);

  // The fan-out, asked at the seed and at another node.
  for (auto* at : {&n1, &n2}) {
    auto [code, out] = fanout(at->endpoint(), key,
                              {"--type", "notes.note", "--quiet"});
    REQUIRE(code == 0);
    INFO(out.dump());
    CHECK(out.at("stores") == stores);
    CHECK(out.at("failed") == 0);
    CHECK(out.at("result") == notes);
    CHECK(out.at("nodes").size() == 3);
  }
  {
    // Stores with notes (collate count), and a filter to some stores.
    auto [code, out] = fanout(n3.endpoint(), key,
                              {"--type", "notes.note", "--collate", "count",
                               "--quiet"});
    REQUIRE(code == 0);
    CHECK(out.at("result") == static_cast<std::int64_t>(with_notes.size()));
    auto [c2, only] = fanout(n1.endpoint(), key,
                             {"--type", "notes.note", "--store", address(4),
                              "--store", address(8), "--quiet"});
    REQUIRE(c2 == 0);
    CHECK(only.at("stores") == 2);
    CHECK(only.at("result") == 4 + 3);
  }
  {
    // The five biggest notes, by their body as a number: a run of the
    // query in every store, each sending only its best five.
    auto [code, out] = fanout(
      n1.endpoint(), key,
      {"--query", R"({"type":"notes.note"})", "--collate", "top", "--field",
       "title", "--order", "asc", "--limit", "3", "--quiet"});
    REQUIRE(code == 0);
    INFO(out.dump());
    REQUIRE(out.at("result").size() == 3);
    for (auto& item : out.at("result")) {
      CHECK(item.at("title") == "n0");
      CHECK(item.at("store").get<std::string>().find("@example.com")
            != std::string::npos);
    }
    auto [c2, all] = fanout(n2.endpoint(), key,
                            {"--query", R"({"type":"notes.note"})",
                             "--limit", "100000", "--quiet"});
    REQUIRE(c2 == 0);
    CHECK(all.at("result").size() == static_cast<std::size_t>(notes));
    CHECK(all.at("truncated") == false);
    std::int64_t sum = 0;
    for (auto& item : all.at("result"))
      sum += std::stoll(item.at("body").get<std::string>());
    CHECK(sum == size_sum);
  }

  // A bad request is refused with a clear message, nothing run.
  {
    auto r = run({MANTISSA_BINARY, "fanout", "--connect", n1.endpoint(),
                  "--key", key.string(), "--type", "notes.note", "--collate",
                  "median", "--quiet"},
                 {}, 30s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("collate must be") != std::string::npos);
  }

  // Node 3 down: its stores are reported failed, the others answered.
  sessions.clear();
  n3.kill9();
  REQUIRE(eventually([&] { return status(n1.endpoint(), key)["n3"] == "down"; },
                     20s));
  // The seed's metrics show the membership.
  auto scraped = http_request(n1.http(), "GET", "/metrics");
  REQUIRE(scraped);
  CHECK(scraped->status == 200);
  CHECK(scraped->body.find("mantissa_cluster_node_up{node=\"n3\"} 0")
        != std::string::npos);
  CHECK(scraped->body.find("mantissa_cluster_node_up{node=\"n2\"} 1")
        != std::string::npos);
  auto [code, out] = fanout(n1.endpoint(), key, {"--type", "notes.note", "--quiet"});
  INFO(out.dump());
  CHECK(code == 3);
  CHECK(out.at("failed") == stores / 3);
  std::int64_t on_n3 = 0;
  for (int i = 2; i < stores; i += 3)
    on_n3 += i % 5;
  CHECK(out.at("result") == notes - on_n3);
  REQUIRE(out.at("failures").size() == 1);
  CHECK(out.at("failures")[0].at("node") == "n3");
  CHECK(out.at("failures")[0].at("code") == "store_unavailable");

  // An artificial account through the cluster: it owns a store on a node
  // that is up and cannot log in.
  auto art = run({MANTISSA_BINARY, "user", "add", "shared@example.com",
                  "--no-password", "--connect", n2.endpoint(), "--key",
                  key.string()},
                 {}, 60s);
  INFO(art.err);
  REQUIRE(art.exit_code == 0);
  CHECK(art.out.find("(no password) on node n") != std::string::npos);
  CHECK((fs::exists(n1.data() / "users" / "example.com" / "shared.sqlite")
         || fs::exists(n2.data() / "users" / "example.com" / "shared.sqlite")));
  auto art_login = http_request(
    n1.http(), "POST", "/api/login",
    json{{"username", "shared@example.com"}, {"password", ""}}.dump());
  REQUIRE(art_login);
  CHECK(art_login->status != 200);
}

TEST_CASE("log lines are JSON objects with levels, and a request id goes from "
          "the HTTP front end to the store actor on another node",
          "[integration][cluster][logs]") {
  temp_dir dir;
  std::vector<std::string> logs{"--log-format", "json", "--log-level", "debug",
                                "--access-log"};
  test_cluster c{dir.path(), {"n1", "n2"}, pw, {{"n1", logs}, {"n2", logs}}};
  auto& n1 = c[0];
  auto& n2 = c[1];
  auto a = add_user(n1.endpoint(), c.key(), alice, pw, "n2");
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  auto auth = login(n1.http(), alice, pw);
  auto token = auth.front().second.substr(7);

  // A request id the client chose is kept and sent back.
  auto with_id = auth;
  with_id.emplace_back("X-Request-Id", "trace-me-42");
  auto r = http_request(n1.http(), "POST", "/api/stores/" + alice + "/items/notes.note",
                        json{{"title", "traced"}, {"body", "a secret body"}}.dump(),
                        with_id);
  REQUIRE(r);
  REQUIRE(r->status == 201);
  CHECK(r->header("X-Request-Id") == "trace-me-42");
  // One that is not safe to log is replaced by a fresh one.
  auto bad = auth;
  bad.emplace_back("X-Request-Id", "no spaces \"or quotes\"");
  auto r2 = http_request(n1.http(), "GET", "/api/stores/" + alice + "/items/notes.note",
                         {}, bad);
  REQUIRE(r2);
  CHECK(r2->status == 200);
  CHECK(std::regex_match(r2->header("X-Request-Id"), std::regex{"[0-9a-f]{16}"}));

  // Every line of both nodes is a JSON object with a level; the access
  // line on n1 and the store's line on n2 carry the request id.
  auto lines_of = [](node_process& n) {
    std::vector<json> out;
    std::istringstream in{n.err()};
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      INFO(n.name() << ": " << line);
      CHECK(j.is_object());
      if (j.is_object()) {
        CHECK(j.contains("level"));
        CHECK(j.contains("ts"));
        out.push_back(j);
      }
    }
    return out;
  };
  auto has = [](const std::vector<json>& lines, const std::string& component) {
    for (auto& j : lines)
      if (j.value("component", "") == component
          && j.value("request_id", "") == "trace-me-42")
        return true;
    return false;
  };
  REQUIRE(eventually([&] { return has(lines_of(n2), "store"); }, 10s));
  REQUIRE(eventually([&] { return has(lines_of(n1), "http"); }, 10s));
  // Never the password, the session token or a body.
  for (auto* n : {&n1, &n2}) {
    auto text = n->err();
    CHECK(text.find(pw) == std::string::npos);
    CHECK(text.find(token) == std::string::npos);
    CHECK(text.find("a secret body") == std::string::npos);
  }
}
