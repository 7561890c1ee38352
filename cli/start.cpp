#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "actors/node.hpp"
#include "cli/commands.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"

namespace mantissa::cli {

namespace {

constexpr const char* default_http = "127.0.0.1:8080";

struct start_args {
  std::string data;
  std::string http = default_http;
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
  std::string host, err;
  unsigned short port = 0;
  if (!parse_endpoint(args.http, host, port, err)) {
    std::cerr << "mantissa start: --http: " << err << '\n';
    return 2;
  }
  actors::node_options nopts;
  nopts.data_dir = args.data.empty() ? actors::default_data_dir()
                                     : std::filesystem::path{args.data};
  actors::node n{nopts};
  if (!n.start(err)) {
    std::cerr << "mantissa start: " << err << '\n';
    return 1;
  }
  http::server_options hopts;
  hopts.host = host;
  hopts.port = port;
  http::server srv{hopts, http::make_api_handler(n)};
  if (!srv.start(err)) {
    std::cerr << "mantissa start: cannot serve HTTP on " << args.http << ": "
              << err << '\n';
    return 1;
  }
  std::cout << "mantissa: data directory " << nopts.data_dir.string() << '\n'
            << "mantissa: serving http://" << host << ':' << srv.port() << "/"
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
                  "Serve HTTP on HOST:PORT (port 0 picks a free port)")
    ->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_start(*args); });
}

} // namespace mantissa::cli
