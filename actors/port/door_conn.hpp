#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/port/door_state.hpp"
#include "actors/port/frame_guard.hpp"
#include "wire/port/scribe.hpp"

namespace mantissa::actors::port {

/// One connection to the door: its login (TLS, then the login request,
/// answered by the node's login check), then CAF's BASP stream with every
/// frame passing the connection's `frame_guard`. Internal to the port.
///
/// Thread rule: a CAF servant, used on the network thread only (`expired`
/// and `kill` are called there by the door's sweep and close).
class door_conn final : public port_scribe {
 public:
  door_conn(caf::io::network::default_multiplexer& mx, native_socket fd,
            port_policy policy, std::shared_ptr<door_state> st,
            std::uint64_t id, std::string peer);
  ~door_conn() override;

  void start();

  /// True when the login deadline passed before the login was read, or
  /// a refused connection did not go away.
  [[nodiscard]] bool expired(steady::time_point now) const;

  void configure_read(caf::io::receive_policy::config) override;
  void remove_from_loop() override;
  bool consume(caf::execution_unit* ctx, const void* buf,
               std::size_t n) override;

  /// The node's answer to the login (network thread).
  void on_login(login_outcome o);

  /// Ends the connection at once (network thread).
  void kill(const char* why);

 private:
  enum class stage { head, body, checking, closing, attaching, basp, dead };
  enum class rd { header, pass, inspect, drop };

  void read_exactly(std::size_t n);
  bool on_head(const char* p);
  bool on_body(const char* p, std::size_t n);
  /// Hands `n` bytes at the start of the read buffer to the broker.
  bool feed(caf::execution_unit* ctx, std::size_t n);
  /// Hands `data` to the broker as if just read.
  bool feed_copy(caf::execution_unit* ctx, const std::vector<char>& data);
  bool on_basp(caf::execution_unit* ctx, const char* p, std::size_t n);
  /// Discards the next `left` bytes, in small reads.
  bool skip(std::uint64_t left);
  bool after_inspect(caf::execution_unit* ctx,
                     const std::vector<char>& payload);
  /// Counts a dropped (or defused) message; logs the first few of a
  /// connection at debug level (a peer must not be able to flood the log).
  void dropped(const char* why);
  void notify_closed();

  static constexpr int max_logged_drops = 10;

  std::shared_ptr<door_state> st_;
  std::uint64_t id_;
  std::string peer_;
  steady::time_point deadline_;
  stage stage_ = stage::head;
  rd rd_ = rd::header;
  std::vector<char> head_;
  std::uint64_t drop_left_ = 0;
  std::optional<frame_guard> guard_;
  bool was_pending_ = true;
  bool notified_ = false;
  int logged_drops_ = 0;
};

} // namespace mantissa::actors::port
