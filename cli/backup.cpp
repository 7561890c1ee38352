// `mantissa backup` and `mantissa restore` (docs/operations.md, "Backup and
// restore").
//
// backup: with a node running on the data directory (its lock is held),
// every snapshot is taken by the store's own actor, asked through the
// node's network port as the system role, and written by the node where
// this command says (the same machine); with `--connect` (any machine) the
// node takes each snapshot into its own data directory and streams it
// here in 1 MiB chunks, each file checked against its SHA-256 before it is
// kept; with no node running, this process takes the data directory's
// lock and copies each store file itself with the same online backup code
// (nothing else can open the files meanwhile). `--cluster` does the
// streamed backup of every node into DIR/<node>/. The manifest is always
// written last.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "actors/backup.hpp"
#include "actors/data_dir.hpp"
#include "actors/node.hpp"
#include "cli/backup_source.hpp"
#include "cli/cluster.hpp"
#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "cli/progress.hpp"
#include "client/client.hpp"

namespace mantissa::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

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
  bool direct = false;   // --connect: the node writes into --to itself
  bool cluster = false;  // every node of the cluster, streamed
  actors::network_tls tls;
};

/// What one node's backup came to.
struct node_result {
  bool ok = false;
  std::string error;
  actors::backup_manifest manifest;
  std::uint64_t bytes = 0;
};

/// Backs up every store `src` lists into `dir` (created) with `parallel`
/// stores at once, then writes the manifest; `label` names the operation
/// in progress lines.
node_result backup_into(backup_source& src, const fs::path& dir,
                        unsigned parallel, const std::string& how,
                        const std::string& label) {
  node_result out;
  auto& m = out.manifest;
  std::vector<std::string> addresses;
  std::string err;
  if (!src.stores(m.node, addresses, err)) {
    out.error = "cannot list the stores: " + err;
    return out;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    out.error = "cannot create " + dir.string() + ": " + ec.message();
    return out;
  }
  std::cerr << label << ": " << addresses.size() << " stores of node "
            << m.node << ' ' << how << " into " << dir.string() << '\n';

  std::vector<backup_outcome> results(addresses.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  progress_meter shown{label, "stores"};
  std::atomic<std::size_t> stores_done{0};
  std::atomic<std::uint64_t> bytes_done{0};
  auto on_bytes = [&](std::uint64_t n) {
    auto bytes = bytes_done += n;
    shown.update(stores_done.load(), addresses.size(), bytes);
  };
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
      results[i] = src.backup(addresses[i], dir / *rel, dir, on_bytes);
      if (!results[i].ok) {
        failed = true;
        return;
      }
      shown.update(++stores_done, addresses.size(), bytes_done.load());
    }
  };
  std::vector<std::thread> workers;
  auto n = std::min<std::size_t>(parallel, std::max<std::size_t>(
                                             1, addresses.size()));
  for (std::size_t i = 0; i < n; ++i)
    workers.emplace_back(work);
  for (auto& t : workers)
    t.join();
  shown.finish();
  for (std::size_t i = 0; i < results.size(); ++i)
    if (!results[i].ok && !results[i].error.empty()) {
      out.error = "store " + addresses[i] + ": " + results[i].error;
      return out;
    }
  for (auto& r : results)
    m.stores.push_back(std::move(r.entry));
  m.time = actors::utc_now_iso8601();
  if (auto w = actors::write_manifest(dir, m); !w) {
    out.error = w.error_value().message;
    return out;
  }
  out.bytes = bytes_done.load();
  out.ok = true;
  return out;
}

// -- Ctrl-C: say that the backup is incomplete, then stop --------------------

char interrupted_line[1024];

extern "C" void on_interrupt(int) {
  auto n = std::strlen(interrupted_line);
  auto r = ::write(STDERR_FILENO, interrupted_line, n);
  (void) r;
  ::_exit(130);
}

void say_incomplete_on_interrupt(const fs::path& dir) {
  std::snprintf(interrupted_line, sizeof interrupted_line,
                "\nmantissa backup: interrupted; %s is incomplete (no "
                "manifest) and will not be restored\n",
                dir.string().c_str());
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

/// `--to` as an absolute directory that holds no complete backup.
bool backup_dir_of(const std::string& to, fs::path& dir, std::string& err) {
  std::error_code ec;
  dir = fs::absolute(to, ec);
  if (ec) {
    err = "--to " + to + ": " + ec.message();
    return false;
  }
  dir = dir.lexically_normal();
  if (fs::exists(dir / actors::manifest_name, ec)) {
    err = dir.string()
          + " already holds a backup (manifest.json); choose a new directory";
    return false;
  }
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    err = dir.string() + " is not a directory";
    return false;
  }
  return true;
}

int run_cluster_backup(const backup_args& a, const fs::path& dir) {
  if (a.connect.empty())
    return fail("backup: --cluster needs --connect (any node of the "
                "cluster, usually the seed)");
  if (a.direct)
    return fail("backup: --cluster streams every node; drop --direct");
  auto key = a.key_file.empty() ? default_key_file(a.data) : a.key_file;
  json status;
  std::string err;
  if (!cluster_call(a.connect, key, a.tls, "status", json::object(), status,
                    err))
    return fail("backup: " + err);
  actors::cluster_manifest top;
  top.seed = status.value("seed", std::string{});
  struct member {
    std::string name, endpoint;
  };
  std::vector<member> members;
  for (auto& n : status.value("nodes", json::array())) {
    member mb{n.value("name", std::string{}),
              n.value("host", std::string{}) + ":"
                + std::to_string(n.value("port", 0))};
    if (!actors::is_node_dir_name(mb.name))
      return fail("backup: the cluster has a node named \"" + mb.name
                  + "\", which cannot name a directory");
    if (n.value("state", std::string{}) != "up")
      return fail("backup: node " + mb.name + " is "
                  + n.value("state", std::string{"?"})
                  + "; a cluster backup needs every node up (nothing was "
                    "written)");
    members.push_back(std::move(mb));
  }
  if (members.empty())
    return fail("backup: the cluster lists no nodes");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return fail("backup: cannot create " + dir.string() + ": " + ec.message());
  std::cerr << "mantissa backup: cluster of " << top.seed << ", "
            << members.size() << " nodes, into " << dir.string() << '\n';
  std::uint64_t total_bytes = 0;
  std::size_t total_stores = 0;
  for (auto& mb : members) {
    auto part = dir / mb.name;
    // A part left by an interrupted cluster backup is taken again.
    fs::remove(part / actors::manifest_name, ec);
    auto src = connect_source(mb.endpoint, key, a.tls, true, err);
    if (!src)
      return fail("backup: node " + mb.name + ": " + err + "; the backup in "
                  + dir.string() + " is incomplete (no manifest)");
    auto r = backup_into(*src, part, a.parallel,
                         "streamed from " + mb.endpoint,
                         "mantissa backup " + mb.name);
    if (!r.ok)
      return fail("backup: node " + mb.name + ": " + r.error
                  + "; the backup in " + dir.string()
                  + " is incomplete (no manifest)");
    if (r.manifest.node != mb.name)
      return fail("backup: " + mb.endpoint + " says it is node "
                  + r.manifest.node + ", not " + mb.name);
    auto sum = actors::sha256_file(part / actors::manifest_name);
    if (!sum)
      return fail("backup: " + sum.error_value().message);
    top.nodes.push_back({mb.name, r.manifest.stores.size(), r.bytes, *sum});
    total_bytes += r.bytes;
    total_stores += r.manifest.stores.size();
  }
  top.time = actors::utc_now_iso8601();
  if (auto w = actors::write_cluster_manifest(dir, top); !w)
    return fail("backup: " + w.error_value().message);
  std::cout << "backed up " << total_stores << " stores ("
            << mib(static_cast<double>(total_bytes)) << ") of "
            << top.nodes.size() << " nodes of the cluster of " << top.seed
            << " into " << dir.string() << '\n';
  return 0;
}

int run_backup(const backup_args& a) {
  if (a.parallel < 1 || a.parallel > 64)
    return fail("backup: --parallel must be between 1 and 64");
  fs::path dir;
  std::string err;
  if (!backup_dir_of(a.to, dir, err))
    return fail("backup: " + err);
  say_incomplete_on_interrupt(dir);
  if (a.cluster)
    return run_cluster_backup(a, dir);

  std::unique_ptr<backup_source> src;
  std::string how;
  std::error_code ec;
  if (!a.connect.empty()) {
    auto key = a.key_file.empty() ? default_key_file(a.data) : a.key_file;
    src = connect_source(a.connect, key, a.tls, !a.direct, err);
    if (!src)
      return fail("backup: " + err);
    how = a.direct ? "written by the node at " + a.connect
                   : "streamed from the node at " + a.connect;
  } else {
    if (a.direct)
      return fail("backup: --direct goes with --connect");
    auto data = data_dir_of(a.data);
    if (!fs::exists(actors::site_path(data), ec))
      return fail("backup: no site at " + data.string()
                  + " (no site.sqlite); nothing to back up");
    auto lock = actors::data_dir_lock::acquire(data, "mantissa backup");
    if (lock) {
      src = make_offline_source(data, std::move(*lock));
      how = "offline (no node runs on " + data.string() + ")";
    } else {
      // A node runs there: go through it, where its endpoint file says.
      // It is on this machine, so it writes the copies itself.
      std::ifstream in{actors::endpoint_file(data)};
      std::string endpoint;
      std::getline(in, endpoint);
      if (endpoint.empty())
        return fail("backup: " + lock.error_value().message
                    + ", without a network port: start the node with "
                      "--listen HOST:PORT, or stop it for an offline backup");
      auto key = a.key_file.empty() ? (data / "node.key").string()
                                    : a.key_file;
      src = connect_source(endpoint, key, a.tls, false, err);
      if (!src)
        return fail("backup: " + err);
      how = "through the node running on " + data.string() + " (" + endpoint
            + ")";
    }
  }
  auto r = backup_into(*src, dir, a.parallel, how, "mantissa backup");
  if (!r.ok)
    return fail("backup: " + r.error + "; the backup in " + dir.string()
                + " is incomplete (no manifest)");
  std::cout << "backed up " << r.manifest.stores.size() << " stores ("
            << mib(static_cast<double>(r.bytes)) << ") of node "
            << r.manifest.node << " into " << dir.string() << '\n';
  return 0;
}

struct restore_args : common_args {
  std::string from;
  std::string account;
  std::string node;
};

int run_restore(const restore_args& a) {
  actors::restore_options opts;
  opts.account = a.account;
  opts.progress = [](const std::string& line) {
    std::cerr << "mantissa restore: " << line << '\n';
  };
  auto data = data_dir_of(a.data);
  fs::path from = a.from;
  if (!a.node.empty()) {
    auto part = actors::cluster_backup_part(a.from, a.node);
    if (!part)
      return fail("restore: " + part.error_value().message
                  + "; nothing was changed");
    from = *part;
    std::cerr << "mantissa restore: node " << a.node << "'s part of the "
              << "cluster backup: " << from.string() << '\n';
  }
  auto r = actors::restore_backup(from, data, opts);
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
                     "A running node's --listen HOST:PORT, on any machine: "
                     "it streams its snapshots here");
  backup->add_flag("--direct", b->direct,
                   "With --connect, a node on this machine: it writes the "
                   "copies into --to itself instead of streaming them");
  backup->add_flag("--cluster", b->cluster,
                   "Every node of the cluster of --connect, into TO/<node>/, "
                   "with a top-level manifest naming the nodes");
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
  restore->add_option("--node", r->node,
                      "A cluster backup: restore this node's part");
  restore->callback([r, &exit_code] { exit_code = run_restore(*r); });
}

} // namespace mantissa::cli
