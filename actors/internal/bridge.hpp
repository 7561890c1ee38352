#pragma once

#include <filesystem>
#include <string>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

/// The node's bridge: non-actor code's way into the store actors, and the
/// router of interstore messages (`runtime::router`). It also starts the
/// node's store moves and replicas (actors/internal/move.hpp), receives
/// moves to this node, supervises the streamer of streamed backups
/// (actors/internal/backup_stream.hpp) and spawns fan-out coordinators
/// (actors/internal/fanout.hpp).
///
/// Messages (local senders, or a system session of the port):
/// - `(call_atom, address, message, completion)`: a request from the node
///   façade; the completion gets the store's answer. `accounts_address`
///   goes to the seed in a cluster, to the site store elsewhere; a user
///   store not on this node goes to the cluster actor.
/// - `(route_atom, address, message) -> string`: a store of this node only
///   (from other nodes and the cluster actor).
/// - `(create_atom, address, completion)`, `(stats_atom, completion)`.
/// - `(cluster_atom, cluster actor, bool seed)`: the node joined a cluster.
/// - moves: `replicate_atom`, `move_atom`, `incoming_atom`, `relay_atom`;
///   streamed backups: `bksnap_atom`, `bkchunk_atom`, `bkfree_atom`;
///   `fanout_atom`: each delegated to the actor that does the work.
namespace mantissa::actors::internal {

struct counters;

/// Spawns the bridge of a node whose stores `manager` activates; requests
/// to stores wait `timeout` for their answer. `stats` outlives the actor.
caf::actor spawn_bridge(caf::actor_system& sys, caf::actor manager,
                        caf::timespan timeout, std::filesystem::path data_dir,
                        std::string node_name, counters* stats);

} // namespace mantissa::actors::internal
