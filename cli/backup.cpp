// `mantissa backup` and `mantissa restore` (docs/operations.md, "Backup and
// restore").
//
// backup: with a node running on the data directory (its lock is held),
// every snapshot is taken by the store's own actor, asked through the
// node's network port as the system role; with none running, this process
// takes the data directory's lock and copies each store file itself with
// the same online backup code (nothing else can open the files meanwhile).
// Either way the manifest is written last.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "actors/backup.hpp"
#include "actors/data_dir.hpp"
#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "cli/cluster.hpp"
#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "cli/progress.hpp"
#include "client/client.hpp"

namespace mantissa::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// How one store's backup came out.
struct outcome {
  bool ok = false;
  actors::backup_entry entry;
  std::string error;
};

/// Where the snapshots come from: a running node, or the files themselves.
class source {
 public:
  virtual ~source() = default;
  /// The node's name and its stores, or false with `err`.
  virtual bool stores(std::string& node, std::vector<std::string>& out,
                      std::string& err) = 0;
  /// Backs up one store into `dest` (absolute, below `dir`). Called from
  /// several threads at once.
  virtual outcome backup(const std::string& address, const fs::path& dest,
                         const fs::path& dir) = 0;
};

// -- offline: this process holds the data directory --------------------------

class offline_source : public source {
 public:
  offline_source(fs::path data, std::unique_ptr<actors::data_dir_lock> lock)
    : data_(std::move(data)), lock_(std::move(lock)) {}

  bool stores(std::string& node, std::vector<std::string>& out,
              std::string& err) override {
    char host[256] = {};
    node = ::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0'
             ? host
             : "node";
    auto files = actors::list_store_files(data_);
    if (!files) {
      err = files.error_value().message;
      return false;
    }
    for (auto& f : *files) {
      out.push_back(f.address);
      files_[f.address] = f;
    }
    return true;
  }

  outcome backup(const std::string& address, const fs::path& dest,
                 const fs::path& dir) override {
    auto r = actors::snapshot_store_file(files_.at(address), dest, dir);
    if (!r)
      return {false, {}, r.error_value().message};
    return {true, std::move(*r), {}};
  }

 private:
  fs::path data_;
  std::unique_ptr<actors::data_dir_lock> lock_;
  std::unordered_map<std::string, actors::store_file> files_;  // read-only
};

// -- online: through the node's network port ---------------------------------

/// Sends the backup requests of the worker threads to the node's session
/// and fails them all at once when the node goes away (a request to a dead
/// node would otherwise wait for its whole timeout).
struct relay_state {
  static inline const char* name = "mantissa.backup.relay";
  caf::actor session;
  std::uint64_t next = 0;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<std::string>>
    pending;
};

caf::behavior relay(caf::stateful_actor<relay_state>* self,
                    const caf::actor& session) {
  self->state.session = session;
  self->monitor(session);
  self->set_down_handler([self](caf::down_msg&) {
    for (auto& [id, rp] : self->state.pending)
      rp.deliver(actors::make_error(actors::error_code::store_unavailable,
                                    "the node went away"));
    self->state.pending.clear();
    self->quit();
  });
  return {
    [self](actors::backup_atom atm, std::string& address,
           std::string& dest) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      auto id = self->state.next++;
      self->state.pending.emplace(id, rp);
      self
        ->request(self->state.session,
                  std::chrono::seconds(3660), atm,
                  std::move(address), std::move(dest))
        .then(
          [self, id](std::string& body) {
            auto i = self->state.pending.find(id);
            if (i == self->state.pending.end())
              return;
            i->second.deliver(std::move(body));
            self->state.pending.erase(i);
          },
          [self, id](caf::error& err) {
            auto i = self->state.pending.find(id);
            if (i == self->state.pending.end())
              return;
            i->second.deliver(std::move(err));
            self->state.pending.erase(i);
          });
      return rp;
    },
  };
}

class online_source : public source {
 public:
  online_source() = default;
  ~online_source() override {
    if (relay_)
      caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
  }

  bool connect(const std::string& endpoint, const std::string& key_file,
               const actors::network_tls& tls, std::string& err) {
    // The session lives as long as `login_`: until the source is destroyed.
    if (!login_.open(endpoint, key_file, tls, err))
      return false;
    relay_ = login_.system().spawn(relay, login_.session());
    return true;
  }

  bool stores(std::string& node, std::vector<std::string>& out,
              std::string& err) override {
    caf::scoped_actor self{login_.system()};
    bool ok = false;
    self
      ->request(login_.session(), std::chrono::seconds(60),
                actors::stores_atom::value)
      .receive(
        [&](std::string& body) {
          auto j = json::parse(body, nullptr, false);
          if (!j.is_object() || !j.contains("stores")
              || !j["stores"].is_array()) {
            err = "malformed answer from the node";
            return;
          }
          node = j.value("node", std::string{});
          for (auto& a : j["stores"])
            if (a.is_string())
              out.push_back(a.get<std::string>());
          ok = true;
        },
        [&](caf::error& e) { err = actors::error_message(e); });
    return ok;
  }

  outcome backup(const std::string& address, const fs::path& dest,
                 const fs::path& dir) override {
    caf::scoped_actor self{login_.system()};
    outcome out;
    self
      ->request(relay_, caf::infinite, actors::backup_atom::value, address,
                dest.string())
      .receive(
        [&](std::string& body) {
          auto j = json::parse(body, nullptr, false);
          if (!j.is_object() || !j.contains("sha256")) {
            out.error = "malformed answer from the node";
            return;
          }
          std::error_code ec;
          out.entry.address = address;
          out.entry.path = fs::relative(dest, dir, ec).generic_string();
          out.entry.bytes = j.value("bytes", std::uint64_t{0});
          out.entry.sha256 = j.value("sha256", std::string{});
          out.ok = true;
        },
        [&](caf::error& e) { out.error = actors::error_message(e); });
    return out;
  }

 private:
  system_login login_;
  caf::actor relay_;
};

// -- progress on stderr --------------------------------------------------------

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

// -- the commands --------------------------------------------------------------

struct backup_args : common_args {
  std::string to;
  std::string connect;
  std::string key_file;
  unsigned parallel = 4;
  actors::network_tls tls;
};

int run_backup(const backup_args& a) {
  if (a.parallel < 1 || a.parallel > 64)
    return fail("backup: --parallel must be between 1 and 64");
  std::error_code ec;
  auto dir = fs::absolute(a.to, ec);
  if (ec)
    return fail("backup: --to " + a.to + ": " + ec.message());
  dir = dir.lexically_normal();
  if (fs::exists(dir / actors::manifest_name, ec))
    return fail("backup: " + dir.string()
                + " already holds a backup (manifest.json); choose a new "
                  "directory");
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    return fail("backup: " + dir.string() + " is not a directory");

  std::unique_ptr<source> src;
  std::string err;
  std::string how;
  if (!a.connect.empty()) {
    auto online = std::make_unique<online_source>();
    auto key = a.key_file.empty() ? default_key_file(a.data) : a.key_file;
    if (!online->connect(a.connect, key, a.tls, err))
      return fail("backup: " + err);
    src = std::move(online);
    how = "through the node at " + a.connect;
  } else {
    auto data = data_dir_of(a.data);
    if (!fs::exists(actors::site_path(data), ec))
      return fail("backup: no site at " + data.string()
                  + " (no site.sqlite); nothing to back up");
    auto lock = actors::data_dir_lock::acquire(data, "mantissa backup");
    if (lock) {
      src = std::make_unique<offline_source>(data, std::move(*lock));
      how = "offline (no node runs on " + data.string() + ")";
    } else {
      // A node runs there: go through it, where its endpoint file says.
      std::ifstream in{actors::endpoint_file(data)};
      std::string endpoint;
      std::getline(in, endpoint);
      if (endpoint.empty())
        return fail("backup: " + lock.error_value().message
                    + ", without a network port: start the node with "
                      "--listen HOST:PORT, or stop it for an offline backup");
      auto online = std::make_unique<online_source>();
      auto key = a.key_file.empty() ? (data / "node.key").string()
                                    : a.key_file;
      if (!online->connect(endpoint, key, a.tls, err))
        return fail("backup: " + err);
      src = std::move(online);
      how = "through the node running on " + data.string() + " (" + endpoint
            + ")";
    }
  }
  actors::backup_manifest m;
  std::vector<std::string> addresses;
  if (!src->stores(m.node, addresses, err))
    return fail("backup: cannot list the stores: " + err);
  fs::create_directories(dir, ec);
  if (ec)
    return fail("backup: cannot create " + dir.string() + ": " + ec.message());
  std::cerr << "mantissa backup: " << addresses.size() << " stores of node "
            << m.node << ' ' << how << " into " << dir.string() << '\n';

  std::vector<outcome> results(addresses.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  progress_meter shown{"mantissa backup", "stores"};
  std::atomic<std::size_t> stores_done{0};
  std::atomic<std::uint64_t> bytes_done{0};
  auto work = [&] {
    for (;;) {
      auto i = next++;
      if (i >= addresses.size() || failed.load())
        return;
      auto rel = actors::relative_store_path(addresses[i]);
      if (!rel) {
        results[i].error = rel.error_value().message;
        failed = true;
        return;
      }
      results[i] = src->backup(addresses[i], dir / *rel, dir);
      if (!results[i].ok) {
        failed = true;
        return;
      }
      auto bytes = bytes_done += results[i].entry.bytes;
      shown.update(++stores_done, addresses.size(), bytes);
    }
  };
  std::vector<std::thread> workers;
  auto n = std::min<std::size_t>(a.parallel, std::max<std::size_t>(
                                                1, addresses.size()));
  for (std::size_t i = 0; i < n; ++i)
    workers.emplace_back(work);
  for (auto& t : workers)
    t.join();
  shown.finish();
  for (std::size_t i = 0; i < results.size(); ++i)
    if (!results[i].ok && !results[i].error.empty())
      return fail("backup: store " + addresses[i] + ": " + results[i].error
                  + "; the backup in " + dir.string()
                  + " is incomplete (no manifest)");
  for (auto& r : results)
    m.stores.push_back(std::move(r.entry));
  m.time = actors::utc_now_iso8601();
  if (auto w = actors::write_manifest(dir, m); !w)
    return fail("backup: " + w.error_value().message);
  std::cout << "backed up " << m.stores.size() << " stores ("
            << mib(static_cast<double>(bytes_done.load())) << ") of node "
            << m.node << " into " << dir.string() << '\n';
  return 0;
}

struct restore_args : common_args {
  std::string from;
  std::string account;
};

int run_restore(const restore_args& a) {
  actors::restore_options opts;
  opts.account = a.account;
  opts.progress = [](const std::string& line) {
    std::cerr << "mantissa restore: " << line << '\n';
  };
  auto data = data_dir_of(a.data);
  auto r = actors::restore_backup(a.from, data, opts);
  if (!r)
    return fail("restore: " + r.error_value().message);
  if (a.account.empty())
    std::cout << "restored " << r->restored.size() << " stores into "
              << data.string() << '\n';
  else
    std::cout << "restored the store of " << r->restored.front() << " into "
              << data.string()
              << (r->account_updated
                    ? " (the site's account record now matches it)"
                    : "")
              << '\n';
  if (!r->moved_aside.empty())
    std::cout << "moved " << r->moved_aside.size()
              << " replaced or unlisted files to " << r->aside_dir.string()
              << '\n';
  return 0;
}

} // namespace

void add_backup_commands(CLI::App& app, int& exit_code) {
  auto b = std::make_shared<backup_args>();
  auto* backup = app.add_subcommand(
    "backup", "Consistent online backup of every store of a node");
  backup->add_option("--to", b->to, "The backup directory (new, or without "
                                    "a manifest)")
    ->required();
  add_data_option(backup, *b);
  backup->add_option("--connect", b->connect,
                     "A running node's --listen HOST:PORT (on this machine: "
                     "it writes the copies into --to)");
  backup->add_option("--key", b->key_file,
                     "The node key (default: DATA/node.key, or "
                     "DATA/cluster.key with --connect)");
  backup->add_option("--parallel", b->parallel,
                     "Stores backed up at once (default 4)");
  add_tls_options(backup, b->tls);
  backup->callback([b, &exit_code] { exit_code = run_backup(*b); });

  auto r = std::make_shared<restore_args>();
  auto* restore = app.add_subcommand(
    "restore", "Restore a backup into a stopped node's data directory");
  restore->add_option("--from", r->from, "The backup directory")->required();
  restore->add_option("--data", r->data, "The data directory to restore into")
    ->required();
  restore->add_option("--account", r->account,
                      "Restore only this account's store (user@domain or an "
                      "offering)");
  restore->callback([r, &exit_code] { exit_code = run_restore(*r); });
}

} // namespace mantissa::cli
