#pragma once

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/port/door.hpp"

namespace mantissa::actors::internal {

using link_call_atom = caf::atom_constant<caf::atom("mp_link")>;

/// A node's link to a session it logged in to on another node (a cluster
/// peer): the one actor of this node that sends requests there, so that
/// the answers come back to an edge actor of the door (actors/port/door.hpp)
/// and the cluster actor itself never becomes addressable from the port.
///
/// Accepts, from actors of this node only,
///   (link_call_atom, caf::timespan timeout, caf::message msg) -> string
/// and sends `msg` to the session with the session's capability put in as
/// its second element (a `caller` of the system role): `(route_atom,
/// address, message)` goes out as `(route_atom, caller, address,
/// message)`. Anything from elsewhere is answered `forbidden`. It ends when
/// the session goes away, when `owner` (the cluster actor) goes, or when a
/// local actor sends it `port::connection_gone`.
[[nodiscard]] caf::actor spawn_peer_link(caf::actor_system& sys,
                                         std::shared_ptr<port::door> door,
                                         caf::actor owner, caf::actor session,
                                         std::string capability);

} // namespace mantissa::actors::internal
