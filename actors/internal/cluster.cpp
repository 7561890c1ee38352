// The cluster actor: its start, its heartbeat and its behavior. Its parts:
// actors/internal/cluster/ (peers, directory, placement, the commands and
// their decoding from the network, the site store's records).

#include "actors/internal/cluster.hpp"
#include "actors/internal/cluster/state.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/message_handler.hpp>

#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/fanout.hpp"
#include "actors/internal/peer_link.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal {

namespace {

using namespace cluster_detail;

/// Seed: marks the members not heard from for `down_after` down, and runs
/// the automatic failover policy.
void watch_members(cluster_actor* self, steady::time_point now) {
  auto& st = self->state;
  for (auto& [name, m] : st.members)
    if (name != st.cfg.name && m.up && now - m.last_seen > st.cfg.down_after)
      mark(self, name, false);
  // The automatic failover policy: the replicas of a node down for
  // longer than --failover-after become primaries, once per outage.
  if (st.cfg.failover_after.count() == 0)
    return;
  for (auto& [name, m] : st.members) {
    if (name == st.cfg.name || m.up) {
      st.down_since.erase(name);
      continue;
    }
    auto [since, fresh] = st.down_since.emplace(name, now);
    if (since->second == steady::time_point::max()
        || now - since->second < st.cfg.failover_after)
      continue;
    since->second = steady::time_point::max();  // done for this outage
    log("node " + name + " is down for longer than the failover time: "
        "promoting the replicas of its stores");
    failover(self, name, [name](json out) {
      log("failover of " + name + ": " + out.dump());
    });
  }
}

/// Non-seed: joins the seed (until it has), then beats.
void beat_seed(cluster_actor* self) {
  auto& st = self->state;
  json me{{"name", st.cfg.name}, {"host", st.cfg.host}, {"port", st.cfg.port}};
  std::string cmd = st.joined ? "beat" : "join";
  if (!st.joined) {
    if (st.claims.is_null())
      st.claims = json(list_user_stores(st.cfg.data_dir));
    me["stores"] = st.claims;
  }
  command_remote(self, st.seed_name, cmd, me, on_reply([self](reply r) {
    auto& s = self->state;
    if (!r.ok) {
      if (s.joined)
        log("the seed does not answer: " + r.message);
      else if (r.message != s.join_error)
        log("cannot join the cluster at " + s.cfg.seed_host + ":"
            + std::to_string(s.cfg.seed_port) + " (retrying): " + r.message);
      s.join_error = r.message;
      s.joined = false;
      return;
    }
    if (!s.joined)
      log("joined the cluster at " + s.cfg.seed_host + ":"
          + std::to_string(s.cfg.seed_port));
    s.join_error.clear();
    s.joined = true;
    learn_members(self, json::parse(r.body, nullptr, false));
  }));
}

/// The peer behind `key` failed or went away: drop it, and note it in the
/// membership.
void lost_peer(cluster_actor* self, const std::string& key, peer& p,
               const std::string& what) {
  auto name = peer_name(self, key);
  drop_peer(self, p, "node " + (name.empty() ? "seed" : name) + " " + what);
  if (!self->state.seed && key.empty())
    self->state.joined = false;
  if (self->state.seed)
    mark(self, name, false);
}

/// Pings every peer we hold a session to: a frozen node fails the requests
/// waiting on it after `down_after`.
void ping_peers(cluster_actor* self) {
  auto& st = self->state;
  for (auto& [key, p] : st.peers) {
    if (!p.session || p.ping_in_flight)
      continue;
    p.ping_in_flight = true;
    self
      ->request(p.link, span(st.cfg.down_after), link_call_atom::value,
                span(st.cfg.down_after),
                caf::make_message(cluster_atom::value, std::string{"ping"},
                                  std::string{"{}"}))
      .then(
        [self, key = key](std::string&) {
          self->state.peers[key].ping_in_flight = false;
        },
        [self, key = key](caf::error& err) {
          auto& q = self->state.peers[key];
          q.ping_in_flight = false;
          if (!q.session)
            return;
          lost_peer(self, key, q,
                    "did not answer: " + self->system().render(err));
        });
  }
}

void tick(cluster_actor* self) {
  if (self->state.seed)
    watch_members(self, steady::now());
  else
    beat_seed(self);
  ping_peers(self);
  self->delayed_send(self, span(self->state.cfg.heartbeat), tick_atom_v);
}

/// The messages of the node's own actors other than the commands.
caf::message_handler node_handlers(cluster_actor* self) {
  return {
    // The node's network port, once it listens: then membership starts.
    [self](caf::publish_atom, std::uint16_t port) {
      auto& s = self->state;
      s.cfg.port = port;
      s.members[s.cfg.name].port = port;
      tick(self);
    },
    [self](call_atom, std::string& address, caf::message& msg,
           completion& done) {
      route(self, std::move(address), std::move(msg), std::move(done), 0);
    },
    // From the gateway's forwarders of stores on other nodes.
    [self](call_atom, std::string& address,
           caf::message& msg) -> caf::result<std::string> {
      // Every completion given to route runs in this actor's context.
      auto rp = self->make_response_promise<std::string>();
      route(self, std::move(address), std::move(msg), to_promise(rp), 0);
      return rp;
    },
    // A command as the network (a session) or node::cluster_command sends it.
    [self](cluster_atom, const std::string& cmd,
           const std::string& args) -> caf::result<std::string> {
      return decode_command(self, cmd, args);
    },
    // A message for another node's system session (a store move's
    // chunks, actors/internal/move.hpp), answered as that node answers.
    [self](relay_atom, const std::string& node, caf::message& msg,
           caf::timespan timeout) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      send_remote(self, node, std::move(msg), to_promise(rp),
                  std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
      return rp;
    },
    [self](tick_atom) { tick(self); },
    [self](ok_atom) { load(self); },
  };
}

caf::behavior cluster_fun(cluster_actor* self, cluster_config cfg,
                          caf::actor bridge) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.bridge = std::move(bridge);
  st.seed = st.cfg.seed_host.empty();
  auto& me = st.members[st.cfg.name];
  me.host = st.cfg.host;
  me.port = st.cfg.port;
  me.up = true;
  if (st.seed) {
    st.seed_name = st.cfg.name;
    load(self);
  }
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& [key, p] : self->state.peers)
      if (p.session && p.session.address() == dm.source)
        lost_peer(self, key, p, "went away");
  });
  return node_handlers(self).or_else(command_handlers(self));
}

} // namespace

bool may_be_elsewhere(const std::string& address, const caf::error& err) {
  return code_of(err) == error_code::no_such_store
         && address.find('@') != std::string::npos;
}

caf::actor spawn_cluster(caf::actor_system& sys, cluster_config cfg,
                         caf::actor bridge) {
  return sys.spawn(cluster_fun, std::move(cfg), std::move(bridge));
}

} // namespace mantissa::actors::internal
