#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "actors/node.hpp"
#include "cli/commands.hpp"
#include "offerings/setup.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"

namespace mantissa::cli {

namespace {

constexpr const char* default_http = "127.0.0.1:8080";

struct start_args {
  std::string data;
  std::string http;    // empty: the site's http service, else default_http
  std::string listen;  // empty: the site's listen service, else none
  bool no_demo = false;
};

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

int run_start(const start_args& args) {
  sigset_t stop_signals;
  block_stop_signals(stop_signals);
  std::string err;
  auto data_dir = args.data.empty() ? actors::default_data_dir()
                                    : std::filesystem::path{args.data};
  site_setup setup;
  if (!prepare_site(data_dir, !args.no_demo, setup, err)) {
    std::cerr << "mantissa start: " << err << '\n';
    return 1;
  }
  auto http_endpoint = !args.http.empty()    ? args.http
                       : !setup.http.empty() ? setup.http
                                             : std::string{default_http};
  std::string host;
  unsigned short port = 0;
  if (!parse_endpoint(http_endpoint, host, port, err)) {
    std::cerr << "mantissa start: --http: " << err << '\n';
    return 2;
  }
  actors::node_options nopts;
  nopts.data_dir = data_dir;
  auto listen_endpoint = !args.listen.empty() ? args.listen : setup.listen;
  if (!listen_endpoint.empty()) {
    unsigned short lport = 0;
    if (!parse_endpoint(listen_endpoint, nopts.listen_host, lport, err)) {
      std::cerr << "mantissa start: --listen: " << err << '\n';
      return 2;
    }
    nopts.listen_port = lport;
    nopts.listen = true;
  }
  // Every store of the node knows the types and handlers of every offering
  // (built-in, or a plugin named in the site setting offerings.plugins).
  // The registry outlives the node: handlers point into plugins it loaded.
  offerings::offering_registry known;
  if (auto r = offerings::add_builtin_offerings(known); !r) {
    std::cerr << "mantissa start: " << r.error_value().message << '\n';
    return 1;
  }
  if (auto r = offerings::load_plugins(known, setup.plugins); !r) {
    std::cerr << "mantissa start: " << r.error_value().message
              << " (named in the setting offerings.plugins)\n";
    return 1;
  }
  actors::node n{nopts};
  if (auto r = offerings::register_offerings(known, n); !r) {
    std::cerr << "mantissa start: " << r.error_value().message << '\n';
    return 1;
  }
  if (!n.start(err)) {
    std::cerr << "mantissa start: " << err << '\n';
    return 1;
  }
  http::server_options hopts;
  hopts.host = host;
  hopts.port = port;
  http::api_context api{&n, &known, {}, false};
  if (!setup.domain.empty())
    api.domains.push_back(setup.domain);
  http::server srv{hopts, http::make_api_handler(api)};
  if (!srv.start(err)) {
    std::cerr << "mantissa start: cannot serve HTTP on " << http_endpoint
              << ": " << err << '\n';
    return 1;
  }
  std::cout << "mantissa: data directory " << data_dir.string() << '\n';
  if (setup.created)
    std::cout << "mantissa: created a new site with a demo account\n";
  if (!setup.demo_login.empty())
    std::cout << "mantissa: demo login " << setup.demo_login << '\n';
  if (nopts.listen)
    std::cout << "mantissa: listening for actors on " << nopts.listen_host
              << ':' << n.listen_port() << '\n';
  std::cout << "mantissa: serving http://" << host << ':' << srv.port() << "/"
            << std::endl;
  auto sig = wait_for_stop_signal(stop_signals);
  std::cout << "mantissa: stopping on " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
            << std::endl;
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
  cmd->add_option("--data", args->data,
                  "Data directory (default: $MANTISSA_DATA, else ./mantissa-data)");
  cmd->add_option("--http", args->http,
                  "Serve HTTP on HOST:PORT (port 0 picks a free port); default: "
                  "the site's http port, else 127.0.0.1:8080");
  cmd->add_option("--listen", args->listen,
                  "Accept custom actors and nodes on HOST:PORT; default: the "
                  "site's listen port, else none");
  cmd->add_flag("--no-demo", args->no_demo,
                "On the first run, do not create the demo account");
  cmd->callback([args, &exit_code] { exit_code = run_start(*args); });
}

} // namespace mantissa::cli
