#pragma once

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/local_actor.hpp>
#include <caf/node_id.hpp>
#include <caf/system_messages.hpp>

/// Rules for the door's edge actors (sessions, forwarders, cluster links):
/// the actors of a node that messages from the network may reach
/// (actors/port/door.hpp, docs/security.md "The actor port").
namespace mantissa::actors::internal {

/// True when the current message comes from an actor of this node. Over
/// the door, a peer's messages always name an actor of the peer's own node
/// as their sender (actors/port/frame_guard.hpp), so a local sender proves
/// a local message. A missing sender proves nothing.
inline bool from_local(caf::local_actor* self) {
  auto s = self->current_sender();
  return s && s->node() == self->system().node();
}

/// Makes `self` obey exit messages only from actors of this node (the ones
/// it is linked to), and ignore error messages (CAF's default handler would
/// stop the actor on any): a peer cannot stop an edge actor. (CAF obeys an
/// exit message with the reason `kill` whatever the handler says: the
/// door's guard defuses those before they are read,
/// actors/port/frame_guard.hpp.)
template <class Self>
void obey_local_exits(Self* self) {
  self->set_exit_handler([self](caf::exit_msg& m) {
    if (from_local(self))
      self->quit(m.reason);
  });
  self->set_error_handler([](caf::error&) {});
}

/// A down message is real when its sender is the actor it is about: a
/// peer's messages always come from its own node's actors, so it can only
/// report its own actors down.
inline bool genuine_down(caf::local_actor* self, const caf::down_msg& m) {
  auto s = self->current_sender();
  return s && caf::actor_cast<caf::actor_addr>(s) == m.source;
}

} // namespace mantissa::actors::internal
