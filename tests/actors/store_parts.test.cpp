// The store actor's components without an actor
// (actors/internal/store_actor/): group commit and WAL sync, the due-time
// alarms and reports, and the caches.

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "actors/internal/store_actor/access_cache.hpp"
#include "actors/internal/store_actor/commit_pipeline.hpp"
#include "actors/internal/store_actor/due_alarm.hpp"
#include "actors/internal/store_actor/due_times.hpp"
#include "actors/internal/store_actor/item_cache.hpp"

using namespace mantissa::actors::internal::store_parts;

namespace {

/// A held reply that notes its name in `log` when released.
held_reply noting(std::vector<std::string>& log, std::string name) {
  held_reply h;
  h.then = [&log, name] { log.push_back(name); };
  return h;
}

/// Releases every reply the pipeline may deliver now, in order.
void deliver(commit_pipeline& p) {
  while (auto h = p.next_durable())
    h->release();
}

/// Commits one batch holding the reply `name`.
void commit_one(commit_pipeline& p, std::vector<std::string>& log,
                const char* name) {
  (void)p.open_batch();
  auto h = noting(log, name);
  (void)p.keep(h);
  REQUIRE(p.on_commit_due(true, true) == commit_pipeline::commit_step::now);
  p.queue_commit(p.take_held(), held_reply{});
}

} // namespace

TEST_CASE("a reply with nothing pending is delivered at once",
          "[store_parts]") {
  commit_pipeline p;
  std::vector<std::string> log;
  auto h = noting(log, "a");
  CHECK(p.keep(h) == commit_pipeline::kept::no);
  CHECK(h.then); // left to the caller
  CHECK(p.waiting.empty());
}

TEST_CASE("replies wait for the open batch, then for its sync",
          "[store_parts]") {
  commit_pipeline p;
  std::vector<std::string> log;
  CHECK(p.open_batch()); // the first batch commits at once
  auto a = noting(log, "a");
  auto b = noting(log, "b");
  CHECK(p.keep(a) == commit_pipeline::kept::yes);
  CHECK(p.keep(b) == commit_pipeline::kept::yes);
  REQUIRE(p.on_commit_due(false, true) == commit_pipeline::commit_step::now);
  CHECK_FALSE(p.batch_open);
  CHECK(p.expected_batch == 2);
  p.queue_commit(p.take_held(), held_reply{});
  CHECK(p.held.empty());
  CHECK(p.committed_seq == 1);
  CHECK(p.waiting.size() == 2); // an empty `durable` is not queued
  REQUIRE(p.sync_due());
  p.sync_in_flight = true;
  CHECK_FALSE(p.sync_due());
  // A read while the commit is not synced waits behind it.
  auto c = noting(log, "c");
  CHECK(p.keep(c) == commit_pipeline::kept::yes);
  deliver(p);
  CHECK(log.empty());
  p.synced(1);
  CHECK_FALSE(p.sync_in_flight);
  deliver(p);
  CHECK(log == std::vector<std::string>{"a", "b", "c"});
  CHECK_FALSE(p.sync_due());
}

TEST_CASE("a batch as large as the last one asks to commit", "[store_parts]") {
  commit_pipeline p;
  std::vector<std::string> log;
  p.expected_batch = 2;
  CHECK_FALSE(p.open_batch()); // waits commit_delay for more writers
  auto a = noting(log, "a");
  auto b = noting(log, "b");
  CHECK(p.keep(a) == commit_pipeline::kept::yes);
  CHECK(p.keep(b) == commit_pipeline::kept::batch_full);
}

TEST_CASE("the commit of a batch waits for the running sync", "[store_parts]") {
  commit_pipeline p;
  (void)p.open_batch();
  p.sync_in_flight = true;
  CHECK(p.on_commit_due(false, true)
        == commit_pipeline::commit_step::after_sync);
  CHECK(p.commit_after_sync);
  CHECK(p.batch_open);
  // The sync's return commits it (`final`), and clears the flag.
  p.synced(0);
  CHECK(p.on_commit_due(true, false) == commit_pipeline::commit_step::now);
  CHECK_FALSE(p.commit_after_sync);
  CHECK_FALSE(p.batch_open);
  CHECK(p.on_commit_due(false, true) == commit_pipeline::commit_step::none);
}

TEST_CASE("a commit is deferred a bounded number of times", "[store_parts]") {
  commit_pipeline p;
  (void)p.open_batch();
  for (int i = 0; i < commit_pipeline::max_deferrals; ++i)
    REQUIRE(p.on_commit_due(false, false)
            == commit_pipeline::commit_step::defer);
  CHECK(p.on_commit_due(false, false) == commit_pipeline::commit_step::now);
  CHECK(p.deferrals == 0);
}

TEST_CASE("a failed sync takes the replies of the commits it covered",
          "[store_parts]") {
  commit_pipeline p;
  std::vector<std::string> log;
  commit_one(p, log, "a");
  commit_one(p, log, "b");
  CHECK(p.committed_seq == 2);
  int failed = 0;
  while (auto h = p.next_upto(1)) {
    h->fail(caf::error{}); // a `then` is not run on failure
    ++failed;
  }
  CHECK(failed == 1);
  CHECK(log.empty());
  CHECK(p.waiting.size() == 1);
}

TEST_CASE("answers from the gated commit on wait for the timer",
          "[store_parts]") {
  commit_pipeline p;
  std::vector<std::string> log;
  commit_one(p, log, "a");
  commit_one(p, log, "b");
  p.gate_last_commit(); // two reports of commit 2's due time
  p.gate_last_commit();
  p.synced(2);
  deliver(p);
  CHECK(log == std::vector<std::string>{"a"});
  CHECK_FALSE(p.report_done()); // one report still pending
  deliver(p);
  CHECK(log == std::vector<std::string>{"a"});
  CHECK(p.report_done());
  deliver(p);
  CHECK(log == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a due alarm is armed again only for an earlier time",
          "[store_parts]") {
  due_alarm a;
  CHECK_FALSE(a.arm(-1));
  CHECK(a.arm(100));
  CHECK_FALSE(a.arm(100));
  CHECK_FALSE(a.arm(200));
  CHECK(a.arm(50));
  CHECK(a.due() == 50);
  a.fired();
  CHECK(a.due() == -1);
  CHECK(a.arm(200));
}

TEST_CASE("the timer is told a due time only when it matters",
          "[store_parts]") {
  due_times d;
  CHECK_FALSE(d.report_needed(-1, false));
  CHECK(d.report_needed(-1, true));
  CHECK(d.report_needed(100, false));
  d.reported(100);
  CHECK_FALSE(d.report_needed(200, false)); // it wakes the store earlier
  CHECK(d.report_needed(50, false));
  CHECK_FALSE(d.report_needed(100, true));
  CHECK(d.report_needed(200, true));
  d.index_known = false; // a failed report
  CHECK(d.report_needed(200, false));
}

TEST_CASE("the item cache keeps the most recently used items",
          "[store_parts]") {
  item_cache c{2};
  c.put(1, "t", "one");
  c.put(2, "t", "two");
  REQUIRE(c.find(1, "t") != nullptr); // 1 is now the most recent
  c.put(3, "t", "three");             // evicts 2
  CHECK(c.find(2, "t") == nullptr);
  CHECK(*c.find(1, "t") == "one");
  CHECK(*c.find(3, "t") == "three");
  CHECK(c.find(3, "u") == nullptr); // another type: not this item
  c.erase(1);
  CHECK(c.find(1, "t") == nullptr);
  c.clear();
  CHECK(c.find(3, "t") == nullptr);
  item_cache off{0};
  off.put(1, "t", "one");
  CHECK(off.find(1, "t") == nullptr);
}

TEST_CASE("the access cache keeps closures and interfaces apart",
          "[store_parts]") {
  access_cache a;
  CHECK(a.closure("user:x") == nullptr);
  a.put_closure("user:x", {"user:x", "group:g"});
  a.put_interfaces("user:x\n1", {"read"});
  REQUIRE(a.closure("user:x") != nullptr);
  CHECK(a.closure("user:x")->size() == 2);
  a.clear_interfaces();
  CHECK(a.interfaces("user:x\n1") == nullptr);
  CHECK(a.closure("user:x") != nullptr);
  a.clear();
  CHECK(a.closure("user:x") == nullptr);
}
