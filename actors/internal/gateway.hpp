#pragma once

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

namespace mantissa::actors {
class authenticator;
} // namespace mantissa::actors

namespace mantissa::actors::internal {

/// Spawns the gateway a node publishes on its network port (see
/// docs/security.md, "Custom actors").
///
/// The gateway answers one message: `(login_atom, username, password)` ->
/// `actor`, a *session actor* bound to the role the credentials prove
/// (`user:ADDRESS`, or `system` for the username `system` with the node
/// key); a bad login is `unauthorized`. The session actor answers
/// `(store_atom, address) -> actor` with a forwarder for that store and
/// `(stats_atom) -> string`, `(stores_atom) -> string` and `(backup_atom,
/// address, dest) -> string` (system role only; actors/protocol.hpp). A forwarder passes every
/// protocol message to the store actor after replacing the role in its
/// `caller` with the session's role: what a remote program writes there is
/// ignored. Store actors' own handles never leave the node. A session (and
/// its forwarders) ends when the program that logged in goes away.
///
/// System sessions also take `(route_atom, address, message)` (to
/// `bridge`: a store of this node) and `(cluster_atom, command, json)` (to
/// `cluster`, invalid outside a cluster); in a cluster, a store that is not
/// on this node gets a forwarder through `cluster`.
caf::actor spawn_gateway(caf::actor_system& sys, const caf::actor& manager,
                         const caf::actor& bridge, const caf::actor& cluster,
                         authenticator& auth, caf::timespan timeout);

} // namespace mantissa::actors::internal
