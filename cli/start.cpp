#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "actors/accounts.hpp"
#include "actors/backup.hpp"
#include "actors/node.hpp"
#include "actors/site_ca.hpp"
#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "log/log.hpp"
#include "offerings/setup.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"
#include "protocols/smtp/backend.hpp"
#include "protocols/smtp/server.hpp"
#include "protocols/tls/context.hpp"

namespace mantissa::cli {

namespace {

constexpr const char* default_http = "127.0.0.1:8080";

struct start_args {
  std::string data;
  std::string http;      // empty: the site's http service, else default_http
  std::string listen;    // empty: the site's listen service, else none
  std::string smtp;      // empty: the site's smtp service, else none
  std::string smtp_cert; // empty: the setting smtp.certificate
  std::string smtp_key;  // empty: the setting smtp.private_key
  std::string http_cert; // empty: the setting http.certificate
  std::string http_key;  // empty: the setting http.private_key
  bool no_demo = false;
  std::string name;        // the node's name in a cluster
  std::string join;        // HOST:PORT of the seed; empty: be the seed
  std::string cluster_key; // empty: <data>/cluster.key
  std::string advertise;   // empty: the --listen host
  double down_after = 5;   // seconds
  double failover_after = 0;  // seconds; 0: no automatic failover
  actors::network_tls tls; // empty parts: the settings cluster.*
  std::vector<std::string> caf; // KEY=VALUE, CAF's config syntax
  std::string log_format = "text";
  std::string log_level = "info";
  bool access_log = false;
  bool insecure_listen = false; // plain TCP on a port that is not loopback
};

/// Whether `host` is a loopback address (or names one).
bool is_loopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1"
         || host == "[::1]";
}

std::string this_host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
    return "localhost";
  return buf;
}

/// The network port's TLS when it is not on loopback and no files were
/// given: the node's certificate in DATA/tls/ (issued from the site CA there
/// when missing; a seed or a single node makes the CA itself on its first
/// start). False with `err` when there is none to be had.
bool default_port_tls(const std::filesystem::path& data_dir,
                      const std::string& name, bool joining,
                      const std::vector<std::string>& hosts,
                      actors::network_tls& tls, std::string& err) {
  auto dir = actors::site_tls_dir(data_dir);
  auto cert = dir / (name + ".pem");
  auto key = dir / (name + ".key");
  std::error_code ec;
  if (!std::filesystem::exists(cert, ec) || !std::filesystem::exists(key, ec)) {
    if (!actors::site_ca_exists(dir)) {
      if (joining) {
        err = "--listen is not on loopback, so the network port speaks "
              "mutual TLS, and there is no certificate for node " + name
              + " in " + dir.string()
              + ": issue one from the site's CA (on the seed: mantissa cert "
                "issue " + name + " --node --data SEED-DATA --out "
              + dir.string()
              + "), give --tls-cert/--tls-key/--tls-ca, or --insecure-listen";
        return false;
      }
      auto ca = actors::make_site_ca(dir, name);
      if (!ca) {
        err = "cannot make the site CA: " + ca.error_value().message;
        return false;
      }
      std::cout << "mantissa: created the site CA in " << dir.string() << '\n';
    }
    actors::cert_request req;
    req.name = name;
    req.node = true;
    req.hosts = hosts;
    auto issued = actors::issue_certificate(dir, req, dir);
    if (!issued) {
      err = "cannot issue this node's certificate: "
            + issued.error_value().message;
      return false;
    }
    std::cout << "mantissa: issued the certificate of node " << name
              << " from the site CA (" << cert.string() << ")\n";
  }
  tls.certificate = cert;
  tls.private_key = key;
  tls.ca_file = dir / "ca.pem";
  return true;
}

bool parse_size(const std::string& text, std::size_t& out);

/// The site settings port.* (docs/security.md, "Limits").
bool port_settings(const site_setup& setup, actors::port_options& o,
                   std::string& err) {
  struct limit {
    const char* key;
    std::size_t* value;
  };
  std::size_t timeout_ms = static_cast<std::size_t>(o.login_timeout.count());
  std::size_t max_message = o.max_message;
  for (auto [key, value] :
       {limit{"port.max_pending", &o.max_pending},
        limit{"port.max_pending_per_address", &o.max_pending_per_address},
        limit{"port.max_per_address", &o.max_per_address},
        limit{"port.login_timeout", &timeout_ms},
        limit{"port.max_message", &max_message}}) {
    auto i = setup.settings.find(key);
    if (i == setup.settings.end() || i->second.empty())
      continue;
    if (!parse_size(i->second, *value) || *value == 0) {
      err = std::string{"the setting "} + key
            + ": expected a positive number (K, M, G allowed), got '"
            + i->second + "'";
      return false;
    }
  }
  if (max_message > (std::size_t{1} << 31)) {
    err = "the setting port.max_message: at most 2G";
    return false;
  }
  o.login_timeout = std::chrono::milliseconds{timeout_ms};
  o.max_message = static_cast<std::uint32_t>(max_message);
  return true;
}

/// The site settings auth.* (docs/security.md, "Limits"): counts, and
/// times in milliseconds.
bool auth_settings(const site_setup& setup, actors::auth_options& o,
                   std::string& err) {
  auto ms = [](std::chrono::milliseconds d) {
    return static_cast<std::size_t>(d.count());
  };
  std::size_t free_failures = static_cast<std::size_t>(o.free_failures);
  std::size_t account_free = static_cast<std::size_t>(o.account_free_failures);
  std::size_t workers = o.workers;
  std::size_t base = ms(o.base_delay);
  std::size_t cap = ms(o.max_delay);
  std::size_t idle = ms(o.session_idle);
  std::size_t lifetime = ms(o.session_lifetime);
  struct limit {
    const char* key;
    std::size_t* value;
    std::size_t most;
  };
  for (auto [key, value, most] :
       {limit{"auth.free_failures", &free_failures, 1000},
        limit{"auth.account_free_failures", &account_free, 1'000'000},
        limit{"auth.workers", &workers, 64},
        limit{"auth.max_pending", &o.max_pending, 1'000'000},
        limit{"auth.max_pending_per_client", &o.max_pending_per_client, 10'000},
        limit{"auth.base_delay", &base, 3'600'000},
        limit{"auth.max_delay", &cap, 86'400'000},
        limit{"auth.session_idle", &idle, std::size_t{1} << 40},
        limit{"auth.session_lifetime", &lifetime, std::size_t{1} << 40}}) {
    auto i = setup.settings.find(key);
    if (i == setup.settings.end() || i->second.empty())
      continue;
    if (!parse_size(i->second, *value) || *value == 0 || *value > most) {
      err = std::string{"the setting "} + key
            + ": expected a positive number up to " + std::to_string(most)
            + ", got '" + i->second + "'";
      return false;
    }
  }
  o.free_failures = static_cast<int>(free_failures);
  o.account_free_failures = static_cast<int>(account_free);
  o.workers = static_cast<unsigned>(workers);
  o.base_delay = std::chrono::milliseconds{base};
  o.max_delay = std::chrono::milliseconds{cap};
  o.session_idle = std::chrono::milliseconds{idle};
  o.session_lifetime = std::chrono::milliseconds{lifetime};
  return true;
}

/// Blocks SIGINT and SIGTERM in the calling thread (and every thread it
/// starts afterwards) so that `wait_for_stop_signal` can take them.
void block_stop_signals(sigset_t& set) {
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_stop_signal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

/// A size setting: digits, optionally followed by K, M or G (powers of
/// 1024). Returns false when malformed.
bool parse_size(const std::string& text, std::size_t& out) {
  if (text.empty())
    return false;
  std::size_t unit = 1;
  auto digits = text;
  switch (text.back()) {
    case 'K':
    case 'k':
      unit = 1024;
      break;
    case 'M':
    case 'm':
      unit = std::size_t{1024} * 1024;
      break;
    case 'G':
    case 'g':
      unit = std::size_t{1024} * 1024 * 1024;
      break;
    default:
      break;
  }
  if (unit != 1)
    digits.pop_back();
  if (digits.empty() || digits.size() > 12
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(digits) * unit;
  return out > 0;
}

/// The SMTP server's options from the site's smtp.* settings, the site
/// domain and the command line (docs/smtp.md, "Configuration").
bool smtp_options(const start_args& args, const site_setup& setup,
                  const std::string& endpoint, smtp::server_options& o,
                  std::string& err) {
  if (!parse_endpoint(endpoint, o.host, o.port, err)) {
    err = "--smtp: " + err;
    return false;
  }
  auto setting = [&](const char* key) -> std::string {
    auto i = setup.settings.find(key);
    return i == setup.settings.end() ? std::string{} : i->second;
  };
  auto& s = o.session;
  if (!setup.domain.empty())
    s.domains.push_back(setup.domain);
  auto extra = setting("smtp.domains");
  for (std::size_t pos = 0; pos <= extra.size();) {
    auto comma = extra.find(',', pos);
    auto end = comma == std::string::npos ? extra.size() : comma;
    auto d = extra.substr(pos, end - pos);
    while (!d.empty() && d.front() == ' ')
      d.erase(0, 1);
    while (!d.empty() && d.back() == ' ')
      d.pop_back();
    if (!d.empty()) {
      auto check = actors::parse_address("postmaster@" + d);
      if (!check) {
        err = "the setting smtp.domains: " + check.error_value().message;
        return false;
      }
      s.domains.push_back(check->domain);
    }
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  if (s.domains.empty()) {
    err = "no mail domain: set one with `mantissa init --domain` (the "
          "setting site.domain) or the setting smtp.domains";
    return false;
  }
  if (auto plain = setting("smtp.auth_over_plain");
      plain == "never") {
    s.auth_plain_loopback = false;
  } else if (!plain.empty() && plain != "loopback") {
    err = "the setting smtp.auth_over_plain: loopback or never, got '" + plain
          + "'";
    return false;
  }
  s.hostname = setting("smtp.hostname");
  if (s.hostname.empty()) {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0')
      s.hostname = name;
    else
      s.hostname = s.domains.front();
  }
  struct limit {
    const char* key;
    std::size_t* value;
  };
  for (auto [key, value] :
       {limit{"smtp.max_message_size", &s.max_message_size},
        limit{"smtp.max_recipients", &s.max_recipients},
        limit{"smtp.max_errors", &s.max_errors},
        limit{"smtp.max_connections", &o.max_connections},
        limit{"smtp.data_budget", &o.data_budget}}) {
    auto text = setting(key);
    if (!text.empty() && !parse_size(text, *value)) {
      err = std::string{"the setting "} + key
            + ": expected a positive "
              "number (K, M, G allowed), got '"
            + text + "'";
      return false;
    }
  }
  tls::files files;
  files.certificate
    = !args.smtp_cert.empty() ? args.smtp_cert : setting("smtp.certificate");
  files.private_key
    = !args.smtp_key.empty() ? args.smtp_key : setting("smtp.private_key");
  if (files.enabled()) {
    o.tls = tls::make_server_context(files, err);
    if (!o.tls) {
      err = "STARTTLS: " + err;
      return false;
    }
  }
  return true;
}

/// Prints "mantissa start: <what>"; returns `status`.
int start_error(const std::string& what, int status) {
  std::cerr << "mantissa start: " << what << '\n';
  return status;
}

/// The site setting `key`, or "".
std::string setting_of(const site_setup& setup, const char* key) {
  auto i = setup.settings.find(key);
  return i == setup.settings.end() ? std::string{} : i->second;
}

/// Sets the log format and level of --log-format and --log-level; 0, or
/// exit status 2 after printing the error.
int configure_logging(const start_args& args) {
  log::format f{};
  log::level lv{};
  if (!log::parse_format(args.log_format, f))
    return start_error("--log-format: 'text' or 'json', not '"
                         + args.log_format + "'",
                       2);
  if (!log::parse_level(args.log_level, lv))
    return start_error("--log-level: debug, info, warn or error, not '"
                         + args.log_level + "'",
                       2);
  log::configure(f, lv);
  return 0;
}

/// The network port (--listen, else the site's listen service) and its
/// TLS (--tls-*, else the settings cluster.*, else the node's certificate
/// in DATA/tls/ when the port is not on loopback, unless
/// --insecure-listen). 0, or exit status 2 after printing the error.
int network_port_options(const start_args& args, const site_setup& setup,
                         actors::node_options& nopts) {
  std::string err;
  auto listen_endpoint = !args.listen.empty() ? args.listen : setup.listen;
  if (!listen_endpoint.empty()) {
    unsigned short lport = 0;
    if (!parse_endpoint(listen_endpoint, nopts.listen_host, lport, err))
      return start_error("--listen: " + err, 2);
    nopts.listen_port = lport;
    nopts.listen = true;
  }
  nopts.tls = args.tls;
  if (nopts.tls.certificate.empty())
    nopts.tls.certificate = setting_of(setup, "cluster.certificate");
  if (nopts.tls.private_key.empty())
    nopts.tls.private_key = setting_of(setup, "cluster.private_key");
  if (nopts.tls.ca_file.empty())
    nopts.tls.ca_file = setting_of(setup, "cluster.ca_file");
  if (nopts.tls.enabled() && !nopts.listen)
    return start_error("--tls-cert/--tls-key/--tls-ca secure the network "
                       "port: give --listen HOST:PORT too",
                       2);
  if (!nopts.listen || nopts.tls.enabled() || is_loopback(nopts.listen_host))
    return 0;
  if (args.insecure_listen) {
    std::cout << "mantissa: the network port on " << nopts.listen_host
              << " speaks plain TCP (--insecure-listen): everything on it "
                 "crosses the network in clear\n";
    return 0;
  }
  std::vector<std::string> hosts{nopts.listen_host};
  if (!args.advertise.empty())
    hosts.push_back(args.advertise);
  if (hosts.front() == "0.0.0.0" || hosts.front() == "::")
    hosts.erase(hosts.begin());
  auto name = args.name.empty() ? this_host_name() : args.name;
  if (!default_port_tls(nopts.data_dir, name, !args.join.empty(), hosts,
                        nopts.tls, err))
    return start_error(err, 2);
  return 0;
}

/// --caf KEY=VALUE settings of the actor system; 0, or exit status 2
/// after printing the error.
int caf_options(const start_args& args, actors::node_options& nopts) {
  for (auto& kv : args.caf) {
    auto eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos || eq + 1 == kv.size())
      return start_error("--caf wants KEY=VALUE (for example "
                         "scheduler.max-threads=8), got '"
                           + kv + "'",
                         2);
    nopts.caf_settings.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return 0;
}

/// The cluster options (--name, --join and what goes with them); 0, or
/// exit status 2 after printing the error.
int cluster_options(const start_args& args, actors::node_options& nopts) {
  if (args.name.empty() && args.join.empty())
    return 0;
  nopts.cluster = true;
  if (!args.name.empty())
    nopts.name = args.name;
  if (!args.join.empty()) {
    unsigned short jport = 0;
    std::string err;
    if (!parse_endpoint(args.join, nopts.join_host, jport, err))
      return start_error("--join: " + err, 2);
    nopts.join_port = jport;
  }
  if (!nopts.listen)
    return start_error("a cluster node needs --listen HOST:PORT (other "
                       "nodes reach it there)",
                       2);
  if (args.down_after < 0.2 || args.down_after > 3600)
    return start_error("--node-down-after: between 0.2 and 3600 seconds", 2);
  nopts.node_down_after = std::chrono::milliseconds{
    static_cast<std::int64_t>(args.down_after * 1000)};
  nopts.cluster_heartbeat
    = std::min(std::chrono::milliseconds{1000}, nopts.node_down_after / 3);
  if (args.failover_after < 0
      || (args.failover_after > 0 && args.failover_after < args.down_after))
    return start_error("--failover-after: 0 (off) or at least "
                       "--node-down-after",
                       2);
  nopts.failover_after = std::chrono::milliseconds{
    static_cast<std::int64_t>(args.failover_after * 1000)};
  nopts.cluster_key_file = args.cluster_key;
  nopts.advertise_host = args.advertise;
  return 0;
}

/// The node's options from the command line and the site's settings; 0,
/// or exit status 2 after printing the error.
int node_options_of(const start_args& args, const site_setup& setup,
                    const std::filesystem::path& data_dir,
                    actors::node_options& nopts) {
  nopts.data_dir = data_dir;
  if (int st = network_port_options(args, setup, nopts))
    return st;
  std::string err;
  if (!auth_settings(setup, nopts.auth, err)
      || !port_settings(setup, nopts.port, err))
    return start_error(err, 2);
  auto sched = actors::backup_schedule_from_settings(
    setting_of(setup, "backup.schedule"), setting_of(setup, "backup.dir"),
    setting_of(setup, "backup.keep"), data_dir);
  if (!sched)
    return start_error(sched.error_value().message, 2);
  nopts.backups = *sched;
  if (int st = caf_options(args, nopts))
    return st;
  return cluster_options(args, nopts);
}

/// Every offering the node's stores know: the built-in ones and the
/// plugins named in the site setting offerings.plugins. 0, or exit
/// status 1 after printing the error.
int load_known_offerings(const site_setup& setup,
                         offerings::offering_registry& known) {
  if (auto r = offerings::add_builtin_offerings(known); !r)
    return start_error(r.error_value().message, 1);
  if (auto r = offerings::load_plugins(known, setup.plugins); !r)
    return start_error(r.error_value().message
                         + " (named in the setting offerings.plugins)",
                       1);
  return 0;
}

/// Registers the offerings' and the SMTP handlers with `n` and starts it;
/// 0, or exit status 1 after printing the error.
int start_node(actors::node& n, offerings::offering_registry& known) {
  if (auto r = offerings::register_offerings(known, n); !r)
    return start_error(r.error_value().message, 1);
  if (auto r = smtp::register_handlers(n.handlers()); !r)
    return start_error(r.error_value().message, 1);
  std::string err;
  if (!n.start(err))
    return start_error(err, 1);
  return 0;
}

/// The HTTP server's settings: trusted proxies, who may read /metrics,
/// and HTTPS (--http-cert/--http-key, else the settings http.*).
struct http_settings {
  http::metrics_access metrics = http::metrics_access::loopback;
  std::string metrics_token;
};

/// Fills `hopts` and `out` from the settings http.* and the command line;
/// 0, or exit status 2 after printing the error.
int http_options(const start_args& args, const site_setup& setup,
                 http::server_options& hopts, http_settings& out) {
  std::string err;
  // Behind a reverse proxy: whose X-Forwarded-For to believe, and who may
  // read /metrics (docs/security.md, "Behind a reverse proxy").
  if (!hopts.proxies.parse(setting_of(setup, "http.trusted_proxies"), err))
    return start_error("the setting http.trusted_proxies: " + err, 2);
  auto access = setting_of(setup, "http.metrics_access");
  out.metrics_token = setting_of(setup, "http.metrics_token");
  if (access.empty() || access == "loopback") {
    out.metrics = http::metrics_access::loopback;
  } else if (access == "admins") {
    out.metrics = http::metrics_access::admins;
  } else if (access == "token" && out.metrics_token.size() >= 16) {
    out.metrics = http::metrics_access::token;
  } else {
    return start_error("the setting http.metrics_access: loopback, admins, "
                       "or token (with http.metrics_token of at least 16 "
                       "characters), got '"
                         + access + "'",
                       2);
  }
  tls::files files;
  files.certificate = !args.http_cert.empty()
                        ? args.http_cert
                        : setting_of(setup, "http.certificate");
  files.private_key = !args.http_key.empty()
                        ? args.http_key
                        : setting_of(setup, "http.private_key");
  if (files.enabled()) {
    hopts.tls = tls::make_server_context(files, err);
    if (!hopts.tls)
      return start_error("HTTPS: " + err, 2);
  }
  return 0;
}

/// What a started node tells its operator on standard output.
void print_started(const std::filesystem::path& data_dir,
                   const site_setup& setup, const actors::node_options& nopts,
                   const actors::node& n, const smtp::server_options& sopts,
                   const smtp::server* mail) {
  std::cout << "mantissa: data directory " << data_dir.string() << '\n';
  if (setup.created)
    std::cout << "mantissa: created a new site with a demo account\n";
  if (!setup.demo_login.empty())
    std::cout << "mantissa: demo login " << setup.demo_login << '\n';
  for (auto& [key, value] : nopts.caf_settings)
    std::cout << "mantissa: CAF setting " << key << " = " << value << '\n';
  if (nopts.listen)
    std::cout << "mantissa: listening for actors on " << nopts.listen_host
              << ':' << n.listen_port()
              << (nopts.tls.enabled() ? " (mutual TLS)" : "") << '\n';
  if (nopts.cluster)
    std::cout << "mantissa: cluster node " << nopts.name
              << (nopts.join_host.empty()
                    ? std::string{" (the seed)"}
                    : " joining " + nopts.join_host + ":"
                        + std::to_string(nopts.join_port))
              << '\n';
  if (mail) {
    std::cout << "mantissa: serving smtp on " << sopts.host << ':'
              << mail->port() << " for";
    for (auto& d : sopts.session.domains)
      std::cout << ' ' << d;
    std::cout << (sopts.tls ? " (STARTTLS)" : "") << '\n';
  }
}

int run_start(const start_args& args) {
  sigset_t stop_signals;
  block_stop_signals(stop_signals);
  std::string err;
  if (int st = configure_logging(args))
    return st;
  auto data_dir = args.data.empty() ? actors::default_data_dir()
                                    : std::filesystem::path{args.data};
  site_setup setup;
  if (!prepare_site(data_dir, !args.no_demo && args.join.empty(), setup, err))
    return start_error(err, 1);
  auto http_endpoint = !args.http.empty()    ? args.http
                       : !setup.http.empty() ? setup.http
                                             : std::string{default_http};
  http::server_options hopts;
  if (!parse_endpoint(http_endpoint, hopts.host, hopts.port, err))
    return start_error("--http: " + err, 2);
  actors::node_options nopts;
  if (int st = node_options_of(args, setup, data_dir, nopts))
    return st;
  // Every store of the node knows the types and handlers of every offering
  // (built-in, or a plugin named in the site setting offerings.plugins).
  // The registry outlives the node: handlers point into plugins it loaded.
  offerings::offering_registry known;
  if (int st = load_known_offerings(setup, known))
    return st;
  auto smtp_endpoint = !args.smtp.empty() ? args.smtp : setup.smtp;
  smtp::server_options sopts;
  if (!smtp_endpoint.empty()
      && !smtp_options(args, setup, smtp_endpoint, sopts, err))
    return start_error(err, 2);
  actors::node n{nopts};
  if (int st = start_node(n, known))
    return st;
  http_settings hset;
  if (int st = http_options(args, setup, hopts, hset)) {
    n.stop();
    return st;
  }
  // The SMTP server exists before the HTTP server starts (its metrics
  // are part of /metrics); it starts listening after it.
  std::unique_ptr<smtp::backend> mail_backend;
  std::unique_ptr<smtp::server> mail;
  if (!smtp_endpoint.empty()) {
    mail_backend = smtp::make_node_backend(n);
    mail = std::make_unique<smtp::server>(sopts, *mail_backend);
  }
  http::api_context api{&n, &known, {}, false};
  api.access_log = args.access_log;
  api.metrics = hset.metrics;
  api.metrics_token = std::move(hset.metrics_token);
  if (!setup.domain.empty())
    api.domains.push_back(setup.domain);
  if (mail)
    api.extra_metrics = [m = mail.get()](actors::prometheus_text& out) {
      m->write_metrics(out);
    };
  http::server srv{hopts, http::make_api_handler(api)};
  if (!srv.start(err))
    return start_error("cannot serve HTTP on " + http_endpoint + ": " + err, 1);
  if (mail && !mail->start(err)) {
    int st
      = start_error("cannot serve SMTP on " + smtp_endpoint + ": " + err, 1);
    srv.stop();
    return st;
  }
  print_started(data_dir, setup, nopts, n, sopts, mail.get());
  std::cout << "mantissa: serving " << (hopts.tls ? "https" : "http") << "://"
            << hopts.host << ':' << srv.port() << "/" << std::endl;
  auto sig = wait_for_stop_signal(stop_signals);
  std::cout << "mantissa: stopping on "
            << (sig == SIGINT ? "SIGINT" : "SIGTERM") << std::endl;
  if (mail)
    mail->stop();
  srv.stop();
  n.stop();
  std::cout << "mantissa: stopped" << std::endl;
  return 0;
}

} // namespace

bool parse_endpoint(const std::string& text, std::string& host,
                    unsigned short& port, std::string& err) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    err = "expected HOST:PORT, got '" + text + "'";
    return false;
  }
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos) {
    err = "invalid port '" + digits + "'";
    return false;
  }
  auto value = std::stoul(digits);
  if (value > 65535) {
    err = "port " + digits + " is out of range";
    return false;
  }
  port = static_cast<unsigned short>(value);
  return true;
}

void add_start_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<start_args>();
  auto* cmd = app.add_subcommand("start", "Run a node until SIGINT or SIGTERM");
  add_text_options(
    cmd,
    {{"--data", &args->data,
      "Data directory (default: $MANTISSA_DATA, else ./mantissa-data)"},
     {"--http", &args->http,
      "Serve HTTP on HOST:PORT (port 0 picks a free port); default: "
      "the site's http port, else 127.0.0.1:8080"},
     {"--listen", &args->listen,
      "Accept custom actors and nodes on HOST:PORT; default: the "
      "site's listen port, else none"},
     {"--smtp", &args->smtp,
      "Accept mail on HOST:PORT (port 0 picks a free port); "
      "default: the site's smtp port, else none"},
     {"--http-cert", &args->http_cert,
      "PEM certificate chain: serve HTTPS instead of HTTP; "
      "default: the setting http.certificate"},
     {"--http-key", &args->http_key,
      "PEM private key of --http-cert; default: the setting "
      "http.private_key"},
     {"--smtp-cert", &args->smtp_cert,
      "PEM certificate chain offered with STARTTLS; default: the "
      "setting smtp.certificate"},
     {"--smtp-key", &args->smtp_key,
      "PEM private key of --smtp-cert; default: the setting "
      "smtp.private_key"},
     {"--name", &args->name,
      "This node's name in a cluster (default: the host name); "
      "giving it makes the node a cluster's seed unless --join"},
     {"--join", &args->join,
      "Join the cluster whose seed listens on HOST:PORT"},
     {"--cluster-key", &args->cluster_key,
      "The cluster key file (default: DATA/cluster.key; the seed "
      "creates it, joining nodes need a copy)"},
     {"--advertise", &args->advertise,
      "The host other nodes reach this one at (default: the "
      "--listen host)"}});
  cmd->add_option("--failover-after", args->failover_after,
                  "Seed: promote the replicas of a node's stores once it is "
                  "down for this many seconds (default 0: only `mantissa "
                  "cluster failover`)");
  cmd->add_option("--node-down-after", args->down_after,
                  "Seconds without an answer before a node counts as down "
                  "(default 5)");
  cmd->add_option("--tls-cert", args->tls.certificate,
                  "PEM certificate signed by the cluster CA: the network port "
                  "speaks mutual TLS; default: the setting "
                  "cluster.certificate");
  cmd->add_option("--tls-key", args->tls.private_key,
                  "PEM private key of --tls-cert; default: the setting "
                  "cluster.private_key");
  cmd->add_option("--tls-ca", args->tls.ca_file,
                  "PEM certificate of the cluster CA; peers need a "
                  "certificate it signed; default: the setting cluster.ca_file");
  cmd->add_flag("--insecure-listen", args->insecure_listen,
                "Let a --listen port that is not on loopback speak plain TCP "
                "instead of mutual TLS (everything on it is readable on the "
                "network)");
  cmd->add_option("--caf", args->caf,
                  "A setting of the actor system, KEY=VALUE in CAF's syntax "
                  "(repeatable; overrides the node's defaults, see "
                  "docs/cluster.md)");
  add_text_options(
    cmd,
    {{"--log-format", &args->log_format,
      "Log lines as 'text' (default) or 'json' (one object a line)"},
     {"--log-level", &args->log_level,
      "The lowest level logged: debug, info (default), warn, error"}});
  cmd->add_flag("--access-log", args->access_log,
                "Log every HTTP request (method, path, status, time, request "
                "id)");
  cmd->add_flag("--no-demo", args->no_demo,
                "On the first run, do not create the demo account");
  cmd->callback([args, &exit_code] { exit_code = run_start(*args); });
}

} // namespace mantissa::cli
