#include "actors/node.hpp"

#include <cstdlib>
#include <optional>
#include <system_error>
#include <thread>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

namespace mantissa::actors {

namespace {

/// The node's CAF configuration. It is never handed `argc/argv`, so CAF does
/// not read a `caf-application.ini` from the working directory: a node's
/// behaviour depends only on its command line and its site store.
class node_config : public caf::actor_system_config {
 public:
  explicit node_config(const node_options& opts) {
    load<caf::io::middleman>();
    auto threads = opts.scheduler_threads;
    if (threads == 0)
      threads = std::max(2u, std::thread::hardware_concurrency());
    set("scheduler.max-threads", static_cast<size_t>(threads));
    // No console output from CAF's own logger.
    set("logger.console", caf::atom("none"));
  }
};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0')
    return "node";
  return buf;
}

} // namespace

struct node::impl {
  node_options opts;
  std::unique_ptr<node_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
};

node::node(node_options opts) : impl_(std::make_unique<impl>()) {
  if (opts.name.empty())
    opts.name = host_name();
  impl_->opts = std::move(opts);
}

node::~node() {
  stop();
}

bool node::start(std::string& err) {
  std::error_code ec;
  std::filesystem::create_directories(impl_->opts.data_dir, ec);
  if (ec) {
    err = "cannot create data directory " + impl_->opts.data_dir.string()
          + ": " + ec.message();
    return false;
  }
  if (::access(impl_->opts.data_dir.c_str(), W_OK) != 0) {
    err = "data directory " + impl_->opts.data_dir.string()
          + " is not writable";
    return false;
  }
  impl_->cfg = std::make_unique<node_config>(impl_->opts);
  impl_->sys = std::make_unique<caf::actor_system>(*impl_->cfg);
  return true;
}

void node::stop() {
  // Destroying the actor system waits for every actor; actors the node
  // spawns are told to exit first (see docs/architecture.md).
  impl_->sys.reset();
  impl_->cfg.reset();
}

const node_options& node::options() const noexcept {
  return impl_->opts;
}

std::filesystem::path default_data_dir() {
  if (const char* env = std::getenv("MANTISSA_DATA"); env && *env)
    return env;
  return std::filesystem::current_path() / "mantissa-data";
}

} // namespace mantissa::actors
