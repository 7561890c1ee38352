#include "actors/port/frame_guard.hpp"

#include <utility>

namespace mantissa::actors::port {

namespace {

std::uint64_t get_be(const char* p, int n) {
  std::uint64_t x = 0;
  for (int i = 0; i < n; ++i)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

// CAF 0.17's basp::header flags and message_id bits.
constexpr std::uint8_t named_receiver_flag = 0x01;
constexpr std::uint8_t select_connection_flag = 0x02;
constexpr std::uint64_t response_flag = 0x8000000000000000ull;
constexpr std::uint64_t category_mask = 0x3000000000000000ull;
constexpr int category_offset = 60;
constexpr std::uint64_t first_stream_category = 2;
constexpr std::size_t node_id_atom_size = 8;

} // namespace

basp_header parse_header(const char* bytes) {
  basp_header h;
  h.op = static_cast<basp_op>(static_cast<std::uint8_t>(bytes[0]));
  h.flags = static_cast<std::uint8_t>(bytes[3]);
  h.payload_len = static_cast<std::uint32_t>(get_be(bytes + 4, 4));
  h.operation_data = get_be(bytes + 8, 8);
  h.source_actor = get_be(bytes + 16, 8);
  h.dest_actor = get_be(bytes + 24, 8);
  return h;
}

frame_guard::frame_guard(std::string this_node, principal_kind who,
                         frame_limits limits, claim_fn claim,
                         classify_fn classify)
  : this_node_(std::move(this_node)),
    who_(who),
    limits_(limits),
    claim_(std::move(claim)),
    classify_(std::move(classify)) {
}

verdict frame_guard::refuse(const char* why) {
  reason_ = why;
  return verdict::close;
}

verdict frame_guard::discard(const char* why) {
  reason_ = why;
  return verdict::drop;
}

verdict frame_guard::on_header(const char* bytes) {
  hdr_ = parse_header(bytes);
  reason_ = "";
  switch (phase_) {
    case phase::dead_end:
      return refuse("dead_end");
    case phase::handshake:
      if (hdr_.op != basp_op::client_handshake || hdr_.payload_len == 0
          || hdr_.payload_len > limits_.max_control)
        return refuse("handshake");
      return verdict::inspect;
    case phase::open:
      break;
  }
  switch (hdr_.op) {
    case basp_op::client_handshake:
      if (hdr_.payload_len == 0 || hdr_.payload_len > limits_.max_control)
        return refuse("handshake");
      return verdict::inspect;
    case basp_op::direct_message:
      return message_verdict();
    case basp_op::monitor_message:
    case basp_op::down_message:
      if (hdr_.payload_len > limits_.max_control)
        return refuse("oversize");
      return verdict::inspect;
    case basp_op::heartbeat:
      if (hdr_.payload_len != 0)
        return refuse("protocol");
      return verdict::pass;
    case basp_op::routed_message:
      return refuse("routed");
    case basp_op::server_handshake:
      return refuse("handshake");
  }
  return refuse("protocol");
}

verdict frame_guard::message_verdict() {
  if (hdr_.payload_len > limits_.max_message)
    return refuse("oversize");
  if ((hdr_.flags & named_receiver_flag) != 0)
    return discard("named");
  auto mid = hdr_.operation_data;
  if (who_ != principal_kind::node) {
    // Only nodes answer requests of this node; a client never gets one.
    if ((mid & response_flag) != 0)
      return discard("response");
    if (((mid & category_mask) >> category_offset) >= first_stream_category)
      return discard("stream");
  }
  switch (classify_(hdr_.dest_actor)) {
    case target_kind::edge:
    case target_kind::none:
      return verdict::pass;
    case target_kind::internal:
      break;
  }
  return discard("internal");
}

namespace {

/// Reads CAF 0.17's varbyte length at `p` (at most `n` bytes); 0 bytes
/// used on a malformed one.
std::size_t varbyte(const unsigned char* p, std::size_t n, std::size_t& used) {
  std::size_t x = 0;
  int shift = 0;
  for (used = 0; used < n && used < 5; ++used) {
    x |= static_cast<std::size_t>(p[used] & 0x7F) << shift;
    shift += 7;
    if ((p[used] & 0x80) == 0) {
      ++used;
      return x;
    }
  }
  used = 0;
  return 0;
}

/// Type signatures of messages CAF handles itself instead of passing them
/// to the actor's behavior (scheduled_actor::categorize, and the link and
/// unlink requests BASP carries out on receipt).
bool system_signature(std::string_view sig) {
  static constexpr std::string_view singles[] = {
    "@<>+@exit",          "@<>+@down",         "@<>+@error",
    "@<>+@timeout",       "@<>+@group_down",   "@<>+@open_stream_msg",
    "@<>+@upstream_msg",  "@<>+@downstream_msg",
  };
  for (auto x : singles)
    if (sig == x)
      return true;
  return sig.rfind("@<>+@atom+@strong_actor_ptr", 0) == 0;
}

} // namespace

bool frame_guard::defuse(char* payload, std::size_t n) {
  if (hdr_.op != basp_op::direct_message
      || (who_ == principal_kind::node
          && (hdr_.operation_data & response_flag) != 0))
    return false;
  auto* p = reinterpret_cast<unsigned char*>(payload);
  // Payload: forwarding stack (varbyte count, then handles), then the
  // message: a 16-bit zero, its type signature (varbyte length, text),
  // the values. Peers send an empty forwarding stack; anything else is
  // not read further.
  bool bad = true;
  if (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0) {
    std::size_t used = 0;
    auto len = varbyte(p + 3, n - 3, used);
    if (used > 0 && 3 + used + len <= n) {
      std::string_view sig{payload + 3 + used, len};
      bad = system_signature(sig);
    }
  }
  if (!bad)
    return false;
  // A 16-bit "zero" that is not zero: CAF refuses to read the message.
  if (n >= 3) {
    p[1] = 0xFF;
    p[2] = 0xFF;
  }
  reason_ = "system_message";
  return true;
}

verdict frame_guard::on_payload(std::string_view payload) {
  if (payload.size() != hdr_.payload_len)
    return refuse("protocol");
  if (hdr_.op == basp_op::client_handshake) {
    if (phase_ == phase::handshake) {
      std::string claimed{payload};
      // A node id of CAF 0.17 is its implementation's atom and its data;
      // the bare atom (8 bytes) is the invalid id, which names no sender.
      if (claimed == this_node_ || claimed.size() <= node_id_atom_size)
        return refuse("handshake");
      if (!claim_(claimed)) {
        // Another connection holds this id: a client's redundant
        // connection (CAF closes it itself), or someone claiming a peer's
        // id. Either way it carries nothing.
        phase_ = phase::dead_end;
        claimed_ = std::move(claimed);
        return discard("dead_end");
      }
      node_ = std::move(claimed);
      phase_ = phase::open;
      return verdict::pass;
    }
    // CAF repeats the handshake once, flagged, to select this connection.
    if (++repeats_ > 1 || payload != node_
        || (hdr_.flags & select_connection_flag) == 0)
      return refuse("handshake");
    return verdict::pass;
  }
  if (hdr_.op == basp_op::monitor_message || hdr_.op == basp_op::down_message) {
    // Payload: source node, destination node (, reason): the peer may only
    // speak of its own actors, to this node.
    auto n = node_.size();
    auto m = this_node_.size();
    if (payload.size() < n + m || payload.substr(0, n) != node_
        || payload.substr(n, m) != this_node_)
      return refuse("bad_node");
    if (hdr_.op == basp_op::monitor_message
        && (payload.size() != n + m
            || classify_(hdr_.dest_actor) == target_kind::internal))
      return discard("internal");
    return verdict::pass;
  }
  return refuse("protocol");
}

} // namespace mantissa::actors::port
