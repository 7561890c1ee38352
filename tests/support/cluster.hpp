#pragma once

// Helpers of the tests that run `mantissa start` processes joined into a
// cluster (docs/cluster.md): free ports, polling, one node process, and the
// cluster's CLI commands. Header-only: it uses the including test's
// MANTISSA_BINARY.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <csignal>
#include <filesystem>
#include <functional>
#include <initializer_list>
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

#include <nlohmann/json.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

#ifndef MANTISSA_BINARY
#error "tests/support/cluster.hpp needs MANTISSA_BINARY (tests/CMakeLists.txt)"
#endif

namespace mantissa::test::cluster {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

using clock_type = std::chrono::steady_clock;

/// A port nothing listens on right now (a node restarted on the same data
/// must come back on the same --listen port, so the test picks them).
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Polls `pred` every 100 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout) {
  auto until = clock_type::now() + timeout;
  while (true) {
    if (pred())
      return true;
    if (clock_type::now() > until)
      return false;
    std::this_thread::sleep_for(100ms);
  }
}

/// One node: a data directory, a fixed --listen port, and the process
/// while it runs.
class node_process {
 public:
  node_process(fs::path data, std::string name, std::vector<std::string> extra)
    : data_(std::move(data)),
      name_(std::move(name)),
      listen_(free_port()),
      extra_(std::move(extra)) {}

  void start() {
    std::vector<std::string> argv{MANTISSA_BINARY,
                                  "start",
                                  "--data",
                                  data_.string(),
                                  "--http",
                                  "127.0.0.1:0",
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(listen_),
                                  "--name",
                                  name_,
                                  "--node-down-after",
                                  down_after()};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    std::vector<std::string> env;
    for (auto& [k, v] : env_)
      env.push_back(k + "=" + v);
    proc_ = std::make_unique<child>(argv, env);
    auto line = proc_->wait_for_line("serving http://", 60s);
    INFO("node " << name_ << " stderr: " << proc_->err());
    REQUIRE(line);
    std::smatch m;
    REQUIRE(std::regex_search(*line, m, std::regex{R"(:(\d+)/)"}));
    http_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  /// `--node-down-after` of the test nodes: 2 s, or MANTISSA_TEST_DOWN_AFTER
  /// (a ThreadSanitizer build is slow enough to need more).
  static std::string down_after() {
    const char* v = std::getenv("MANTISSA_TEST_DOWN_AFTER");
    return v != nullptr && *v != '\0' ? std::string{v} : std::string{"2"};
  }

  /// SIGTERM, and waits until the process is gone.
  void stop() {
    REQUIRE(proc_);
    proc_->signal(SIGTERM);
    REQUIRE(proc_->wait(30s));
    proc_.reset();
  }

  /// The process id of the running node.
  [[nodiscard]] pid_t pid() const {
    REQUIRE(proc_);
    return proc_->pid();
  }

  /// kill -9, and waits until the process is gone.
  void kill9() {
    REQUIRE(proc_);
    proc_->signal(SIGKILL);
    REQUIRE(proc_->wait(10s));
    proc_.reset();
  }

  [[nodiscard]] std::uint16_t http() const noexcept { return http_; }
  [[nodiscard]] std::uint16_t listen() const noexcept { return listen_; }
  [[nodiscard]] std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(listen_);
  }
  [[nodiscard]] const fs::path& data() const noexcept { return data_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Sets an environment variable for the next start (failpoints).
  void set_env(std::string name, std::string value) {
    env_[std::move(name)] = std::move(value);
  }
  [[nodiscard]] bool running() const noexcept { return proc_ != nullptr; }
  [[nodiscard]] std::string err() { return proc_ ? proc_->err() : ""; }

 private:
  fs::path data_;
  std::string name_;
  std::uint16_t listen_;
  std::vector<std::string> extra_;
  std::unique_ptr<child> proc_;
  std::map<std::string, std::string> env_;
  std::uint16_t http_ = 0;
};

/// The options of a node that joins the cluster of `seed`, reading the
/// seed's cluster key in place.
inline std::vector<std::string> joining(const node_process& seed) {
  return {"--join", seed.endpoint(), "--cluster-key",
          (seed.data() / "cluster.key").string()};
}

/// `mantissa cluster status` through `endpoint`: node name → "up"/"down".
inline std::map<std::string, std::string>
status(const std::string& endpoint, const fs::path& key,
       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{MANTISSA_BINARY, "cluster",   "status",
                                "--connect",     endpoint, "--key",
                                key.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = run(argv, {}, 30s);
  std::map<std::string, std::string> out;
  if (r.exit_code != 0)
    return out;
  std::istringstream lines{r.out};
  std::string line;
  std::regex row{R"(^(\S+)(?: \(seed\))?\s+\S+:\d+\s+(up|down)\s+\d+)"};
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row))
      out[m[1]] = m[2];
  }
  return out;
}

inline bool all_up(const std::string& endpoint, const fs::path& key,
            std::initializer_list<const char*> names,
            const std::vector<std::string>& extra = {}) {
  auto s = status(endpoint, key, extra);
  for (auto* n : names)
    if (s[n] != "up")
      return false;
  return true;
}

/// `mantissa user add ADDRESS --connect ENDPOINT [--node NODE]`.
inline mantissa::test::run_result add_user(const std::string& endpoint,
                                    const fs::path& key,
                                    const std::string& address,
                                    const std::string& password,
                                    const std::string& node = {}) {
  std::vector<std::string> argv{MANTISSA_BINARY, "user",    "add",
                                address,         "--password-stdin",
                                "--connect",     endpoint, "--key",
                                key.string()};
  if (!node.empty()) {
    argv.push_back("--node");
    argv.push_back(node);
  }
  return run(argv, password + "\n", 60s);
}

/// Logs in over HTTP; returns the bearer header.
inline std::vector<std::pair<std::string, std::string>>
login(std::uint16_t http, const std::string& user, const std::string& pw) {
  auto r = http_request(http, "POST", "/api/login",
                        json{{"username", user}, {"password", pw}}.dump());
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 200);
  auto token = json::parse(r->body).at("token").get<std::string>();
  return {{"Authorization", "Bearer " + token}};
}

} // namespace mantissa::test::cluster

namespace mantissa::test::cluster {

/// The notes of `address` read over HTTP on `http`: title → how many.
/// Empty with `ok` false when a request failed.
inline std::map<std::string, int>
note_titles(std::uint16_t http,
            const std::vector<std::pair<std::string, std::string>>& auth,
            const std::string& address, bool& ok) {
  std::map<std::string, int> out;
  ok = false;
  for (int offset = 0;; offset += 1000) {
    auto r = http_request(http, "GET",
                          "/api/stores/" + address
                            + "/items/notes.note?limit=1000&offset="
                            + std::to_string(offset),
                          {}, auth);
    if (!r || r->status != 200)
      return {};
    auto body = json::parse(r->body);
    auto& items = body.at("items");
    for (auto& it : items)
      ++out[it.value("title", std::string{})];
    if (items.size() < 1000)
      break;
  }
  ok = true;
  return out;
}

/// A seed `n1` with the site made offline (domain example.com, an
/// administrator `root@example.com` with `password`) and nodes that join
/// it, all started and up.
class test_cluster {
 public:
  test_cluster(const fs::path& dir, const std::vector<std::string>& names,
               const std::string& password,
               const std::map<std::string, std::vector<std::string>>& extra = {})
    : dir_(dir) {
    auto extra_of = [&](const std::string& n) {
      auto i = extra.find(n);
      return i == extra.end() ? std::vector<std::string>{} : i->second;
    };
    auto seed_args = extra_of(names.front());
    seed_args.push_back("--no-demo");
    nodes_.push_back(
      std::make_unique<node_process>(dir / names.front(), names.front(), seed_args));
    auto& seed = *nodes_.front();
    auto offline = [&](std::vector<std::string> args, const std::string& in = {}) {
      args.insert(args.begin(), MANTISSA_BINARY);
      args.push_back("--data");
      args.push_back(seed.data().string());
      auto r = run(args, in, 60s);
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
    };
    offline({"init", "--domain", "example.com"});
    offline({"user", "add", "root@example.com", "--password-stdin"},
            password + "\n");
    offline({"user", "admin", "root@example.com"});
    seed.start();
    key_ = seed.data() / "cluster.key";
    REQUIRE(fs::exists(key_));
    for (std::size_t i = 1; i < names.size(); ++i) {
      auto args = extra_of(names[i]);
      args.insert(args.end(), {"--join", seed.endpoint(), "--cluster-key",
                               key_.string()});
      nodes_.push_back(
        std::make_unique<node_process>(dir / names[i], names[i], args));
      nodes_.back()->start();
    }
    wait_all_up();
  }

  void wait_all_up() {
    auto& seed = *nodes_.front();
    REQUIRE(eventually(
      [&] {
        auto s = status(seed.endpoint(), key_);
        for (auto& n : nodes_)
          if (s[n->name()] != "up")
            return false;
        return true;
      },
      30s));
  }

  node_process& operator[](std::size_t i) { return *nodes_.at(i); }
  [[nodiscard]] const fs::path& key() const noexcept { return key_; }

 private:
  fs::path dir_;
  fs::path key_;
  std::vector<std::unique_ptr<node_process>> nodes_;
};

} // namespace mantissa::test::cluster
