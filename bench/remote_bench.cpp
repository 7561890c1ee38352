// remote_bench: a store read from another process over CAF's network
// layer (the path M9's nodes take to each other's stores), against raw CAF
// 0.17 remote request/response to a trivial actor, in the same run.
//
// The parent starts a child process (this program with `serve`) that runs
// a node listening on 127.0.0.1:0 — a user store with one note — and, in a
// second actor system with CAF's default settings, publishes a trivial
// actor that answers the same message shape with a string of the same
// size. The parent then measures, from event-based actors:
//
//   sequential  one request at a time: round trips/s, p50, p99
//   pipelined   K requests in flight: round trips/s
//
// for the raw actor (remote_actor, default settings both sides) and the
// node's store (client::connect, login as system, store lookup, then
// (get_atom, caller, type, id) straight to the store handle).
//
//   build/bench/remote_bench [--requests N] [--inflight K]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "client/client.hpp"

using namespace mantissa;
using clock_type = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "remote_bench: %s\n", why.c_str());
  std::exit(1);
}

const std::string alice = "alice@example.com";

/// MANTISSA_CAF_TUNE="key=value;key=value" (CAF's config syntax, e.g.
/// "middleman.workers=0;work-stealing.moderate-sleep-duration=10us"): the
/// settings every actor system of the run gets — both raw ones, the client
/// and the node — for trying tunings against each other.
std::vector<std::pair<std::string, std::string>> tuning() {
  std::vector<std::pair<std::string, std::string>> out;
  const char* env = std::getenv("MANTISSA_CAF_TUNE");
  std::string text = env != nullptr ? env : "";
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(';', pos);
    if (end == std::string::npos)
      end = text.size();
    auto item = text.substr(pos, end - pos);
    auto eq = item.find('=');
    if (eq == std::string::npos)
      die("MANTISSA_CAF_TUNE: expected key=value, got '" + item + "'");
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    pos = end + 1;
  }
  return out;
}

void tune(caf::actor_system_config& cfg) {
  for (auto& [key, text] : tuning()) {
    auto v = caf::config_value::parse(text);
    if (!v)
      die("MANTISSA_CAF_TUNE: cannot parse " + key + " = " + text);
    cfg.set(key, std::move(*v));
  }
}

/// The raw baseline's configuration: CAF's defaults, plus the one message
/// type of the shape the node's store answers.
struct raw_config : caf::actor_system_config {
  raw_config() {
    load<caf::io::middleman>();
    add_message_type<actors::caller>("mantissa.caller");
    set("logger.console", caf::atom("none"));
    tune(*this);
  }
};

// -- the child ----------------------------------------------------------------

[[noreturn]] void serve() {
  auto data = std::filesystem::temp_directory_path()
              / ("remote_bench." + std::to_string(::getpid()));
  std::filesystem::remove_all(data);
  std::string body;
  {
    actors::node_options opts;
    opts.data_dir = data;
    opts.listen = true;
    opts.listen_port = 0;
    opts.caf_settings = tuning();
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
    body = put.body;

    raw_config cfg;
    caf::actor_system raw{cfg};
    auto echo = raw.spawn([body](caf::event_based_actor*) -> caf::behavior {
      return {[body](actors::get_atom, const actors::caller&,
                     const std::string&, std::int64_t) { return body; }};
    });
    auto raw_port = raw.middleman().publish(echo, 0, "127.0.0.1");
    if (!raw_port)
      die("cannot publish the raw actor: " + raw.render(raw_port.error()));
    std::printf("ready %u %u %lld %s\n", *raw_port, n.listen_port(),
                static_cast<long long>(id), n.node_key().c_str());
    std::fflush(stdout);
    // Until the parent closes our stdin.
    char c;
    while (::read(0, &c, 1) > 0) {
    }
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    raw.middleman().unpublish(echo, *raw_port);
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

/// Sends `requests` requests made by `make` to `target`, `inflight` at a
/// time, from an event-based actor; with `inflight` 1 records latencies.
void drive(caf::actor_system& sys, const caf::actor& target, int requests,
           int inflight, const std::function<caf::message()>& make,
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
      self->request(target, std::chrono::seconds(10), make())
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

figures measure(caf::actor_system& sys, const caf::actor& target,
                int requests, int inflight,
                const std::function<caf::message()>& make) {
  figures f;
  std::vector<double> lat;
  double s = 0;
  drive(sys, target, std::min(requests, 1000), 1, make, lat, s); // warm up
  drive(sys, target, requests, 1, make, lat, s);
  f.sequential_per_s = requests / s;
  std::sort(lat.begin(), lat.end());
  f.p50_us = lat[lat.size() / 2];
  f.p99_us = lat[lat.size() * 99 / 100];
  drive(sys, target, requests * 5, inflight, make, lat, s);
  f.pipelined_per_s = requests * 5 / s;
  return f;
}

void print(const char* what, const figures& f) {
  std::printf("  %-34s %8.0f/s  p50 %6.0f us  p99 %6.0f us   %8.0f/s\n", what,
              f.sequential_per_s, f.p50_us, f.p99_us, f.pipelined_per_s);
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string{argv[1]} == "serve")
    serve();
  int requests = 20'000;
  int inflight = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--requests")
      requests = std::atoi(argv[i + 1]);
    else if (a == "--inflight")
      inflight = std::atoi(argv[i + 1]);
    else
      die("usage: remote_bench [--requests N] [--inflight K]");
  }
  if (requests < 100 || inflight < 1)
    die("--requests must be at least 100, --inflight positive");

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
  std::string line;
  {
    char c;
    while (::read(from_child[0], &c, 1) == 1 && c != '\n')
      line.push_back(c);
  }
  unsigned raw_port = 0, node_port = 0;
  long long id = 0;
  char key[256] = {};
  if (std::sscanf(line.c_str(), "ready %u %u %lld %255s", &raw_port,
                  &node_port, &id, key)
      != 4)
    die("the server did not start: '" + line + "'");

  if (const char* t = std::getenv("MANTISSA_CAF_TUNE"))
    std::printf("remote_bench: MANTISSA_CAF_TUNE=%s\n", t);
  std::printf("remote_bench: %d sequential and %d pipelined (%d in flight) "
              "round trips over loopback, client and server processes on "
              "2 cores\n",
              requests, requests * 5, inflight);
  std::printf("  %-34s %10s  %10s  %10s   %10s\n", "", "sequential", "", "",
              "pipelined");
  figures raw_f, node_f;
  {
    raw_config cfg;
    caf::actor_system sys{cfg};
    auto echo = sys.middleman().remote_actor("127.0.0.1",
                                             static_cast<std::uint16_t>(raw_port));
    if (!echo)
      die("cannot reach the raw actor: " + sys.render(echo.error()));
    raw_f = measure(sys, *echo, requests, inflight, [] {
      return caf::make_message(actors::get_atom::value,
                               actors::caller{"", "bench"},
                               std::string{"bench.note"}, std::int64_t{1});
    });
    print("raw CAF, default settings", raw_f);
  }
  {
    caf::actor_system_config cfg;
    client::configure(cfg);
    tune(cfg);
    caf::actor_system sys{cfg};
    auto gw = client::connect(sys, "127.0.0.1",
                              static_cast<std::uint16_t>(node_port));
    if (!gw)
      die("cannot reach the node: " + sys.render(gw.error()));
    caf::scoped_actor self{sys};
    caf::actor session, store;
    auto t = std::chrono::seconds(10);
    self->request(*gw, t, actors::login_atom::value, std::string{"system"},
                  std::string{key})
      .receive([&](caf::actor& s) { session = s; },
               [&](caf::error& e) { die("login: " + sys.render(e)); });
    self->request(session, t, actors::store_atom::value, alice)
      .receive([&](caf::actor& s) { store = s; },
               [&](caf::error& e) { die("lookup: " + sys.render(e)); });
    node_f = measure(sys, store, requests, inflight, [id] {
      return caf::make_message(actors::get_atom::value,
                               actors::caller{"", "bench"},
                               std::string{"bench.note"},
                               static_cast<std::int64_t>(id));
    });
    print("node store read (gateway session)", node_f);
  }
  std::printf("  ratios vs raw: sequential %.2fx, pipelined %.2fx\n",
              node_f.sequential_per_s / raw_f.sequential_per_s,
              node_f.pipelined_per_s / raw_f.pipelined_per_s);
  std::printf("  M9 goals: sequential p50 <= 90 us -> %s; pipelined >= 0.7x "
              "raw -> %s\n",
              node_f.p50_us <= 90 ? "met" : "NOT met",
              node_f.pipelined_per_s >= 0.7 * raw_f.pipelined_per_s ? "met"
                                                                     : "NOT met");
  ::close(to_child[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return 0;
}
