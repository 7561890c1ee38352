#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace CLI {
class App;
}

namespace mantissa::cli {

/// Adds `mantissa start` to `app`. When the command runs, its exit status
/// is stored in `exit_code`.
void add_start_command(CLI::App& app, int& exit_code);

/// Adds `init`, `user`, `config` and `port` (offline administration).
void add_admin_commands(CLI::App& app, int& exit_code);

/// Adds `cert ca` and `cert issue`: the site's certificate authority in
/// DATA/tls and the certificates it issues for mutual TLS on the network
/// port. They work on files only and may run beside a node.
void add_cert_commands(CLI::App& app, int& exit_code);

/// Adds `offering`, `product` and `user product` (offline administration
/// of offerings); call after `add_admin_commands`.
void add_offering_commands(CLI::App& app, int& exit_code);

/// Adds `signup open|close|list|ticket` (offline; docs/accounts.md).
void add_signup_commands(CLI::App& app, int& exit_code);

/// Adds `fanout` (docs/operations.md).
void add_fanout_command(CLI::App& app, int& exit_code);
/// Adds `store move` and `cluster rebalance` (docs/operations.md); call
/// after `add_cluster_commands`.
void add_move_commands(CLI::App& app, int& exit_code);
/// Adds `backup` and `restore` (docs/operations.md).
void add_backup_commands(CLI::App& app, int& exit_code);

/// What `start` learns from the site store before the node takes over.
struct site_setup {
  bool created = false;   ///< this run created the site (first run)
  std::string demo_login; ///< "user / password" when a demo account exists
  std::string http;       ///< the configured HTTP listener, or ""
  std::string listen;     ///< the configured actor listener, or ""
  std::string plugins;    ///< the setting offerings.plugins, or ""
  std::string domain;     ///< the setting site.domain, or ""
  std::string smtp;       ///< the configured SMTP listener, or ""
  /// Every setting whose key starts with "smtp." (docs/smtp.md), "http."
  /// (docs/http-api.md), "cluster." or "backup." (docs/operations.md), or
  /// "port." (docs/security.md).
  std::map<std::string, std::string> settings;
};

/// Opens (on the first run: creates, with the demo account when `demo`)
/// the site of `data_dir` and reads its listeners. Needs the data directory
/// to itself; releases it before returning.
bool prepare_site(const std::filesystem::path& data_dir, bool demo,
                  site_setup& out, std::string& err);

/// Parses "HOST:PORT" (IPv4 or a name; `[v6]:port` too). Returns false with
/// a message when malformed.
bool parse_endpoint(const std::string& text, std::string& host,
                    unsigned short& port, std::string& err);

} // namespace mantissa::cli
