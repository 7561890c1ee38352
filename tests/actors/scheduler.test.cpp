// Timed events through a real node (actors/scheduler.hpp, the store actors'
// ticks and the node's timer): runs, failures, passivated stores and
// restarts, on real files.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/node.hpp"
#include "actors/scheduler.hpp"
#include "store/scheduler.hpp"
#include "store/store.hpp"
#include "tests/support/node.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using actors::reply;
using nlohmann::json;

namespace {

const actors::caller sys{actors::system_role, "test"};
constexpr const char* alice = "alice@example.com";

/// sched.counter: runs `limit` times, `every_ms` apart. sched.failing:
/// writes, then fails (no error handler). sched.retried: fails; its error
/// handler asks for another run until it failed `limit` times.
void declare(store::type_registry& reg) {
  REQUIRE(reg.add(
    {"sched.counter", 1, test::integers({"runs", "limit", "every_ms"})}));
  REQUIRE(reg.add({"sched.failing", 1, test::integers({"runs"})}));
  REQUIRE(
    reg.add({"sched.retried", 1, test::integers({"failures", "limit"})}));
}

using test::int_of;

void add_runnables(actors::handler_registry& h) {
  REQUIRE(h.add_runnable(
    "sched.counter",
    {[](store::store& s, const store::item_ref& ref, store::timestamp now)
       -> store::result<std::optional<store::timestamp>> {
       auto it = s.get(ref.type, ref.id);
       if (!it)
         return std::move(it).error_value();
       auto runs = int_of(*it, 0) + 1;
       it->values[0] = runs;
       MANTISSA_TRY(s.update(*it));
       if (runs >= int_of(*it, 1))
         return std::optional<store::timestamp>{};
       return std::optional<store::timestamp>{
         store::timestamp{now.micros + int_of(*it, 2) * 1000}};
     },
     {}}));
  REQUIRE(h.add_runnable(
    "sched.failing",
    {[](store::store& s, const store::item_ref& ref,
        store::timestamp) -> store::result<std::optional<store::timestamp>> {
       auto it = s.get(ref.type, ref.id);
       if (!it)
         return std::move(it).error_value();
       it->values[0] = int_of(*it, 0) + 1;
       MANTISSA_TRY(s.update(*it)); // undone: the run fails
       return store::error{store::errc::invalid_value, "failing on purpose"};
     },
     {}}));
  REQUIRE(h.add_runnable(
    "sched.retried",
    {[](store::store&, const store::item_ref&,
        store::timestamp) -> store::result<std::optional<store::timestamp>> {
       return store::error{store::errc::invalid_value, "not yet"};
     },
     [](store::store& s, const store::item_ref& ref,
        const store::error&) -> std::optional<store::timestamp> {
       auto it = s.get(ref.type, ref.id);
       if (!it)
         return std::nullopt;
       auto failures = int_of(*it, 0) + 1;
       it->values[0] = failures;
       if (!s.update(*it) || failures >= int_of(*it, 1))
         return std::nullopt;
       return actors::now_timestamp();
     }}));
}

struct fixture : test::node_fixture {
  void start(std::chrono::milliseconds idle = 60'000ms) {
    actors::node_options opts;
    opts.idle_timeout = idle;
    start_node(opts, [](actors::node& node) {
      declare(node.types());
      add_runnables(node.handlers());
    });
  }

  reply run(const std::string& handler, const json& args) {
    return n->wait([&](actors::reply_handler done) {
      n->run(sys, alice, handler, args.dump(), std::move(done));
    });
  }

  std::int64_t put(const std::string& type, const json& attrs) {
    auto r = n->wait([&](actors::reply_handler done) {
      n->put(sys, alice, type, attrs.dump(), std::move(done));
    });
    REQUIRE(r.ok);
    return json::parse(r.body)["id"].get<std::int64_t>();
  }

  json get(const std::string& type, std::int64_t id) {
    auto r = n->wait([&](actors::reply_handler done) {
      n->get(sys, alice, type, id, std::move(done));
    });
    REQUIRE(r.ok);
    return json::parse(r.body);
  }

  json stats() {
    auto r = n->wait([&](actors::reply_handler d) { n->stats(std::move(d)); });
    REQUIRE(r.ok);
    return json::parse(r.body);
  }

  void schedule(const std::string& type, std::int64_t id,
                std::chrono::milliseconds from_now) {
    auto at = actors::now_timestamp().micros
              + std::chrono::duration_cast<std::chrono::microseconds>(from_now)
                  .count();
    auto r = run("mantissa.schedule", {{"type", type}, {"id", id}, {"at", at}});
    REQUIRE(r.ok);
  }

  /// Polls `f` every 20 ms for up to 20 s.
  template<class F>
  bool eventually(F f) {
    for (int i = 0; i < 1000; ++i) {
      if (f())
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  /// Schedules a counter that runs once, `from_now`, and waits until it
  /// has run: every event of the store due before it has run by then.
  void run_marker(std::chrono::milliseconds from_now) {
    auto marker
      = put("sched.counter", {{"runs", 0}, {"limit", 1}, {"every_ms", 0}});
    schedule("sched.counter", marker, from_now);
    REQUIRE(eventually([&] { return get("sched.counter", marker)["runs"] == 1; }));
  }

  store::type_registry file_types; // outlives the stores open_file opens

  /// Opens alice's store file directly (the node must be stopped).
  std::unique_ptr<store::store> open_file() {
    if (file_types.current("sched.counter") == nullptr)
      declare(file_types);
    auto s = store::store::open(dir / "data/users/example.com/alice.sqlite",
                                file_types);
    REQUIRE(s);
    return std::move(*s);
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a scheduled item runs when due, as often as it asks",
                 "[actors][scheduler]") {
  start();
  REQUIRE(n->wait([&](actors::reply_handler d) {
             n->create_store(alice, std::move(d));
           })
            .ok);
  auto id = put("sched.counter", {{"runs", 0}, {"limit", 3}, {"every_ms", 30}});
  schedule("sched.counter", id, 50ms);
  auto listed = run("mantissa.scheduled", json::object());
  REQUIRE(listed.ok);
  CHECK(json::parse(listed.body)["events"].size() == 1);
  REQUIRE(eventually([&] { return get("sched.counter", id)["runs"] == 3; }));
  REQUIRE(eventually([&] {
    auto r = run("mantissa.scheduled", json::object());
    return r.ok && json::parse(r.body)["events"].empty();
  }));
  // An event due after any further run would have been: once it has run,
  // the counter had its chance to run again.
  run_marker(100ms);
  CHECK(get("sched.counter", id)["runs"] == 3); // done: it stays at 3
}

TEST_CASE_METHOD(fixture,
                 "a failed run is undone and logged, then dropped or retried "
                 "as the type's error handler says",
                 "[actors][scheduler]") {
  start();
  REQUIRE(n->wait([&](actors::reply_handler d) {
             n->create_store(alice, std::move(d));
           })
            .ok);
  auto failing = put("sched.failing", {{"runs", 0}});
  auto retried = put("sched.retried", {{"failures", 0}, {"limit", 3}});
  schedule("sched.failing", failing, 10ms);
  schedule("sched.retried", retried, 10ms);
  REQUIRE(eventually([&] {
    auto r = run("mantissa.schedule_failures", json::object());
    return r.ok && json::parse(r.body)["failures"].size() == 4;
  }));
  REQUIRE(eventually([&] {
    auto r = run("mantissa.scheduled", json::object());
    return r.ok && json::parse(r.body)["events"].empty();
  }));
  CHECK(get("sched.failing", failing)["runs"] == 0); // its write undone
  CHECK(get("sched.retried", retried)["failures"] == 3);
  auto log
    = json::parse(run("mantissa.schedule_failures", json::object()).body);
  int failing_entries = 0;
  for (auto& f : log["failures"])
    if (f["type"] == "sched.failing") {
      ++failing_entries;
      CHECK(f["message"] == "failing on purpose");
      CHECK(f["id"] == failing);
    }
  CHECK(failing_entries == 1);
}

TEST_CASE_METHOD(fixture, "unscheduled and rescheduled items run accordingly",
                 "[actors][scheduler]") {
  start();
  REQUIRE(n->wait([&](actors::reply_handler d) {
             n->create_store(alice, std::move(d));
           })
            .ok);
  auto a = put("sched.counter", {{"runs", 0}, {"limit", 1}, {"every_ms", 0}});
  auto b = put("sched.counter", {{"runs", 0}, {"limit", 1}, {"every_ms", 0}});
  schedule("sched.counter", a, 150ms);
  schedule("sched.counter", b, 1h);
  auto times
    = run("mantissa.scheduled", {{"type", "sched.counter"}, {"id", b}});
  REQUIRE(times.ok);
  CHECK(json::parse(times.body)["events"].size() == 1);
  auto gone
    = run("mantissa.unschedule", {{"type", "sched.counter"}, {"id", a}});
  REQUIRE(gone.ok);
  CHECK(json::parse(gone.body)["removed"] == 1);
  auto now = actors::now_timestamp().micros;
  REQUIRE(run("mantissa.reschedule",
              {{"type", "sched.counter"}, {"id", b}, {"at", now + 50'000}})
            .ok);
  REQUIRE(eventually([&] { return get("sched.counter", b)["runs"] == 1; }));
  run_marker(200ms);  // due after a's old time: a would have run by then
  CHECK(get("sched.counter", a)["runs"] == 0);
  // Bad arguments are clear errors.
  auto bad = run("mantissa.schedule", {{"type", "sched.counter"}});
  CHECK(!bad.ok);
  CHECK(bad.message.find("\"id\"") != std::string::npos);
}

TEST_CASE_METHOD(fixture, "a passivated store is woken for its event",
                 "[actors][scheduler]") {
  start(150ms);
  REQUIRE(n->wait([&](actors::reply_handler d) {
             n->create_store(alice, std::move(d));
           })
            .ok);
  auto id = put("sched.counter", {{"runs", 0}, {"limit", 1}, {"every_ms", 0}});
  schedule("sched.counter", id, 1500ms);
  // The store goes idle and closes long before its event is due ...
  REQUIRE(eventually([&] { return stats()["open_stores"] == 0; }));
  auto activations = stats()["activations"].get<int>();
  // ... and the node's timer opens it again for the event, unasked.
  REQUIRE(eventually(
    [&] { return stats()["activations"].get<int>() > activations; }));
  REQUIRE(eventually([&] { return stats()["open_stores"] == 0; }));
  n->stop();
  auto file = open_file();
  auto it = file->get("sched.counter", id);
  REQUIRE(it);
  CHECK(std::get<std::int64_t>(it->values[0]) == 1);
  CHECK((*store::scheduled_events(*file)).empty());
}

TEST_CASE_METHOD(fixture,
                 "an event that came due while the node was down runs once on "
                 "start",
                 "[actors][scheduler]") {
  start();
  REQUIRE(n->wait([&](actors::reply_handler d) {
             n->create_store(alice, std::move(d));
           })
            .ok);
  auto id = put("sched.counter",
                {{"runs", 0}, {"limit", 5}, {"every_ms", 3'600'000}});
  schedule("sched.counter", id, 400ms);
  n->stop();
  n.reset();
  std::this_thread::sleep_for(800ms); // due while no node runs
  start();
  REQUIRE(eventually([&] { return stats()["activations"].get<int>() >= 1; }));
  REQUIRE(eventually([&] { return get("sched.counter", id)["runs"] == 1; }));
  n->stop();
  auto file = open_file();
  auto it = file->get("sched.counter", id);
  REQUIRE(it);
  CHECK(std::get<std::int64_t>(it->values[0]) == 1); // once, not per period
  auto left = *store::scheduled_events(*file);
  REQUIRE(left.size() == 1); // the next hourly run
  CHECK(left[0].due.micros > actors::now_timestamp().micros + 3'000'000'000);
}
