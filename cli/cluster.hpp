#pragma once

#include <string>

#include "actors/network_tls.hpp"

#include <nlohmann/json_fwd.hpp>

namespace CLI {
class App;
}

namespace mantissa::cli {

/// Adds --tls-cert, --tls-key and --tls-ca (mutual TLS on a node's network
/// port, docs/cluster.md) to `cmd`, filling `tls`.
void add_tls_options(CLI::App* cmd, actors::network_tls& tls);

/// Adds `mantissa cluster status`.
void add_cluster_commands(CLI::App& app, int& exit_code);

/// `DATA/cluster.key` if it exists, else `DATA/node.key` (DATA: `data`, or
/// the default data directory).
[[nodiscard]] std::string default_key_file(const std::string& data);

/// Connects to the node listening on `endpoint` (HOST:PORT), logs in as the
/// system role with the key in `key_file` and sends it the cluster command
/// `command` with `args`; its answer goes to `out`. False with `err` set on
/// any failure. With `tls` enabled the connection is mutual TLS.
bool cluster_call(const std::string& endpoint, const std::string& key_file,
                  const actors::network_tls& tls,
                  const std::string& command, const nlohmann::json& args,
                  nlohmann::json& out, std::string& err);

} // namespace mantissa::cli
