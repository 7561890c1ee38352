#include "actors/internal/gateway.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_view.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "actors/auth.hpp"
#include "actors/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/backup_request.hpp"
#include "actors/internal/cluster.hpp"
#include "actors/protocol.hpp"

namespace mantissa::actors::internal {

namespace {

using login_done_atom = caf::atom_constant<caf::atom("logindone")>;

std::string quote(const std::string& s) {
  return nlohmann::json(s).dump();
}

bool receiver_down(const caf::error& err) {
  return err.category() == caf::atom("system")
         && static_cast<caf::sec>(err.code()) == caf::sec::request_receiver_down;
}

// -- forwarder: one store, one role ------------------------------------------

struct forwarder_state {
  static inline const char* name = "mantissa.forwarder";
  std::string role;
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

caf::behavior forwarder(forwarder_actor* self, std::string role,
                        std::string address, caf::actor manager,
                        caf::timespan timeout, caf::actor store,
                        caf::actor cluster, caf::actor fallback) {
  auto& st = self->state;
  st.store = std::move(store);
  st.cluster = std::move(cluster);
  st.fallback = std::move(fallback);
  st.role = std::move(role);
  st.address = std::move(address);
  st.manager = std::move(manager);
  st.timeout = timeout;
  self->set_default_handler(
    [self](caf::scheduled_actor*,
           caf::message_view& view) -> caf::result<caf::message> {
      auto msg = view.move_content_to_message();
      if (msg.size() < 2 || !msg.match_element<caller>(1))
        return make_error(error_code::invalid_query,
                          "not a store message (the second element must be "
                          "a mantissa.caller)");
      // The role is the session's, whatever the sender wrote.
      msg.get_mutable_as<caller>(1).role = self->state.role;
      auto rp = self->make_response_promise();
      forward(self, std::move(msg), rp, 8);
      return rp;
    });
  // A behavior must not be empty, or the actor would stop at once.
  return {[](caf::ok_atom) {}};
}

// -- session: one login ------------------------------------------------------

struct session_state {
  static inline const char* name = "mantissa.session";
  std::string role;
  caf::actor manager;
  caf::actor bridge;
  caf::actor cluster;
  caf::timespan timeout{};
  std::unordered_map<std::string, caf::actor> forwarders;
};

using session_actor = caf::stateful_actor<session_state>;

/// Forwarders kept per session; beyond this the oldest lookups are
/// dropped (their handles stop working once unreferenced).
constexpr std::size_t max_forwarders = 1024;

caf::behavior session_fun(session_actor* self, std::string role,
                          caf::actor manager, caf::actor bridge,
                          caf::actor cluster, caf::timespan timeout,
                          caf::strong_actor_ptr owner, caf::actor gateway) {
  auto& st = self->state;
  st.role = std::move(role);
  st.manager = std::move(manager);
  st.bridge = std::move(bridge);
  st.cluster = std::move(cluster);
  st.timeout = timeout;
  // The session lives as long as the program that logged in and the
  // gateway (the node stopping ends every session). Its forwarders are
  // linked to it; a non-normal exit reason takes them along.
  if (owner)
    self->monitor(owner);
  self->monitor(gateway);
  self->set_down_handler([self](caf::down_msg&) {
    self->quit(caf::exit_reason::user_shutdown);
  });
  return {
    [self](store_atom atm,
           const std::string& address) -> caf::response_promise {
      auto rp = self->make_response_promise();
      auto& s = self->state;
      if (auto i = s.forwarders.find(address); i != s.forwarders.end()) {
        rp.deliver(i->second);
        return rp;
      }
      // Look the store up now, so that a malformed address or a store that
      // does not exist is reported here rather than on first use.
      self->request(s.manager, s.timeout, atm, address)
        .then(
          [self, rp, address](caf::actor& store) mutable {
            auto& ss = self->state;
            if (ss.forwarders.size() >= max_forwarders)
              ss.forwarders.clear();
            auto fwd = self->spawn<caf::linked>(forwarder, ss.role, address,
                                                ss.manager, ss.timeout,
                                                std::move(store), caf::actor{},
                                                ss.cluster);
            ss.forwarders.emplace(address, fwd);
            rp.deliver(std::move(fwd));
          },
          [self, rp, address](caf::error& err) mutable {
            auto& ss = self->state;
            if (!ss.cluster || !may_be_elsewhere(address, err)) {
              rp.deliver(std::move(err));
              return;
            }
            // Not here: perhaps on another node of the cluster.
            self
              ->request(ss.cluster, ss.timeout, cluster_atom::value,
                        std::string{"locate"},
                        std::string{"{\"address\":"} + quote(address) + "}")
              .then(
                [self, rp, address](std::string&) mutable {
                  auto& s2 = self->state;
                  if (s2.forwarders.size() >= max_forwarders)
                    s2.forwarders.clear();
                  auto fwd = self->spawn<caf::linked>(
                    forwarder, s2.role, address, s2.manager, s2.timeout,
                    caf::actor{}, s2.cluster, s2.cluster);
                  s2.forwarders.emplace(address, fwd);
                  rp.deliver(std::move(fwd));
                },
                [rp](caf::error& e2) mutable { rp.deliver(std::move(e2)); });
          });
      return rp;
    },
    [self](route_atom atm, std::string& address,
           caf::message& msg) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden,
                          "routing needs the system role");
      return self->delegate(self->state.bridge, atm, std::move(address),
                            std::move(msg));
    },
    [self](cluster_atom atm, std::string& cmd,
           std::string& args) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden,
                          "cluster commands need the system role");
      if (!self->state.cluster)
        return make_error(error_code::no_such_handler,
                          "this node is not part of a cluster");
      return self->delegate(self->state.cluster, atm, std::move(cmd),
                            std::move(args));
    },
    [self](fanout_atom atm, std::string& spec) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden,
                          "a fan-out needs the system role");
      // Progress goes to the sender; the answer too (delegated).
      return self->delegate(self->state.bridge, atm, std::move(spec),
                            caf::actor_cast<caf::actor>(
                              self->current_sender()));
    },
    [self](move_atom atm, std::string& address,
           std::string& to) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden, "moves need the system role");
      // Progress goes to the sender; the answer too (delegated).
      return self->delegate(self->state.bridge, atm, std::move(address),
                            std::move(to),
                            caf::actor_cast<caf::actor>(self->current_sender()));
    },
    [self](replicate_atom atm, std::string& address,
           std::string& node) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden,
                          "replicas need the system role");
      return self->delegate(self->state.bridge, atm, std::move(address),
                            std::move(node),
                            caf::actor_cast<caf::actor>(self->current_sender()));
    },
    [self](incoming_atom atm, std::string& op, std::string& address,
           std::string& data) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden, "moves need the system role");
      return self->delegate(self->state.bridge, atm, std::move(op),
                            std::move(address), std::move(data));
    },
    [self](stores_atom atm) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden,
                          "listing stores needs the system role");
      return self->delegate(self->state.manager, atm);
    },
    [self](backup_atom, const std::string& address,
           const std::string& dest) -> caf::result<std::string> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden,
                          "backups need the system role");
      auto rp = self->make_response_promise<std::string>();
      request_backup(self, self->state.manager, address, dest,
                     [rp](reply r) mutable {
                       if (r.ok)
                         rp.deliver(std::move(r.body));
                       else
                         rp.deliver(make_error(r.code, std::move(r.message)));
                     });
      return rp;
    },
    [self](bksnap_atom atm, std::string& address) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden, "backups need the system role");
      return self->delegate(self->state.bridge, atm, std::move(address),
                            caf::actor_cast<caf::actor>(self));
    },
    [self](bkchunk_atom atm, std::uint64_t id,
           std::uint64_t offset) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden, "backups need the system role");
      return self->delegate(self->state.bridge, atm, id, offset,
                            caf::actor_cast<caf::actor>(self));
    },
    [self](bkfree_atom atm, std::uint64_t id) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden, "backups need the system role");
      return self->delegate(self->state.bridge, atm, id,
                            caf::actor_cast<caf::actor>(self));
    },
    [self](stats_atom atm) -> caf::result<caf::message> {
      if (self->state.role != system_role)
        return make_error(error_code::forbidden,
                          "node statistics need the system role");
      return self->delegate(self->state.manager, atm);
    },
  };
}

// -- gateway -----------------------------------------------------------------

struct pending_login {
  caf::response_promise promise;
  caf::strong_actor_ptr owner;
};

struct gateway_state {
  static inline const char* name = "mantissa.gateway";
  caf::actor manager;
  caf::actor bridge;
  caf::actor cluster;
  authenticator* auth = nullptr;
  caf::timespan timeout{};
  /// By a random key: the completion comes back through this published
  /// actor, so only someone who knows the key can complete a login.
  std::unordered_map<std::string, pending_login> pending;
};

using gateway_actor = caf::stateful_actor<gateway_state>;

caf::behavior gateway_fun(gateway_actor* self, caf::actor manager,
                          caf::actor bridge, caf::actor cluster,
                          authenticator* auth, caf::timespan timeout) {
  auto& st = self->state;
  st.manager = std::move(manager);
  st.bridge = std::move(bridge);
  st.cluster = std::move(cluster);
  st.auth = auth;
  st.timeout = timeout;
  return {
    [self](login_atom, std::string& username,
           std::string& password) -> caf::response_promise {
      auto& s = self->state;
      unsigned char raw[16];
      randombytes_buf(raw, sizeof raw);
      char hex[2 * sizeof raw + 1];
      sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
      std::string key{hex, 2 * sizeof raw};
      auto sender = self->current_sender();
      std::string client = sender ? to_string(sender->node()) : "local";
      s.pending.emplace(key, pending_login{self->make_response_promise(), sender});
      auto rp = s.pending[key].promise;
      if (s.auth == nullptr) {
        s.pending.erase(key);
        rp.deliver(make_error(error_code::busy, "the node is shutting down"));
        return rp;
      }
      // The login completes on an authenticator thread: hand the result
      // back to this actor as a message.
      caf::actor me = caf::actor_cast<caf::actor>(self);
      s.auth->login(std::move(username), std::move(password),
                    std::move(client), [me, key](login_result r) {
                      caf::anon_send(me, login_done_atom::value, key, r.ok,
                                     r.who.role,
                                     static_cast<std::uint8_t>(r.code),
                                     r.message);
                    });
      return rp;
    },
    [self](login_done_atom, const std::string& key, bool ok, std::string& role,
           std::uint8_t code, std::string& message) {
      auto& s = self->state;
      auto i = s.pending.find(key);
      if (i == s.pending.end())
        return;
      auto p = std::move(i->second);
      s.pending.erase(i);
      if (!ok) {
        p.promise.deliver(
          make_error(static_cast<error_code>(code), std::move(message)));
        return;
      }
      auto sess = self->system().spawn(session_fun, std::move(role), s.manager,
                                       s.bridge, s.cluster, s.timeout, p.owner,
                                       caf::actor_cast<caf::actor>(self));
      p.promise.deliver(std::move(sess));
    },
  };
}

} // namespace

caf::actor spawn_gateway(caf::actor_system& sys, const caf::actor& manager,
                         const caf::actor& bridge, const caf::actor& cluster,
                         authenticator& auth, caf::timespan timeout) {
  return sys.spawn(gateway_fun, manager, bridge, cluster, &auth, timeout);
}

} // namespace mantissa::actors::internal
