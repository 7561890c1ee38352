#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "wire/network_tls.hpp"
#include "actors/node.hpp"

#include <nlohmann/json_fwd.hpp>

namespace CLI {
class App;
}

namespace caf {
class actor;
class actor_system;
class message;
} // namespace caf

namespace mantissa::cli {

/// Adds --tls-cert, --tls-key and --tls-ca (mutual TLS on a node's network
/// port, docs/cluster.md) to `cmd`, filling `tls`.
void add_tls_options(CLI::App* cmd, actors::network_tls& tls);

/// Adds `mantissa cluster status`.
void add_cluster_commands(CLI::App& app, int& exit_code);

/// `DATA/cluster.key` if it exists, else `DATA/node.key` (DATA: `data`, or
/// the default data directory).
[[nodiscard]] std::string default_key_file(const std::string& data);

/// A system session at a running node, for the `--connect` commands: an
/// actor system of this process (`client::configure`, TLS when `tls` is
/// enabled), a login as `system` with a key file, and the actor that logged
/// in, kept as long as this object (the session ends with it).
class system_login {
 public:
  system_login();
  ~system_login(); ///< ends the session
  system_login(const system_login&) = delete;
  system_login& operator=(const system_login&) = delete;

  /// Connects to `endpoint` (HOST:PORT) and logs in with the key in
  /// `key_file`. False with `err` set on any failure.
  [[nodiscard]] bool open(const std::string& endpoint,
                          const std::string& key_file,
                          const actors::network_tls& tls, std::string& err);

  /// After a successful `open`.
  [[nodiscard]] caf::actor_system& system();
  /// An actor of this process standing for the session: what is sent to it
  /// goes to the node's session with the login's capability
  /// (`client::stamped`); answers and progress come back to the sender.
  [[nodiscard]] const caf::actor& session() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Sends `msg` to the session of `login` and waits for the answer; the
/// `(progress_atom, done, total)` messages that come meanwhile go to
/// `progress` (on an actor thread of `login`'s system). The answer is
/// `store_unavailable` if the node goes away first.
[[nodiscard]] actors::reply
call_with_progress(system_login& login, const caf::message& msg,
                   std::function<void(std::uint64_t, std::uint64_t)> progress);

/// Connects to the node listening on `endpoint` (HOST:PORT), logs in as the
/// system role with the key in `key_file` and sends it the cluster command
/// `command` with `args`; its answer goes to `out`. False with `err` set on
/// any failure. With `tls` enabled the connection is mutual TLS.
bool cluster_call(const std::string& endpoint, const std::string& key_file,
                  const actors::network_tls& tls,
                  const std::string& command, const nlohmann::json& args,
                  nlohmann::json& out, std::string& err);

/// The options of a command that can also run through a running node:
/// `--connect HOST:PORT`, `--key FILE` and the TLS options.
struct online_args {
  std::string connect;
  std::string key;
  actors::network_tls tls;
};

/// Adds `online_args`' options to `cmd`.
void add_online_options(CLI::App* cmd, online_args& o);

/// Runs the administrative operation `op` (offerings/online.hpp:
/// "install", "uninstall", "create_product", "give", "take", "add_user")
/// through the node `o.connect`, any node, in a cluster or not, as the
/// system (key: `o.key`, else `default_key_file(data)`); its answer goes
/// to `out`. False, with the error printed and `exit_code`
/// set, on failure.
bool through_node(const std::string& data, const online_args& o,
                  const std::string& op, const nlohmann::json& args,
                  nlohmann::json& out, int& exit_code);

} // namespace mantissa::cli
