// kill -9 of a node, at random points, while two of its stores exchange
// reliable messages: afterwards every message was processed exactly once,
// in order, and answered exactly once (counters in both store files).
//
// The node runs in a forked child (forked before any thread exists). Each
// run of it queues what is still to be queued — queuing and counting what
// was queued are one transaction — and prints its progress; the parent
// kills it after a random time and starts it again on the same data, until
// a run reports every message answered.
//
// MANTISSA_FAULT_MESSAGES (default 10000) and MANTISSA_FAULT_KILLS (default
// 5) set the size; docs/interstore.md gives the longer form.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/handlers.hpp"
#include "actors/messaging.hpp"
#include "actors/node.hpp"
#include "store/messaging.hpp"
#include "store/store.hpp"
#include "tests/support/decls.hpp"
#include "tests/support/fork_child.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";

std::int64_t env_or(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoll(v) : fallback;
}

/// fault.progress (alice): how many messages were queued and answered,
/// the last answered n and how often an answer came out of order.
/// fault.counter (bob): how many were processed, the last n, disorder.
void declare(store::type_registry& reg) {
  REQUIRE(reg.add({"fault.progress", 1,
                   test::integers({"queued", "answered", "last",
                                   "disorder"})}));
  REQUIRE(reg.add(
    {"fault.counter", 1, test::integers({"count", "last", "disorder"})}));
}

std::int64_t& int_at(store::item& it, std::size_t i) {
  return std::get<std::int64_t>(it.values.at(i));
}

/// The only item of `type` in `s`.
store::result<store::item> only(store::store& s, const std::string& type) {
  store::query q;
  q.type = type;
  std::optional<store::item> found;
  MANTISSA_TRY(s.for_each(q, [&](store::item&& it) { found = std::move(it); }));
  if (!found)
    return store::error{store::errc::no_such_item, "no " + type};
  return std::move(*found);
}

/// Counts `n` into a (count|answered, last, disorder) triple at `first`.
void count_in(store::item& it, std::size_t first, std::int64_t n) {
  ++int_at(it, first);
  if (n != int_at(it, first + 1) + 1)
    ++int_at(it, first + 2);
  int_at(it, first + 1) = n;
}

void add_handlers(actors::handler_registry& h) {
  REQUIRE(h.add_message_type(
    "fault.add",
    {[](store::store& s,
        const actors::incoming_message& m) -> store::result<json> {
       auto c = only(s, "fault.counter");
       if (!c)
         return std::move(c).error_value();
       auto n = m.payload.value("n", std::int64_t{-1});
       count_in(*c, 0, n);
       MANTISSA_TRY(s.update(*c));
       return json{{"n", n}};
     },
     [](store::store& s, const actors::outgoing_message&,
        const actors::message_answer& a) -> store::result<void> {
       if (!a.ok)
         return store::error{store::errc::invalid_value,
                             "a final error: " + a.code + " " + a.message};
       auto p = only(s, "fault.progress");
       if (!p)
         return std::move(p).error_value();
       count_in(*p, 1, a.value.value("n", std::int64_t{-1}));
       return s.update(*p);
     }}));
  // fault.queue {count}: queues the next `count` messages and counts them
  // as queued, in one transaction.
  REQUIRE(h.add("fault.queue",
                [](store::store& s, const json& args,
                   const actors::caller&) -> store::result<json> {
                  auto p = only(s, "fault.progress");
                  if (!p)
                    return std::move(p).error_value();
                  auto count = args.value("count", std::int64_t{0});
                  for (std::int64_t i = 0; i < count; ++i) {
                    auto id = actors::send_message(
                      s, bob, "inbox", "fault.add",
                      json{{"n", int_at(*p, 0)}});
                    if (!id)
                      return std::move(id).error_value();
                    ++int_at(*p, 0);
                  }
                  MANTISSA_TRY(s.update(*p));
                  return json{{"queued", int_at(*p, 0)},
                              {"answered", int_at(*p, 1)}};
                }));
}

/// The child: one run of the node. `setup` creates the stores and items
/// and exits; otherwise queues up to `total`, prints "progress Q A" lines
/// and "done" once every message is answered, then waits to be killed.
[[noreturn]] void node_run(const std::filesystem::path& data, int fd,
                           std::int64_t total, bool setup) {
  auto say = [fd](const std::string& line) {
    auto text = line + "\n";
    auto w = ::write(fd, text.data(), text.size());
    (void) w;
  };
  actors::node_options opts;
  opts.data_dir = data;
  opts.message_retry_min = 50ms;
  opts.message_retry_max = 1s;
  actors::node n{opts};
  declare(n.types());
  add_handlers(n.handlers());
  std::string err;
  if (!n.start(err))
    ::_exit(4);
  const actors::caller sys{actors::system_role, "fault"};
  auto call = [&](const std::function<void(actors::reply_handler)>& f) {
    return n.wait(f);
  };
  if (setup) {
    for (auto& a : {alice, bob})
      if (!call([&](auto d) { n.create_store(a, std::move(d)); }).ok)
        ::_exit(5);
    auto progress = call([&](auto d) {
      n.put(sys, alice, "fault.progress",
            R"({"queued":0,"answered":0,"last":-1,"disorder":0})",
            std::move(d));
    });
    auto counter = call([&](auto d) {
      n.put(sys, bob, "fault.counter", R"({"count":0,"last":-1,"disorder":0})",
            std::move(d));
    });
    if (!progress.ok || !counter.ok)
      ::_exit(6);
    auto id = json::parse(counter.body)["id"].get<std::int64_t>();
    auto shared = call([&](auto d) {
      n.share(sys, bob, "fault.counter", id, "user:" + alice, R"(["messages"])",
              "inbox", std::move(d));
    });
    n.stop();
    ::_exit(shared.ok ? 0 : 7);
  }
  say("started");
  for (;;) {
    auto r = call([&](auto d) {
      n.run(sys, alice, "fault.queue", R"({"count":0})", std::move(d));
    });
    if (!r.ok)
      ::_exit(8);
    auto j = json::parse(r.body);
    auto queued = j["queued"].get<std::int64_t>();
    auto answered = j["answered"].get<std::int64_t>();
    say("progress " + std::to_string(queued) + " " + std::to_string(answered));
    if (answered >= total) {
      say("done");
      for (;;)
        std::this_thread::sleep_for(1s);
    }
    if (queued < total) {
      auto more = std::min<std::int64_t>(250, total - queued);
      call([&](auto d) {
        n.run(sys, alice, "fault.queue",
              json{{"count", more}}.dump(), std::move(d));
      });
    } else {
      std::this_thread::sleep_for(20ms);
    }
  }
}

struct child_run {
  test::forked_child child;
  std::string last_progress;

  /// Reads lines until `stop(line)` holds (true) or `limit` passes or the
  /// pipe closes (false); remembers the last progress line.
  bool read_until(const std::function<bool(const std::string&)>& stop,
                  std::chrono::milliseconds limit) {
    return child.read_lines(
             [&](const std::string& got) {
               if (got.rfind("progress", 0) == 0)
                 last_progress = got;
               return stop(got);
             },
             limit)
           == test::forked_child::read_end::stopped;
  }

  /// Reads lines until one equals `line` (true) or `limit` passes or the
  /// pipe closes (false).
  bool wait_for(const std::string& line, std::chrono::milliseconds limit) {
    return read_until([&](const std::string& got) { return got == line; },
                      limit);
  }

  /// Reads lines until a progress line shows `queued + answered` at least
  /// `work` (true), or "done" comes, `limit` passes or the pipe closes
  /// (false; `finished` tells whether "done" came).
  bool wait_for_work(std::int64_t work, std::chrono::milliseconds limit,
                     bool& finished) {
    finished = false;
    bool reached = false;
    read_until(
      [&](const std::string& got) {
        std::int64_t q = 0;
        std::int64_t a = 0;
        finished = got == "done";
        reached = std::sscanf(got.c_str(), "progress %ld %ld", &q, &a) == 2
                  && q + a >= work;
        return finished || reached;
      },
      limit);
    return reached;
  }

  /// Kills the child with SIGKILL and reaps it.
  void kill() { child.kill(); }
};

child_run spawn_node(const std::filesystem::path& data, std::int64_t total,
                     bool setup) {
  return {test::fork_child(
            [&](int fd) { node_run(data, fd, total, setup); }),
          {}};
}

} // namespace

TEST_CASE("reliable messages survive kill -9 of the node at random points: "
          "each processed once, in order, answered once",
          "[integration][messaging][fault]") {
  test::temp_dir dir;
  auto data = dir / "data";
  const auto total = env_or("MANTISSA_FAULT_MESSAGES", 10000);
  const auto kills = env_or("MANTISSA_FAULT_KILLS", 5);

  {
    auto setup = spawn_node(data, total, true);
    int status = 0;
    REQUIRE(::waitpid(setup.child.pid, &status, 0) == setup.child.pid);
    ::close(setup.child.fd);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }

  // Where each kill falls is chosen by progress, not by time, so a fast
  // build is killed as often as a slow one: round k kills once the node
  // reports queued + answered past a point drawn from the k-th of `kills`
  // equal slices of 0 .. 1.75 total (the last quarter of the answers is
  // left alone: progress comes in steps, and a kill must come before
  // "done"). The seed is printed; set MANTISSA_SEED to replay a run.
  const auto seed = test::test_seed("messaging_fault");
  INFO("seed " << seed << " (MANTISSA_SEED replays it)");
  std::mt19937 rng{seed};
  const auto work = total * 7 / 4;
  int killed_before_done = 0;
  bool done = false;
  for (int round = 0; !done && round < kills + 1; ++round) {
    auto run = spawn_node(data, total, false);
    REQUIRE(run.wait_for("started", 60s));
    if (round < kills) {
      auto lo = work * round / kills;
      auto hi = std::max(lo + 1, work * (round + 1) / kills - 1);
      std::uniform_int_distribution<std::int64_t> at{lo, hi};
      auto point = at(rng);
      bool finished = false;
      auto reached = run.wait_for_work(point, 240s, finished);
      INFO("round " << round << ": kill at work " << point << ", "
                    << run.last_progress);
      REQUIRE((reached || finished));
      done = finished;
      if (reached)
        ++killed_before_done;
    } else {
      done = run.wait_for("done", 240s);
    }
    INFO("round " << round << ", " << run.last_progress);
    run.kill();
  }
  REQUIRE(done);
  INFO("killed " << killed_before_done << " times before every answer came");
  CHECK(killed_before_done == kills);

  // The files, read directly: exactly `total` processed and answered, in
  // order, and nothing left in the outbox.
  store::type_registry reg;
  declare(reg);
  auto a = store::store::open(data / "users/example.com/alice.sqlite", reg);
  auto b = store::store::open(data / "users/example.com/bob.sqlite", reg);
  REQUIRE(a);
  REQUIRE(b);
  auto progress = only(**a, "fault.progress");
  auto counter = only(**b, "fault.counter");
  REQUIRE(progress);
  REQUIRE(counter);
  CHECK(int_at(*progress, 0) == total); // queued
  CHECK(int_at(*progress, 1) == total); // answered, each once
  CHECK(int_at(*progress, 2) == total - 1);
  CHECK(int_at(*progress, 3) == 0);     // answers in order
  CHECK(int_at(*counter, 0) == total);  // processed, each once
  CHECK(int_at(*counter, 1) == total - 1);
  CHECK(int_at(*counter, 2) == 0);      // processed in order
  auto left = store::outbox(**a, 10);
  REQUIRE(left);
  CHECK(left->empty());
}
