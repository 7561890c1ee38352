#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

/// The actors of a fan-out (actors/fanout.hpp has the request and the
/// collation). A *coordinator* answers `(fanout_atom, spec json, watcher)`
/// with the result: outside a cluster it runs one local part; in a cluster
/// it asks every node that is up for its part (the cluster command
/// "fanout_at"), counts the nodes that are down as failed, and merges. A
/// *local part* runs the spec in the user stores of its node, at most
/// `concurrency` at a time, through the bridge's `(route_atom, address,
/// message)`, and answers the collator's partial result. Both send
/// `(progress_atom, uint64 done, uint64 total)` to their watcher (if any)
/// at most 4 times a second and once at the end, and quit after answering.
namespace mantissa::actors::internal {

struct fanout_env {
  caf::actor bridge;  ///< routes requests to the stores of this node
  caf::actor cluster; ///< invalid outside a cluster
  std::filesystem::path data_dir;
};

/// The user stores whose files are in `data_dir` (`users/<domain>/<local>
/// .sqlite`), as addresses, sorted.
[[nodiscard]] std::vector<std::string>
list_user_stores(const std::filesystem::path& data_dir);

[[nodiscard]] caf::actor spawn_fanout(caf::actor_system& sys,
                                      const fanout_env& env);

[[nodiscard]] caf::actor spawn_local_fanout(caf::actor_system& sys,
                                            caf::actor bridge,
                                            std::filesystem::path data_dir);

} // namespace mantissa::actors::internal
