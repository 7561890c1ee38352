#include "actors/internal/peer_link.hpp"

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/node_id.hpp>

#include "wire/errors.hpp"
#include "actors/internal/edge.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal {

namespace {

caf::behavior peer_link(caf::event_based_actor* self, caf::actor owner,
                        caf::actor session, std::string capability) {
  obey_local_exits(self);
  self->monitor(session);
  self->monitor(owner);
  self->set_down_handler([self, session, owner](caf::down_msg& m) {
    if (genuine_down(self, m)
        && (m.source == session.address() || m.source == owner.address()))
      self->quit(caf::exit_reason::user_shutdown);
  });
  caller who{system_role, "cluster", std::move(capability)};
  return {
    [self, session, who](link_call_atom, caf::timespan timeout,
                         caf::message& msg) -> caf::result<std::string> {
      if (!from_local(self))
        return make_error(error_code::forbidden, "not from this node");
      if (msg.empty())
        return make_error(error_code::invalid_query, "an empty message");
      auto out = msg.take(1) + caf::make_message(who) + msg.drop(1);
      auto rp = self->make_response_promise<std::string>();
      self->request(session, timeout, std::move(out))
        .then([rp](std::string& body) mutable { rp.deliver(std::move(body)); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](port::connection_gone) {
      if (from_local(self))
        self->quit(caf::exit_reason::user_shutdown);
    },
  };
}

} // namespace

caf::actor spawn_peer_link(caf::actor_system& sys,
                           std::shared_ptr<port::door> door, caf::actor owner,
                           caf::actor session, std::string capability) {
  auto link = sys.spawn(peer_link, std::move(owner), std::move(session),
                        std::move(capability));
  port::make_edge(door, link);
  return link;
}

} // namespace mantissa::actors::internal
