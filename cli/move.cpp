// `mantissa store move` and `mantissa cluster rebalance`: moving user
// stores between the nodes of a running cluster (docs/operations.md,
// "Moving a store", "Rebalancing").

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <caf/make_message.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "wire/protocol.hpp"
#include "cli/cluster.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"

namespace mantissa::cli {

namespace {

using json = nlohmann::json;

struct connect_args {
  std::string data;
  std::string connect;
  std::string key;
  actors::network_tls tls;

  [[nodiscard]] std::string key_file() const {
    return key.empty() ? default_key_file(data) : key;
  }
};

void add_connect_options(CLI::App* cmd, connect_args& a) {
  cmd->add_option("--connect", a.connect, "A node's --listen HOST:PORT")
    ->required();
  cmd->add_option("--key", a.key,
                  "The cluster key file (default: DATA/cluster.key, else "
                  "DATA/node.key)");
  cmd->add_option("--data", a.data, "Where to look for the default key");
  add_tls_options(cmd, a.tls);
}

struct member {
  std::string host;
  std::uint16_t port = 0;
  bool up = false;
  std::int64_t stores = 0;
};

/// The cluster as the node at `a.connect` sees it.
bool members_of(const connect_args& a, std::map<std::string, member>& out,
                std::string& err) {
  json status;
  if (!cluster_call(a.connect, a.key_file(), a.tls, "status", json::object(),
                    status, err))
    return false;
  for (auto& n : status.value("nodes", json::array())) {
    member m;
    m.host = n.value("host", std::string{});
    m.port = n.value("port", std::uint16_t{0});
    m.up = n.value("state", std::string{}) == "up";
    m.stores = n.value("stores", std::int64_t{0});
    out[n.value("name", std::string{})] = m;
  }
  return true;
}

std::string endpoint_of(const member& m) {
  return m.host + ":" + std::to_string(m.port);
}

/// Sends `msg` through `login`, showing the bytes shipped under `label`
/// (nothing when `label` is empty) until the answer comes.
auto call_with_meter(system_login& login, caf::message msg,
                     const std::string& label) {
  std::unique_ptr<progress_meter> meter;
  if (!label.empty())
    meter = std::make_unique<progress_meter>(label, "MiB");
  auto r = call_with_progress(
    login, std::move(msg),
    [m = meter.get()](std::uint64_t done, std::uint64_t total) {
      if (m != nullptr)
        m->update(done >> 20, (total + (1 << 20) - 1) >> 20, done);
    });
  if (meter && r.ok)
    meter->finish();
  return r;
}

/// Moves `address` from node `from` (reached at `endpoint`) to `to`,
/// showing the bytes shipped. The node's answer goes to `out`.
bool move_one(const connect_args& a, const std::string& endpoint,
              const std::string& address, const std::string& to, bool quiet,
              json& out, std::string& err) {
  system_login login;
  if (!login.open(endpoint, a.key_file(), a.tls, err))
    return false;
  auto r = call_with_meter(
    login, caf::make_message(actors::move_atom::value, address, to),
    quiet ? std::string{} : "move " + address);
  if (!r.ok) {
    err = r.message;
    return false;
  }
  out = json::parse(r.body, nullptr, false);
  return true;
}

int run_move(const connect_args& a, const std::string& address,
             const std::string& to, bool quiet) {
  std::string err;
  json where;
  if (!cluster_call(a.connect, a.key_file(), a.tls, "whereis",
                    json{{"address", address}}, where, err)) {
    std::cerr << "mantissa store move: " << err << '\n';
    return 1;
  }
  auto from = where.value("node", std::string{});
  std::map<std::string, member> members;
  if (!members_of(a, members, err)) {
    std::cerr << "mantissa store move: " << err << '\n';
    return 1;
  }
  auto src = members.find(from);
  if (src == members.end() || src->second.port == 0) {
    std::cerr << "mantissa store move: " << address << " is on " << from
              << ", which is not reachable\n";
    return 1;
  }
  if (from == to) {
    std::cerr << "mantissa store move: " << address << " is on " << to
              << " already\n";
    return 2;
  }
  json out;
  if (!move_one(a, endpoint_of(src->second), address, to, quiet, out, err)) {
    std::cerr << "mantissa store move: " << err << '\n';
    return 1;
  }
  std::cout << out.dump(2) << '\n';
  return 0;
}

/// `store replicate`: a replica of `address` on `node`, through the node
/// that holds the store.
int run_replicate(const connect_args& a, const std::string& address,
                  const std::string& node, bool quiet) {
  std::string err;
  json where;
  if (!cluster_call(a.connect, a.key_file(), a.tls, "whereis",
                    json{{"address", address}}, where, err)) {
    std::cerr << "mantissa store replicate: " << err << '\n';
    return 1;
  }
  std::map<std::string, member> members;
  if (!members_of(a, members, err)) {
    std::cerr << "mantissa store replicate: " << err << '\n';
    return 1;
  }
  auto primary = where.value("node", std::string{});
  auto src = members.find(primary);
  if (src == members.end() || src->second.port == 0) {
    std::cerr << "mantissa store replicate: " << address << " is on " << primary
              << ", which is not reachable\n";
    return 1;
  }
  system_login login;
  if (!login.open(endpoint_of(src->second), a.key_file(), a.tls, err)) {
    std::cerr << "mantissa store replicate: " << err << '\n';
    return 1;
  }
  auto r = call_with_meter(
    login, caf::make_message(actors::replicate_atom::value, address, node),
    quiet ? std::string{} : "replica of " + address);
  if (!r.ok) {
    std::cerr << "mantissa store replicate: " << r.message << '\n';
    return 1;
  }
  auto out = json::parse(r.body, nullptr, false);
  std::cout << (out.is_discarded() ? r.body : out.dump(2)) << '\n';
  return 0;
}

/// A cluster command answered by the seed, printed as JSON.
int run_seed_command(const connect_args& a, const char* what,
                     const std::string& command, const json& args) {
  std::string err;
  json out;
  if (!cluster_call(a.connect, a.key_file(), a.tls, command, args, out, err)) {
    std::cerr << "mantissa " << what << ": " << err << '\n';
    return 1;
  }
  std::cout << out.dump(2) << '\n';
  return out.contains("failed") && !out["failed"].empty() ? 3 : 0;
}

/// One step of a rebalance plan.
struct planned_move {
  std::string address;
  std::string from;
  std::string to;
};

/// The policy (docs/operations.md, "Rebalancing"): while the up node with
/// the most stores has at least two more than the up node with the
/// fewest, move one store from the first to the second (the last of its
/// stores in address order). Down nodes neither give nor take stores.
std::vector<planned_move>
plan_rebalance(std::map<std::string, std::vector<std::string>> stores,
               std::size_t max_moves) {
  std::vector<planned_move> plan;
  for (auto& [node, list] : stores)
    std::sort(list.begin(), list.end());
  while (plan.size() < max_moves && stores.size() > 1) {
    auto fullest = stores.begin();
    auto emptiest = stores.begin();
    for (auto i = stores.begin(); i != stores.end(); ++i) {
      if (i->second.size() > fullest->second.size())
        fullest = i;
      if (i->second.size() < emptiest->second.size())
        emptiest = i;
    }
    if (fullest->second.size() < emptiest->second.size() + 2)
      break;
    auto address = fullest->second.back();
    fullest->second.pop_back();
    emptiest->second.push_back(address);
    plan.push_back({address, fullest->first, emptiest->first});
  }
  return plan;
}

/// The user stores each up node holds, as the node lists them.
bool stores_per_node(const connect_args& a,
                     const std::map<std::string, member>& members,
                     std::map<std::string, std::vector<std::string>>& out,
                     std::string& err) {
  for (auto& [name, m] : members) {
    if (!m.up)
      continue;
    system_login login;
    if (!login.open(endpoint_of(m), a.key_file(), a.tls, err)) {
      err = "node " + name + ": " + err;
      return false;
    }
    auto r = call_with_progress(
      login, caf::make_message(actors::stores_atom::value), nullptr);
    if (!r.ok) {
      err = "node " + name + ": " + r.message;
      return false;
    }
    auto j = json::parse(r.body, nullptr, false);
    auto& list = out[name];
    for (auto& s : j.value("stores", json::array())) {
      auto addr = s.is_string() ? s.get<std::string>() : std::string{};
      if (addr.find('@') != std::string::npos)
        list.push_back(addr);
    }
  }
  return true;
}

int run_rebalance(const connect_args& a, bool dry_run, std::size_t max_moves,
                  bool quiet) {
  std::string err;
  std::map<std::string, member> members;
  if (!members_of(a, members, err)) {
    std::cerr << "mantissa cluster rebalance: " << err << '\n';
    return 1;
  }
  std::map<std::string, std::vector<std::string>> stores;
  if (!stores_per_node(a, members, stores, err)) {
    std::cerr << "mantissa cluster rebalance: " << err << '\n';
    return 1;
  }
  auto plan = plan_rebalance(stores, max_moves);
  for (auto& [name, list] : stores)
    std::cout << name << '\t' << list.size() << " stores\n";
  if (plan.empty()) {
    std::cout << "balanced: nothing to move\n";
    return 0;
  }
  std::size_t done = 0;
  for (auto& m : plan) {
    if (dry_run) {
      std::cout << "would move " << m.address << " from " << m.from << " to "
                << m.to << '\n';
      continue;
    }
    json out;
    if (!move_one(a, endpoint_of(members[m.from]), m.address, m.to, quiet, out,
                  err)) {
      std::cerr << "mantissa cluster rebalance: moving " << m.address
                << " from " << m.from << " to " << m.to << ": " << err
                << "\n(" << done << " of " << plan.size()
                << " moves done; run it again to go on)\n";
      return 1;
    }
    ++done;
    std::cout << "moved " << m.address << " from " << m.from << " to " << m.to
              << " (" << out.value("bytes", 0) << " bytes, pause "
              << out.value("pause_ms", 0.0) << " ms)\n";
  }
  std::cout << (dry_run ? "planned " : "done: ") << plan.size() << " moves\n";
  return 0;
}

} // namespace

void add_move_commands(CLI::App& app, int& exit_code) {
  auto* store = app.add_subcommand("store", "User stores in a cluster");
  store->require_subcommand(1);
  {
    struct move_args : connect_args {
      std::string address;
      std::string to;
      bool quiet = false;
    };
    auto a = std::make_shared<move_args>();
    auto* cmd = store->add_subcommand(
      "move", "Move a user store to another node while it serves");
    cmd->add_option("ADDRESS", a->address, "user@domain")->required();
    cmd->add_option("--to", a->to, "The node to move it to")->required();
    add_connect_options(cmd, *a);
    cmd->add_flag("--quiet", a->quiet, "No progress on the terminal");
    cmd->callback([a, &exit_code] {
      exit_code = run_move(*a, a->address, a->to, a->quiet);
    });
  }
  {
    struct replicate_args : connect_args {
      std::string address;
      std::string on;
      bool quiet = false;
    };
    auto a = std::make_shared<replicate_args>();
    auto* cmd = store->add_subcommand(
      "replicate", "Keep a replica of a user store on another node");
    cmd->add_option("ADDRESS", a->address, "user@domain")->required();
    cmd->add_option("--on", a->on, "The node to keep the replica on")
      ->required();
    add_connect_options(cmd, *a);
    cmd->add_flag("--quiet", a->quiet, "No progress on the terminal");
    cmd->callback([a, &exit_code] {
      exit_code = run_replicate(*a, a->address, a->on, a->quiet);
    });
  }
  {
    struct promote_args : connect_args {
      std::string address;
      bool force = false;
    };
    auto a = std::make_shared<promote_args>();
    auto* cmd = store->add_subcommand(
      "promote", "Make a store's replica its primary (its node is down)");
    cmd->add_option("ADDRESS", a->address, "user@domain")->required();
    add_connect_options(cmd, *a);
    cmd->add_flag("--force", a->force,
                  "Even if the primary's node is up (its copy is fenced when "
                  "it next opens the store)");
    cmd->callback([a, &exit_code] {
      exit_code = run_seed_command(*a, "store promote", "promote",
                                   json{{"address", a->address},
                                        {"force", a->force}});
    });
  }
  auto* cluster = app.get_subcommand("cluster");
  {
    struct failover_args : connect_args {
      std::string node;
    };
    auto a = std::make_shared<failover_args>();
    auto* cmd = cluster->add_subcommand(
      "failover", "Promote the replicas of every store of a node that is down");
    cmd->add_option("NODE", a->node, "The node that is down")->required();
    add_connect_options(cmd, *a);
    cmd->callback([a, &exit_code] {
      exit_code = run_seed_command(*a, "cluster failover", "failover",
                                   json{{"node", a->node}});
    });
  }
  {
    struct rebalance_args : connect_args {
      bool dry_run = false;
      std::size_t max_moves = 1000;
      bool quiet = false;
    };
    auto a = std::make_shared<rebalance_args>();
    auto* cmd = cluster->add_subcommand(
      "rebalance", "Move stores from the fullest nodes to the emptiest");
    add_connect_options(cmd, *a);
    cmd->add_flag("--dry-run", a->dry_run, "Print the moves, make none");
    cmd->add_option("--max-moves", a->max_moves,
                    "Make at most this many moves (default 1000)");
    cmd->add_flag("--quiet", a->quiet, "No progress on the terminal");
    cmd->callback([a, &exit_code] {
      exit_code = run_rebalance(*a, a->dry_run, a->max_moves, a->quiet);
    });
  }
}

} // namespace mantissa::cli
