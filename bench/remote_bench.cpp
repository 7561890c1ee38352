// remote_bench: a store read from another process over CAF's network
// layer (the path M9's nodes take to each other's stores), against raw CAF
// 0.17 remote request/response to a trivial actor and a raw TCP ping-pong
// (the floor), in the same run. bench/remote_bench.sh adds the Erlang/OTP
// peer (two nodes, bench/erlang_echo.erl) and passes its figures in with
// --erlang, so that every ratio comes out of one run.
//
// The parent starts a child process (this program with `serve`) that runs
// a node listening on 127.0.0.1:0 — a user store with one note — and, in
// actor systems of their own, trivial actors that answer the same message
// shape with a string of the same size: one with CAF's default settings
// (the baseline) and, when MANTISSA_CAF_TUNE is set, one with those
// settings. A plain thread answers fixed-size TCP frames (TCP_NODELAY,
// blocking sockets). The parent then measures, from event-based actors
// (blocking calls for TCP):
//
//   sequential  one request at a time: round trips/s, p50, p99
//   pipelined   K requests in flight: round trips/s
//
// for the raw actors, the node's store (client::connect, login as system,
// store lookup, then (get_atom, caller, type, id) to the store handle) and
// TCP, --runs times in turn, and prints the median of each figure.
//
//   build/bench/remote_bench [--requests N] [--inflight K] [--runs R]
//                            [--timeout-ms T] [--erlang SEQ,P50,P99,PIPE]
//
// Settings, CAF's config syntax ("key=value;key=value"):
//   MANTISSA_CAF_TUNE     the node, the client and the tuned raw pair
//   MANTISSA_NODE_TUNE    added for the node only
//   MANTISSA_CLIENT_TUNE  added for the bench's client system only
//   MANTISSA_TIMER_SLACK_NS  the timer slack of both processes (prctl)
// The default raw pair always runs with CAF's defaults.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/node.hpp"
#include "wire/protocol.hpp"
#include "client/client.hpp"

using namespace mantissa;
using clock_type = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "remote_bench: %s\n", why.c_str());
  std::exit(1);
}

const std::string alice = "alice@example.com";

using settings = std::vector<std::pair<std::string, std::string>>;

/// The settings in the environment variable `var`: "key=value;key=value".
settings from_env(const char* var) {
  settings out;
  const char* env = std::getenv(var);
  std::string text = env != nullptr ? env : "";
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(';', pos);
    if (end == std::string::npos)
      end = text.size();
    auto item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty())
      continue;
    auto eq = item.find('=');
    if (eq == std::string::npos)
      die(std::string{var} + ": expected key=value, got '" + item + "'");
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

settings joined(settings a, const settings& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

settings tuned() {
  return from_env("MANTISSA_CAF_TUNE");
}

settings node_settings() {
  return joined(tuned(), from_env("MANTISSA_NODE_TUNE"));
}

settings client_settings() {
  return joined(tuned(), from_env("MANTISSA_CLIENT_TUNE"));
}

void apply_settings(caf::actor_system_config& cfg, const settings& s) {
  for (auto& [key, text] : s) {
    auto v = caf::config_value::parse(text);
    if (!v)
      die("cannot parse the setting " + key + " = " + text);
    cfg.set(key, std::move(*v));
  }
}

/// A raw baseline's configuration: CAF's defaults plus `s`, and the one
/// message type of the shape the node's store answers.
struct raw_config : caf::actor_system_config {
  explicit raw_config(const settings& s) {
    load<caf::io::middleman>();
    add_message_type<actors::caller>("mantissa.caller");
    set("logger.console", caf::atom("none"));
    apply_settings(*this, s);
  }
};

// -- TCP ----------------------------------------------------------------------

/// The floor's frames: a request of this size, a reply of the note's size.
constexpr std::size_t tcp_request_bytes = 64;

bool read_all(int fd, char* buf, std::size_t n) {
  while (n > 0) {
    auto got = ::read(fd, buf, n);
    if (got <= 0)
      return false;
    buf += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const char* buf, std::size_t n) {
  while (n > 0) {
    auto put = ::write(fd, buf, n);
    if (put <= 0)
      return false;
    buf += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/// Listens on 127.0.0.1:0 and answers every request frame with a reply of
/// `reply_bytes` bytes, one connection at a time, in a detached thread.
std::uint16_t start_tcp_echo(std::size_t reply_bytes) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) != 0
      || ::listen(lfd, 4) != 0
      || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    die("cannot listen for the TCP floor");
  std::thread{[lfd, reply_bytes] {
    std::vector<char> req(tcp_request_bytes), rep(reply_bytes, 'x');
    for (;;) {
      int fd = ::accept(lfd, nullptr, nullptr);
      if (fd < 0)
        continue;
      set_nodelay(fd);
      while (read_all(fd, req.data(), req.size())
             && write_all(fd, rep.data(), rep.size())) {
      }
      ::close(fd);
    }
  }}.detach();
  return ntohs(addr.sin_port);
}

/// "on"/"off" for every established TCP connection of this process whose
/// local (or, with `peer`, remote) port is one of `ports`.
std::string nodelay_report(const std::vector<unsigned>& ports, bool peer) {
  std::string out;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::atoi(e.path().filename().c_str());
    int type = 0, listening = 0, nodelay = 0;
    socklen_t n = sizeof(int);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n) != 0
        || type != SOCK_STREAM)
      continue;
    n = sizeof(int);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) != 0
        || listening != 0)
      continue;
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                  : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    if (rc != 0 || a.sin_family != AF_INET)
      continue;
    unsigned port = ntohs(a.sin_port);
    if (std::find(ports.begin(), ports.end(), port) == ports.end())
      continue;
    n = sizeof(int);
    ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &n);
    out += (out.empty() ? "" : " ") + std::to_string(port)
           + (nodelay != 0 ? ":on" : ":off");
  }
  return out.empty() ? "-" : out;
}

// -- the child ----------------------------------------------------------------

[[noreturn]] void serve() {
  auto data = std::filesystem::temp_directory_path()
              / ("remote_bench." + std::to_string(::getpid()));
  std::filesystem::remove_all(data);
  {
    actors::node_options opts;
    opts.data_dir = data;
    opts.listen = true;
    opts.listen_port = 0;
    opts.caf_settings = node_settings();
    actors::node n{opts};
    store::type_decl note{"bench.note", 1,
                          {{"title", store::attribute_type::text}}};
    if (!n.types().add(note))
      die("cannot declare bench.note");
    std::string err;
    if (!n.start(err))
      die(err);
    const actors::caller sys{actors::system_role, "bench"};
    auto created = n.wait(
      [&](actors::reply_handler d) { n.create_store(alice, std::move(d)); });
    auto put = n.wait([&](actors::reply_handler d) {
      n.put(sys, alice, "bench.note", R"({"title":"a note read remotely"})",
            std::move(d));
    });
    if (!created.ok || !put.ok)
      die("cannot create the note");
    auto id = nlohmann::json::parse(put.body)["id"].get<std::int64_t>();
    std::string body = put.body;

    // The raw actors: CAF's defaults, and the tuned settings if any.
    struct raw_server {
      std::unique_ptr<raw_config> cfg;
      std::unique_ptr<caf::actor_system> sys;
      caf::actor echo;
      std::uint16_t port = 0;
    };
    auto start_raw = [&](const settings& s) {
      raw_server r;
      r.cfg = std::make_unique<raw_config>(s);
      r.sys = std::make_unique<caf::actor_system>(*r.cfg);
      r.echo = r.sys->spawn([body](caf::event_based_actor*) -> caf::behavior {
        return {[body](actors::get_atom, const actors::caller&,
                       const std::string&, std::int64_t) { return body; }};
      });
      auto port = r.sys->middleman().publish(r.echo, 0, "127.0.0.1");
      if (!port)
        die("cannot publish a raw actor: " + r.sys->render(port.error()));
      r.port = *port;
      return r;
    };
    std::vector<raw_server> raws;
    raws.push_back(start_raw({}));
    if (!tuned().empty())
      raws.push_back(start_raw(tuned()));
    auto tcp_port = start_tcp_echo(body.size());
    unsigned raw_port = raws[0].port;
    unsigned tuned_port = raws.size() > 1 ? raws[1].port : 0;
    std::printf("ready %u %u %u %u %lld %s\n", raw_port, tuned_port,
                n.listen_port(), tcp_port, static_cast<long long>(id),
                n.node_key().c_str());
    std::fflush(stdout);
    // Until the parent closes our stdin; 'n' asks for the TCP_NODELAY state
    // of the accepted CAF connections.
    char c;
    while (::read(0, &c, 1) > 0) {
      if (c == 'n') {
        auto r = nodelay_report({raw_port, tuned_port, n.listen_port()},
                                false);
        std::printf("nodelay %s\n", r.c_str());
        std::fflush(stdout);
      }
    }
    for (auto& r : raws) {
      caf::anon_send_exit(r.echo, caf::exit_reason::user_shutdown);
      r.sys->middleman().unpublish(r.echo, r.port);
    }
    raws.clear();
    n.stop();
  }
  std::filesystem::remove_all(data);
  std::exit(0);
}

// -- the parent ---------------------------------------------------------------

struct figures {
  double sequential_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double pipelined_per_s = 0;
};

struct options {
  int requests = 20'000;
  int inflight = 100;
  int runs = 3;
  caf::duration timeout{std::chrono::seconds(10)};
};

/// Sends `requests` requests made by `make` to `target`, `inflight` at a
/// time, from an event-based actor; with `inflight` 1 records latencies.
void drive(caf::actor_system& sys, const caf::actor& target, int requests,
           int inflight, caf::duration timeout,
           const std::function<caf::message()>& make,
           std::vector<double>& latencies_us, double& seconds) {
  struct state {
    int sent = 0, done = 0, failed = 0;
    std::vector<clock_type::time_point> started;
  };
  auto st = std::make_shared<state>();
  st->started.resize(static_cast<std::size_t>(requests));
  latencies_us.clear();
  latencies_us.reserve(static_cast<std::size_t>(requests));
  auto t0 = clock_type::now();
  caf::scoped_actor waiter{sys};
  auto driver = sys.spawn([&, st](caf::event_based_actor* self) {
    auto send = std::make_shared<std::function<void()>>();
    *send = [=, &latencies_us, &waiter] {
      auto i = st->sent++;
      st->started[static_cast<std::size_t>(i)] = clock_type::now();
      self->request(target, timeout, make())
        .then(
          [=, &latencies_us, &waiter](const std::string&) {
            if (inflight == 1)
              latencies_us.push_back(
                std::chrono::duration<double, std::micro>(
                  clock_type::now() - st->started[static_cast<std::size_t>(i)])
                  .count());
            if (++st->done == requests)
              self->send(waiter, caf::ok_atom::value);
            else if (st->sent < requests)
              (*send)();
          },
          [=, &waiter](caf::error&) {
            ++st->failed;
            if (++st->done == requests)
              self->send(waiter, caf::ok_atom::value);
            else if (st->sent < requests)
              (*send)();
          });
    };
    for (int k = 0; k < inflight && st->sent < requests; ++k)
      (*send)();
  });
  waiter->receive([](caf::ok_atom) {});
  seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  caf::anon_send_exit(driver, caf::exit_reason::user_shutdown);
  if (st->failed > 0)
    die(std::to_string(st->failed) + " requests failed");
}

void summarize(std::vector<double>& lat, figures& f) {
  std::sort(lat.begin(), lat.end());
  f.p50_us = lat[lat.size() / 2];
  f.p99_us = lat[lat.size() * 99 / 100];
}

figures measure(caf::actor_system& sys, const caf::actor& target,
                const options& o, const std::function<caf::message()>& make) {
  figures f;
  std::vector<double> lat;
  double s = 0;
  drive(sys, target, std::min(o.requests, 1000), 1, o.timeout, make, lat,
        s); // warm up
  drive(sys, target, o.requests, 1, o.timeout, make, lat, s);
  f.sequential_per_s = o.requests / s;
  summarize(lat, f);
  drive(sys, target, o.requests * 5, o.inflight, o.timeout, make, lat, s);
  f.pipelined_per_s = o.requests * 5 / s;
  return f;
}

/// The same with blocking calls on a TCP connection to the child's echo.
figures measure_tcp(int fd, std::size_t reply_bytes, const options& o) {
  figures f;
  std::vector<char> req(tcp_request_bytes, 'q'), rep(reply_bytes);
  auto round_trip = [&] {
    if (!write_all(fd, req.data(), req.size())
        || !read_all(fd, rep.data(), rep.size()))
      die("the TCP floor's connection failed");
  };
  for (int i = 0; i < std::min(o.requests, 1000); ++i)
    round_trip();
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(o.requests));
  auto t0 = clock_type::now();
  for (int i = 0; i < o.requests; ++i) {
    auto t = clock_type::now();
    round_trip();
    lat.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t).count());
  }
  f.sequential_per_s =
    o.requests / std::chrono::duration<double>(clock_type::now() - t0).count();
  summarize(lat, f);
  int total = o.requests * 5, sent = 0;
  t0 = clock_type::now();
  for (; sent < std::min(o.inflight, total); ++sent)
    if (!write_all(fd, req.data(), req.size()))
      die("the TCP floor's connection failed");
  for (int done = 0; done < total; ++done) {
    if (!read_all(fd, rep.data(), rep.size()))
      die("the TCP floor's connection failed");
    if (sent < total && write_all(fd, req.data(), req.size()))
      ++sent;
  }
  f.pipelined_per_s =
    total / std::chrono::duration<double>(clock_type::now() - t0).count();
  return f;
}

int tcp_connect(unsigned port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (fd < 0
      || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    die("cannot reach the TCP floor's echo");
  set_nodelay(fd);
  return fd;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

figures median(const std::vector<figures>& runs) {
  auto col = [&](double figures::*m) {
    std::vector<double> xs;
    for (auto& f : runs)
      xs.push_back(f.*m);
    return median(xs);
  };
  return {col(&figures::sequential_per_s), col(&figures::p50_us),
          col(&figures::p99_us), col(&figures::pipelined_per_s)};
}

void print(const std::string& what, const figures& f) {
  std::printf("  %-36s %8.0f/s  p50 %6.0f us  p99 %6.0f us   %8.0f/s\n",
              what.c_str(), f.sequential_per_s, f.p50_us, f.p99_us,
              f.pipelined_per_s);
}

std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n')
    line.push_back(c);
  return line;
}

/// One measured path: a name, how to measure one run, its runs.
struct row {
  std::string name;
  std::function<figures()> run;
  std::vector<figures> runs;
};

std::string render(const settings& s) {
  std::string out;
  for (auto& [k, v] : s)
    out += (out.empty() ? "" : ";") + k + "=" + v;
  return out.empty() ? "(CAF defaults)" : out;
}

/// MANTISSA_TIMER_SLACK_NS: the timer slack of both processes (inherited
/// by every thread they start). Linux rounds a sleeping thread's wake-up
/// up by this much (50 us by default), so work-stealing sleeps shorter
/// than that sleep 50 us anyway.
void set_timer_slack() {
  if (const char* ns = std::getenv("MANTISSA_TIMER_SLACK_NS"))
    if (::prctl(PR_SET_TIMERSLACK, std::strtoul(ns, nullptr, 10), 0, 0, 0)
        != 0)
      die("cannot set the timer slack");
}

} // namespace

int main(int argc, char** argv) {
  set_timer_slack();
  if (argc >= 2 && std::string{argv[1]} == "serve")
    serve();
  options o;
  bool have_erlang = false;
  figures erlang;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    std::string v = argv[i + 1];
    if (a == "--requests")
      o.requests = std::atoi(v.c_str());
    else if (a == "--inflight")
      o.inflight = std::atoi(v.c_str());
    else if (a == "--runs")
      o.runs = std::atoi(v.c_str());
    else if (a == "--timeout-ms") {
      auto ms = std::atoi(v.c_str());
      o.timeout = ms > 0 ? caf::duration{std::chrono::milliseconds(ms)}
                         : caf::duration{caf::infinite};
    } else if (a == "--erlang") {
      have_erlang = std::sscanf(v.c_str(), "%lf,%lf,%lf,%lf",
                                &erlang.sequential_per_s, &erlang.p50_us,
                                &erlang.p99_us, &erlang.pipelined_per_s)
                    == 4;
      if (!have_erlang)
        die("--erlang wants SEQ_PER_S,P50_US,P99_US,PIPELINED_PER_S");
    } else
      die("usage: remote_bench [--requests N] [--inflight K] [--runs R] "
          "[--timeout-ms T] [--erlang SEQ,P50,P99,PIPE]");
  }
  if (argc % 2 == 0)
    die("usage: remote_bench [--requests N] [--inflight K] [--runs R] "
        "[--timeout-ms T] [--erlang SEQ,P50,P99,PIPE]");
  if (o.requests < 100 || o.inflight < 1 || o.runs < 1)
    die("--requests must be at least 100, --inflight and --runs positive");

  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0)
    die("pipe");
  auto pid = ::fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::close(to_child[1]);
    ::close(from_child[0]);
    ::execl("/proc/self/exe", argv[0], "serve", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  auto line = read_line(from_child[0]);
  unsigned raw_port = 0, tuned_port = 0, node_port = 0, tcp_port = 0;
  long long id = 0;
  char key[256] = {};
  if (std::sscanf(line.c_str(), "ready %u %u %u %u %lld %255s", &raw_port,
                  &tuned_port, &node_port, &tcp_port, &id, key)
      != 6)
    die("the server did not start: '" + line + "'");

  // Every message carries a capability of the node's size (43 characters);
  // the node's row carries the login's, the raw rows one of the same size,
  // so that all of them move the same bytes.
  std::string capability(43, 'c');
  auto message_for = [&capability](std::int64_t item) {
    return [item, &capability] {
      return caf::make_message(actors::get_atom::value,
                               actors::caller{"", "bench", capability},
                               std::string{"bench.note"}, item);
    };
  };

  // Every client system stays up for all runs; the rows take turns.
  std::vector<row> rows;
  raw_config raw_cfg{{}};
  caf::actor_system raw_sys{raw_cfg};
  auto raw_echo = raw_sys.middleman().remote_actor(
    "127.0.0.1", static_cast<std::uint16_t>(raw_port));
  if (!raw_echo)
    die("cannot reach the raw actor: " + raw_sys.render(raw_echo.error()));
  rows.push_back({"raw CAF, default settings",
                  [&] { return measure(raw_sys, *raw_echo, o, message_for(1)); },
                  {}});

  std::unique_ptr<raw_config> tuned_cfg;
  std::unique_ptr<caf::actor_system> tuned_sys;
  caf::actor tuned_echo;
  if (tuned_port != 0) {
    tuned_cfg = std::make_unique<raw_config>(tuned());
    tuned_sys = std::make_unique<caf::actor_system>(*tuned_cfg);
    auto e = tuned_sys->middleman().remote_actor(
      "127.0.0.1", static_cast<std::uint16_t>(tuned_port));
    if (!e)
      die("cannot reach the tuned raw actor: " + tuned_sys->render(e.error()));
    tuned_echo = *e;
    rows.push_back(
      {"raw CAF, MANTISSA_CAF_TUNE",
       [&] { return measure(*tuned_sys, tuned_echo, o, message_for(1)); },
       {}});
  }

  caf::actor_system_config node_cfg;
  client::configure(node_cfg);
  apply_settings(node_cfg, client_settings());
  caf::actor_system node_sys{node_cfg};
  auto gw = client::connect(node_sys, "127.0.0.1",
                            static_cast<std::uint16_t>(node_port));
  if (!gw)
    die("cannot reach the node: " + node_sys.render(gw.error()));
  caf::actor session, store;
  // The session lasts as long as the actor that logged in: this one.
  caf::scoped_actor self{node_sys};
  {
    auto t = std::chrono::seconds(10);
    self->request(*gw, t, actors::login_atom::value, std::string{"system"},
                  std::string{key})
      .receive(
        [&](caf::actor& s, actors::caller& who) {
          session = s;
          capability = who.capability;
        },
        [&](caf::error& e) { die("login: " + node_sys.render(e)); });
    self->request(session, t, actors::store_atom::value,
                  actors::caller{"", "bench", capability}, alice)
      .receive([&](caf::actor& s) { store = s; },
               [&](caf::error& e) { die("lookup: " + node_sys.render(e)); });
  }
  rows.push_back({"node store read (gateway session)",
                  [&] { return measure(node_sys, store, o, message_for(id)); },
                  {}});
  std::size_t node_row = rows.size() - 1;

  // The child's reply size is the note's: ask the node once.
  std::size_t reply_bytes = 0;
  {
    self->request(store, std::chrono::seconds(10), message_for(id)())
      .receive([&](const std::string& body) { reply_bytes = body.size(); },
               [&](caf::error& e) { die("read: " + node_sys.render(e)); });
  }
  int tcp_fd = tcp_connect(tcp_port);
  rows.push_back({"raw TCP ping-pong (the floor)",
                  [&] { return measure_tcp(tcp_fd, reply_bytes, o); },
                  {}});

  std::vector<unsigned> caf_ports{raw_port, node_port};
  if (tuned_port != 0)
    caf_ports.push_back(tuned_port);
  auto client_nodelay = nodelay_report(caf_ports, true);
  if (::write(to_child[1], "n", 1) != 1)
    die("the server went away");
  auto server_nodelay = read_line(from_child[0]);

  std::printf("remote_bench: %d sequential and %d pipelined (%d in flight) "
              "round trips per run, %d runs, over loopback, client and server "
              "processes on %u cores; request timeout %s\n",
              o.requests, o.requests * 5, o.inflight, o.runs,
              std::thread::hardware_concurrency(),
              !o.timeout.valid() ? "none" : to_string(o.timeout).c_str());
  std::printf("  reply: %zu bytes (the note's JSON)\n", reply_bytes);
  std::printf("  MANTISSA_CAF_TUNE (node, client, tuned raw pair): %s\n",
              render(tuned()).c_str());
  if (const char* ns = std::getenv("MANTISSA_TIMER_SLACK_NS"))
    std::printf("  timer slack: %s ns (both processes)\n", ns);
  if (!from_env("MANTISSA_NODE_TUNE").empty())
    std::printf("  node only: %s\n",
                render(from_env("MANTISSA_NODE_TUNE")).c_str());
  if (!from_env("MANTISSA_CLIENT_TUNE").empty())
    std::printf("  client only: %s\n",
                render(from_env("MANTISSA_CLIENT_TUNE")).c_str());
  std::printf("  TCP_NODELAY on CAF's connections (port:state): client side "
              "%s; server side %s\n",
              client_nodelay.c_str(),
              server_nodelay.substr(server_nodelay.find(' ') + 1).c_str());
  std::fflush(stdout);

  for (int r = 0; r < o.runs; ++r)
    for (auto& x : rows)
      x.runs.push_back(x.run());

  std::printf("  %-36s %10s  %10s  %10s   %10s\n", "", "sequential", "", "",
              "pipelined");
  if (o.runs > 1) {
    for (int r = 0; r < o.runs; ++r) {
      std::printf("  run %d\n", r + 1);
      for (auto& x : rows)
        print("  " + x.name, x.runs[static_cast<std::size_t>(r)]);
    }
    std::printf("  median of %d runs\n", o.runs);
  }
  for (auto& x : rows)
    print(x.name, median(x.runs));
  if (have_erlang)
    print("Erlang/OTP distribution (peer)", erlang);

  auto raw_f = median(rows[0].runs);
  auto node_f = median(rows[node_row].runs);
  auto tcp_f = median(rows.back().runs);
  std::printf("  node/raw CAF: sequential %.2fx (p50 %.2fx), pipelined %.2fx\n",
              node_f.sequential_per_s / raw_f.sequential_per_s,
              node_f.p50_us / raw_f.p50_us,
              node_f.pipelined_per_s / raw_f.pipelined_per_s);
  if (have_erlang)
    std::printf("  node/Erlang:  sequential %.2fx (p50 %.2fx), pipelined "
                "%.2fx\n",
                node_f.sequential_per_s / erlang.sequential_per_s,
                node_f.p50_us / erlang.p50_us,
                node_f.pipelined_per_s / erlang.pipelined_per_s);
  std::printf("  node p50 / TCP floor p50: %.2fx\n",
              node_f.p50_us / tcp_f.p50_us);
  std::printf("  M9 goals: sequential p50 <= 90 us -> %s; pipelined >= 0.7x "
              "raw CAF -> %s",
              node_f.p50_us <= 90 ? "met" : "NOT met",
              node_f.pipelined_per_s >= 0.7 * raw_f.pipelined_per_s
                ? "met"
                : "NOT met");
  if (have_erlang)
    std::printf("; pipelined >= 1.0x Erlang -> %s",
                node_f.pipelined_per_s >= erlang.pipelined_per_s ? "met"
                                                                 : "NOT met");
  std::printf("\n");
  std::fflush(stdout);
  ::close(tcp_fd);
  ::close(to_child[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return 0;
}
