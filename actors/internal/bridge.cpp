#include "actors/internal/bridge.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/backup_stream.hpp"
#include "actors/internal/cluster.hpp"
#include "actors/internal/completion.hpp"
#include "actors/internal/fanout.hpp"
#include "actors/internal/manager.hpp"
#include "actors/internal/move.hpp"
#include "actors/internal/runtime.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal {

namespace {

reply to_reply(const caf::error& err) {
  return {false, {}, code_of(err), error_message(err)};
}

bool receiver_down(const caf::error& err) {
  return err.category() == caf::atom("system")
         && static_cast<caf::sec>(err.code()) == caf::sec::request_receiver_down;
}

struct bridge_state {
  static inline const char* name = "mantissa.bridge";
  caf::actor manager;
  caf::timespan timeout{};
  /// Store actors by address; weak, so passivated actors are freed. A stale
  /// entry costs one bounced request and a new lookup.
  std::unordered_map<std::string, caf::actor_addr> cache;
  std::size_t inserts_since_sweep = 0;
  /// The node's cluster actor (invalid outside a cluster): it gets the
  /// requests for user stores that are not on this node.
  caf::actor cluster;
  bool seed = true;  ///< this node keeps the accounts (internal::accounts_address)
  std::filesystem::path data_dir;
  std::string node_name;
  caf::actor receiver;  ///< incoming store moves, spawned on first use
  std::set<caf::actor_addr> movers;  ///< moves from this node in progress
  internal::counters* stats = nullptr;
  caf::actor streamer;  ///< streamed backups, spawned on first use
};

using bridge_actor = caf::stateful_actor<bridge_state>;

// -- routing: requests to the stores of this node (or the cluster) -----------

void resolve_and_send(bridge_actor* self, std::string address, caf::message msg,
                      completion done, int retries, bool create,
                      bool remote = true);

/// Whether a request for `address` that found no store here goes to the
/// cluster.
bool routed_elsewhere(bridge_actor* self, const std::string& address,
                      const caf::error& err, bool remote) {
  return remote && self->state.cluster
         && internal::may_be_elsewhere(address, err);
}

/// A bounced request (the store passivated between lookup and request) was
/// not processed, so it is safe to send again; a store that keeps
/// passivating under churn gets a few more tries.
constexpr int max_retries = 8;

void send_to(bridge_actor* self, const caf::actor& store, std::string address,
             caf::message msg, completion done, int retries,
             bool remote = true) {
  self->request(store, self->state.timeout, msg)
    .then(
      [done](std::string& body) { done(reply{true, std::move(body), {}, {}}); },
      [self, address, msg, done, retries, remote,
       store_addr = store.address()](caf::error& err) mutable {
        if (retries > 0 && receiver_down(err)) {
          auto i = self->state.cache.find(address);
          if (i != self->state.cache.end() && i->second == store_addr)
            self->state.cache.erase(i);
          resolve_and_send(self, std::move(address), std::move(msg),
                           std::move(done), retries - 1, false, remote);
          return;
        }
        done(to_reply(err));
      });
}

/// Caches `store` as the actor of `address`, and now and then drops the
/// entries of actors that are gone.
void remember(bridge_actor* self, const std::string& address,
              const caf::actor& store) {
  auto& st = self->state;
  st.cache[address] = store.address();
  if (++st.inserts_since_sweep >= 4096) {
    st.inserts_since_sweep = 0;
    for (auto i = st.cache.begin(); i != st.cache.end();) {
      if (caf::actor_cast<caf::actor>(i->second) == nullptr)
        i = st.cache.erase(i);
      else
        ++i;
    }
  }
}

void resolve_and_send(bridge_actor* self, std::string address, caf::message msg,
                      completion done, int retries, bool create, bool remote) {
  auto lookup = create ? caf::make_message(create_atom::value, address)
                       : caf::make_message(store_atom::value, address);
  self->request(self->state.manager, self->state.timeout, std::move(lookup))
    .then(
      [self, address, msg, done, retries, remote](caf::actor& store) mutable {
        remember(self, address, store);
        send_to(self, store, std::move(address), std::move(msg),
                std::move(done), retries, remote);
      },
      [self, address, msg, done, remote](caf::error& err) {
        if (routed_elsewhere(self, address, err, remote)) {
          self->send(self->state.cluster, call_atom_v, address, msg, done);
          return;
        }
        done(to_reply(err));
      });
}

/// `call_atom`: a request of the node façade (or a store's message), sent
/// to the cached store actor or looked up first.
void call_store(bridge_actor* self, std::string& address, caf::message& msg,
                completion& done) {
  auto& st = self->state;
  if (auto base = internal::seed_store(address); !base.empty()) {
    if (st.cluster && !st.seed) {
      self->send(st.cluster, call_atom_v, std::move(address), std::move(msg),
                 std::move(done));
      return;
    }
    address = std::move(base);
  }
  if (auto i = st.cache.find(address); i != st.cache.end()) {
    if (auto store = caf::actor_cast<caf::actor>(i->second)) {
      send_to(self, store, std::move(address), std::move(msg),
              std::move(done), max_retries);
      return;
    }
    st.cache.erase(i);
  }
  resolve_and_send(self, std::move(address), std::move(msg), std::move(done),
                   max_retries, false);
}

/// `route_atom`: a request for a store of this node only (never sent on to
/// the cluster).
caf::result<std::string> route_here(bridge_actor* self, std::string& address,
                                    caf::message& msg) {
  auto rp = self->make_response_promise<std::string>();
  if (msg.match_elements<create_atom>()) {
    self->request(self->state.manager, self->state.timeout,
                  create_atom::value, address)
      .then([rp](caf::actor&) mutable { rp.deliver(std::string{"{\"ok\":true}"}); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }
  if (msg.size() < 2 || !msg.match_element<caller>(1)) {
    rp.deliver(make_error(error_code::invalid_query,
                          "not a store message (the second element must "
                          "be a mantissa.caller)"));
    return rp;
  }
  // Answered in the bridge's context (send_to and resolve_and_send).
  resolve_and_send(self, std::move(address), std::move(msg),
                   internal::to_promise(rp), max_retries, false, false);
  return rp;
}

/// Requests to the stores, and the node's own requests to its manager.
caf::message_handler routing_handlers(bridge_actor* self) {
  return {
    [self](call_atom, std::string& address, caf::message& msg,
           completion& done) { call_store(self, address, msg, done); },
    // From other nodes (through a system session) and the cluster actor:
    // a store of this node only.
    [self](route_atom, std::string& address,
           caf::message& msg) -> caf::result<std::string> {
      return route_here(self, address, msg);
    },
    [self](cluster_atom, caf::actor& cluster, bool seed) {
      self->state.cluster = std::move(cluster);
      self->state.seed = seed;
    },
    [self](create_atom, std::string& address, completion& done) {
      // A store of the seed (`NAME:seed`) is created there.
      if (auto base = internal::seed_store(address); !base.empty()) {
        auto& st = self->state;
        if (st.cluster && !st.seed) {
          self->send(st.cluster, call_atom_v, std::move(address),
                     caf::make_message(create_atom::value), std::move(done));
          return;
        }
        address = std::move(base);
      }
      self->request(self->state.manager, self->state.timeout, create_atom::value,
                    address)
        .then(
          [done](caf::actor&) { done(reply{true, "{\"ok\":true}", {}, {}}); },
          [done](caf::error& err) { done(to_reply(err)); });
    },
    [self](stats_atom, completion& done) {
      self->request(self->state.manager, self->state.timeout, stats_atom::value)
        .then(
          [done](std::string& body) { done(reply{true, std::move(body), {}, {}}); },
          [done](caf::error& err) { done(to_reply(err)); });
    },
  };
}

// -- moves and replicas (actors/internal/move.hpp) ----------------------------

internal::move_env move_env_of(bridge_actor* self) {
  auto& st = self->state;
  internal::move_env env;
  env.manager = st.manager;
  env.cluster = st.cluster;
  env.data_dir = st.data_dir;
  env.node = st.node_name;
  env.timeout = std::max(st.timeout, caf::timespan{std::chrono::seconds(30)});
  env.stats = st.stats;
  return env;
}

/// A new mover, linked (the node stopping stops its moves) and counted
/// among the moves in progress.
caf::actor new_mover(bridge_actor* self) {
  auto mover = internal::spawn_mover(self->system(), move_env_of(self));
  self->link_to(mover);
  self->state.movers.insert(mover.address());
  return mover;
}

/// The receiver of moves to this node, spawned (and linked) on first use.
const caf::actor& receiver_of(bridge_actor* self) {
  auto& st = self->state;
  if (!st.receiver) {
    st.receiver = internal::spawn_receiver(self->system(), move_env_of(self));
    self->link_to(st.receiver);
  }
  return st.receiver;
}

caf::message_handler move_handlers(bridge_actor* self) {
  return {
    // A replica for a store of this node (actors/internal/move.hpp).
    [self](replicate_atom atm, std::string& address, std::string& node,
           caf::actor& watcher) -> caf::result<caf::message> {
      return self->delegate(new_mover(self), atm, std::move(address),
                            std::move(node), std::move(watcher));
    },
    // Changes for a replica, from a store actor of this node.
    [self](internal::relay_atom atm, std::string& node, caf::message& msg,
           caf::timespan wait) -> caf::result<caf::message> {
      if (!self->state.cluster)
        return make_error(error_code::store_unavailable,
                          "this node is not part of a cluster");
      return self->delegate(self->state.cluster, atm, std::move(node),
                            std::move(msg), wait);
    },
    // A store move from this node (actors/internal/move.hpp).
    [self](move_atom atm, std::string& address, std::string& to,
           caf::actor& watcher) -> caf::result<caf::message> {
      return self->delegate(new_mover(self), atm, std::move(address),
                            std::move(to), std::move(watcher));
    },
    // A store move to this node.
    [self](incoming_atom atm, std::string& op, std::string& address,
           std::string& data) -> caf::result<caf::message> {
      return self->delegate(receiver_of(self), atm, std::move(op),
                            std::move(address), std::move(data));
    },
  };
}

// -- streamed backups (actors/internal/backup_stream.hpp) ---------------------

/// The streamer, spawned (and linked) on first use.
const caf::actor& streamer_of(bridge_actor* self) {
  auto& st = self->state;
  if (!st.streamer) {
    st.streamer = internal::spawn_backup_streamer(self->system(), st.manager,
                                                  st.data_dir);
    self->link_to(st.streamer);
  }
  return st.streamer;
}

/// Streamed backups, from sessions.
caf::message_handler backup_stream_handlers(bridge_actor* self) {
  return {
    [self](bksnap_atom atm, std::string& address,
           caf::actor& owner) -> caf::result<caf::message> {
      return self->delegate(streamer_of(self), atm, std::move(address),
                            std::move(owner));
    },
    [self](bkchunk_atom atm, std::uint64_t id, std::uint64_t offset,
           caf::actor& owner) -> caf::result<caf::message> {
      return self->delegate(streamer_of(self), atm, id, offset,
                            std::move(owner));
    },
    [self](bkfree_atom atm, std::uint64_t id,
           caf::actor& owner) -> caf::result<caf::message> {
      return self->delegate(streamer_of(self), atm, id, std::move(owner));
    },
  };
}

// -- fan-outs (actors/internal/fanout.hpp) ------------------------------------

caf::message_handler fanout_handlers(bridge_actor* self) {
  return {
    // A coordinator answers it.
    [self](fanout_atom atm, std::string& spec,
           caf::actor& watcher) -> caf::result<caf::message> {
      auto& st = self->state;
      auto coord = internal::spawn_fanout(
        self->system(),
        internal::fanout_env{caf::actor_cast<caf::actor>(self), st.cluster,
                             st.data_dir});
      return self->delegate(coord, atm, std::move(spec), std::move(watcher));
    },
  };
}

// -- the actor ---------------------------------------------------------------

/// Movers, the receiver and the streamer are linked to the bridge so that
/// they stop with it; their own ends (even a failure) must not stop the
/// bridge. Any other linked actor's failure does.
void on_exit(bridge_actor* self, caf::exit_msg& m) {
  auto& st = self->state;
  if (st.receiver && m.source == st.receiver.address()) {
    st.receiver = nullptr;
    return;
  }
  if (st.movers.erase(m.source) > 0)
    return;
  if (st.streamer && m.source == st.streamer.address()) {
    st.streamer = nullptr;
    return;
  }
  if (m.reason)
    self->quit(m.reason);
}

caf::behavior bridge(bridge_actor* self, caf::actor manager,
                     caf::timespan timeout, std::filesystem::path data_dir,
                     std::string node_name, internal::counters* stats) {
  self->state.stats = stats;
  self->state.manager = std::move(manager);
  self->state.timeout = timeout;
  self->state.data_dir = std::move(data_dir);
  self->state.node_name = std::move(node_name);
  self->set_exit_handler([self](caf::exit_msg& m) { on_exit(self, m); });
  return move_handlers(self)
    .or_else(backup_stream_handlers(self))
    .or_else(fanout_handlers(self))
    .or_else(routing_handlers(self));
}

} // namespace

caf::actor spawn_bridge(caf::actor_system& sys, caf::actor manager,
                        caf::timespan timeout, std::filesystem::path data_dir,
                        std::string node_name, counters* stats) {
  return sys.spawn(bridge, std::move(manager), timeout, std::move(data_dir),
                   std::move(node_name), stats);
}

} // namespace mantissa::actors::internal
