#include "actors/internal/node_config.hpp"

#include <algorithm>
#include <thread>

#include <caf/io/middleman.hpp>

#include "wire/network_tuning.hpp"
#include "actors/node.hpp"

namespace mantissa::actors::internal {

node_config::node_config(const node_options& opts) {
  load<caf::io::middleman>();
  if (opts.listen && opts.tls.enabled()
      && !configure_network_tls(*this, opts.tls, tls_error))
    tls_error = "TLS on the network port: " + tls_error;
  add_message_type<caller>("mantissa.caller");
  add_message_type<shared_bytes>("mantissa.bytes");
  add_error_category(caf::atom("mantissa"),
                     [](std::uint8_t code, caf::atom_value,
                        const caf::message& ctx) {
                       std::string out = to_string(static_cast<error_code>(code));
                       if (ctx.match_elements<std::string>())
                         out += ": " + ctx.get_as<std::string>(0);
                       return out;
                     });
  auto threads = opts.scheduler_threads;
  if (threads == 0) {
    // Store actors block in SQLite (reads, fsync at commit). Work stealing
    // moves other actors off a blocked worker, and a few more workers than
    // cores keep replies flowing while some stores wait on the disk.
    threads = std::max(4u, 2 * std::thread::hardware_concurrency());
  }
  set("scheduler.max-threads", static_cast<size_t>(threads));
  set("logger.console", caf::atom("none"));
  // Detect dead or frozen peers (see docs/node.md).
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
  apply_latency_defaults(*this);
  for (auto& [key, text] : opts.caf_settings) {
    auto v = caf::config_value::parse(text);
    if (!v) {
      bad_setting = key + " = " + text;
      continue;
    }
    set(key, std::move(*v));
  }
}

} // namespace mantissa::actors::internal
