#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "wire/error_code.hpp"
#include "actors/port/frame_guard.hpp"
#include "wire/port/preamble.hpp"

/// The node's network port (`--listen`): the *door* every connection
/// passes, in front of CAF's network layer (docs/security.md, "The actor
/// port").
///
/// A connection first completes TLS (when the node has certificates) and a
/// login (wire/port/preamble.hpp) before a byte of CAF's protocol is
/// read: a stranger reaches nothing else, and what it may make the node
/// hold is bounded (a login request is at most 4.6 KiB; connections that
/// have not logged in are limited per address and in total and time out).
/// After the login the connection is handed to CAF's BASP broker with the
/// login's session as the actor its handshake names, and every frame the
/// peer sends passes the `frame_guard` first.
///
/// The door also keeps the *edge* set: the actors that may receive
/// messages from the network (sessions, forwarders, cluster links), each of
/// which checks every message's capability itself. A message for any other
/// registered actor is dropped and counted.
namespace mantissa::actors::port {

/// Sent (locally, never over the network: the type is not registered) to a
/// session whose connection went away.
struct connection_gone {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_gone&) {
  return f(caf::meta::type_name("mantissa.connection_gone"));
}

struct door_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  /// TLS with the files the actor system was configured with
  /// (`configure_network_tls`); plain TCP when false.
  bool tls = false;
  frame_limits limits;
  /// Connections that have not logged in yet, in total and per client
  /// address; beyond them a new connection is closed at once.
  std::size_t max_pending = 256;
  std::size_t max_pending_per_address = 16;
  /// Connections per client address, logged in or not.
  std::size_t max_per_address = 512;
  /// A connection must have sent its login within this long (TLS included).
  std::chrono::milliseconds login_deadline{10'000};
  /// A redundant connection (a dead end) is closed after this long.
  std::chrono::milliseconds dead_end_deadline{10'000};
};

/// A login as the door received it.
struct login_attempt {
  login_request request;
  std::string peer;  ///< the client's IP address
  /// The client certificate (TLS only), verified against the site's CA.
  std::optional<std::string> cert_name;
  bool cert_node = false;
};

/// What the node made of a login.
struct login_outcome {
  bool ok = false;
  error_code code = error_code::unauthorized;
  std::string message;
  caf::actor session;
  std::string role;
  std::string capability;
  principal_kind who = principal_kind::user;
};

using login_done = std::function<void(login_outcome)>;
/// Checks a login; calls `done` once, from any thread.
using login_fn = std::function<void(login_attempt, login_done)>;

/// Counters of the door (docs/operations.md, "Metrics").
struct door_stats {
  std::uint64_t accepted = 0;
  std::uint64_t refused_total = 0;       ///< over `max_pending`
  std::uint64_t refused_address = 0;     ///< over a per-address limit
  std::uint64_t login_ok = 0;
  std::uint64_t login_failed = 0;
  std::uint64_t login_timeouts = 0;      ///< no login within the deadline
  std::uint64_t malformed = 0;           ///< not a login request
  std::uint64_t pending = 0;             ///< connections not logged in now
  std::uint64_t open = 0;                ///< logged-in connections now
  /// Frames dropped or connections closed by the guard, by reason.
  std::map<std::string, std::uint64_t> dropped;
  std::map<std::string, std::uint64_t> closed;
};

class door_state;

/// The listening door of one node. Thread-safe.
class door {
 public:
  ~door();
  door(const door&) = delete;
  door& operator=(const door&) = delete;

  /// A door for `opts`, not listening yet. Null with a message in `err`
  /// when its TLS files are unusable.
  [[nodiscard]] static std::shared_ptr<door>
  make(caf::actor_system& sys, door_options opts, std::string& err);

  /// Sets the check of every login. Call once, before `listen`.
  void set_login(login_fn login);

  /// Listens on `opts.host:opts.port` (0: any free port). False with a
  /// message in `err` when the port cannot be opened.
  [[nodiscard]] bool listen(std::string& err);

  /// The port listened on.
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// Stops accepting and closes every connection not logged in yet.
  /// Idempotent.
  void close();

  /// Marks `id` as an edge actor: the network may address it. The actor
  /// must check every message it gets. Call before its handle leaves the
  /// node; `remove_edge` when it exits (`edge_guard` does both).
  void add_edge(std::uint64_t id);
  void remove_edge(std::uint64_t id);

  /// Counts a message an edge actor refused for its capability (shown as
  /// `dropped{reason="unauthorized"}`).
  void count_unauthorized();

  [[nodiscard]] door_stats stats() const;

 private:
  explicit door(std::shared_ptr<door_state> st);
  std::shared_ptr<door_state> st_;
};

/// Marks `a` as an edge actor of `d` for its lifetime. Call it right after
/// spawning `a`, before its handle leaves the node: a message that comes
/// for an actor not (yet) marked is dropped.
void make_edge(const std::shared_ptr<door>& d, const caf::actor& a);

} // namespace mantissa::actors::port
