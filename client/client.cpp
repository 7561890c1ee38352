#include "client/client.hpp"

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/message_view.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire/network_tuning.hpp"
#include "wire/port/connector.hpp"

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
           std::string& password) {
      auto rp = self->make_response_promise<caf::actor, actors::caller>();
      self
        ->request(gateway, self->state.timeout, actors::login_atom::value,
                  std::move(user), std::move(password))
        .then(
          [rp](caf::actor& session, actors::caller& who) mutable {
            rp.deliver(std::move(session), std::move(who));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](lookup_atom, const caf::actor& session, const actors::caller& who,
           const std::string& address) -> caf::response_promise {
      return relay_request<caf::actor>(
        self, session,
        caf::make_message(actors::store_atom::value, who, address));
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
  return actors::configure_network_tls(cfg, tls, err,
                                       actors::tls_role::client);
}

namespace {

/// Whether something accepts TCP connections at `host:port` (within 5 s).
bool listening(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0)
    return false;
  bool ok = false;
  for (auto* ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family,
                      ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                      ai->ai_protocol);
    if (fd < 0)
      continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 5000) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        ok = err == 0;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return ok;
}

/// The login timeout of a gateway (the node may slow down a login after
/// failures by up to 30 s).
constexpr std::chrono::seconds login_timeout{45};

/// The gateway `connect` returns: runs each login on a connection of its
/// own (wire/port/connector.hpp).
caf::behavior gateway_behavior(caf::event_based_actor* self, std::string host,
                               std::uint16_t port) {
  return {
    [self, host, port](actors::login_atom, std::string& user,
                       std::string& password) {
      auto rp = self->make_response_promise<caf::actor, actors::caller>();
      auto dialer = actors::port::spawn_dialer(self->system());
      self
        ->request(dialer, login_timeout + std::chrono::seconds(5),
                  actors::port::dial_atom::value, host, port,
                  static_cast<std::uint8_t>(actors::port::login_kind::user),
                  std::move(user), std::move(password),
                  static_cast<std::uint32_t>(
                    std::chrono::milliseconds{login_timeout}.count()))
        .then(
          [rp](caf::actor& session, std::string& role,
               std::string& capability) mutable {
            rp.deliver(std::move(session),
                       actors::caller{std::move(role), {},
                                      std::move(capability)});
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

caf::behavior stamp_behavior(caf::event_based_actor* self, caf::actor target,
                             actors::caller who) {
  // It stands for `target`: it goes when that goes (the node stopped or
  // became unreachable), so monitoring it tells the same.
  self->monitor(target);
  self->set_down_handler(
    [self](caf::down_msg& m) { self->quit(std::move(m.reason)); });
  self->set_default_handler(
    [self, target, who](caf::scheduled_actor*,
                        caf::message_view& view) -> caf::result<caf::message> {
      auto msg = view.move_content_to_message();
      if (msg.size() >= 2 && msg.match_element<actors::caller>(1)) {
        msg.get_mutable_as<actors::caller>(1).capability = who.capability;
      } else if (!msg.empty()) {
        msg = msg.take(1) + caf::make_message(who) + msg.drop(1);
      }
      return self->delegate(target, std::move(msg));
    });
  return {[](caf::ok_atom) {}};
}

} // namespace

caf::expected<caf::actor> connect(caf::actor_system& sys,
                                  const std::string& host, std::uint16_t port) {
  if (!listening(host, port))
    return caf::make_error(caf::sec::cannot_connect_to_node,
                           "nothing listens at " + host + ":"
                             + std::to_string(port));
  return sys.spawn<caf::hidden>(gateway_behavior, host, port);
}

caf::actor stamped(caf::actor_system& sys, caf::actor target,
                   actors::caller who) {
  return sys.spawn<caf::hidden>(stamp_behavior, std::move(target), std::move(who));
}

// -- session ------------------------------------------------------------------

struct session::impl {
  caf::actor_system* sys;
  /// The node's session (after the login).
  caf::actor session;
  /// What every message to it carries (the login's capability).
  actors::caller who;
  session_options opts;
  caf::actor relay;
  std::unique_ptr<caf::scoped_actor> self;
  /// Store handles by address, from earlier lookups; a stale one costs one
  /// bounced request and a new lookup.
  std::unordered_map<std::string, caf::actor> stores;

  impl(caf::actor_system& s, session_options o)
    : sys(&s), opts(std::move(o)) {
    relay = sys->spawn(relay_behavior, caf::timespan{opts.timeout});
    self = std::make_unique<caf::scoped_actor>(*sys);
  }

  ~impl() {
    self.reset();
    caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
    // Ends the session at the node (its handles with it).
    if (session)
      caf::anon_send(session, actors::logout_atom::value, who);
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
      caf::make_message(lookup_atom::value, session, who, address));
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
                                     caf::message msg) {
    // The login's capability, whatever the caller's role says.
    if (msg.size() >= 2 && msg.match_element<actors::caller>(1))
      msg.get_mutable_as<actors::caller>(1).capability = who.capability;
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
  auto p = std::make_unique<impl>(sys, std::move(options));
  caf::expected<caf::actor> r{caf::error{}};
  (*p->self)
    ->request(p->relay, p->opts.timeout + relay_margin,
              actors::login_atom::value, gateway, username, password)
    .receive(
      [&](caf::actor& s, actors::caller& who) {
        r = std::move(s);
        p->who = std::move(who);
      },
      [&](caf::error& err) { r = std::move(err); });
  if (!r)
    return p->normalize(std::move(r.error()), "login as " + username);
  p->session = std::move(*r);
  return session{std::move(p)};
}

session::~session() = default;
session::session(session&&) noexcept = default;
session& session::operator=(session&&) noexcept = default;

const session_options& session::options() const noexcept {
  return impl_->opts;
}

const caf::actor& session::handle() const noexcept {
  return impl_->session;
}

const actors::caller& session::caller() const noexcept {
  return impl_->who;
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
