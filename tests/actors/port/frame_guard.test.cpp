// The BASP frame guard (actors/port/frame_guard.hpp): what a logged-in peer
// may send, frame by frame, without any I/O.

#include <catch2/catch.hpp>

#include <cstdint>
#include <set>
#include <string>

#include "actors/port/frame_guard.hpp"

using namespace mantissa::actors::port;

namespace {

constexpr std::uint8_t named_flag = 0x01;
constexpr std::uint8_t select_flag = 0x02;
constexpr std::uint64_t response = 0x8000000000000000ull;
constexpr std::uint64_t async = 0x1000000000000000ull;  // normal category
constexpr std::uint64_t upstream = 0x2000000000000000ull;

std::string header(basp_op op, std::uint32_t len, std::uint64_t dest = 0,
                   std::uint8_t flags = 0, std::uint64_t opdata = async,
                   std::uint64_t src = 7) {
  std::string h(basp_header_size, '\0');
  h[0] = static_cast<char>(op);
  h[3] = static_cast<char>(flags);
  auto put = [&h](std::size_t at, std::uint64_t x, int n) {
    for (int i = n - 1; i >= 0; --i, x >>= 8)
      h[at + static_cast<std::size_t>(i)] = static_cast<char>(x & 0xFF);
  };
  put(4, len, 4);
  put(8, opdata, 8);
  put(16, src, 8);
  put(24, dest, 8);
  return h;
}

/// A node with edge actor 10, internal actor 20, and one other connection
/// holding the id "held-node1".
struct fixture {
  std::string self_id = "THIS-NODE";  // (a real id has more than 8 bytes)
  std::set<std::string> held{"held-node1"};
  std::string claimed;

  frame_guard make(principal_kind who = principal_kind::user,
                   frame_limits limits = {}) {
    return frame_guard{
      self_id, who, limits,
      [this](const std::string& node) {
        if (held.count(node) > 0)
          return false;
        claimed = node;
        held.insert(node);
        return true;
      },
      [](std::uint64_t id) {
        return id == 10   ? target_kind::edge
               : id == 20 ? target_kind::internal
                          : target_kind::none;
      }};
  }

  /// A guard past a successful handshake claiming "peer-node1".
  frame_guard open(principal_kind who = principal_kind::user,
                   frame_limits limits = {}) {
    held.erase("peer-node1");  // each guard stands for a connection of its own
    auto g = make(who, limits);
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10).data())
            == verdict::inspect);
    REQUIRE(g.on_payload("peer-node1") == verdict::pass);
    return g;
  }
};

} // namespace

TEST_CASE("the first frame must be a client handshake claiming a free id",
          "[port][guard]") {
  fixture f;
  SECTION("a message before the handshake") {
    auto g = f.make();
    CHECK(g.on_header(header(basp_op::direct_message, 10, 10).data())
          == verdict::close);
    CHECK(std::string{g.reason()} == "handshake");
  }
  SECTION("a server handshake") {
    auto g = f.make();
    CHECK(g.on_header(header(basp_op::server_handshake, 10).data())
          == verdict::close);
  }
  SECTION("an empty or oversized handshake") {
    auto g = f.make();
    CHECK(g.on_header(header(basp_op::client_handshake, 0).data())
          == verdict::close);
    auto g2 = f.make();
    CHECK(g2.on_header(header(basp_op::client_handshake, 65 * 1024).data())
          == verdict::close);
  }
  SECTION("a free id is bound to the connection") {
    auto g = f.make();
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1") == verdict::pass);
    CHECK(g.node() == "peer-node1");
    CHECK(f.claimed == "peer-node1");
    CHECK_FALSE(g.dead_end());
  }
  SECTION("the invalid node id (an empty atom)") {
    auto g = f.make();
    REQUIRE(g.on_header(header(basp_op::client_handshake, 8).data())
            == verdict::inspect);
    CHECK(g.on_payload(std::string(8, '\0')) == verdict::close);
  }
  SECTION("the node's own id") {
    auto g = f.make();
    REQUIRE(g.on_header(header(basp_op::client_handshake, 9).data())
            == verdict::inspect);
    CHECK(g.on_payload("THIS-NODE") == verdict::close);
    CHECK(f.claimed.empty());
  }
  SECTION("an id another connection holds makes a dead end") {
    auto g = f.make();
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10).data())
            == verdict::inspect);
    CHECK(g.on_payload("held-node1") == verdict::drop);
    CHECK(g.dead_end());
    CHECK(g.node().empty());
    CHECK(g.claimed() == "held-node1");
    // Nothing more goes through it.
    CHECK(g.on_header(header(basp_op::direct_message, 8, 10).data())
          == verdict::close);
    CHECK(std::string{g.reason()} == "dead_end");
  }
  SECTION("a payload of another length than announced") {
    auto g = f.make();
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1!") == verdict::close);
  }
}

TEST_CASE("a handshake is repeated once, flagged, for the same id",
          "[port][guard]") {
  fixture f;
  auto g = f.open();
  SECTION("the flagged repeat") {
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10, 0, select_flag).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1") == verdict::pass);
    // A second repeat is not CAF's.
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10, 0, select_flag).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1") == verdict::close);
  }
  SECTION("without the flag") {
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1") == verdict::close);
  }
  SECTION("claiming another id (taking over another peer's traffic)") {
    REQUIRE(g.on_header(header(basp_op::client_handshake, 10, 0, select_flag).data())
            == verdict::inspect);
    CHECK(g.on_payload("held-node1") == verdict::close);
    CHECK(std::string{g.reason()} == "handshake");
  }
}

TEST_CASE("messages reach edge actors and unknown ids only", "[port][guard]") {
  fixture f;
  auto g = f.open();
  CHECK(g.on_header(header(basp_op::direct_message, 100, 10).data())
        == verdict::pass);
  CHECK(g.payload_size() == 100);
  CHECK(g.on_header(header(basp_op::direct_message, 100, 99).data())
        == verdict::pass);
  CHECK(g.on_header(header(basp_op::direct_message, 100, 20).data())
        == verdict::drop);
  CHECK(std::string{g.reason()} == "internal");
  CHECK(g.on_header(header(basp_op::direct_message, 50, 10, named_flag).data())
        == verdict::drop);
  CHECK(std::string{g.reason()} == "named");
  CHECK(g.on_header(header(basp_op::routed_message, 50, 10).data())
        == verdict::close);
  CHECK(std::string{g.reason()} == "routed");
}

TEST_CASE("responses and stream messages come only from nodes",
          "[port][guard]") {
  fixture f;
  SECTION("a client") {
    auto g = f.open(principal_kind::user);
    CHECK(g.on_header(
            header(basp_op::direct_message, 8, 10, 0, response | async | 5)
              .data())
          == verdict::drop);
    CHECK(std::string{g.reason()} == "response");
    CHECK(g.on_header(header(basp_op::direct_message, 8, 10, 0, upstream).data())
          == verdict::drop);
    CHECK(std::string{g.reason()} == "stream");
    CHECK(g.on_header(header(basp_op::direct_message, 8, 10, 0, async | 5).data())
          == verdict::pass);
  }
  SECTION("a node") {
    auto g = f.open(principal_kind::node);
    CHECK(g.on_header(
            header(basp_op::direct_message, 8, 10, 0, response | async | 5)
              .data())
          == verdict::pass);
  }
}

TEST_CASE("sizes are checked before anything is read", "[port][guard]") {
  fixture f;
  frame_limits small{1024, 64};
  auto g = f.open(principal_kind::user, small);
  CHECK(g.on_header(header(basp_op::direct_message, 1024, 10).data())
        == verdict::pass);
  CHECK(g.on_header(header(basp_op::direct_message, 1025, 10).data())
        == verdict::close);
  CHECK(std::string{g.reason()} == "oversize");
  auto g2 = f.make(principal_kind::user, small);
  CHECK(g2.on_header(header(basp_op::client_handshake, 0xFFFFFFF0u).data())
        == verdict::close);
  auto g3 = f.open(principal_kind::user, small);
  CHECK(g3.on_header(header(basp_op::down_message, 65).data())
        == verdict::close);
}

TEST_CASE("monitor and down messages speak only of the peer's own actors",
          "[port][guard]") {
  fixture f;
  auto g = f.open();
  SECTION("monitoring an edge actor") {
    REQUIRE(g.on_header(header(basp_op::monitor_message, 19, 10).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1THIS-NODE") == verdict::pass);
  }
  SECTION("monitoring an internal actor") {
    REQUIRE(g.on_header(header(basp_op::monitor_message, 19, 20).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1THIS-NODE") == verdict::drop);
  }
  SECTION("a down message about the peer's own actor") {
    REQUIRE(g.on_header(header(basp_op::down_message, 22).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1THIS-NODEerr") == verdict::pass);
  }
  SECTION("a down message about another peer's actor") {
    REQUIRE(g.on_header(header(basp_op::down_message, 22).data())
            == verdict::inspect);
    CHECK(g.on_payload("held-node1THIS-NODEerr") == verdict::close);
    CHECK(std::string{g.reason()} == "bad_node");
  }
  SECTION("a down message for another node") {
    REQUIRE(g.on_header(header(basp_op::down_message, 22).data())
            == verdict::inspect);
    CHECK(g.on_payload("peer-node1OTHERNODEerr") == verdict::close);
  }
}

TEST_CASE("heartbeats carry nothing, unknown operations end the connection",
          "[port][guard]") {
  fixture f;
  auto g = f.open();
  CHECK(g.on_header(header(basp_op::heartbeat, 0).data()) == verdict::pass);
  CHECK(g.on_header(header(basp_op::heartbeat, 4).data()) == verdict::close);
  auto g2 = f.open();
  auto h = header(basp_op::heartbeat, 0);
  h[0] = 42;
  CHECK(g2.on_header(h.data()) == verdict::close);
  CHECK(std::string{g2.reason()} == "protocol");
}
