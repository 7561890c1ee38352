#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor_addr.hpp>

#include "store/changes.hpp"

namespace mantissa::actors::internal::store_parts {

/// A move or a replica of the store (actors/internal/move.hpp,
/// docs/operations.md "Replicas"). Used only by the owning store actor.
///
/// Invariants:
/// - `recorder` records the changes since a move's snapshot (or since the
///   last shipment to the replica); it exists only while the store is
///   open.
/// - `frozen`: the store takes no messages but the mover's until it
///   thaws or closes for good; only a store with a `recorder` freezes.
/// - `replicating`: the changes of each commit are shipped to
///   `replica_node`, numbered from 1 (`replica_seq`) per stream; a failed
///   shipment stops it and arms one resync (`resync_armed`).
struct move_state {
  std::unique_ptr<store::change_recorder> recorder;
  caf::actor_addr mover;
  bool frozen = false;
  std::string replica_node;
  std::int64_t replica_epoch = 0;
  bool replicating = false;
  bool resync_armed = false;
  std::uint64_t replica_seq = 0;
};

} // namespace mantissa::actors::internal::store_parts
