// `mantissa cluster status` and the cluster forms of `user add`: they talk
// to a running node through its network port as the system role.

#include "cli/cluster.hpp"

#include <future>
#include <iomanip>
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "actors/auth.hpp"
#include "wire/errors.hpp"
#include "actors/node.hpp"
#include "wire/protocol.hpp"
#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "cli/options.hpp"
#include "client/client.hpp"

namespace mantissa::cli {

namespace {

using json = nlohmann::json;

class cli_config : public caf::actor_system_config {
 public:
  cli_config() {
    client::configure(*this);
    set("logger.console", caf::atom("none"));
  }
};

} // namespace

std::string default_key_file(const std::string& data) {
  auto dir = data.empty() ? actors::default_data_dir()
                          : std::filesystem::path{data};
  std::error_code ec;
  if (std::filesystem::exists(dir / "cluster.key", ec))
    return (dir / "cluster.key").string();
  return (dir / "node.key").string();
}

void add_tls_options(CLI::App* cmd, actors::network_tls& tls) {
  cmd->add_option("--tls-cert", tls.certificate,
                  "PEM certificate signed by the cluster CA (a TLS cluster)");
  cmd->add_option("--tls-key", tls.private_key,
                  "PEM private key of --tls-cert");
  cmd->add_option("--tls-ca", tls.ca_file,
                  "PEM certificate of the cluster CA");
}

struct system_login::impl {
  cli_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> owner; // goes before sys
  caf::actor session;  // the node's
  actors::caller who;  // with the login's capability
  caf::actor stamp;    // adds `who` to what is sent to `session`
};

system_login::system_login() : impl_(std::make_unique<impl>()) {
}

system_login::~system_login() {
  if (impl_->session)
    caf::anon_send(impl_->session, actors::logout_atom::value, impl_->who);
  if (impl_->stamp)
    caf::anon_send_exit(impl_->stamp, caf::exit_reason::user_shutdown);
}

bool system_login::open(const std::string& endpoint,
                        const std::string& key_file,
                        const actors::network_tls& tls, std::string& err) {
  auto& d = *impl_;
  std::string host;
  unsigned short port = 0;
  if (!parse_endpoint(endpoint, host, port, err)) {
    err = "--connect: " + err;
    return false;
  }
  auto key = actors::load_key_file(key_file, false, err);
  if (key.empty())
    return false;
  if (tls.enabled() && !client::configure_tls(d.cfg, tls, err)) {
    err = "TLS: " + err;
    return false;
  }
  d.sys = std::make_unique<caf::actor_system>(d.cfg);
  auto gateway = client::connect(*d.sys, host, port);
  if (!gateway) {
    err = "cannot connect to " + endpoint + ": " + d.sys->render(gateway.error());
    return false;
  }
  d.owner = std::make_unique<caf::scoped_actor>(*d.sys);
  (*d.owner)
    ->request(*gateway, std::chrono::seconds(30), actors::login_atom::value,
              std::string{"system"}, key)
    .receive(
      [&](caf::actor& s, actors::caller& who) {
        d.session = std::move(s);
        d.who = std::move(who);
      },
      [&](caf::error& e) {
        err = "cannot log in at " + endpoint + ": " + actors::error_message(e);
      });
  if (!d.session)
    return false;
  d.stamp = client::stamped(*d.sys, d.session, d.who);
  return true;
}

caf::actor_system& system_login::system() {
  return *impl_->sys;
}

const caf::actor& system_login::session() const {
  return impl_->stamp;
}

namespace {

using progress_fn = std::function<void(std::uint64_t, std::uint64_t)>;
using answer_ptr = std::shared_ptr<std::promise<actors::reply>>;

// (The data goes in as spawn arguments: CAF 0.17 dereferences a null
// pointer for a spawned function that takes none.)
caf::behavior progress_caller(caf::event_based_actor* self, caf::actor to,
                              caf::message msg, progress_fn progress,
                              answer_ptr promised) {
  self->request(to, caf::infinite, std::move(msg))
    .then(
      [self, promised](std::string& body) {
        promised->set_value(actors::reply{true, std::move(body), {}, {}});
        self->quit();
      },
      [self, promised](caf::error& e) {
        promised->set_value(actors::reply{false, {}, actors::code_of(e),
                                          actors::error_message(e)});
        self->quit();
      });
  // The node is gone: nothing will answer.
  self->monitor(to);
  self->set_down_handler([self, promised](caf::down_msg&) {
    promised->set_value(actors::reply{false, {},
                                      actors::error_code::store_unavailable,
                                      "the node went away"});
    self->quit();
  });
  return {
    [progress](actors::progress_atom, std::uint64_t done, std::uint64_t total) {
      if (progress)
        progress(done, total);
    },
  };
}

} // namespace

actors::reply call_with_progress(system_login& login, const caf::message& msg,
                                 progress_fn progress) {
  auto promised = std::make_shared<std::promise<actors::reply>>();
  auto answer = promised->get_future();
  login.system().spawn(progress_caller, login.session(), msg,
                       std::move(progress), promised);
  return answer.get();
}

namespace {

/// Logs in at `endpoint` as the system, sends `msg` to the session and
/// parses its JSON answer into `out`.
bool call_node(const std::string& endpoint, const std::string& key_file,
               const actors::network_tls& tls, const caf::message& msg,
               caf::timespan timeout, json& out, std::string& err) {
  system_login login;
  if (!login.open(endpoint, key_file, tls, err))
    return false;
  bool ok = false;
  caf::scoped_actor self{login.system()};
  self->request(login.session(), timeout, msg)
    .receive(
      [&](std::string& body) {
        out = json::parse(body, nullptr, false);
        ok = !out.is_discarded();
        if (!ok)
          err = "malformed answer from the node";
      },
      [&](caf::error& e) { err = actors::error_message(e); });
  return ok;
}

} // namespace

bool cluster_call(const std::string& endpoint, const std::string& key_file,
                  const actors::network_tls& tls, const std::string& command,
                  const json& args, json& out, std::string& err) {
  return call_node(endpoint, key_file, tls,
                   caf::make_message(actors::cluster_atom::value, command,
                                     args.dump()),
                   std::chrono::seconds(30), out, err);
}

void add_online_options(CLI::App* cmd, online_args& o) {
  add_text_options(cmd, {{"--connect", &o.connect,
                          "Do it through the running node at HOST:PORT (its "
                          "--listen), a single node or any cluster member"},
                         {"--key", &o.key,
                          "With --connect: the key file (default: "
                          "DATA/cluster.key, else DATA/node.key)"}});
  add_tls_options(cmd, o.tls);
}

bool through_node(const std::string& data, const online_args& o,
                  const std::string& op, const json& args, json& out,
                  int& exit_code) {
  std::string err;
  auto key = o.key.empty() ? default_key_file(data) : o.key;
  // An operation waits for every store it goes through; an uninstall or a
  // grant to a store on a slow node may take a while.
  auto msg = caf::make_message(actors::admin_atom::value, op, args.dump());
  if (call_node(o.connect, key, o.tls, msg, std::chrono::minutes(10), out, err))
    return true;
  exit_code = fail(err);
  return false;
}

void add_cluster_commands(CLI::App& app, int& exit_code) {
  struct status_args : common_args {
    std::string connect;
    std::string key;
    actors::network_tls tls;
  };
  auto a = std::make_shared<status_args>();
  auto* cluster = app.add_subcommand("cluster", "Look at a running cluster");
  cluster->require_subcommand(1);
  auto* status = cluster->add_subcommand(
    "status", "The cluster's nodes, their state and store counts");
  add_data_option(status, *a);
  status->add_option("--connect", a->connect, "A node's --listen HOST:PORT")
    ->required();
  status->add_option("--key", a->key,
                     "The cluster key file (default: DATA/cluster.key)");
  add_tls_options(status, a->tls);
  status->callback([a, &exit_code] {
    json out;
    std::string err;
    auto key = a->key.empty() ? default_key_file(a->data) : a->key;
    if (!cluster_call(a->connect, key, a->tls, "status", json::object(), out, err)) {
      exit_code = fail(err);
      return;
    }
    std::cout << "cluster of " << out.value("seed", std::string{"?"})
              << " (asked " << out.value("name", std::string{"?"}) << ")\n";
    std::cout << std::left << std::setw(20) << "NODE" << std::setw(24)
              << "ADDRESS" << std::setw(8) << "STATE"
              << "STORES\n";
    for (auto& n : out.value("nodes", json::array())) {
      std::string name = n.value("name", std::string{});
      if (name == out.value("seed", std::string{}))
        name += " (seed)";
      std::cout << std::left << std::setw(20) << name << std::setw(24)
                << (n.value("host", std::string{}) + ":"
                    + std::to_string(n.value("port", 0)))
                << std::setw(8) << n.value("state", std::string{})
                << n.value("stores", 0) << '\n';
    }
  });
}

} // namespace mantissa::cli
