// interstore_bench: reliable messages between two stores of one node (issue
// M8), against plain volatile requests doing the same work in the same run.
//
// Both runs send N messages from alice@example.com to a counter that
// bob@example.com shares with her; bob's receiver adds to it (a write) and
// alice's side counts the answer (a write).
//
//   reliable  alice queues the messages 500 per transaction (the outbox);
//             the node delivers them in batches, bob processes each once
//             and records it, alice's consequence runs once per answer.
//             Timed from the first queueing transaction until every
//             consequence is durable. Target: >= 10,000 messages/s.
//   plain     K handler runs in flight, each one plain request to bob and
//             a continuation that counts the answer; timed until the last
//             run's reply (durable).
//
//   build/bench/interstore_bench [--messages N] [--inflight K] [--dir DIR]

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/handlers.hpp"
#include "actors/messaging.hpp"
#include "actors/node.hpp"
#include "store/store.hpp"

using namespace mantissa;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
const actors::caller sys{actors::system_role, "bench"};

std::atomic<std::int64_t> answered{0};
double queue_seconds = 0;  // of the reliable run: until the last was queued

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "interstore_bench: %s\n", why.c_str());
  std::exit(1);
}

std::int64_t& int_at(store::item& it, std::size_t i) {
  return std::get<std::int64_t>(it.values.at(i));
}

/// Adds 1 to the integer attribute 0 of the item `type`/`id`.
store::result<void> bump(store::store& s, const std::string& type,
                         std::int64_t id) {
  auto it = s.get(type, id);
  if (!it)
    return std::move(it).error_value();
  ++int_at(*it, 0);
  return s.update(*it);
}

struct bench_node {
  std::filesystem::path data;
  actors::node n;
  std::int64_t counter = 0; // bob's shared counter
  std::int64_t tally = 0;   // alice's count of answers

  static actors::node_options options(const std::filesystem::path& d) {
    actors::node_options o;
    o.data_dir = d;
    return o;
  }

  explicit bench_node(const std::filesystem::path& dir)
    : data(dir), n(options(dir)) {
    store::type_decl c{"bench.count", 1,
                       {{"n", store::attribute_type::integer}}};
    if (!n.types().add(c))
      die("cannot declare bench.count");
    auto& h = n.handlers();
    auto* self = this;
    if (!h.add_message_type(
          "bench.add",
          {[](store::store& s,
              const actors::incoming_message& m) -> store::result<json> {
             MANTISSA_TRY(bump(s, m.item.type, m.item.id));
             return json{{"ok", 1}};
           },
           [self](store::store& s, const actors::outgoing_message&,
                  const actors::message_answer& a) -> store::result<void> {
             if (!a.ok)
               die("a final error: " + a.code + " " + a.message);
             MANTISSA_TRY(bump(s, "bench.count", self->tally));
             ++answered;
             return {};
           }}))
      die("cannot register bench.add");
    if (!h.add("bench.queue",
               [](store::store& s, const json& args,
                  const actors::caller&) -> store::result<json> {
                 auto count = args.value("count", 0);
                 for (int i = 0; i < count; ++i) {
                   auto id = actors::send_message(s, bob, "inbox",
                                                  "bench.add", json::object());
                   if (!id)
                     return std::move(id).error_value();
                 }
                 return json::object();
               }))
      die("cannot register bench.queue");
    if (!h.add_requesting(
          "bench.ask",
          [self](store::store&, const json&, const actors::caller&)
            -> store::result<actors::handler_step> {
            return actors::handler_step::ask(
              {bob, "inbox", "bench.add", json::object()},
              [self](store::store& s, const actors::message_answer& a)
                -> store::result<actors::handler_step> {
                if (!a.ok)
                  die("a final error: " + a.code + " " + a.message);
                MANTISSA_TRY(bump(s, "bench.count", self->tally));
                return actors::handler_step::reply(json::object());
              });
          }))
      die("cannot register bench.ask");
    std::string err;
    if (!n.start(err))
      die(err);
    for (auto& a : {alice, bob})
      if (!call([&](auto d) { n.create_store(a, std::move(d)); }).ok)
        die("cannot create " + a);
    counter = put(bob);
    tally = put(alice);
    auto shared = call([&](auto d) {
      n.share(sys, bob, "bench.count", counter, "user:" + alice,
              R"(["messages"])", "inbox", std::move(d));
    });
    if (!shared.ok)
      die("cannot share: " + shared.message);
  }

  template <class F>
  actors::reply call(F&& f) {
    return n.wait([&](actors::reply_handler d) { f(std::move(d)); });
  }

  std::int64_t put(const std::string& address) {
    auto r = call([&](auto d) {
      n.put(sys, address, "bench.count", R"({"n":0})", std::move(d));
    });
    if (!r.ok)
      die("cannot put: " + r.message);
    return json::parse(r.body)["id"].get<std::int64_t>();
  }

  std::int64_t value(const std::string& address, std::int64_t id) {
    auto r = call([&](auto d) {
      n.get(sys, address, "bench.count", id, std::move(d));
    });
    if (!r.ok)
      die("cannot read: " + r.message);
    return json::parse(r.body)["n"].get<std::int64_t>();
  }
};

double reliable(bench_node& b, int messages) {
  answered = 0;
  auto start = clock_type::now();
  constexpr int per_transaction = 500;
  for (int queued = 0; queued < messages; queued += per_transaction) {
    auto count = std::min(per_transaction, messages - queued);
    auto r = b.call([&](auto d) {
      b.n.run(sys, alice, "bench.queue", json{{"count", count}}.dump(),
              std::move(d));
    });
    if (!r.ok)
      die("cannot queue: " + r.message);
  }
  queue_seconds =
    std::chrono::duration<double>(clock_type::now() - start).count();
  while (answered.load() < messages)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  // A write after the last consequence is acknowledged once it, and so
  // everything before it, is durable.
  b.put(alice);
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double plain(bench_node& b, int messages, int inflight) {
  std::mutex m;
  std::condition_variable cv;
  int sent = 0, done = 0, failed = 0;
  auto start = clock_type::now();
  std::function<void()> send_one = [&] {
    b.n.run(sys, alice, "bench.ask", "{}", [&](actors::reply r) {
      std::lock_guard<std::mutex> lock{m};
      ++done;
      if (!r.ok)
        ++failed;
      cv.notify_all();
    });
  };
  std::unique_lock<std::mutex> lock{m};
  while (done < messages) {
    while (sent < messages && sent - done < inflight) {
      ++sent;
      lock.unlock();
      send_one();
      lock.lock();
    }
    cv.wait(lock, [&] {
      return done == messages || (sent < messages && sent - done < inflight);
    });
  }
  if (failed > 0)
    die(std::to_string(failed) + " plain requests failed");
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
  int messages = 20'000;
  int inflight = 64;
  std::filesystem::path parent = std::filesystem::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--messages")
      messages = std::atoi(argv[i + 1]);
    else if (a == "--inflight")
      inflight = std::atoi(argv[i + 1]);
    else if (a == "--dir")
      parent = argv[i + 1];
    else
      die("unknown option " + a);
  }
  if (argc % 2 == 0)
    die("usage: interstore_bench [--messages N] [--inflight K] [--dir DIR]");
  if (messages < 1 || inflight < 1)
    die("counts must be positive");
  auto data = parent / ("interstore_bench." + std::to_string(::getpid()));
  std::filesystem::remove_all(data);
  double t_rel = 0, t_plain = 0;
  {
    bench_node b{data};
    std::printf("interstore_bench: %d messages alice -> bob on one node "
                "(durable: synchronous=FULL)\n",
                messages);
    std::fflush(stdout);
    t_rel = reliable(b, messages);
    auto after_reliable = b.value(bob, b.counter);
    if (after_reliable != messages)
      die("bob processed " + std::to_string(after_reliable) + " of "
          + std::to_string(messages));
    std::printf("  reliable (queued, processed, answered): %8.0f msg/s  "
                "(%.2f s)\n",
                messages / t_rel, t_rel);
    std::printf("    of which queueing (%d per transaction):  %.2f s\n", 500,
                queue_seconds);
    std::fflush(stdout);
    t_plain = plain(b, messages, inflight);
    if (b.value(bob, b.counter) != 2 * messages)
      die("bob missed plain requests");
    std::printf("  plain requests, %d in flight:         %8.0f msg/s  "
                "(%.2f s)\n",
                inflight, messages / t_plain, t_plain);
    std::printf("  reliable / plain: %.2fx   target: reliable >= 10000 "
                "msg/s -> %s\n",
                t_plain / t_rel, messages / t_rel >= 10'000 ? "met" : "NOT met");
  }
  std::filesystem::remove_all(data);
  return 0;
}
