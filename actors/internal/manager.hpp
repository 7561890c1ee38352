#pragma once

#include <caf/fwd.hpp>

namespace mantissa::actors::internal {

struct runtime;

/// The address of the site store in `(store_atom, address)`.
inline constexpr const char* site_address = "site";

/// Spawns a node's store manager: it maps store addresses to store actors,
/// activating a store on first use and keeping at most
/// `rt.max_open_stores` open (least recently looked-up ones are
/// passivated first; requests wait while a store is closing). While stores
/// are open it sends each an `idle_atom` every quarter of `rt.idle_timeout`
/// (1 ms to 15 s): a store idle that long passivates.
///
/// Messages: `(store_atom, address) -> actor` (`no_such_store` when the
/// file does not exist), `(create_atom, address) -> actor` (creates the
/// file), `(stats_atom) -> string` (JSON counters), `(stores_atom) ->
/// string` (every store file of the data directory, see protocol.hpp).
caf::actor spawn_manager(caf::actor_system& sys, runtime& rt);

} // namespace mantissa::actors::internal
