// The WAL sync pool behind deferred durability (actors/internal/wal_sync.hpp)
// on real files, and a real node with the WAL failpoints: a write is
// acknowledged only once its commit is synced, and never when the sync
// fails (docs/node.md, "Durability").

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "actors/internal/failpoint.hpp"
#include "actors/internal/wal_sync.hpp"
#include "actors/node.hpp"
#include "store/store.hpp"
#include "tests/support/node.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using actors::internal::scoped_failpoint;
using actors::internal::sync_pool;
using actors::internal::wal_failpoints;
using actors::internal::wal_file;
using nlohmann::json;

TEST_CASE("a WAL file opens next to its database and syncs",
          "[actors][durability]") {
  test::temp_dir dir;
  auto db = dir.path() / "store.sqlite";
  std::string err;
  CHECK(wal_file::open(db, err) == nullptr);
  CHECK(err.find("store.sqlite-wal") != std::string::npos);
  std::ofstream{db.string() + "-wal"} << "frames";
  err.clear();
  auto wal = wal_file::open(db, err);
  REQUIRE(wal != nullptr);
  CHECK(err.empty());
  CHECK(wal->sync() == 0);  // the first sync also syncs the directory
  CHECK(wal->sync() == 0);
}

TEST_CASE("the sync pool runs every job and finishes the queue when it goes",
          "[actors][durability]") {
  test::temp_dir dir;
  constexpr int files = 8;
  constexpr int jobs_per_file = 25;
  std::vector<std::shared_ptr<wal_file>> wals;
  for (int i = 0; i < files; ++i) {
    auto db = dir.path() / ("s" + std::to_string(i) + ".sqlite");
    std::ofstream{db.string() + "-wal"} << i;
    std::string err;
    wals.push_back(wal_file::open(db, err));
    REQUIRE(wals.back() != nullptr);
  }
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::mutex m;
  std::set<std::thread::id> threads;
  {
    sync_pool pool{3};
    for (int j = 0; j < jobs_per_file; ++j)
      for (auto& w : wals)
        pool.submit(w, [&](int rc) {
          if (rc != 0)
            ++failed;
          std::lock_guard<std::mutex> guard{m};
          threads.insert(std::this_thread::get_id());
          ++done;
        });
  }  // the destructor runs what is still queued before joining
  CHECK(done == files * jobs_per_file);
  CHECK(failed == 0);
  CHECK(threads.size() >= 1);
  CHECK(threads.size() <= 3);
  CHECK(threads.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("failpoints arm and disarm at run time, and bad delays are ignored",
          "[actors][durability]") {
  using actors::internal::failpoint_value;
  test::temp_dir dir;
  auto db = dir.path() / "one.sqlite";
  std::ofstream{db.string() + "-wal"} << "frames";
  std::string err;
  auto wal = wal_file::open(db, err);
  REQUIRE(wal != nullptr);
  CHECK_FALSE(failpoint_value("wal.sync_fail"));
  auto failures = wal_failpoints().failures.load();
  {
    scoped_failpoint fp{"wal.sync_fail", "/other.sqlite-wal"};
    CHECK(failpoint_value("wal.sync_fail") == std::string{"/other.sqlite-wal"});
    CHECK(wal->sync() == 0);  // scoped to another file
    CHECK(wal_failpoints().failures == failures);
  }
  {
    scoped_failpoint fp{"wal.sync_fail", "/one.sqlite-wal"};
    CHECK(wal->sync() == EIO);
    CHECK(wal_failpoints().failures == failures + 1);
  }
  CHECK_FALSE(failpoint_value("wal.sync_fail"));
  CHECK(wal->sync() == 0);
  auto started = wal_failpoints().delays_started.load();
  for (auto bad : {"", "x", "0", "-5", "60001", "12abc", "99999999999"}) {
    scoped_failpoint fp{"wal.sync_delay_ms", bad};
    CHECK(wal->sync() == 0);  // reported on stderr once, not applied
  }
  CHECK(wal_failpoints().delays_started == started);
  {
    scoped_failpoint fp{"wal.sync_delay_ms", "30:/one.sqlite-wal"};
    auto t0 = std::chrono::steady_clock::now();
    CHECK(wal->sync() == 0);
    CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
    CHECK(wal_failpoints().delays_started == started + 1);
    CHECK(wal_failpoints().delays_done == wal_failpoints().delays_started);
  }
}

namespace {

const actors::caller sys{actors::system_role, "test"};
const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
/// The failpoint scope of alice's WAL (users/example.com/alice.sqlite-wal).
const std::string alice_wal = "/alice.sqlite-wal";

struct wal_node : test::node_fixture {
  wal_node() {
    // Default options, FULL durability: syncs off the actor.
    start_node({}, [](actors::node& node) {
      REQUIRE(node.types().add(test::note_decl()));
    });
    for (auto& a : {alice, bob})
      REQUIRE(create_store(a).ok);
  }

  actors::reply put(const std::string& address, const json& j) {
    return n->wait([&](actors::reply_handler done) {
      n->put(sys, address, "notes.note", j.dump(), std::move(done));
    });
  }
  actors::reply update(const std::string& address, std::int64_t id,
                       const json& j) {
    return n->wait([&](actors::reply_handler done) {
      n->update(sys, address, "notes.note", id, j.dump(), std::move(done));
    });
  }
  json get(const std::string& address, std::int64_t id) {
    auto r = n->wait([&](actors::reply_handler done) {
      n->get(sys, address, "notes.note", id, std::move(done));
    });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body);
  }
  json titled(const std::string& address, const std::string& title) {
    auto r = n->wait([&](actors::reply_handler done) {
      n->query(sys, address,
               json{{"type", "notes.note"},
                    {"where", {{"attr", "title"}, {"op", "="}, {"value", title}}}}
                 .dump(),
               std::move(done));
    });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body)["items"];
  }
};

} // namespace

TEST_CASE("a write whose WAL sync fails is never acknowledged, and the store "
          "comes back when the disk does",
          "[actors][durability]") {
  wal_node t;
  auto first = t.put(alice, {{"title", "before"}, {"n", 1}});
  REQUIRE(first.ok);
  auto id = json::parse(first.body)["id"].get<std::int64_t>();
  auto failures = wal_failpoints().failures.load();
  {
    scoped_failpoint fp{"wal.sync_fail", alice_wal};
    // The update commits, its sync fails: store_unavailable, and that is
    // the only answer the writer gets (a request is answered once).
    auto r = t.update(alice, id, {{"n", 2}});
    INFO(r.message);
    CHECK_FALSE(r.ok);
    CHECK(r.code == actors::error_code::store_unavailable);
    CHECK(r.message.find("durable") != std::string::npos);
    CHECK(wal_failpoints().failures > failures);
    // The store closed; the next write activates it again and fails the
    // same way while the disk fails.
    auto p = t.put(alice, {{"title", "during"}, {"n", 9}});
    CHECK_FALSE(p.ok);
    CHECK(p.code == actors::error_code::store_unavailable);
    // Another store's syncs work meanwhile.
    auto other = t.put(bob, {{"title", "bob's"}, {"n", 1}});
    INFO(other.message);
    CHECK(other.ok);
  }
  // A write that was refused may or may not be there (its frames reached
  // the WAL; only their sync failed). What is certain: the item is whole,
  // either as before or as updated, the refused insert is there at most
  // once, and the store takes writes again.
  auto now = t.get(alice, id);
  CHECK(now["title"] == "before");
  CHECK((now["n"] == 1 || now["n"] == 2));
  CHECK(t.titled(alice, "during").size() <= 1);
  auto later = t.update(alice, id, {{"n", 3}});
  INFO(later.message);
  REQUIRE(later.ok);
  CHECK(t.get(alice, id)["n"] == 3);
  auto again = t.put(alice, {{"title", "after"}, {"n", 4}});
  REQUIRE(again.ok);
  CHECK(t.titled(alice, "after").size() == 1);
}

TEST_CASE("a write is acknowledged only after the sync that covers it "
          "returned",
          "[actors][durability]") {
  wal_node t;
  REQUIRE(t.put(alice, {{"title", "warm"}, {"n", 0}}).ok);
  constexpr auto delay = 300ms;
  scoped_failpoint fp{"wal.sync_delay_ms", "300:" + alice_wal};
  auto& counts = wal_failpoints();

  // A lone write: its acknowledgement comes at least the delay after it
  // was sent (a lower bound only).
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(t.put(alice, {{"title", "lone"}, {"n", 1}}).ok);
  CHECK(std::chrono::steady_clock::now() - t0 >= delay);

  // Write A; once its delayed sync is in progress, write B. B's commit
  // comes after that sync started, so B needs a later one: its answer may
  // not arrive before the sync in progress returned and the next one too.
  std::promise<actors::reply> a_done;
  std::promise<std::pair<actors::reply, std::uint64_t>> b_done;
  auto started_before_a = counts.delays_started.load();
  t.n->put(sys, alice, "notes.note", R"({"title":"a","n":2})",
           [&](actors::reply r) { a_done.set_value(std::move(r)); });
  auto until = std::chrono::steady_clock::now() + 20s;
  while (counts.delays_started == started_before_a
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);  // waits for an event, asserts nothing
  auto in_progress = counts.delays_started.load();
  REQUIRE(in_progress > started_before_a);
  t.n->put(sys, alice, "notes.note", R"({"title":"b","n":3})",
           [&](actors::reply r) {
             b_done.set_value({std::move(r), counts.delays_done.load()});
           });
  auto a = a_done.get_future().get();
  auto [b, done_at_b] = b_done.get_future().get();
  CHECK(a.ok);
  INFO(b.message);
  CHECK(b.ok);
  // Sync number `in_progress` had returned, and one after it.
  CHECK(done_at_b >= in_progress + 1);
  CHECK(t.titled(alice, "b").size() == 1);
}
