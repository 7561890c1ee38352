#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/intrusive_ptr.hpp>
#include <caf/io/network/default_multiplexer.hpp>

#include "actors/port/door.hpp"
#include "wire/port/tls.hpp"

/// What the door's listening socket and its connections share: the edge
/// set, the admission limits' counts, which sessions live by which
/// connection, and the counters. Internal to the port.
///
/// Thread rule: the edge set is read on any thread (under `edge_mtx`); the
/// connection tables change on the network thread, under `mtx` because
/// `snapshot` (stats) reads them from any thread.
namespace mantissa::actors::port {

class door_conn;
using door_conn_ptr = caf::intrusive_ptr<door_conn>;
class door_doorman;

using steady = std::chrono::steady_clock;

class door_state : public std::enable_shared_from_this<door_state> {
 public:
  caf::actor_system* sys = nullptr;
  door_options opts;
  login_fn login;
  caf::actor broker;
  std::string this_node;  // serialized as BASP serializes it
  ssl_ctx_ptr tls;
  std::uint16_t port = 0;
  caf::intrusive_ptr<door_doorman> doorman;
  caf::actor sweeper;

  // -- edge actors (any thread) --

  mutable std::shared_mutex edge_mtx;
  std::unordered_set<std::uint64_t> edges;

  /// Whether actor `id` is an edge actor, another actor of this node, or
  /// none.
  target_kind classify(std::uint64_t id) const;

  // -- connections (network thread; the mutex serves readers of stats) --

  mutable std::mutex mtx;
  bool closing = false;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, door_conn_ptr> pending;
  std::unordered_map<std::uint64_t, door_conn_ptr> dead_ends;
  std::unordered_map<std::string, std::size_t> pending_by_addr;
  std::unordered_map<std::string, std::size_t> all_by_addr;
  std::unordered_map<std::string, std::uint64_t> conn_of_node;
  std::unordered_map<std::uint64_t, std::vector<caf::actor_addr>>
    sessions_of_conn;
  std::unordered_map<std::string, std::vector<caf::actor_addr>>
    sessions_of_node;
  door_stats counters;

  /// Whether a new connection from `addr` may come in; counts it if so.
  bool admit(const std::string& addr);

  void add_pending(std::uint64_t id, door_conn_ptr c);

  /// A login succeeded on connection `id` (from `addr`).
  void logged_in(std::uint64_t id, const std::string& addr,
                 const caf::actor& session);

  void login_failed() {
    std::lock_guard<std::mutex> guard{mtx};
    ++counters.login_failed;
  }

  void count_drop(const char* why) {
    std::lock_guard<std::mutex> guard{mtx};
    ++counters.dropped[why];
  }

  void count_close(const char* why) {
    std::lock_guard<std::mutex> guard{mtx};
    ++counters.closed[why];
  }

  void count(std::uint64_t door_stats::*field) {
    std::lock_guard<std::mutex> guard{mtx};
    ++(counters.*field);
  }

  /// The guard's claim: binds `node` to connection `id` unless another
  /// live connection holds it. Sessions made on the connection live as
  /// long as the binding.
  bool claim(std::uint64_t id, const std::string& node);

  /// A dead end claimed `node`: its sessions are used through the
  /// connection that holds `node` and live as long as it.
  void dead_end(std::uint64_t id, const std::string& node,
                door_conn_ptr conn);

  /// Moves the sessions made on connection `id` to those of `node` (under
  /// `mtx`).
  void adopt_sessions(std::uint64_t id, const std::string& node);

  /// Connection `id` (from `addr`, holding `node`, logged in or not) is
  /// gone: every session that lived by it ends.
  void closed(std::uint64_t id, const std::string& addr,
              const std::string& node, bool was_pending);

  /// Drops a reference later, on the network thread, outside any call of
  /// the connection itself.
  void release(door_conn_ptr p);

  /// Closes connections past their deadline (network thread).
  void sweep();

  [[nodiscard]] door_stats snapshot() const;

  caf::io::network::default_multiplexer& mpx();
};

} // namespace mantissa::actors::port
