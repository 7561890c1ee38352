#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

/// The check every BASP frame from a logged-in peer passes before CAF's
/// network layer reads it (docs/security.md, "The actor port").
///
/// CAF 0.17's BASP believes what a peer writes: the node id of its
/// handshake (a peer claiming another peer's id takes over its traffic),
/// the destination of a message (any actor whose id is in the registry),
/// the source of a routed message (a local actor, as far as the receiver
/// can tell), the actor of a `down_message` (a proxy killed on a
/// stranger's word), and the size of a payload (allocated before it is
/// read). The guard sits in front of it, inside the node's network thread,
/// and holds each connection to what a well-behaved peer sends:
///
/// - one client handshake first, claiming a node id no other live
///   connection holds and that is not the node's own (a second claim of a
///   held id makes a *dead end*: the connection is a client's redundant
///   one and gets nothing further); one repeat of the same handshake with
///   CAF's select-connection flag;
/// - messages only to *edge* actors (sessions, forwarders, cluster links,
///   which check each message's capability themselves) or to ids that name
///   no actor (CAF bounces those); never to a named actor (`ConfigServ`,
///   `SpawnServ`), never to an internal actor, never a routed message;
/// - responses and stream messages only from other nodes (the node never
///   sends a request to a client);
/// - monitor and down messages only about the peer's own actors;
/// - payloads up to `frame_limits::max_message` (control frames up to
///   `max_control`); anything larger ends the connection before a byte of
///   it is allocated;
/// - no system message (exit, down, error, timeout, stream, link) as a
///   message: those are defused before CAF reads them (`defuse`).
///
/// Pure logic, no I/O and no CAF: the scribe that owns the connection feeds
/// it headers and, when it asks, payloads.
namespace mantissa::actors::port {

/// Who the connection's first login proved to be.
enum class principal_kind : std::uint8_t {
  user,    ///< an account
  system,  ///< `system` with the node key or the cluster key (tools)
  node,    ///< another node of the cluster
};

/// What an actor id names, for the guard.
enum class target_kind : std::uint8_t {
  edge,     ///< an actor that checks every message itself
  none,     ///< no registered actor: CAF bounces a request, drops the rest
  internal, ///< a registered actor that must never hear from the network
};

struct frame_limits {
  /// The largest message payload.
  std::uint32_t max_message = 64u << 20;
  /// The largest handshake, monitor or down payload.
  std::uint32_t max_control = 64u << 10;
};

/// What to do with a frame.
enum class verdict : std::uint8_t {
  pass,     ///< hand header (and payload) to CAF
  inspect,  ///< read the payload, then call `on_payload` before anything
  drop,     ///< discard header and payload (read `payload_size()` bytes)
  close,    ///< end the connection
};

/// The BASP operations (CAF 0.17's `basp::message_type`).
enum class basp_op : std::uint8_t {
  server_handshake = 0,
  client_handshake = 1,
  direct_message = 2,
  routed_message = 3,
  monitor_message = 4,
  down_message = 5,
  heartbeat = 6,
};

inline constexpr std::size_t basp_header_size = 32;

/// A parsed BASP header (32 bytes, big-endian fields).
struct basp_header {
  basp_op op{};
  std::uint8_t flags = 0;
  std::uint32_t payload_len = 0;
  std::uint64_t operation_data = 0;
  std::uint64_t source_actor = 0;
  std::uint64_t dest_actor = 0;
};

[[nodiscard]] basp_header parse_header(const char* bytes);

/// One connection's guard. Not thread-safe: used by the connection's scribe
/// on the network thread only.
class frame_guard {
 public:
  /// Claims a node id (its serialized bytes) for this connection; false
  /// when another live connection holds it.
  using claim_fn = std::function<bool(const std::string&)>;
  using classify_fn = std::function<target_kind(std::uint64_t)>;

  /// `this_node` is the node's own id, serialized as BASP serializes it.
  frame_guard(std::string this_node, principal_kind who, frame_limits limits,
              claim_fn claim, classify_fn classify);

  /// Judges a header (`basp_header_size` bytes). `pass`: hand the header to
  /// CAF, then the `payload_size()` bytes that follow; `inspect`: read the
  /// payload and call `on_payload`; `drop`: skip `payload_size()` bytes;
  /// `close`: end the connection.
  [[nodiscard]] verdict on_header(const char* bytes);

  /// After `inspect`: judges the payload. `pass`: hand the header and this
  /// payload to CAF; `drop`: discard both; `close`.
  [[nodiscard]] verdict on_payload(std::string_view payload);

  /// Called with the payload of a message the guard let pass (`pass` on
  /// its header), before CAF reads it. A message CAF would treat as a
  /// command to the actor itself rather than as content for its behavior
  /// (an exit message, which kills with `kill` whatever the actor's exit
  /// handler says; a down, error, timeout or stream message; a link or
  /// unlink request, which CAF carries out on the actor it names) is
  /// defused in place: its type header is made invalid, so CAF fails to
  /// read it and drops it. Answers (responses of other nodes) pass as
  /// they are. Returns true when it defused the message (`reason()` says
  /// why).
  bool defuse(char* payload, std::size_t n);

  /// The payload length of the last header.
  [[nodiscard]] std::uint32_t payload_size() const noexcept {
    return hdr_.payload_len;
  }

  /// Why the last `drop` or `close` happened (for metrics and logs), e.g.
  /// "internal", "oversize", "handshake".
  [[nodiscard]] const char* reason() const noexcept { return reason_; }

  /// The node id the connection holds (empty before its handshake, and on
  /// a dead end).
  [[nodiscard]] const std::string& node() const noexcept { return node_; }

  /// True on a dead end: a redundant connection whose handshake claimed an
  /// id another connection holds.
  [[nodiscard]] bool dead_end() const noexcept {
    return phase_ == phase::dead_end;
  }

  /// The id a dead end claimed (empty otherwise).
  [[nodiscard]] const std::string& claimed() const noexcept {
    return claimed_;
  }

 private:
  enum class phase : std::uint8_t { handshake, open, dead_end };

  verdict refuse(const char* why);
  verdict discard(const char* why);
  verdict message_verdict();

  std::string this_node_;
  principal_kind who_;
  frame_limits limits_;
  claim_fn claim_;
  classify_fn classify_;
  phase phase_ = phase::handshake;
  basp_header hdr_;
  std::string node_;
  std::string claimed_;
  int repeats_ = 0;
  const char* reason_ = "";
};

} // namespace mantissa::actors::port
