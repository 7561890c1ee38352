#include "actors/internal/gateway.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_view.hpp>
#include <caf/node_id.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "actors/auth.hpp"
#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/backup_request.hpp"
#include "actors/internal/cluster.hpp"
#include "actors/internal/edge.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"

namespace mantissa::actors::internal {

namespace {

using port::principal_kind;

std::string quote(const std::string& s) {
  return nlohmann::json(s).dump();
}

bool receiver_down(const caf::error& err) {
  return err.category() == caf::atom("system")
         && static_cast<caf::sec>(err.code()) == caf::sec::request_receiver_down;
}

/// A fresh capability: 256 random bits as base64url.
std::string new_capability() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char out[sodium_base64_ENCODED_LEN(sizeof raw,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, raw, sizeof raw,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  return out;
}

/// Whether `given` is `cap`, in constant time (for a given length).
bool same_capability(const std::string& given, const std::string& cap) {
  return given.size() == cap.size() && !cap.empty()
         && sodium_memcmp(given.data(), cap.data(), cap.size()) == 0;
}

/// Whether the session's login has ended (revoked, its account disabled or
/// given a new password): one atomic load.
bool has_ended(const session_end_flag& ended) {
  return ended && ended->load(std::memory_order_relaxed);
}

caf::error not_proven(const std::shared_ptr<port::door>& d,
                      const caller& who, const session_end_flag& ended) {
  if (has_ended(ended))
    return make_error(error_code::unauthorized,
                      "this session has ended (revoked, or the account was "
                      "disabled or given a new password): log in again");
  if (d)
    d->count_unauthorized();
  if (who.capability.empty())
    return make_error(error_code::unauthorized,
                      "a message to a session must carry its capability in "
                      "its caller (docs/custom-actor.md)");
  return make_error(error_code::unauthorized,
                    "not this session's capability");
}

// -- forwarder: one store, one session ---------------------------------------

struct forwarder_state {
  static inline const char* name = "mantissa.forwarder";
  std::shared_ptr<port::door> door;
  std::string role;
  std::string capability;
  std::string address;
  caf::actor manager;
  caf::timespan timeout{};
  caf::actor store;  // cached; dropped when it passivates
  /// Set for a store on another node: every message goes through the
  /// node's cluster actor.
  caf::actor cluster;
  /// The node's cluster actor (invalid outside a cluster), for a local
  /// store that moves away: then `cluster` is set to it.
  caf::actor fallback;
  session_end_flag ended;
};

using forwarder_actor = caf::stateful_actor<forwarder_state>;

void forward(forwarder_actor* self, caf::message msg, caf::response_promise rp,
             int retries) {
  auto& st = self->state;
  if (st.cluster) {
    self->request(st.cluster, st.timeout, call_atom_v, st.address, msg)
      .then([rp](std::string& body) mutable { rp.deliver(std::move(body)); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return;
  }
  if (!st.store) {
    self->request(st.manager, st.timeout, store_atom::value, st.address)
      .then(
        [self, msg, rp, retries](caf::actor& store) mutable {
          self->state.store = std::move(store);
          forward(self, std::move(msg), std::move(rp), retries);
        },
        [self, msg, rp, retries](caf::error& err) mutable {
          auto& s = self->state;
          if (s.fallback && may_be_elsewhere(s.address, err)) {
            // The store moved to another node.
            s.cluster = s.fallback;
            forward(self, std::move(msg), std::move(rp), retries);
            return;
          }
          rp.deliver(std::move(err));
        });
    return;
  }
  self->request(st.store, st.timeout, msg)
    .then([rp](std::string& body) mutable { rp.deliver(std::move(body)); },
          [self, msg, rp, retries](caf::error& err) mutable {
            if (retries > 0 && receiver_down(err)) {
              // The store passivated before it read the message: nothing
              // was done, so send it again to a fresh activation.
              self->state.store = nullptr;
              forward(self, std::move(msg), std::move(rp), retries - 1);
              return;
            }
            rp.deliver(std::move(err));
          });
}

struct forwarder_args {
  std::string role;
  std::string capability;
  std::string address;
  caf::actor manager;
  caf::timespan timeout{};
  caf::actor store;
  caf::actor cluster;
  caf::actor fallback;
  std::shared_ptr<port::door> door;
  session_end_flag ended;
};

caf::behavior forwarder(forwarder_actor* self, forwarder_args a) {
  obey_local_exits(self);
  auto& st = self->state;
  st.door = std::move(a.door);
  st.store = std::move(a.store);
  st.cluster = std::move(a.cluster);
  st.fallback = std::move(a.fallback);
  st.role = std::move(a.role);
  st.capability = std::move(a.capability);
  st.address = std::move(a.address);
  st.manager = std::move(a.manager);
  st.timeout = a.timeout;
  st.ended = std::move(a.ended);
  self->set_default_handler(
    [self](caf::scheduled_actor*,
           caf::message_view& view) -> caf::result<caf::message> {
      auto msg = view.move_content_to_message();
      if (msg.size() < 2 || !msg.match_element<caller>(1))
        return make_error(error_code::invalid_query,
                          "not a store message (the second element must be "
                          "a mantissa.caller)");
      auto& who = msg.get_mutable_as<caller>(1);
      if (has_ended(self->state.ended)
          || !same_capability(who.capability, self->state.capability))
        return not_proven(self->state.door, who, self->state.ended);
      // The role is the session's, whatever the sender wrote; the store
      // never sees the capability.
      who.role = self->state.role;
      who.capability.clear();
      auto rp = self->make_response_promise();
      forward(self, std::move(msg), rp, 8);
      return rp;
    });
  // A behavior must not be empty, or the actor would stop at once.
  return {[](caf::ok_atom) {}};
}

// -- progress relay: a long operation's watcher ------------------------------

/// Watches one long operation (fan-out, move, replica) for a session: the
/// operation's coordinator sends progress here and monitors it (stopping it
/// cancels the operation); the relay passes progress to the session, which
/// passes it on to the peer that asked. It ends when the session tells it
/// (the operation finished, or the peer went away) or goes away.
caf::behavior progress_relay(caf::event_based_actor* self,
                             caf::actor session) {
  obey_local_exits(self);
  self->monitor(session);
  self->set_down_handler([self](caf::down_msg& m) {
    if (genuine_down(self, m))
      self->quit(caf::exit_reason::user_shutdown);
  });
  return {
    [self, session](progress_atom, std::uint64_t done, std::uint64_t total) {
      if (from_local(self))
        self->send(session, progress_atom::value, done, total);
    },
    [self](port::connection_gone) {
      if (from_local(self))
        self->quit(caf::exit_reason::user_shutdown);
    },
  };
}

// -- session: one login ------------------------------------------------------

struct session_state {
  static inline const char* name = "mantissa.session";
  std::shared_ptr<gateway_env> env;
  std::string role;
  std::string capability;
  principal_kind who = principal_kind::user;
  /// The node's name for a node's session.
  std::string node_name;
  std::unordered_map<std::string, caf::actor> forwarders;
  /// Long operations in progress: relay -> the peer's actor that asked.
  std::unordered_map<caf::actor_addr, caf::actor> watchers;
  /// Set when the login ends (see authenticator); set by this actor's end.
  session_end_flag ended;
};

using session_actor = caf::stateful_actor<session_state>;

/// Forwarders kept per session; beyond this the oldest lookups are
/// dropped (their handles stop working once unreferenced).
constexpr std::size_t max_forwarders = 1024;

/// How long a long operation (fan-out, move, replica, backup) may take.
constexpr caf::timespan long_timeout{std::chrono::hours(1)};

caf::actor new_forwarder(session_actor* self, const std::string& address,
                         caf::actor store, caf::actor cluster) {
  auto& s = self->state;
  if (s.forwarders.size() >= max_forwarders)
    s.forwarders.clear();
  forwarder_args a{s.role,           s.capability,  address,
                   s.env->manager,   s.env->timeout, std::move(store),
                   std::move(cluster), s.env->cluster, s.env->door,
                   s.ended};
  auto door = a.door;
  auto fwd = self->spawn<caf::linked>(forwarder, std::move(a));
  port::make_edge(door, fwd);
  s.forwarders.emplace(address, fwd);
  return fwd;
}

/// Hands `fwd` (a new forwarder to the store at `address`) to the peer if
/// its session may see anything of the store; else the answer for a store
/// that does not exist (and the forwarder goes).
template <class Promise>
void checked(session_actor* self, Promise rp, const std::string& address,
             caf::actor fwd) {
  auto& s = self->state;
  if (s.role == system_role) {
    rp.deliver(std::move(fwd));
    return;
  }
  caller who{s.role, {}, s.capability};
  self->request(fwd, s.env->timeout, visible_atom::value, std::move(who))
    .then(
      [rp, fwd](std::string&) mutable { rp.deliver(std::move(fwd)); },
      [self, rp, address, fwd](caf::error& err) mutable {
        auto& st = self->state;
        if (auto i = st.forwarders.find(address);
            i != st.forwarders.end() && i->second == fwd)
          st.forwarders.erase(i);
        self->unlink_from(fwd);
        self->send_exit(fwd, caf::exit_reason::user_shutdown);
        rp.deliver(std::move(err));
      });
}

/// Sends `xs` to `to` and answers the current request with its `T`: every
/// answer to the peer leaves from the session.
template <class T, class... Ts>
caf::result<T> relay(session_actor* self, const caf::actor& to,
                     caf::timespan timeout, Ts&&... xs) {
  auto rp = self->make_response_promise<T>();
  if (!to) {
    rp.deliver(make_error(error_code::store_unavailable,
                          "this node has no such service"));
    return rp;
  }
  self->request(to, timeout, std::forward<Ts>(xs)...)
    .then([rp](T& x) mutable { rp.deliver(std::move(x)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Runs a long operation at `to` with a watcher of its own as the last
/// argument; progress goes to the current (remote) sender, and the
/// operation stops when that sender goes away.
template <class... Ts>
caf::result<std::string> watched(session_actor* self, const caf::actor& to,
                                 Ts&&... xs) {
  auto requester = caf::actor_cast<caf::actor>(self->current_sender());
  auto w = self->spawn(progress_relay, caf::actor_cast<caf::actor>(self));
  if (requester) {
    self->state.watchers.emplace(w.address(), requester);
    self->monitor(requester);
  }
  auto rp = self->make_response_promise<std::string>();
  auto finish = [self, w] {
    self->state.watchers.erase(w.address());
    self->send(w, port::connection_gone{});
  };
  self->request(to, long_timeout, std::forward<Ts>(xs)..., w)
    .then(
      [rp, finish](std::string& x) mutable {
        finish();
        rp.deliver(std::move(x));
      },
      [rp, finish](caf::error& err) mutable {
        finish();
        rp.deliver(std::move(err));
      });
  return rp;
}

bool system_session(session_actor* self) {
  return self->state.role == system_role;
}

caf::error needs_system(const char* what) {
  return make_error(error_code::forbidden,
                    std::string{what} + " needs the system role");
}

/// The session's down handler: the node's port closing (its anchor) ends
/// the session; a peer that asked for long operations going away stops
/// them.
void on_down(session_actor* self, caf::down_msg& m) {
  auto& s = self->state;
  if (!genuine_down(self, m))
    return;
  if (m.source == s.env->anchor.address()) {
    self->quit(caf::exit_reason::user_shutdown);
    return;
  }
  // The peer that asked for long operations went away: stop them.
  for (auto i = s.watchers.begin(); i != s.watchers.end();) {
    if (i->second.address() == m.source) {
      if (auto r = caf::actor_cast<caf::actor>(i->first))
        self->send(r, port::connection_gone{});
      i = s.watchers.erase(i);
    } else {
      ++i;
    }
  }
}

/// Checks the capability; the handlers run only for this session's own
/// messages.
bool proven(session_actor* self, const caller& c) {
  return !has_ended(self->state.ended)
         && same_capability(c.capability, self->state.capability);
}

/// The answer to a message that does not carry the session's proof.
caf::error refused(session_actor* self, const caller& c) {
  return not_proven(self->state.env->door, c, self->state.ended);
}

/// Why a message of `c` that needs the system role (`what` names it) is
/// refused: not this session's proof, or not a system session; none when
/// it may go on.
caf::error system_refusal(session_actor* self, const caller& c,
                          const char* what) {
  if (!proven(self, c))
    return refused(self, c);
  if (!system_session(self))
    return needs_system(what);
  return {};
}

/// `store_atom`: a handle (a forwarder) to the store at `address`, here or
/// on another node of the cluster.
caf::result<caf::actor> open_store(session_actor* self, store_atom atm,
                                   const std::string& address) {
  auto rp = self->make_response_promise<caf::actor>();
  auto& s = self->state;
  if (auto i = s.forwarders.find(address); i != s.forwarders.end()) {
    rp.deliver(i->second);
    return rp;
  }
  // Look the store up now, so that a malformed address or a store that
  // does not exist is reported here rather than on first use.
  self->request(s.env->manager, s.env->timeout, atm, address)
    .then(
      [self, rp, address](caf::actor& store) mutable {
        checked(self, rp, address,
                new_forwarder(self, address, std::move(store), {}));
      },
      [self, rp, address](caf::error& err) mutable {
        auto& ss = self->state;
        if (!ss.env->cluster || !may_be_elsewhere(address, err)) {
          rp.deliver(std::move(err));
          return;
        }
        // Not here: perhaps on another node of the cluster.
        self
          ->request(ss.env->cluster, ss.env->timeout, cluster_atom::value,
                    std::string{"locate"},
                    std::string{"{\"address\":"} + quote(address) + "}")
          .then(
            [self, rp, address](std::string&) mutable {
              checked(self, rp, address,
                      new_forwarder(self, address, {},
                                    self->state.env->cluster));
            },
            [rp](caf::error& e2) mutable { rp.deliver(std::move(e2)); });
      });
  return rp;
}

/// `cluster_atom`: a cluster command of a system session; "join" and
/// "beat" only from a node's session, for itself.
caf::result<std::string> cluster_command(session_actor* self, cluster_atom atm,
                                         std::string& cmd, std::string& args) {
  auto& s = self->state;
  if (!system_session(self))
    return needs_system("cluster commands");
  if (!s.env->cluster)
    return make_error(error_code::no_such_handler,
                      "this node is not part of a cluster");
  if (cmd == "join" || cmd == "beat") {
    // Only a node, for itself: no one else may (re)place a member.
    auto j = nlohmann::json::parse(args, nullptr, false);
    auto name = j.is_object() ? j.value("name", std::string{})
                              : std::string{};
    if (s.who != principal_kind::node || name != s.node_name)
      return make_error(error_code::forbidden,
                        "cluster " + cmd
                          + ": only the node itself may, logged in with "
                            "its name and the cluster key");
  }
  return relay<std::string>(self, s.env->cluster, long_timeout, atm,
                            std::move(cmd), std::move(args));
}

using admin_fn = std::function<void(const caller&, const std::string&,
                                    const std::string&, reply_handler)>;

/// Runs one administrative operation of `ops` as `who` and answers the
/// request that asked for it, then ends. Local only: the operation's
/// answer comes from any thread, as a message to this actor.
caf::behavior admin_runner(caf::event_based_actor* self, admin_fn ops,
                           caller who) {
  auto promised = std::make_shared<caf::response_promise>();
  return {
    [self, ops, who, promised](admin_atom, std::string& op,
                               std::string& args) {
      *promised = self->make_response_promise();
      auto me = caf::actor_cast<caf::actor>(self);
      ops(who, op, args, [me](reply r) {
        if (r.ok)
          caf::anon_send(me, admin_atom::value, true, std::move(r.body),
                         caf::error{});
        else
          caf::anon_send(me, admin_atom::value, false, std::string{},
                         make_error(r.code, std::move(r.message)));
      });
    },
    [self, promised](admin_atom, bool ok, std::string& body, caf::error& err) {
      if (ok)
        promised->deliver(std::move(body));
      else
        promised->deliver(std::move(err));
      self->quit();
    },
  };
}

/// `admin_atom`: an administrative operation as the session's role (the
/// site store decides whether that role may).
caf::result<std::string> admin_operation(session_actor* self, std::string& op,
                                         std::string& args,
                                         const std::string& request_id) {
  auto& s = self->state;
  if (!s.env->admin)
    return make_error(error_code::no_such_handler,
                      "this node has no administrative operations");
  auto runner = self->spawn(admin_runner, s.env->admin,
                            caller{s.role, request_id, {}});
  return relay<std::string>(self, runner, long_timeout, admin_atom::value,
                            std::move(op), std::move(args));
}

/// The session's own life: its end, logout, progress of its operations,
/// and handles to stores.
caf::message_handler session_handlers(session_actor* self) {
  return {
    [self](port::connection_gone) {
      if (from_local(self))
        self->quit(caf::exit_reason::user_shutdown);
    },
    [self](logout_atom, const caller& c) -> caf::result<caf::ok_atom> {
      if (!proven(self, c))
        return refused(self, c);
      self->quit(caf::exit_reason::user_shutdown);
      return caf::ok_atom::value;
    },
    [self](progress_atom, std::uint64_t done, std::uint64_t total) {
      // From one of this session's relays only.
      if (!from_local(self))
        return;
      auto& s = self->state;
      auto i = s.watchers.find(
        caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (i != s.watchers.end())
        self->send(i->second, progress_atom::value, done, total);
    },
    [self](store_atom atm, const caller& c,
           const std::string& address) -> caf::result<caf::actor> {
      if (!proven(self, c))
        return refused(self, c);
      return open_store(self, atm, address);
    },
  };
}

/// The node's own services for system (and node) sessions: routing,
/// cluster commands, listing stores, statistics.
caf::message_handler node_handlers(session_actor* self) {
  return {
    [self](route_atom atm, const caller& c, std::string& address,
           caf::message& msg) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "routing"))
        return err;
      return relay<std::string>(self, self->state.env->bridge,
                                self->state.env->timeout, atm,
                                std::move(address), std::move(msg));
    },
    [self](cluster_atom atm, const caller& c, std::string& cmd,
           std::string& args) -> caf::result<std::string> {
      if (!proven(self, c))
        return refused(self, c);
      return cluster_command(self, atm, cmd, args);
    },
    [self](admin_atom, const caller& c, std::string& op,
           std::string& args) -> caf::result<std::string> {
      if (!proven(self, c))
        return refused(self, c);
      return admin_operation(self, op, args, c.request_id);
    },
    [self](stores_atom atm, const caller& c) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "listing stores"))
        return err;
      return relay<std::string>(self, self->state.env->manager,
                                self->state.env->timeout, atm);
    },
    [self](stats_atom atm, const caller& c) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "node statistics"))
        return err;
      return relay<std::string>(self, self->state.env->manager,
                                self->state.env->timeout, atm);
    },
  };
}

/// Long operations: fan-outs, moves, replicas, and moves to this node.
caf::message_handler operation_handlers(session_actor* self) {
  return {
    [self](fanout_atom atm, const caller& c,
           std::string& spec) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "a fan-out"))
        return err;
      return watched(self, self->state.env->bridge, atm, std::move(spec));
    },
    [self](move_atom atm, const caller& c, std::string& address,
           std::string& to) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "moves"))
        return err;
      return watched(self, self->state.env->bridge, atm, std::move(address),
                     std::move(to));
    },
    [self](replicate_atom atm, const caller& c, std::string& address,
           std::string& node) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "replicas"))
        return err;
      return watched(self, self->state.env->bridge, atm, std::move(address),
                     std::move(node));
    },
    [self](incoming_atom atm, const caller& c, std::string& op,
           std::string& address,
           std::string& data) -> caf::result<std::string> {
      if (!proven(self, c))
        return refused(self, c);
      if (self->state.who != principal_kind::node)
        return make_error(error_code::forbidden,
                          "moves between nodes need a node's session");
      return relay<std::string>(self, self->state.env->bridge, long_timeout,
                                atm, std::move(op), std::move(address),
                                std::move(data));
    },
  };
}

/// Backups: one taken by the node, or streamed to the peer in chunks.
caf::message_handler backup_handlers(session_actor* self) {
  return {
    [self](backup_atom, const caller& c, const std::string& address,
           const std::string& dest) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "backups"))
        return err;
      auto rp = self->make_response_promise<std::string>();
      request_backup(self, self->state.env->manager, address, dest,
                     [rp](reply r) mutable {
                       if (r.ok)
                         rp.deliver(std::move(r.body));
                       else
                         rp.deliver(make_error(r.code, std::move(r.message)));
                     });
      return rp;
    },
    [self](bksnap_atom atm, const caller& c,
           std::string& address) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "backups"))
        return err;
      return relay<std::string>(self, self->state.env->bridge, long_timeout,
                                atm, std::move(address),
                                caf::actor_cast<caf::actor>(self));
    },
    [self](bkchunk_atom atm, const caller& c, std::uint64_t id,
           std::uint64_t offset) -> caf::result<std::string> {
      if (auto err = system_refusal(self, c, "backups"))
        return err;
      return relay<std::string>(self, self->state.env->bridge,
                                self->state.env->timeout, atm, id, offset,
                                caf::actor_cast<caf::actor>(self));
    },
    [self](bkfree_atom atm, const caller& c,
           std::uint64_t id) -> caf::result<caf::ok_atom> {
      if (auto err = system_refusal(self, c, "backups"))
        return err;
      return relay<caf::ok_atom>(self, self->state.env->bridge,
                                 self->state.env->timeout, atm, id,
                                 caf::actor_cast<caf::actor>(self));
    },
  };
}

caf::behavior session_fun(session_actor* self, std::shared_ptr<gateway_env> env,
                          std::string role, std::string capability,
                          principal_kind who, std::string node_name,
                          session_end_flag ended) {
  obey_local_exits(self);
  auto& st = self->state;
  st.ended = ended;
  // The login's session ends with this actor (the connection's end, a
  // logout): the authenticator forgets it at its next sweep.
  if (ended)
    self->attach_functor(
      [ended] { ended->store(true, std::memory_order_relaxed); });
  st.env = std::move(env);
  st.role = std::move(role);
  st.capability = std::move(capability);
  st.who = who;
  st.node_name = std::move(node_name);
  if (st.env->anchor)
    self->monitor(st.env->anchor);
  self->set_down_handler([self](caf::down_msg& m) { on_down(self, m); });
  return session_handlers(self)
    .or_else(node_handlers(self))
    .or_else(operation_handlers(self))
    .or_else(backup_handlers(self));
}

} // namespace

caf::actor spawn_port_anchor(caf::actor_system& sys) {
  // (An argument: CAF 0.17 dereferences a null pointer when a spawned
  // function takes none besides its actor.)
  return sys.spawn(
    [](caf::event_based_actor*, bool) -> caf::behavior {
      return {[](caf::ok_atom) {}};
    },
    true);
}

port::login_fn make_port_login(caf::actor_system& sys,
                               std::shared_ptr<gateway_env> env) {
  auto* sp = &sys;
  return [sp, env](port::login_attempt a, port::login_done done) {
    auto& req = a.request;
    if (env->auth == nullptr) {
      done({false, error_code::busy, "the node is shutting down"});
      return;
    }
    bool node_login = req.kind == port::login_kind::node;
    if (node_login) {
      // A node names itself; with TLS its certificate must say the same.
      bool cert_ok = !a.cert_name || (a.cert_node && *a.cert_name == req.user);
      if (req.user.empty() || req.user == env->node_name || !cert_ok) {
        log::warn("port", "refused a node login",
                  {{"peer", a.peer}, {"node", req.user}});
        done({false, error_code::unauthorized, "wrong username or password"});
        return;
      }
    }
    auto name = req.user;
    auto user = node_login ? std::string{"system"} : req.user;
    env->auth->login(
      std::move(user), std::move(req.secret), a.peer,
      [sp, env, node_login, name, peer = a.peer,
       done = std::move(done)](login_result r) {
        if (r.ok && node_login && !r.by_cluster_key) {
          // The node key is this node's own; a node proves the cluster's.
          r.ok = false;
          r.code = error_code::unauthorized;
          r.message = "wrong username or password";
        }
        if (!r.ok) {
          done({false, r.code, r.message});
          return;
        }
        auto who = node_login                    ? principal_kind::node
                   : r.who.role == system_role ? principal_kind::system
                                                : principal_kind::user;
        auto cap = new_capability();
        auto session = sp->spawn(session_fun, env, r.who.role, cap, who,
                                 node_login ? name : std::string{}, r.ended);
        port::make_edge(env->door, session);
        log::debug("port", "logged in",
                   {{"peer", peer}, {"role", r.who.role}});
        port::login_outcome out;
        out.ok = true;
        out.session = std::move(session);
        out.role = std::move(r.who.role);
        out.capability = std::move(cap);
        out.who = who;
        done(std::move(out));
      },
      login_channel::port);
  };
}

} // namespace mantissa::actors::internal
