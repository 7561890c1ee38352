// The node's network port as a trust boundary (docs/security.md, "The
// actor port"), tried as an attacker would against real node processes on
// 127.0.0.1: a stranger that speaks CAF's protocol without logging in, a
// logged-in user that scans every actor id with every message the node
// knows, forged exit/down messages and BASP operations, a peer that claims
// another client's node id, oversized frames, too many connections, and in
// a cluster, strangers and users reaching for the cluster's commands.
//
// The hostile peer here writes BASP frames byte by byte over a socket of
// its own (CAF's serializer only encodes node ids and messages), so it can
// send what no CAF program would.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <nlohmann/json.hpp>

#include "wire/port/preamble.hpp"
#include "wire/protocol.hpp"
#include "client/client.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/port_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using namespace mantissa::test::cluster;
using mantissa::test::child;
using mantissa::test::http_request;
using mantissa::test::port_client;
using mantissa::test::run;
using mantissa::test::temp_dir;
namespace actors = mantissa::actors;
namespace client = mantissa::client;
namespace port = mantissa::actors::port;

namespace {

const std::string pw = "correct horse battery";
const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
/// In alice's note: it must never come back to anyone but her.
const std::string alice_marker = "ALICE-MARKER-5f2c9e";

// -- a hostile peer: raw sockets, BASP written by hand -------------------------

/// BASP's operations (CAF 0.17).
enum op : std::uint8_t {
  server_handshake = 0,
  client_handshake = 1,
  direct_message = 2,
  routed_message = 3,
  monitor_message = 4,
  down_message = 5,
  heartbeat = 6,
};

constexpr std::uint8_t named_flag = 0x01;
constexpr std::uint8_t select_flag = 0x02;
constexpr std::uint64_t async_mid = 0x1000000000000000ull;
constexpr std::uint64_t response_bit = 0x8000000000000000ull;

std::string header(std::uint8_t operation, std::uint8_t flags,
                   std::uint32_t len, std::uint64_t opdata, std::uint64_t src,
                   std::uint64_t dst) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(operation);
  h[3] = static_cast<char>(flags);
  auto put = [&h](std::size_t at, std::uint64_t x, int n) {
    for (int i = n - 1; i >= 0; --i, x >>= 8)
      h[at + static_cast<std::size_t>(i)] = static_cast<char>(x & 0xFF);
  };
  put(4, len, 4);
  put(8, opdata, 8);
  put(16, src, 8);
  put(24, dst, 8);
  return h;
}

/// The actor system the hostile peer encodes with (its network layer is
/// loaded for the node id it gives the system; it opens no connection).
struct codec_config : caf::actor_system_config {
  codec_config() {
    load<caf::io::middleman>();
    add_message_type<actors::caller>("mantissa.caller");
    set("logger.console", caf::atom("none"));
  }
};

std::string encode_node(caf::actor_system& sys, caf::node_id nid) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE_FALSE(sink(nid));
  return {buf.begin(), buf.end()};
}

/// A message's BASP payload: an empty forwarding stack, then the message.
std::string encode_message(caf::actor_system& sys, caf::message msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  std::vector<caf::strong_actor_ptr> stages;
  REQUIRE_FALSE(sink(stages, msg));
  return {buf.begin(), buf.end()};
}

/// One TCP connection from an address of our choice, with a reader thread
/// that keeps everything the node sends.
class raw_peer {
 public:
  explicit raw_peer(std::uint16_t port, const char* from = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, from, &local.sin_addr);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local)
            == 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    reader_ = std::thread{[this] { read_loop(); }};
  }

  ~raw_peer() {
    ::shutdown(fd_, SHUT_RDWR);
    reader_.join();
    ::close(fd_);
  }

  raw_peer(const raw_peer&) = delete;
  raw_peer& operator=(const raw_peer&) = delete;

  /// Sends everything, or stops when the node closed the connection or
  /// read nothing for 30 s (then `stalled()`).
  void send(const std::string& bytes) {
    std::size_t off = 0;
    while (!stalled_ && off < bytes.size()) {
      pollfd pfd{fd_, POLLOUT, 0};
      if (::poll(&pfd, 1, 30'000) != 1) {
        stalled_ = true;
        return;
      }
      auto n = ::send(fd_, bytes.data() + off, bytes.size() - off,
                      MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        continue;
      if (n <= 0)
        return;
      off += static_cast<std::size_t>(n);
    }
  }

  /// True when the node stopped reading what this peer sent.
  [[nodiscard]] bool stalled() const noexcept { return stalled_; }

  /// Waits until at least `n` bytes arrived (beyond `from`).
  bool wait_bytes(std::size_t n, std::chrono::milliseconds timeout) {
    return wait([&] { return got_.size() >= n; }, timeout);
  }

  bool wait_closed(std::chrono::milliseconds timeout) {
    return wait([&] { return eof_; }, timeout);
  }

  /// Reads frames until the answer to request `mid` arrives (at most
  /// `timeout`); the node reads a connection in order, so everything sent
  /// before that request was read by then.
  bool wait_answer(std::uint64_t mid, std::chrono::milliseconds timeout) {
    return answer(mid, timeout).has_value();
  }

  /// The payload of the answer to request `mid`, skipping other frames.
  std::optional<std::string> answer(std::uint64_t mid,
                                    std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto f = next_frame(until - std::chrono::steady_clock::now() > 1s
                            ? 1s
                            : std::chrono::milliseconds{100});
      if (!f) {
        if (closed())
          return std::nullopt;
        continue;
      }
      std::uint64_t opdata = 0;
      for (int i = 8; i < 16; ++i)
        opdata = (opdata << 8) | static_cast<unsigned char>(f->first[i]);
      if (opdata == (mid | response_bit))
        return f->second;
    }
    return std::nullopt;
  }

  /// Everything received so far.
  std::string received() {
    std::lock_guard<std::mutex> guard{mtx_};
    return got_;
  }

  bool closed() {
    std::lock_guard<std::mutex> guard{mtx_};
    return eof_;
  }

  /// Logs in with the port's login; the answer's status and body.
  std::pair<int, std::string> login(port::login_kind kind,
                                    const std::string& user,
                                    const std::string& secret) {
    auto req = port::encode_request({kind, user, secret});
    REQUIRE(req);
    send(std::string{req->begin(), req->end()});
    REQUIRE(wait_bytes(port::answer_head_size, 30s));
    auto head = slice(0, port::answer_head_size);
    auto n = port::answer_body_size(head.data());
    REQUIRE(n);
    REQUIRE(wait_bytes(port::answer_head_size + *n, 10s));
    consumed_ = port::answer_head_size + *n;
    return {static_cast<unsigned char>(head[5]),
            slice(port::answer_head_size, *n)};
  }

  /// After a successful login: the client handshake claiming `claim`, and
  /// the node's handshake back; returns the actor id it names (the
  /// session).
  std::uint64_t handshake(caf::actor_system& sys, const caf::node_id& claim) {
    auto node = encode_node(sys, claim);
    send(header(client_handshake, 0, static_cast<std::uint32_t>(node.size()),
                0, 0, 0)
         + node);
    auto frame = next_frame(10s);
    REQUIRE(frame);
    REQUIRE(static_cast<std::uint8_t>(frame->first[0]) == server_handshake);
    caf::binary_deserializer src{sys, frame->second.data(),
                                 frame->second.size()};
    caf::node_id server;
    std::vector<std::string> app_ids;
    std::uint64_t aid = 0;
    std::set<std::string> sigs;
    REQUIRE_FALSE(src(server, app_ids, aid, sigs));
    server_ = server;
    // CAF repeats its handshake once, flagged, to select the connection.
    send(header(client_handshake, select_flag,
                static_cast<std::uint32_t>(node.size()), 0, 0, 0)
         + node);
    return aid;
  }

  /// The next whole frame after what was consumed: header and payload.
  std::optional<std::pair<std::string, std::string>>
  next_frame(std::chrono::milliseconds timeout) {
    if (!wait_bytes(consumed_ + 32, timeout))
      return std::nullopt;
    auto hdr = slice(consumed_, 32);
    std::uint32_t len = 0;
    for (int i = 4; i < 8; ++i)
      len = (len << 8) | static_cast<unsigned char>(hdr[i]);
    if (!wait_bytes(consumed_ + 32 + len, timeout))
      return std::nullopt;
    auto payload = slice(consumed_ + 32, len);
    consumed_ += 32 + len;
    return std::make_pair(hdr, payload);
  }

  /// `n` bytes received at `at` (without copying the rest).
  std::string slice(std::size_t at, std::size_t n) {
    std::lock_guard<std::mutex> guard{mtx_};
    return got_.substr(at, n);
  }

  /// A direct message (a request when `mid` has a request id).
  void message(caf::actor_system& sys, std::uint64_t dest, caf::message msg,
               std::uint64_t mid, std::uint64_t src = 1,
               std::uint8_t flags = 0) {
    auto payload = encode_message(sys, std::move(msg));
    send(header(direct_message, flags,
                static_cast<std::uint32_t>(payload.size()), mid, src, dest)
         + payload);
  }

  [[nodiscard]] const caf::node_id& server() const noexcept { return server_; }

 private:
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (pred() || eof_)
          return pred();
      }
      std::this_thread::sleep_for(1ms);
    }
    std::lock_guard<std::mutex> guard{mtx_};
    return pred();
  }

  void read_loop() {
    char buf[65536];
    while (true) {
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      std::lock_guard<std::mutex> guard{mtx_};
      if (n <= 0) {
        eof_ = true;
        return;
      }
      got_.append(buf, static_cast<std::size_t>(n));
    }
  }

  int fd_ = -1;
  std::thread reader_;
  std::mutex mtx_;
  std::string got_;
  bool eof_ = false;
  std::size_t consumed_ = 0;
  caf::node_id server_;
  bool stalled_ = false;
};

// -- the node under attack -----------------------------------------------------

/// The `mantissa_port_*` series of the node's /metrics, by their full name
/// with labels.
std::map<std::string, double> port_metrics(std::uint16_t http) {
  std::map<std::string, double> out;
  auto r = http_request(http, "GET", "/metrics");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  std::istringstream lines{r->body};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("mantissa_port_", 0) != 0)
      continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

/// A single node (`n1`, the seed of a cluster of one) with the notes
/// offering, alice and bob, each with a note.
struct site {
  temp_dir dir;
  std::unique_ptr<node_process> node;
  std::vector<std::pair<std::string, std::string>> alice_auth;

  explicit site(std::vector<std::string> extra = {}) {
    node = std::make_unique<node_process>(dir / "n1", "n1", std::move(extra));
    auto offline = [&](std::vector<std::string> args,
                       const std::string& in = {}) {
      args.insert(args.begin(), MANTISSA_BINARY);
      args.push_back("--data");
      args.push_back(node->data().string());
      auto r = run(args, in, 60s);
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
    };
    offline({"init", "--domain", "example.com"});
    offline({"offering", "install", "notes"});
    for (auto& u : {alice, bob})
      offline({"user", "add", u, "--product", "notes", "--password-stdin"},
              pw + "\n");
    node->start();
    alice_auth = login(node->http(), alice, pw);
    auto r = http_request(node->http(), "POST",
                          "/api/stores/" + alice + "/items/notes.note",
                          json{{"title", "secret"}, {"body", alice_marker}}.dump(),
                          alice_auth);
    REQUIRE(r);
    REQUIRE(r->status == 201);
  }

  /// Alice's notes as HTTP shows them to her.
  json alice_notes() {
    auto r = http_request(node->http(), "GET",
                          "/api/stores/" + alice + "/items/notes.note", {},
                          alice_auth);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return json::parse(r->body);
  }

  [[nodiscard]] std::uint16_t port() const { return node->listen(); }
};

/// How long a fresh login of bob over the port takes.
std::chrono::milliseconds timed_login(std::uint16_t port) {
  auto t0 = std::chrono::steady_clock::now();
  port_client c{port, bob, pw};
  return std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - t0);
}

/// How many actor ids the scans cover: 5000, or MANTISSA_TEST_SCAN_IDS.
std::uint64_t scan_ids() {
  const char* v = std::getenv("MANTISSA_TEST_SCAN_IDS");
  return v != nullptr && *v != '\0' ? std::stoull(v) : 5000;
}

long rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

/// Every message the node's actors understand, as the peer would send them
/// to an actor it does not know, with `who` as the caller.
std::vector<caf::message> store_messages(const actors::caller& who) {
  using namespace actors;
  auto inner = caf::make_message(get_atom::value, caller{system_role, "x"},
                                 std::string{"notes.note"}, std::int64_t{1});
  return {
    caf::make_message(get_atom::value, who, std::string{"notes.note"},
                      std::int64_t{1}),
    caf::make_message(query_atom::value, who,
                      std::string{R"({"type":"notes.note"})"}),
    caf::make_message(put_atom::value, who, std::string{"notes.note"},
                      std::string{R"({"title":"pwned"})"}),
    caf::make_message(update_atom::value, who, std::string{"notes.note"},
                      std::int64_t{1}, std::string{R"({"title":"pwned"})"}),
    caf::make_message(query_atom::value, who,
                      std::string{R"({"type":"mantissa.account"})"}),
    caf::make_message(store_atom::value, who, alice),
    caf::make_message(store_atom::value, who, std::string{"site"}),
    caf::make_message(store_atom::value, alice),
    caf::make_message(store_atom::value, std::string{"site"}),
    caf::make_message(route_atom::value, who, alice, inner),
    caf::make_message(route_atom::value, alice, inner),
    caf::make_message(stores_atom::value, who),
    caf::make_message(stores_atom::value),
    caf::make_message(bksnap_atom::value, who, std::string{"site"}),
    caf::make_message(bkchunk_atom::value, who, std::uint64_t{1},
                      std::uint64_t{0}),
    caf::make_message(bksnap_atom::value, std::string{"site"},
                      caf::actor{}),
    caf::make_message(cluster_atom::value, who, std::string{"status"},
                      std::string{"{}"}),
    caf::make_message(login_atom::value, alice, pw),
  };
}

} // namespace

TEST_CASE("a stranger that has not logged in reaches nothing",
          "[integration][port]") {
  site s;
  auto& node = *s.node;
  // A node that has served a --connect backup, with a logged-in custom
  // actor.
  auto b = run({MANTISSA_BINARY, "backup", "--to", (s.dir / "bk").string(),
                "--connect", node.endpoint(), "--key",
                (node.data() / "node.key").string()},
               {}, 120s);
  INFO(b.err);
  REQUIRE(b.exit_code == 0);
  port_client bobs{s.port(), bob, pw};
  REQUIRE(bobs.works(bob, "before"));
  codec_config cfg;
  caf::actor_system sys{cfg};
  auto before = port_metrics(node.http());

  SECTION("CAF's protocol without the login: closed at its first bytes") {
    raw_peer p{s.port()};
    // The handshake, then a message to every id with every store message.
    std::string all
      = header(client_handshake, 0, 30, 0, 0, 0) + std::string(30, 'n');
    for (std::uint64_t id = 1; id <= 5000; ++id)
      for (auto& m : store_messages(actors::caller{actors::system_role, "x"}))
        all += [&] {
          auto pl = encode_message(sys, m);
          return header(direct_message, 0, static_cast<std::uint32_t>(pl.size()),
                        async_mid | id, 1, id)
                 + pl;
        }();
    p.send(all);
    REQUIRE(p.wait_closed(10s));
    CHECK(p.received().empty());
    auto after = port_metrics(node.http());
    CHECK(after["mantissa_port_connections_total{result=\"malformed\"}"]
          > before["mantissa_port_connections_total{result=\"malformed\"}"]);
  }
  SECTION("an exit and a down message before any login") {
    raw_peer p{s.port()};
    p.send(header(client_handshake, 0, 30, 0, 0, 0) + std::string(30, 'n'));
    p.message(sys, 1, caf::make_message(caf::exit_msg{
                        {}, caf::exit_reason::kill}),
              async_mid);
    REQUIRE(p.wait_closed(10s));
    CHECK(p.received().empty());
  }
  SECTION("a wrong password: the answer, then nothing") {
    raw_peer p{s.port()};
    auto [status, body] = p.login(port::login_kind::user, bob, "wrong");
    CHECK(status == static_cast<int>(actors::error_code::unauthorized));
    CHECK(body == "wrong username or password");
    REQUIRE(p.wait_closed(10s));
    CHECK(p.received().size() == port::answer_head_size + body.size());
  }
  SECTION("the system account with a wrong key, and a node's login") {
    raw_peer p{s.port()};
    CHECK(p.login(port::login_kind::user, "system", "guess").first
          == static_cast<int>(actors::error_code::unauthorized));
    raw_peer q{s.port()};
    CHECK(q.login(port::login_kind::node, "n9", "guess").first
          == static_cast<int>(actors::error_code::unauthorized));
  }
  SECTION("a 4 GiB header first: nothing allocated") {
    auto rss0 = rss_kib(node.pid());
    std::vector<std::unique_ptr<raw_peer>> peers;
    for (int i = 0; i < 3; ++i) {
      peers.push_back(std::make_unique<raw_peer>(s.port()));
      peers.back()->send(header(direct_message, 0, 0xFFFFFFF0u, 0, 1, 1));
    }
    for (auto& p : peers)
      CHECK(p->wait_closed(10s));
    CHECK(timed_login(s.port()) <= 1000ms);
    auto rss1 = rss_kib(node.pid());
    CHECK(rss1 - rss0 <= 64 * 1024);
  }
  // Whatever the stranger tried: nothing of alice's changed, bob's
  // session and new logins work.
  auto notes = s.alice_notes();
  CHECK(notes["total"] == 1);
  CHECK(notes["items"][0]["body"] == alice_marker);
  CHECK(bobs.works(bob, "after"));
  CHECK(timed_login(s.port()) < 5000ms);
}

TEST_CASE("a logged-in user reaches its own session only, whatever id it "
          "names", "[integration][port]") {
  site s;
  auto& node = *s.node;
  auto b = run({MANTISSA_BINARY, "backup", "--to", (s.dir / "bk").string(),
                "--connect", node.endpoint(), "--key",
                (node.data() / "node.key").string()},
               {}, 120s);
  REQUIRE(b.exit_code == 0);
  // The victim: a custom actor logged in as alice, in this process.
  port_client alices{s.port(), alice, pw};
  REQUIRE(alices.works(alice, "alice before"));
  port_client bobs{s.port(), bob, pw};
  codec_config cfg;
  caf::actor_system sys{cfg};

  raw_peer p{s.port()};
  auto [status, body] = p.login(port::login_kind::user, bob, pw);
  REQUIRE(status == 0);
  auto answer = json::parse(body);
  auto cap = answer.at("capability").get<std::string>();
  CHECK(answer.at("role") == "user:" + bob);
  // A node id of its own (this process, as the codec system would have).
  auto session = p.handshake(sys, sys.node());
  REQUIRE(session != 0);

  // Every id 1..5000, every message, as system, with its own capability,
  // with none and with a guessed one; exit and down messages too.
  std::vector<actors::caller> callers{
    {actors::system_role, "scan", cap},
    {actors::system_role, "scan", std::string(cap.size(), 'A')},
    {actors::system_role, "scan", ""},
  };
  std::vector<std::string> frames;
  std::uint64_t req = 1;
  for (std::uint64_t id = 1; id <= scan_ids(); ++id) {
    std::string batch;
    for (auto& who : callers)
      for (auto& m : store_messages(who)) {
        auto pl = encode_message(sys, m);
        batch += header(direct_message, 0, static_cast<std::uint32_t>(pl.size()),
                        async_mid | req++, 1, id)
                 + pl;
      }
    for (auto& m :
         {caf::make_message(caf::exit_msg{{}, caf::exit_reason::kill}),
          caf::make_message(caf::down_msg{{}, caf::exit_reason::kill})}) {
      auto pl = encode_message(sys, m);
      batch += header(direct_message, 0, static_cast<std::uint32_t>(pl.size()),
                      async_mid, 1, id)
               + pl;
    }
    // A named receiver (CAF's ConfigServ keeps what is put in it).
    auto pl = encode_message(
      sys, caf::make_message(caf::put_atom::value, std::string{"x"},
                             caf::make_message(std::string{"y"})));
    batch += header(direct_message, named_flag,
                    static_cast<std::uint32_t>(pl.size()), async_mid | req++, 1,
                    static_cast<std::uint64_t>(caf::atom("ConfigServ")))
             + pl;
    frames.push_back(std::move(batch));
  }
  for (auto& f : frames)
    p.send(f);
  INFO("node: " << node.err());
  REQUIRE_FALSE(p.stalled());
  // A last request to its own session answers once everything before it
  // was read: then the scan is over.
  auto last = async_mid | req++;
  p.message(sys, session,
            caf::make_message(actors::logout_atom::value,
                              actors::caller{"", "end", cap}),
            last);
  bool answered = p.wait_answer(last, 300s);
  INFO("node: " << node.err());

  INFO("closed: " << p.closed() << ", received " << p.received().size()
                  << " bytes; metrics: " << json(port_metrics(node.http())).dump());
  REQUIRE(answered);
  CHECK_FALSE(p.closed());
  auto got = p.received();
  INFO("received " << got.size() << " bytes");
  // Nothing of alice's, of the site store or of any session came back.
  CHECK(got.find(alice_marker) == std::string::npos);
  CHECK(got.find("$argon2id$") == std::string::npos);
  CHECK(got.find("token_hash") == std::string::npos);
  // Nothing was written: alice's notes are hers, unchanged.
  auto notes = s.alice_notes();
  CHECK(notes["total"] == 2);
  CHECK(notes.dump().find("pwned") == std::string::npos);
  // alice's password is still hers, bob's does not open her account.
  CHECK(http_request(node.http(), "POST", "/api/login",
                     json{{"username", alice}, {"password", pw}}.dump())
          ->status
        == 200);
  // Everyone else's session and new logins still work.
  CHECK(alices.works(alice, "alice after"));
  CHECK(bobs.works(bob, "bob after"));
  CHECK(timed_login(s.port()) < 5000ms);
  auto m = port_metrics(node.http());
  CHECK(m["mantissa_port_dropped_total{reason=\"unauthorized\"}"] >= 1);
  CHECK(m["mantissa_port_dropped_total{reason=\"named\"}"]
        >= static_cast<double>(scan_ids()));
}

TEST_CASE("a logged-in peer cannot take another client's connection or "
          "speak for another node", "[integration][port]") {
  site s;
  auto& node = *s.node;
  port_client alices{s.port(), alice, pw};
  REQUIRE(alices.works(alice, "alice before"));
  codec_config cfg;
  caf::actor_system sys{cfg};
  // alice's client is this process's first actor system.
  auto victim = alices.sys->node();

  SECTION("claiming the victim's node id: a dead end") {
    raw_peer p{s.port()};
    REQUIRE(p.login(port::login_kind::user, bob, pw).first == 0);
    auto node_bytes = encode_node(sys, victim);
    p.send(header(client_handshake, 0,
                  static_cast<std::uint32_t>(node_bytes.size()), 0, 0, 0)
           + node_bytes);
    // ... and the flagged repeat that would take over its traffic.
    p.send(header(client_handshake, select_flag,
                  static_cast<std::uint32_t>(node_bytes.size()), 0, 0, 0)
           + node_bytes);
    CHECK(p.wait_closed(10s));
    CHECK(p.received().find(alice_marker) == std::string::npos);
  }
  SECTION("a down message about the victim's actors") {
    raw_peer p{s.port()};
    REQUIRE(p.login(port::login_kind::user, bob, pw).first == 0);
    p.handshake(sys, sys.node());
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto src = victim;
    auto dst = p.server();
    caf::error why = caf::exit_reason::kill;
    REQUIRE_FALSE(sink(src, dst, why));
    std::string pl{buf.begin(), buf.end()};
    for (std::uint64_t aid = 1; aid <= 50; ++aid)
      p.send(header(down_message, 0, static_cast<std::uint32_t>(pl.size()), 0,
                    aid, 0)
             + pl);
    CHECK(p.wait_closed(10s));
  }
  SECTION("a routed message, as from the node itself") {
    raw_peer p{s.port()};
    REQUIRE(p.login(port::login_kind::user, bob, pw).first == 0);
    p.handshake(sys, sys.node());
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto src = p.server();
    auto dst = p.server();
    REQUIRE_FALSE(sink(src, dst));
    auto pl = std::string{buf.begin(), buf.end()}
              + encode_message(sys, caf::make_message(actors::stores_atom::value));
    p.send(header(routed_message, 0, static_cast<std::uint32_t>(pl.size()),
                  async_mid | 1, 3, 3)
           + pl);
    CHECK(p.wait_closed(10s));
  }
  SECTION("a payload of 4 GiB announced after the login") {
    auto rss0 = rss_kib(node.pid());
    raw_peer p{s.port()};
    REQUIRE(p.login(port::login_kind::user, bob, pw).first == 0);
    p.handshake(sys, sys.node());
    p.send(header(direct_message, 0, 0xFFFFFFF0u, async_mid, 1, 1));
    CHECK(p.wait_closed(10s));
    CHECK(rss_kib(node.pid()) - rss0 <= 64 * 1024);
  }
  // The victim never noticed.
  CHECK(alices.works(alice, "alice after"));
  auto m = port_metrics(node.http());
  CHECK(m.size() > 0);
}

TEST_CASE("connections that do not log in are limited per address and in "
          "time", "[integration][port]") {
  site s;
  auto& node = *s.node;
  // The limits, as the site settings give them (offline, then restart).
  node.stop();
  for (auto [k, v] : {std::pair{"port.max_pending_per_address", "4"},
                      std::pair{"port.login_timeout", "1500"}}) {
    auto r = run({MANTISSA_BINARY, "config", "set", k, v, "--data",
                  node.data().string()},
                 {}, 30s);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  node.start();
  std::vector<std::unique_ptr<raw_peer>> idle;
  for (int i = 0; i < 4; ++i)
    idle.push_back(std::make_unique<raw_peer>(s.port(), "127.0.0.2"));
  // The node holds all four as pending before the fifth comes.
  auto pending_now = [&] {
    return port_metrics(node.http())["mantissa_port_pending_connections"];
  };
  for (int i = 0; i < 500 && pending_now() < 4; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(pending_now() == 4);
  // The fifth from that address is closed at once...
  raw_peer fifth{s.port(), "127.0.0.2"};
  CHECK(fifth.wait_closed(2s));
  // ...while another address logs in at once.
  auto t0 = std::chrono::steady_clock::now();
  raw_peer other{s.port(), "127.0.0.3"};
  CHECK(other.login(port::login_kind::user, bob, pw).first == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  // The idle ones go once the login deadline passes.
  for (auto& p : idle)
    CHECK(p->wait_closed(5s));
  auto m = port_metrics(node.http());
  CHECK(m["mantissa_port_connections_total{result=\"refused_address\"}"] >= 1);
  CHECK(m["mantissa_port_connections_total{result=\"timeout\"}"] >= 4);
}

TEST_CASE("in a cluster, neither a stranger nor a user drives the cluster, "
          "a node speaks only for itself", "[integration][port][cluster]") {
  temp_dir dir;
  test_cluster c{dir.path(), {"n1", "n2"}, pw};
  auto& n1 = c[0];
  auto& n2 = c[1];
  auto members = [&] { return status(n1.endpoint(), c.key()); };
  auto cluster_key = [&] {
    std::ifstream in{c.key()};
    std::string k;
    std::getline(in, k);
    return k;
  }();
  std::string node_key = [&] {
    std::ifstream in{n1.data() / "node.key"};
    std::string k;
    std::getline(in, k);
    return k;
  }();
  auto add = add_user(n1.endpoint(), c.key(), bob, pw, "n1");
  REQUIRE(add.exit_code == 0);
  codec_config cfg;
  caf::actor_system sys{cfg};
  auto join_as = [&](const std::string& name, std::uint16_t port) {
    return json{{"name", name}, {"host", "127.0.0.1"}, {"port", port}}.dump();
  };
  /// Logs in with `kind`, sends `(cluster_atom, caller, cmd, args)` to its
  /// session and returns the raw bytes of everything that came back.
  auto try_cluster = [&](port::login_kind kind, const std::string& user,
                         const std::string& secret, const std::string& cmd,
                         const std::string& args) {
    raw_peer p{n1.listen()};
    auto [st, body] = p.login(kind, user, secret);
    if (st != 0)
      return std::string{"refused:"} + std::to_string(st);
    auto cap = json::parse(body).at("capability").get<std::string>();
    auto session = p.handshake(sys, sys.node());
    p.message(sys, session,
              caf::make_message(actors::cluster_atom::value,
                                actors::caller{"", "t", cap}, cmd, args),
              async_mid | 1);
    auto a = p.answer(async_mid | 1, 10s);
    return a ? *a : std::string{"no answer"};
  };
  // A user: no cluster commands.
  auto r1 = try_cluster(port::login_kind::user, bob, pw, "join",
                        join_as("n2", 1));
  CHECK(r1.find("needs the system role") != std::string::npos);
  // The system account (an administrator's tool): no joins.
  auto r2 = try_cluster(port::login_kind::user, "system", node_key, "join",
                        join_as("n2", 1));
  CHECK(r2.find("only the node itself") != std::string::npos);
  // A node for another node's name.
  auto r3 = try_cluster(port::login_kind::node, "n3", cluster_key, "join",
                        join_as("n2", 1));
  CHECK(r3.find("only the node itself") != std::string::npos);
  // A node under n2's name, elsewhere, while n2 is up.
  auto r4 = try_cluster(port::login_kind::node, "n2", cluster_key, "join",
                        join_as("n2", 1));
  CHECK(r4.find("is up at") != std::string::npos);
  // The seed's own name, and a node login without the cluster key.
  CHECK(try_cluster(port::login_kind::node, "n1", cluster_key, "status", "{}")
        == "refused:" + std::to_string(static_cast<int>(
             actors::error_code::unauthorized)));
  CHECK(try_cluster(port::login_kind::node, "n2", node_key, "status", "{}")
        == "refused:" + std::to_string(static_cast<int>(
             actors::error_code::unauthorized)));
  // Scanning the seed's ids as bob with cluster commands changes nothing.
  {
    raw_peer p{n1.listen()};
    auto [st, body] = p.login(port::login_kind::user, bob, pw);
    REQUIRE(st == 0);
    auto cap = json::parse(body).at("capability").get<std::string>();
    auto session = p.handshake(sys, sys.node());
    std::string all;
    for (std::uint64_t id = 1; id <= 3000; ++id) {
      for (auto& m : {caf::make_message(actors::cluster_atom::value,
                                        std::string{"join"}, join_as("n2", 1)),
                      caf::make_message(actors::cluster_atom::value,
                                        actors::caller{"", "t", cap},
                                        std::string{"join"}, join_as("n2", 1)),
                      caf::make_message(actors::route_atom::value,
                                        actors::caller{"", "t", cap}, bob,
                                        caf::make_message(actors::stores_atom::value))}) {
        auto pl = encode_message(sys, m);
        all += header(direct_message, 0, static_cast<std::uint32_t>(pl.size()),
                      async_mid | id, 1, id)
               + pl;
      }
    }
    p.send(all);
    REQUIRE_FALSE(p.stalled());
    // A last request to its own session answers once everything before it
    // was read and handed on: then the scan is over.
    auto last = async_mid | 100'000;
    p.message(sys, session,
              caf::make_message(actors::logout_atom::value,
                                actors::caller{"", "end", cap}),
              last);
    CHECK((p.wait_answer(last, 60s) || p.closed()));
  }
  auto after = members();
  CHECK(after["n1"] == "up");
  CHECK(after["n2"] == "up");
  // n2's address is still its own: a store there is served.
  auto st = status(n1.endpoint(), c.key());
  CHECK(st.size() == 2);
  (void)n2;
}
