#include "client/client.hpp"

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/network_tuning.hpp"

namespace mantissa::client {

namespace {

using actors::error_code;
using actors::make_error;

// Atoms between a session and its relay; they never leave the process.
using lookup_atom = caf::atom_constant<caf::atom("mc_lookup")>;
using forward_atom = caf::atom_constant<caf::atom("mc_forward")>;

/// Extra time the session gives its relay beyond the request timeout: the
/// relay always answers (its own request to the node has that timeout).
constexpr std::chrono::seconds relay_margin{5};

bool is_sec(const caf::error& err, caf::sec code) {
  return err.category() == caf::atom("system")
         && static_cast<caf::sec>(err.code()) == code;
}

// -- the relay: waits for the node on the session's behalf --------------------
//
// A blocking actor waiting for one response cannot see a `down_msg` at the
// same time, so the session sends each request through this event-based
// actor. It monitors every actor it sends to; when one goes down, the
// requests still waiting for it fail at once instead of after their timeout
// (a request to a dead remote actor is neither answered nor bounced):
// - a normal exit is a store passivating: its replies were sent before it
//   stopped (they travel ahead of the down message), so a request still
//   waiting was not processed; it fails with `request_receiver_down`, which
//   the session retries after a new lookup;
// - any other reason (the node's connection dropped, the node shut its
//   gateway down) fails it with `store_unavailable`.
// Monitoring an actor that is down already yields a down message at once,
// so requests sent to a dead proxy fail the same way.

struct pending_request {
  caf::actor_addr target;
  caf::response_promise promise;
};

struct relay_state {
  static inline const char* name = "mantissa.client.relay";
  caf::timespan timeout{};
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, pending_request> pending;
  std::unordered_set<caf::actor_addr> watched;
};

using relay_actor = caf::stateful_actor<relay_state>;

/// Removes and returns the promise of request `id`, or an invalid promise
/// when it was answered already (e.g. failed by a `down_msg`).
caf::response_promise take(relay_actor* self, std::uint64_t id) {
  auto& st = self->state;
  auto i = st.pending.find(id);
  if (i == st.pending.end())
    return {};
  auto rp = std::move(i->second.promise);
  st.pending.erase(i);
  return rp;
}

/// Sends `msg` to `dest`, expecting one `T` back, and answers the current
/// request with it.
template<class T>
caf::response_promise relay_request(relay_actor* self, const caf::actor& dest,
                                    caf::message msg) {
  auto& st = self->state;
  auto rp = self->make_response_promise();
  if (!dest) {
    rp.deliver(
      make_error(error_code::store_unavailable, "no actor to send to"));
    return rp;
  }
  auto id = st.next_id++;
  st.pending.emplace(id, pending_request{dest.address(), rp});
  if (st.watched.insert(dest.address()).second)
    self->monitor(dest);
  self->request(dest, st.timeout, std::move(msg))
    .then(
      [self, id](T& x) {
        if (auto p = take(self, id); p.pending())
          p.deliver(std::move(x));
      },
      [self, id](caf::error& err) {
        if (auto p = take(self, id); p.pending())
          p.deliver(std::move(err));
      });
  return rp;
}

caf::behavior relay_behavior(relay_actor* self, caf::timespan timeout) {
  self->state.timeout = timeout;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    st.watched.erase(msg.source);
    auto why = !msg.reason
                 ? caf::make_error(caf::sec::request_receiver_down)
                 : make_error(error_code::store_unavailable,
                              "the node is unreachable ("
                                + self->system().render(msg.reason) + ")");
    for (auto i = st.pending.begin(); i != st.pending.end();) {
      if (i->second.target == msg.source) {
        i->second.promise.deliver(why);
        i = st.pending.erase(i);
      } else {
        ++i;
      }
    }
  });
  return {
    [self](actors::login_atom, const caf::actor& gateway, std::string& user,
           std::string& password) -> caf::response_promise {
      // Sent from here, so the node binds the session to this relay: it
      // ends when the relay (the client session) goes away.
      return relay_request<caf::actor>(
        self, gateway,
        caf::make_message(actors::login_atom::value, std::move(user),
                          std::move(password)));
    },
    [self](lookup_atom, const caf::actor& gateway,
           const std::string& address) -> caf::response_promise {
      return relay_request<caf::actor>(
        self, gateway, caf::make_message(actors::store_atom::value, address));
    },
    [self](forward_atom, const caf::actor& store,
           caf::message& msg) -> caf::response_promise {
      return relay_request<std::string>(self, store, std::move(msg));
    },
  };
}

} // namespace

// -- free functions -----------------------------------------------------------

void configure(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.add_message_type<actors::caller>("mantissa.caller");
  cfg.add_error_category(
    caf::atom("mantissa"),
    [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
      std::string out = actors::to_string(static_cast<error_code>(code));
      if (ctx.match_elements<std::string>())
        out += ": " + ctx.get_as<std::string>(0);
      return out;
    });
  // The node sends a heartbeat every second; a node silent for 5 s (frozen,
  // or its host gone without closing the connection) counts as dead.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds(1)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds(5)});
  // The node's scheduler and network settings for short round trips.
  actors::apply_latency_defaults(cfg);
}

bool configure_tls(caf::actor_system_config& cfg,
                   const actors::network_tls& tls, std::string& err) {
  return actors::configure_network_tls(cfg, tls, err);
}

caf::expected<caf::actor> connect(caf::actor_system& sys,
                                  const std::string& host, std::uint16_t port) {
  if (actors::uses_network_tls(sys))
    return caf::openssl::remote_actor(sys, host, port);
  return sys.middleman().remote_actor(host, port);
}

// -- session ------------------------------------------------------------------

struct session::impl {
  caf::actor_system* sys;
  caf::actor gateway;
  session_options opts;
  caf::actor relay;
  std::unique_ptr<caf::scoped_actor> self;
  /// Store handles by address, from earlier lookups; a stale one costs one
  /// bounced request and a new lookup.
  std::unordered_map<std::string, caf::actor> stores;

  impl(caf::actor_system& s, caf::actor gw, session_options o)
    : sys(&s), gateway(std::move(gw)), opts(std::move(o)) {
    relay = sys->spawn(relay_behavior, caf::timespan{opts.timeout});
    self = std::make_unique<caf::scoped_actor>(*sys);
  }

  ~impl() {
    self.reset();
    caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  /// Turns a failure of the transport into an error of category "mantissa".
  caf::error normalize(caf::error err, const std::string& what) const {
    if (err.category() == caf::atom("mantissa"))
      return err;
    if (is_sec(err, caf::sec::request_timeout))
      return make_error(error_code::timeout,
                        what + ": no answer within "
                          + std::to_string(opts.timeout.count()) + " ms");
    return make_error(actors::code_of(err), what + ": " + sys->render(err));
  }

  /// Sends `msg` to the relay and waits for its `T`.
  template<class T>
  caf::expected<T> ask(caf::message msg) {
    caf::expected<T> result{caf::error{}};
    (*self)
      ->request(relay, opts.timeout + relay_margin, std::move(msg))
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<caf::actor> lookup(const std::string& address) {
    auto r = ask<caf::actor>(
      caf::make_message(lookup_atom::value, gateway, address));
    if (r)
      return r;
    if (is_sec(r.error(), caf::sec::request_receiver_down))
      return make_error(error_code::store_unavailable,
                        "lookup of " + address
                          + ": the node's gateway is gone (the node stopped)");
    return normalize(std::move(r.error()), "lookup of " + address);
  }

  /// Sends `msg` to the store for `address`, looking it up (again) when
  /// needed, and parses the JSON reply.
  caf::expected<nlohmann::json> call(const std::string& address,
                                     const caf::message& msg) {
    for (int attempt = 0;; ++attempt) {
      auto i = stores.find(address);
      if (i == stores.end()) {
        auto store = lookup(address);
        if (!store)
          return std::move(store.error());
        i = stores.emplace(address, std::move(*store)).first;
      }
      auto r = ask<std::string>(
        caf::make_message(forward_atom::value, i->second, msg));
      if (r) {
        auto j = nlohmann::json::parse(*r, nullptr, false);
        if (j.is_discarded())
          return make_error(error_code::internal,
                            "the store for " + address + " sent invalid JSON");
        return j;
      }
      if (is_sec(r.error(), caf::sec::request_receiver_down)) {
        // The store passivated before it saw the request: nothing happened,
        // so sending it again to a fresh activation is safe.
        stores.erase(i);
        if (attempt < opts.retries)
          continue;
        return make_error(error_code::store_unavailable,
                          "the store for " + address + " stopped "
                            + std::to_string(attempt + 1)
                            + " times before it could answer");
      }
      if (actors::code_of(r.error()) == error_code::store_unavailable
          || is_sec(r.error(), caf::sec::request_timeout))
        stores.erase(i);
      return normalize(std::move(r.error()), "request to " + address);
    }
  }
};

session::session(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

caf::expected<session> session::login(caf::actor_system& sys,
                                      const caf::actor& gateway,
                                      const std::string& username,
                                      const std::string& password,
                                      session_options options) {
  auto p = std::make_unique<impl>(sys, caf::actor{}, std::move(options));
  auto r = p->ask<caf::actor>(caf::make_message(actors::login_atom::value,
                                                gateway, username, password));
  if (!r)
    return p->normalize(std::move(r.error()), "login as " + username);
  p->gateway = std::move(*r);
  return session{std::move(p)};
}

session::~session() = default;
session::session(session&&) noexcept = default;
session& session::operator=(session&&) noexcept = default;

const session_options& session::options() const noexcept {
  return impl_->opts;
}

caf::expected<caf::actor> session::lookup(const std::string& address) {
  return impl_->lookup(address);
}

caf::expected<nlohmann::json> session::get(const std::string& address,
                                           const std::string& type,
                                           std::int64_t id) {
  return impl_->call(address, caf::make_message(actors::get_atom::value,
                                                impl_->opts.who, type, id));
}

caf::expected<nlohmann::json> session::put(const std::string& address,
                                           const std::string& type,
                                           const nlohmann::json& attributes) {
  return impl_->call(address,
                     caf::make_message(actors::put_atom::value, impl_->opts.who,
                                       type, attributes.dump()));
}

caf::expected<nlohmann::json>
session::update(const std::string& address, const std::string& type,
                std::int64_t id, const nlohmann::json& attributes) {
  return impl_->call(address, caf::make_message(actors::update_atom::value,
                                                impl_->opts.who, type, id,
                                                attributes.dump()));
}

caf::expected<nlohmann::json> session::remove(const std::string& address,
                                              const std::string& type,
                                              std::int64_t id) {
  return impl_->call(address, caf::make_message(actors::delete_atom::value,
                                                impl_->opts.who, type, id));
}

caf::expected<nlohmann::json> session::query(const std::string& address,
                                             const nlohmann::json& query) {
  return impl_->call(address, caf::make_message(actors::query_atom::value,
                                                impl_->opts.who, query.dump()));
}

caf::expected<nlohmann::json> session::count(const std::string& address,
                                             const std::string& type,
                                             const nlohmann::json& where) {
  std::string text = where.is_null() ? std::string{} : where.dump();
  return impl_->call(address, caf::make_message(actors::count_atom::value,
                                                impl_->opts.who, type, text));
}

caf::expected<nlohmann::json> session::run(const std::string& address,
                                           const std::string& handler,
                                           const nlohmann::json& args) {
  std::string text = args.is_null() ? std::string{} : args.dump();
  return impl_->call(
    address,
    caf::make_message(actors::run_atom::value, impl_->opts.who, handler, text));
}

} // namespace mantissa::client
