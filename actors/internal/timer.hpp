#pragma once

#include <caf/fwd.hpp>

namespace mantissa::actors::internal {

struct runtime;

/// Spawns the node's timer: the durable index of each store's next due time
/// (`<data>/schedule.sqlite`), so that a store whose timed event comes due
/// while it is passivated — or while the node was down — is activated for
/// it. Loads the index on start; every entry already due wakes its store
/// at once.
///
/// Messages:
/// - `(due_atom, address, int64 due)` -> `ok_atom` once the index durably
///   says the store is due at `due` (microseconds since the epoch) or has
///   nothing scheduled (`due` < 0). Store actors send it; see
///   store_actor.cpp for when a write waits for it.
/// - `(tick_atom)` (its own): wakes every store that is due by asking
///   `manager` for it and sending it `(tick_atom)`. A woken store reports
///   its next due time; until it does, the entry is retried a minute later.
///   An address that no longer names a store is dropped.
caf::actor spawn_timer(caf::actor_system& sys, runtime& rt,
                       const caf::actor& manager);

} // namespace mantissa::actors::internal
