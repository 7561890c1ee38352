#pragma once

#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "actors/port/door.hpp"
#include "actors/reply.hpp"
#include "wire/caller.hpp"

namespace mantissa::actors {
class authenticator;
} // namespace mantissa::actors

namespace mantissa::actors::internal {

/// What the sessions of the node's network port need (docs/security.md,
/// "The actor port").
struct gateway_env {
  caf::actor manager;
  caf::actor bridge;
  caf::actor cluster;  ///< invalid outside a cluster
  authenticator* auth = nullptr;
  caf::timespan timeout{};
  /// The node's name (a node's own name may not log in as a node).
  std::string node_name;
  /// Set before the door listens.
  std::shared_ptr<port::door> door;
  /// A local actor every session monitors: when it exits (the node
  /// stopping), every session ends.
  caf::actor anchor;
  /// The node's administrative operations (`node::set_admin_operations`);
  /// may be empty.
  std::function<void(const caller&, const std::string&, const std::string&,
                     reply_handler)>
    admin;
};

/// The check of every login at the door: the credentials go to the
/// authenticator (slowed down like any login); a success spawns a
/// *session* bound to the role they prove, with a fresh random capability.
///
/// - `login_kind::user`: an account's address and password (role
///   `user:ADDRESS`), or `system` with the node key or the cluster key
///   (role `system`).
/// - `login_kind::node`: a node of the cluster: its name and the cluster
///   key; with TLS the client certificate must be a node's of that name.
///   Only a node's session may send the cluster's `join` and `beat` for
///   its name.
///
/// A session accepts only messages whose `caller` carries its capability
/// (compared in constant time) and answers everything else
/// `unauthorized`; it ignores exit and down messages that do not come
/// from a local actor. It ends on `(logout_atom, caller)`, when the
/// connection of the peer that logged in goes away, and when the node
/// stops. Its forwarders (one per store address) check the capability of
/// every store message the same way, replace its role with the session's
/// and clear the capability before the message goes to the store actor:
/// store actors' own handles never leave the node. Sessions and
/// forwarders are the door's edge actors; every reply and every progress
/// report to the peer is sent by them, never by the node's internal actors
/// (manager, bridge, cluster, movers, backup streamers, fan-out
/// coordinators), which therefore never become addressable from the port.
[[nodiscard]] port::login_fn make_port_login(caf::actor_system& sys,
                                             std::shared_ptr<gateway_env> env);

/// Spawns the anchor of `gateway_env`: an actor that does nothing until it
/// is told to exit.
[[nodiscard]] caf::actor spawn_port_anchor(caf::actor_system& sys);

} // namespace mantissa::actors::internal
