#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "wire/port/preamble.hpp"

/// The client side of the node's network port: connect, TLS when the actor
/// system is configured for it (`configure_network_tls`), the login that
/// opens the connection (wire/port/preamble.hpp), then CAF's protocol on
/// the same connection. Used by the client library and by nodes reaching
/// each other.
namespace mantissa::actors::port {

using dial_atom = caf::atom_constant<caf::atom("mp_dial")>;

/// Spawns a one-shot actor, on a thread of its own (it blocks on the
/// network), that answers one
///
///   (dial_atom, host, uint16 port, uint8 login_kind, user, secret,
///    uint32 timeout_ms)
///     -> (caf::actor session, std::string role, std::string capability)
///
/// and then exits. `session` is the node's session for the login (a
/// proxy); `capability` must travel in the `caller` of every message sent
/// to it and to the handles it hands out (wire/protocol.hpp). Errors (of
/// category "mantissa"): `store_unavailable` (nothing listens, the TLS
/// handshake or the connection failed, no answer within the timeout), and
/// the node's answer to the login (`unauthorized`, `busy`, ...).
[[nodiscard]] caf::actor spawn_dialer(caf::actor_system& sys);

} // namespace mantissa::actors::port
