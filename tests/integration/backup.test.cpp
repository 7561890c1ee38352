// `mantissa backup` and `mantissa restore` as real processes
// (docs/operations.md): a backup of a running node, taken while it is
// written, restored into a wiped data directory and compared item by item;
// corrupted and incomplete backups refused with nothing changed; one
// account restored alone.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/accounts.hpp"
#include "actors/backup.hpp"
#include "client/client.hpp"
#include "store/store.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::child;
using mantissa::test::run;
using mantissa::test::temp_dir;
using nlohmann::json;
namespace client = mantissa::client;
namespace actors = mantissa::actors;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> users{"alice@example.com", "bob@example.com",
                                     "carol@example.org", "dave@example.org"};
constexpr const char* password = "a long password";

/// `mantissa init` and the accounts of `users`, offline.
void make_site(const fs::path& data) {
  auto init = run({MANTISSA_BINARY, "init", "--data", data.string(),
                   "--domain", "example.com"});
  INFO(init.err);
  REQUIRE(init.exit_code == 0);
  for (auto& u : users) {
    auto add = run({MANTISSA_BINARY, "user", "add", u, "--password-stdin",
                    "--data", data.string()},
                   std::string{password} + "\n");
    INFO(add.err);
    REQUIRE(add.exit_code == 0);
  }
}

/// A `mantissa start` process on `data`, listening for actors.
class node_process {
 public:
  explicit node_process(const fs::path& data)
    : data_(data),
      proc_({MANTISSA_BINARY, "start", "--data", data.string(), "--http",
             "127.0.0.1:0", "--listen", "127.0.0.1:0", "--no-demo"}) {
    auto line = proc_.wait_for_line("listening for actors on", 30s);
    INFO("node stderr: " << proc_.err());
    REQUIRE(line);
    std::smatch m;
    REQUIRE(std::regex_search(*line, m, std::regex{R"(:(\d+)\s*$)"}));
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    REQUIRE(proc_.wait_for_line("serving http://", 30s));
  }
  ~node_process() { stop(); }

  void stop() {
    if (stopped_)
      return;
    stopped_ = true;
    proc_.signal(SIGTERM);
    auto code = proc_.wait(30s);
    INFO("node stderr: " << proc_.err());
    CHECK(code == 0);
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string key() const {
    std::ifstream in{data_ / "node.key"};
    std::string k;
    std::getline(in, k);
    return k;
  }

 private:
  fs::path data_;
  child proc_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

struct client_config : caf::actor_system_config {
  client_config() {
    client::configure(*this);
    set("logger.console", caf::atom("none"));
  }
};

/// Every note of a store, by id, as the node returns them.
std::map<std::int64_t, json> notes_of(client::session& s,
                                      const std::string& address) {
  auto r = s.query(address, json{{"type", "notes.note"}, {"limit", 100000}});
  INFO(address << ": "
               << (r ? std::string{} : actors::error_message(r.error())));
  REQUIRE(r);
  std::map<std::int64_t, json> out;
  for (auto& it : (*r)["items"])
    out[it["id"].get<std::int64_t>()] = it;
  return out;
}

/// SHA-256 of every file below `dir` (relative path -> digest).
std::map<std::string, std::string> tree_digest(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file())
      continue;
    auto d = actors::sha256_file(e.path());
    REQUIRE(d);
    out[fs::relative(e.path(), dir).generic_string()] = *d;
  }
  return out;
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream f{file, std::ios::in | std::ios::out | std::ios::binary};
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

} // namespace

TEST_CASE("backup of a running node restores into a wiped data directory "
          "item by item",
          "[integration][backup]") {
  temp_dir dir;
  auto data = dir / "data";
  auto backup = dir / "backup";
  make_site(data);
  // The notes written before the backup, per store (dave's store is never
  // written: it stays passivated and must be backed up all the same).
  std::map<std::string, std::map<std::int64_t, json>> written;
  std::map<std::int64_t, json> during;  // alice's, written while backing up
  std::string backup_err;
  {
    node_process node{data};
    client_config cfg;
    caf::actor_system sys{cfg};
    auto gw = client::connect(sys, "127.0.0.1", node.port());
    REQUIRE(gw);
    {
      auto s = client::session::login(sys, *gw, "system", node.key());
      REQUIRE(s);
      for (std::size_t u = 0; u < 3; ++u)
        for (int i = 0; i < 40; ++i) {
          auto it = s->put(users[u], "notes.note",
                           {{"title", users[u] + " note " + std::to_string(i)},
                            {"body", std::string(200 + 37 * i, 'a' + i % 26)}});
          REQUIRE(it);
          written[users[u]][(*it)["id"].get<std::int64_t>()] = *it;
        }
      auto setting = s->put("site", "mantissa.setting",
                            {{"key", "backup.test"}, {"value", "kept"}});
      REQUIRE(setting);

      // A writer keeps alice's store busy while the backup runs.
      std::atomic<bool> stop{false};
      std::atomic<bool> writer_done{false};
      std::atomic<int> answered{0};
      std::thread writer{[&] {
        auto ws = client::session::login(sys, *gw, "system", node.key());
        for (int i = 0; ws && !stop.load() && i < 100000; ++i) {
          auto it = ws->put(users[0], "notes.note",
                            {{"title", "during " + std::to_string(i)}});
          if (it)
            during[(*it)["id"].get<std::int64_t>()] = *it;
          ++answered;
        }
        writer_done = true;  // (no Catch2 assertions off the test's thread)
      }};
      // The writer is under way (a few writes answered) before the backup.
      for (int i = 0; i < 3000 && answered.load() < 4 && !writer_done; ++i)
        std::this_thread::sleep_for(10ms);
      auto b = run({MANTISSA_BINARY, "backup", "--to", backup.string(),
                    "--data", data.string()},
                   {}, 120s);
      stop = true;
      writer.join();
      INFO("backup stdout: " << b.out << "\nstderr: " << b.err);
      REQUIRE(b.exit_code == 0);
      CHECK(b.err.find("through the node running on") != std::string::npos);
      backup_err = b.err;
    }
    node.stop();
  }
  // The manifest: one entry per store, each file where it says, verified.
  auto m = actors::read_manifest(backup);
  REQUIRE(m);
  CHECK(m->format == actors::backup_format_version);
  // site, the four users, the app stores `init` made
  REQUIRE(m->stores.size() >= 5);
  auto n = std::to_string(m->stores.size());
  CHECK(backup_err.find(n + "/" + n + " stores") != std::string::npos);
  CHECK(m->stores[0].address == "site");
  for (auto& u : users) {
    INFO(u);
    CHECK(std::count_if(m->stores.begin(), m->stores.end(),
                        [&](auto& e) { return e.address == u; })
          == 1);
  }
  CHECK(actors::verify_backup(backup, *m));
  CHECK(!during.empty());

  // Wipe the data directory, restore, start again.
  fs::remove_all(data);
  auto r = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                "--data", data.string()});
  INFO("restore stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("restored " + n + " stores") != std::string::npos);

  node_process node{data};
  client_config cfg;
  caf::actor_system sys{cfg};
  auto gw = client::connect(sys, "127.0.0.1", node.port());
  REQUIRE(gw);
  auto s = client::session::login(sys, *gw, "system", node.key());
  REQUIRE(s);
  for (std::size_t u = 1; u < 3; ++u) {
    auto now = notes_of(*s, users[u]);
    CHECK(now.size() == written[users[u]].size());
    for (auto& [id, item] : written[users[u]]) {
      INFO(users[u] << " note #" << id);
      REQUIRE(now.count(id) == 1);
      CHECK(now[id] == item);
    }
  }
  // Alice: everything acknowledged before the backup, and a prefix of what
  // was written during it (ids grow with time), each item as written.
  auto alice = notes_of(*s, users[0]);
  for (auto& [id, item] : written[users[0]]) {
    INFO("alice note #" << id);
    REQUIRE(alice.count(id) == 1);
    CHECK(alice[id] == item);
  }
  std::int64_t last_seen = 0;
  for (auto& [id, item] : alice) {
    if (written[users[0]].count(id) != 0)
      continue;
    INFO("alice note #" << id << " written during the backup");
    REQUIRE(during.count(id) == 1);
    CHECK(during[id] == item);
    last_seen = std::max(last_seen, id);
  }
  for (auto& [id, item] : during)
    if (id < last_seen)
      CHECK(alice.count(id) == 1);
  CHECK(notes_of(*s, users[3]).empty());
  auto setting = s->query("site", json{{"type", "mantissa.setting"},
                                       {"where", {{"attr", "key"}, {"op", "="}, {"value", "backup.test"}}}});
  REQUIRE(setting);
  CHECK((*setting)["total"] == 1);
  // The accounts came back with the site store: alice logs in.
  auto login = client::session::login(sys, *gw, users[0], password);
  CHECK(login);
}

TEST_CASE("a corrupted or incomplete backup is refused and nothing changes",
          "[integration][backup]") {
  temp_dir dir;
  auto data = dir / "data";
  auto backup = dir / "backup";
  make_site(data);
  // Offline: no node runs, the command copies the files itself.
  auto b = run({MANTISSA_BINARY, "backup", "--to", backup.string(), "--data",
                data.string()});
  INFO(b.err);
  REQUIRE(b.exit_code == 0);
  CHECK(b.err.find("offline") != std::string::npos);
  // A second backup into the same directory is refused.
  auto again = run({MANTISSA_BINARY, "backup", "--to", backup.string(),
                    "--data", data.string()});
  CHECK(again.exit_code != 0);
  CHECK(again.err.find("already holds a backup") != std::string::npos);

  auto before = tree_digest(data);
  auto bob = backup / "users/example.com/bob.sqlite";
  flip_byte(bob, 5000);
  auto r = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                "--data", data.string()});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("bob.sqlite") != std::string::npos);
  CHECK(r.err.find("nothing was changed") != std::string::npos);
  CHECK(tree_digest(data) == before);
  // The same for one account, and into a new directory (not created).
  auto one = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                  "--data", data.string(), "--account", "alice@example.com"});
  CHECK(one.exit_code != 0);
  CHECK(tree_digest(data) == before);
  auto fresh = dir / "fresh";
  auto into_new = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                       "--data", fresh.string()});
  CHECK(into_new.exit_code != 0);
  CHECK(!fs::exists(fresh));
  flip_byte(bob, 5000);  // repaired

  // No manifest: not a complete backup.
  fs::rename(backup / "manifest.json", dir / "manifest.json");
  auto none = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                   "--data", data.string()});
  CHECK(none.exit_code != 0);
  CHECK(none.err.find("not a complete backup") != std::string::npos);
  // A manifest that is not JSON, or names a path outside the backup.
  {
    std::ofstream out{backup / "manifest.json"};
    out << "{\"format\": 1, \"stores\": [";
  }
  auto bad = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                  "--data", data.string()});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("not valid JSON") != std::string::npos);
  {
    std::ofstream out{backup / "manifest.json"};
    out << R"({"format":1,"stores":[{"address":"site","path":"../site.sqlite",)"
        << R"("bytes":1,"sha256":")" << std::string(64, '0') << "\"}]}";
  }
  auto escape = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                     "--data", data.string()});
  CHECK(escape.exit_code != 0);
  CHECK(escape.err.find("is not site.sqlite") != std::string::npos);
  fs::rename(dir / "manifest.json", backup / "manifest.json");
  // A missing backup directory, an unknown account.
  auto missing = run({MANTISSA_BINARY, "restore", "--from",
                      (dir / "nowhere").string(), "--data", data.string()});
  CHECK(missing.exit_code != 0);
  CHECK(missing.err.find("not a directory") != std::string::npos);
  auto unknown = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                      "--data", data.string(), "--account",
                      "zed@example.com"});
  CHECK(unknown.exit_code != 0);
  CHECK(unknown.err.find("holds no store for zed@example.com")
        != std::string::npos);
  auto nonsense = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                       "--data", data.string(), "--account", "../etc"});
  CHECK(nonsense.exit_code != 0);
  CHECK(tree_digest(data) == before);

  // While a node runs on the data directory, restore is refused.
  {
    node_process node{data};
    auto busy = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                     "--data", data.string()});
    CHECK(busy.exit_code != 0);
    CHECK(busy.err.find("stop the node first") != std::string::npos);
  }
  // Backups need a site; a node without --listen cannot be backed up
  // through.
  auto nosite = run({MANTISSA_BINARY, "backup", "--to",
                     (dir / "b2").string(), "--data",
                     (dir / "empty").string()});
  CHECK(nosite.exit_code != 0);
  CHECK(nosite.err.find("no site at") != std::string::npos);
}

TEST_CASE("restore --account restores one account's store only",
          "[integration][backup]") {
  temp_dir dir;
  auto data = dir / "data";
  auto backup = dir / "backup";
  make_site(data);
  std::map<std::int64_t, json> alice_then;
  std::size_t bob_later = 0;
  {
    node_process node{data};
    client_config cfg;
    caf::actor_system sys{cfg};
    auto gw = client::connect(sys, "127.0.0.1", node.port());
    REQUIRE(gw);
    auto s = client::session::login(sys, *gw, "system", node.key());
    REQUIRE(s);
    for (int i = 0; i < 10; ++i) {
      REQUIRE(s->put(users[0], "notes.note",
                     {{"title", "alice " + std::to_string(i)}}));
      REQUIRE(s->put(users[1], "notes.note",
                     {{"title", "bob " + std::to_string(i)}}));
    }
    alice_then = notes_of(*s, users[0]);
    auto b = run({MANTISSA_BINARY, "backup", "--to", backup.string(),
                  "--data", data.string()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    // After the backup both change.
    for (int i = 0; i < 5; ++i) {
      REQUIRE(s->put(users[0], "notes.note", {{"title", "lost " + std::to_string(i)}}));
      REQUIRE(s->put(users[1], "notes.note", {{"title", "kept " + std::to_string(i)}}));
    }
    bob_later = notes_of(*s, users[1]).size();
  }
  // Alice's password changes after the backup: restoring her store makes
  // the site's record match the copy in the store again.
  auto pw = run({MANTISSA_BINARY, "user", "passwd", users[0],
                 "--password-stdin", "--data", data.string()},
                "another long password\n");
  INFO(pw.err);
  REQUIRE(pw.exit_code == 0);

  auto r = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                "--data", data.string(), "--account", users[0]});
  INFO("restore: " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("restored the store of alice@example.com") != std::string::npos);
  CHECK(r.out.find("moved 1 ") != std::string::npos);
  {
    // Site record and the store's copy agree (offline check).
    mantissa::store::type_registry reg;
    REQUIRE(actors::register_account_types(reg));
    auto site = mantissa::store::store::open(data / "site.sqlite", reg);
    REQUIRE(site);
    auto addr = actors::parse_address(users[0]);
    REQUIRE(addr);
    auto rec = actors::find_account(**site, *addr);
    REQUIRE(rec);
    auto user = mantissa::store::store::open(
      data / "users/example.com/alice.sqlite", reg);
    REQUIRE(user);
    auto copy = actors::read_account_copy(**user);
    REQUIRE(copy);
    CHECK(*rec == *copy);
    CHECK(actors::verify_password(rec->password_hash, password));
  }
  node_process node{data};
  client_config cfg;
  caf::actor_system sys{cfg};
  auto gw = client::connect(sys, "127.0.0.1", node.port());
  REQUIRE(gw);
  auto s = client::session::login(sys, *gw, "system", node.key());
  REQUIRE(s);
  CHECK(notes_of(*s, users[0]) == alice_then);
  CHECK(notes_of(*s, users[1]).size() == bob_later);
  // The password of the backup logs in again.
  CHECK(client::session::login(sys, *gw, users[0], password));
}

// -- streamed, cluster-wide and scheduled backups ------------------------------

namespace {

/// Files of `data`'s temporary snapshot place (the node streams from it).
std::size_t stream_leftovers(const fs::path& data) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator i{data / "backup-tmp", ec}, end; !ec && i != end;
       i.increment(ec))
    ++n;
  return n;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred())
      return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

/// `.part` files below `dir` (a streamed file not finished).
std::size_t part_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".part")
      ++n;
  return n;
}

} // namespace

TEST_CASE("a streamed backup (--connect) restores into a fresh data "
          "directory item by item",
          "[integration][backup][stream]") {
  temp_dir dir;
  auto data = dir / "data";
  auto backup = dir / "backup";
  make_site(data);
  std::map<std::string, std::map<std::int64_t, json>> written;
  {
    node_process node{data};
    client_config cfg;
    caf::actor_system sys{cfg};
    auto gw = client::connect(sys, "127.0.0.1", node.port());
    REQUIRE(gw);
    auto s = client::session::login(sys, *gw, "system", node.key());
    REQUIRE(s);
    // Alice's store spans several chunks (1 MiB each).
    for (std::size_t u = 0; u < 3; ++u)
      for (int i = 0; i < (u == 0 ? 120 : 20); ++i) {
        auto it = s->put(users[u], "notes.note",
                         {{"title", users[u] + " " + std::to_string(i)},
                          {"body", std::string(u == 0 ? 30000 : 500,
                                               static_cast<char>('a' + i % 26))}});
        REQUIRE(it);
        written[users[u]][(*it)["id"].get<std::int64_t>()] = *it;
      }
    // As from another machine: only the node's port and key.
    auto key = dir / "copied.key";
    fs::copy_file(data / "node.key", key);
    auto b = run({MANTISSA_BINARY, "backup", "--to", backup.string(),
                  "--connect", "127.0.0.1:" + std::to_string(node.port()),
                  "--key", key.string()},
                 {}, 120s);
    INFO("backup stdout: " << b.out << "\nstderr: " << b.err);
    REQUIRE(b.exit_code == 0);
    CHECK(b.err.find("streamed from the node at") != std::string::npos);
    CHECK(part_files(backup) == 0);
    // The node's snapshots are gone once the command ends.
    CHECK(wait_until([&] { return stream_leftovers(data) == 0; }, 10s));
  }
  auto m = actors::read_manifest(backup);
  REQUIRE(m);
  REQUIRE(m->stores.size() >= 5);
  CHECK(m->stores[0].address == "site");
  CHECK(actors::verify_backup(backup, *m));
  bool big = false;
  for (auto& e : m->stores)
    big = big || e.bytes > 3 * (1u << 20);
  CHECK(big);

  auto fresh = dir / "fresh";
  auto r = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                "--data", fresh.string()});
  INFO("restore: " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  node_process node{fresh};
  client_config cfg;
  caf::actor_system sys{cfg};
  auto gw = client::connect(sys, "127.0.0.1", node.port());
  REQUIRE(gw);
  auto s = client::session::login(sys, *gw, "system", node.key());
  REQUIRE(s);
  for (std::size_t u = 0; u < 3; ++u) {
    auto now = notes_of(*s, users[u]);
    CHECK(now.size() == written[users[u]].size());
    for (auto& [id, item] : written[users[u]]) {
      INFO(users[u] << " note #" << id);
      REQUIRE(now.count(id) == 1);
      CHECK(now[id] == item);
    }
  }
  CHECK(client::session::login(sys, *gw, users[1], password));
}

TEST_CASE("a streamed file damaged on the way is refused",
          "[integration][backup][stream]") {
  temp_dir dir;
  auto data = dir / "data";
  auto backup = dir / "backup";
  make_site(data);
  child proc{{MANTISSA_BINARY, "start", "--data", data.string(), "--http",
              "127.0.0.1:0", "--listen", "127.0.0.1:0", "--no-demo"},
             {"MANTISSA_FAILPOINTS=backup.corrupt_chunk"}};
  auto line = proc.wait_for_line("listening for actors on", 30s);
  REQUIRE(line);
  std::smatch sm;
  REQUIRE(std::regex_search(*line, sm, std::regex{R"(:(\d+)\s*$)"}));
  REQUIRE(proc.wait_for_line("serving http://", 30s));
  auto b = run({MANTISSA_BINARY, "backup", "--to", backup.string(),
                "--connect", "127.0.0.1:" + std::string{sm[1]}, "--key",
                (data / "node.key").string(), "--parallel", "1"},
               {}, 120s);
  INFO("backup stdout: " << b.out << "\nstderr: " << b.err);
  CHECK(b.exit_code != 0);
  CHECK(b.err.find("is damaged") != std::string::npos);
  CHECK(b.err.find("incomplete (no manifest)") != std::string::npos);
  CHECK(!fs::exists(backup / "manifest.json"));
  CHECK(part_files(backup) == 0);
  // Nothing restorable, and the node keeps no snapshot.
  auto r = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                "--data", (dir / "fresh").string()});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("not a complete backup") != std::string::npos);
  CHECK(wait_until([&] { return stream_leftovers(data) == 0; }, 10s));
  proc.signal(SIGTERM);
  CHECK(proc.wait(30s) == 0);
}

TEST_CASE("a cluster backup of three nodes restores one node's part",
          "[integration][backup][cluster]") {
  namespace cl = mantissa::test::cluster;
  temp_dir dir;
  const std::string pw = "correct horse battery";
  cl::test_cluster c{dir.path(), {"n1", "n2", "n3"}, pw};
  auto& n1 = c[0];
  auto& n2 = c[1];
  const std::map<std::string, std::string> homes{
    {"alice@example.com", "n1"}, {"bob@example.com", "n2"},
    {"carol@example.com", "n3"}, {"erin@example.com", "n2"}};
  std::map<std::string, int> count{{"alice@example.com", 5},
                                   {"bob@example.com", 12},
                                   {"carol@example.com", 3},
                                   {"erin@example.com", 7}};
  for (auto& [user, node] : homes) {
    auto a = cl::add_user(n1.endpoint(), c.key(), user, pw, node);
    INFO(a.err);
    REQUIRE(a.exit_code == 0);
    auto auth = cl::login(n1.http(), user, pw);
    for (int i = 0; i < count[user]; ++i) {
      auto r = mantissa::test::http_request(
        n1.http(), "POST", "/api/stores/" + user + "/items/notes.note",
        json{{"title", user + " " + std::to_string(i)}}.dump(), auth);
      REQUIRE(r);
      REQUIRE(r->status == 201);
    }
  }
  auto backup = dir / "backup";
  auto b = run({MANTISSA_BINARY, "backup", "--cluster", "--connect",
                n1.endpoint(), "--key", c.key().string(), "--to",
                backup.string()},
               {}, 120s);
  INFO("backup stdout: " << b.out << "\nstderr: " << b.err);
  REQUIRE(b.exit_code == 0);
  CHECK(b.out.find("of 3 nodes") != std::string::npos);
  auto top = actors::read_cluster_manifest(backup);
  REQUIRE(top);
  REQUIRE(*top);
  CHECK((*top)->seed == "n1");
  REQUIRE((*top)->nodes.size() == 3);
  for (auto& part : (*top)->nodes) {
    INFO(part.name);
    auto m = actors::read_manifest(backup / part.name);
    REQUIRE(m);
    CHECK(m->node == part.name);
    CHECK(m->stores.size() == part.stores);
    CHECK(actors::verify_backup(backup / part.name, *m));
    for (auto& [user, node] : homes) {
      auto held = std::count_if(m->stores.begin(), m->stores.end(),
                                [&](auto& e) { return e.address == user; });
      CHECK(held == (node == part.name ? 1 : 0));
    }
  }
  // A cluster backup needs --node; an unknown node is named.
  auto fresh = dir / "fresh";
  auto whole = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                    "--data", fresh.string()});
  CHECK(whole.exit_code != 0);
  CHECK(whole.err.find("restore one node's part with --node") != std::string::npos);
  auto nope = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                   "--node", "n9", "--data", fresh.string()});
  CHECK(nope.exit_code != 0);
  CHECK(nope.err.find("has no node n9 (it has n1, n2, n3)") != std::string::npos);
  CHECK(!fs::exists(fresh));

  // n2 is lost; its part comes back into a fresh data directory.
  n2.kill9();
  auto r = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                "--node", "n2", "--data", fresh.string()});
  INFO("restore: " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  node_process node{fresh};
  client_config cfg;
  caf::actor_system sys{cfg};
  auto gw = client::connect(sys, "127.0.0.1", node.port());
  REQUIRE(gw);
  auto s = client::session::login(sys, *gw, "system", node.key());
  REQUIRE(s);
  for (auto* user : {"bob@example.com", "erin@example.com"}) {
    auto notes = notes_of(*s, user);
    CHECK(notes.size() == static_cast<std::size_t>(count[user]));
    std::set<std::string> titles;
    for (auto& [id, it] : notes)
      titles.insert(it.value("title", std::string{}));
    for (int i = 0; i < count[user]; ++i)
      CHECK(titles.count(std::string{user} + " " + std::to_string(i)) == 1);
  }
  CHECK(!fs::exists(fresh / "users/example.com/alice.sqlite"));
  // One account of a node's part.
  node.stop();
  auto one = run({MANTISSA_BINARY, "restore", "--from", backup.string(),
                  "--node", "n2", "--data", fresh.string(), "--account",
                  "bob@example.com"});
  INFO("restore --account: " << one.out << one.err);
  CHECK(one.exit_code == 0);
}

TEST_CASE("scheduled backups appear on time and rotate",
          "[integration][backup][schedule]") {
  temp_dir dir;
  auto data = dir / "data";
  auto backups = dir / "backups";
  make_site(data);
  auto set = [&](const std::string& k, const std::string& v) {
    auto r = run({MANTISSA_BINARY, "config", "set", k, v, "--data",
                  data.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  };
  // A bad interval stops the node from starting, with the setting named.
  set("backup.schedule", "often");
  auto bad = run({MANTISSA_BINARY, "start", "--data", data.string(), "--http",
                  "127.0.0.1:0", "--no-demo"},
                 {}, 30s);
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("backup.schedule") != std::string::npos);
  set("backup.schedule", "2s");
  set("backup.dir", backups.string());
  set("backup.keep", "2");
  child proc{{MANTISSA_BINARY, "start", "--data", data.string(), "--http",
              "127.0.0.1:0", "--listen", "127.0.0.1:0", "--no-demo"}};
  auto served = proc.wait_for_line("serving http://", 30s);
  REQUIRE(served);
  std::smatch sm;
  REQUIRE(std::regex_search(*served, sm, std::regex{R"(:(\d+)/)"}));
  auto http = static_cast<std::uint16_t>(std::stoi(sm[1]));
  // Four runs: the first at once, then every 2 s.
  auto runs = [&] {
    auto err = proc.err();
    std::size_t n = 0;
    for (const char* line : {"backup: scheduled backup done",
                             "backup: scheduled backup failed"})
      for (auto at = err.find(line); at != std::string::npos;
           at = err.find(line, at + 1))
        ++n;
    return n;
  };
  CHECK(wait_until([&] { return runs() >= 4; }, 40s));
  INFO("node stderr: " << proc.err());
  std::vector<fs::path> complete;
  for (auto& e : fs::directory_iterator(backups))
    if (e.is_directory() && fs::exists(e.path() / "manifest.json"))
      complete.push_back(e.path());
  CHECK(complete.size() == 2);
  auto last = json::parse(std::ifstream{backups / "last-run.json"}, nullptr,
                          false);
  REQUIRE(last.is_object());
  CHECK(last.value("ok", false));
  CHECK(proc.err().find("removed=1 kept=2") != std::string::npos);
  auto metrics = mantissa::test::http_request(http, "GET", "/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("mantissa_backup_last_run_ok 1") != std::string::npos);
  CHECK(metrics->body.find("mantissa_backup_runs_total{result=\"ok\"}")
        != std::string::npos);
  proc.signal(SIGTERM);
  CHECK(proc.wait(30s) == 0);
  // The newest backup restores.
  std::sort(complete.begin(), complete.end());
  auto r = run({MANTISSA_BINARY, "restore", "--from", complete.back().string(),
                "--data", (dir / "fresh").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
}
