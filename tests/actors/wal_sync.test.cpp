// The WAL sync pool behind deferred durability (actors/internal/wal_sync.hpp)
// on real files.

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "actors/internal/wal_sync.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using actors::internal::sync_pool;
using actors::internal::wal_file;

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
