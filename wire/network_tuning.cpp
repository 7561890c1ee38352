#include "wire/network_tuning.hpp"

#include <cstddef>

#include <caf/actor_system_config.hpp>

namespace mantissa::actors {

void apply_latency_defaults(caf::actor_system_config& cfg) {
  cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  cfg.set("middleman.workers", std::size_t{0});
}

} // namespace mantissa::actors
