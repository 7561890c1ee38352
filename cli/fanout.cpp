// `mantissa fanout`: one request in every user store (actors/fanout.hpp,
// docs/operations.md), through a running node (--connect) or in this
// process over a data directory no node runs on (--data).

#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "actors/auth.hpp"
#include "wire/errors.hpp"
#include "actors/fanout.hpp"
#include "actors/node.hpp"
#include "wire/protocol.hpp"
#include "cli/cluster.hpp"
#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "cli/options.hpp"
#include "cli/progress.hpp"
#include "client/client.hpp"
#include "offerings/setup.hpp"

namespace mantissa::cli {

namespace {

using json = nlohmann::json;

struct fanout_args {
  std::string data;
  std::string connect;
  std::string key;
  actors::network_tls tls;
  std::string spec;
  std::string type;
  std::string where;
  std::string query;
  std::string handler;
  std::string args;
  std::string collate;
  std::string field;
  std::string order;
  std::size_t limit = 0;
  std::string domain;
  std::vector<std::string> stores;
  std::size_t concurrency = 0;
  bool quiet = false;
};

/// The spec the options describe (checked by the node as well).
bool build_spec(const fanout_args& a, std::string& out, std::string& err) {
  json j = json::object();
  if (!a.spec.empty()) {
    j = json::parse(a.spec, nullptr, false);
    if (!j.is_object()) {
      err = "--spec must be a JSON object";
      return false;
    }
  }
  auto parse = [&](const std::string& text, const char* opt, json& dst) {
    dst = json::parse(text, nullptr, false);
    if (!dst.is_object()) {
      err = std::string{opt} + " must be a JSON object";
      return false;
    }
    return true;
  };
  if (!a.query.empty()) {
    j["op"] = "query";
    if (!parse(a.query, "--query", j["query"]))
      return false;
  } else if (!a.handler.empty()) {
    j["op"] = "run";
    j["handler"] = a.handler;
    if (!a.args.empty() && !parse(a.args, "--args", j["args"]))
      return false;
  } else if (!a.type.empty()) {
    j["op"] = "count";
    j["type"] = a.type;
    if (!a.where.empty() && !parse(a.where, "--where", j["where"]))
      return false;
  } else if (a.spec.empty()) {
    err = "say what to run: --type T [--where JSON] (count), --query JSON, "
          "--handler NAME [--args JSON], or --spec JSON";
    return false;
  }
  if (!a.collate.empty())
    j["collate"] = a.collate;
  if (!a.field.empty())
    j["field"] = a.field;
  if (!a.order.empty())
    j["order"] = a.order;
  if (a.limit > 0)
    j["limit"] = a.limit;
  if (a.concurrency > 0)
    j["concurrency"] = a.concurrency;
  if (!a.domain.empty())
    j["stores"]["domain"] = a.domain;
  if (!a.stores.empty())
    j["stores"]["addresses"] = a.stores;
  auto checked = actors::parse_fanout_spec(j.dump());
  if (!checked) {
    err = checked.error_value().message;
    return false;
  }
  out = j.dump();
  return true;
}

/// Through a running node: a system session, the fan-out asked by an
/// actor of ours that receives the progress as it goes.
bool run_connected(const fanout_args& a, const std::string& spec,
                   progress_meter* meter, std::string& out, std::string& err) {
  // The session lasts as long as `login`, kept until the answer is in.
  system_login login;
  if (!login.open(a.connect, a.key.empty() ? default_key_file(a.data) : a.key,
                  a.tls, err))
    return false;
  auto r = call_with_progress(
    login, caf::make_message(actors::fanout_atom::value, spec),
    [meter](std::uint64_t done, std::uint64_t total) {
      if (meter != nullptr)
        meter->update(done, total);
    });
  if (!r.ok) {
    err = r.message;
    return false;
  }
  out = std::move(r.body);
  return true;
}

/// In this process, over a data directory no node runs on.
bool run_here(const fanout_args& a, const std::string& spec,
              progress_meter* meter, std::string& out, std::string& err) {
  auto dir = a.data.empty() ? actors::default_data_dir()
                            : std::filesystem::path{a.data};
  std::error_code ec;
  if (!std::filesystem::exists(dir / "site.sqlite", ec)) {
    err = "no site in " + dir.string() + " (mantissa init, or --connect to a "
          "running node)";
    return false;
  }
  site_setup setup;
  if (!prepare_site(dir, false, setup, err))
    return false;
  actors::node_options opts;
  opts.data_dir = dir;
  actors::node n{opts};
  offerings::offering_registry known;
  if (auto r = offerings::add_builtin_offerings(known); !r) {
    err = r.error_value().message;
    return false;
  }
  if (auto r = offerings::load_plugins(known, setup.plugins); !r) {
    err = r.error_value().message;
    return false;
  }
  if (auto r = offerings::register_offerings(known, n); !r) {
    err = r.error_value().message;
    return false;
  }
  if (!n.start(err))
    return false;
  auto r = n.wait([&](actors::reply_handler done) {
    n.fanout(spec,
             [meter](std::uint64_t d, std::uint64_t t) {
               if (meter != nullptr)
                 meter->update(d, t);
             },
             std::move(done));
  });
  n.stop();
  if (!r.ok) {
    err = r.message;
    return false;
  }
  out = std::move(r.body);
  return true;
}

int run_fanout(const fanout_args& a) {
  std::string spec, err, out;
  if (!build_spec(a, spec, err)) {
    std::cerr << "mantissa fanout: " << err << '\n';
    return 2;
  }
  std::unique_ptr<progress_meter> meter;
  if (!a.quiet)
    meter = std::make_unique<progress_meter>("fanout", "stores");
  bool ok = a.connect.empty() ? run_here(a, spec, meter.get(), out, err)
                              : run_connected(a, spec, meter.get(), out, err);
  if (meter && ok)
    meter->finish();
  if (!ok) {
    std::cerr << "mantissa fanout: " << err << '\n';
    return 1;
  }
  auto j = json::parse(out, nullptr, false);
  std::cout << (j.is_discarded() ? out : j.dump(2)) << '\n';
  return j.value("failed", 0) > 0 ? 3 : 0;
}

} // namespace

void add_fanout_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<fanout_args>();
  auto* cmd = app.add_subcommand(
    "fanout", "Run a count, a query or a handler in every user store and "
              "collate the results");
  add_text_options(
    cmd, {{"--data", &a->data,
           "Data directory, when no node runs on it (default: "
           "$MANTISSA_DATA, else ./mantissa-data)"},
          {"--connect", &a->connect,
           "Run it through the node listening on HOST:PORT (and, in a "
           "cluster, on every node)"},
          {"--key", &a->key,
           "With --connect: the key to log in as the system (default: "
           "DATA/cluster.key, else DATA/node.key)"}});
  add_tls_options(cmd, a->tls);
  add_text_options(
    cmd,
    {{"--type", &a->type, "Count the items of this type"},
     {"--where", &a->where, "With --type: a condition (JSON)"},
     {"--query", &a->query, "Run this query (JSON, docs/query.md)"},
     {"--handler", &a->handler, "Run this registered handler"},
     {"--args", &a->args, "With --handler: its arguments (JSON)"},
     {"--spec", &a->spec,
      "The whole request as JSON (docs/operations.md); the other "
      "options override its members"},
     {"--collate", &a->collate, "concat, count, sum or top"},
     {"--field", &a->field, "For sum and top: the member to use"},
     {"--order", &a->order, "For top: desc (default) or asc"}});
  cmd->add_option("--limit", a->limit, "Entries kept by concat and top");
  cmd->add_option("--domain", a->domain, "Only the stores of this domain");
  cmd->add_option("--store", a->stores, "Only this store (repeatable)");
  cmd->add_option("--concurrency", a->concurrency,
                  "Stores at work at once on each node (default 16)");
  cmd->add_flag("--quiet", a->quiet, "No progress on the terminal");
  cmd->callback([a, &exit_code] { exit_code = run_fanout(*a); });
}

} // namespace mantissa::cli
