// kill -9 of a node during a write storm: every write the node acknowledged
// is in the store after restart. The node runs in a forked child process
// (forked before any thread exists) and reports each acknowledged write
// through a pipe; the parent kills it with SIGKILL mid-storm.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <csignal>
#include <set>
#include <string>
#include <thread>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/internal/failpoint.hpp"
#include "actors/internal/wal_sync.hpp"
#include "actors/node.hpp"
#include "store/store.hpp"
#include "tests/support/fork_child.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace std::chrono_literals;

namespace {

store::type_decl entry_decl() {
  store::type_decl d{"test.entry", 1, {}};
  store::attribute_decl seq{"seq", store::attribute_type::integer};
  seq.indexed = true;
  d.attributes = {seq};
  return d;
}

/// The child: runs a node and writes forever, 64 requests in flight,
/// printing "seq\n" to `fd` for each acknowledged write. Sequence numbers
/// start at `first_seq` so that rounds never overlap.
[[noreturn]] void write_storm(const std::filesystem::path& data, int fd,
                              std::int64_t first_seq) {
  actors::node_options opts;
  opts.data_dir = data;
  actors::node n{opts};
  if (!n.types().add(entry_decl()))
    ::_exit(3);
  std::string err;
  if (!n.start(err))
    ::_exit(4);
  auto created = n.wait([&](actors::reply_handler done) {
    n.create_store("storm@example.com", std::move(done));
  });
  if (!created.ok)
    ::_exit(5);
  const actors::caller who{actors::system_role, "storm"};
  std::atomic<std::int64_t> next{first_seq};
  std::atomic<int> in_flight{0};
  for (;;) {
    if (in_flight.load() >= 64) {
      std::this_thread::sleep_for(100us);
      continue;
    }
    auto seq = next++;
    ++in_flight;
    n.put(who, "storm@example.com", "test.entry",
          nlohmann::json{{"seq", seq}}.dump(), [fd, seq, &in_flight](actors::reply r) {
            if (r.ok) {
              auto line = std::to_string(seq) + "\n";
              auto written = ::write(fd, line.data(), line.size());
              (void) written;
            }
            --in_flight;
          });
  }
}

/// Reads lines of acknowledged sequence numbers until `want` arrived or
/// the pipe is closed; returns false on timeout.
bool read_acks(test::forked_child& c, std::set<std::int64_t>& acked,
               std::size_t want, std::chrono::seconds limit) {
  if (acked.size() >= want)
    return true;
  return c.read_lines(
           [&](const std::string& line) {
             acked.insert(std::stoll(line));
             return acked.size() >= want;
           },
           limit)
         != test::forked_child::read_end::timed_out;
}

} // namespace

TEST_CASE("every acknowledged write survives kill -9 of the node",
          "[integration][durability]") {
  test::temp_dir dir;
  auto data = dir / "data";
  std::set<std::int64_t> acked;
  for (int round = 0; round < 3; ++round) {
    auto child = test::fork_child(
      [&](int fd) { write_storm(data, fd, round * 1'000'000'000LL); });
    auto target = acked.size() + 1500;
    bool got = read_acks(child, acked, target, 120s);
    ::kill(child.pid, SIGKILL);
    // Acks already in the pipe were sent before the kill: they count too.
    read_acks(child, acked, SIZE_MAX, 10s);
    int status = child.reap();
    INFO("round " << round);
    REQUIRE(got);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
  }
  // Each round restarted on the same data directory: the lock of the killed
  // node was released by the kernel, the store reopened and went on.
  store::type_registry reg;
  REQUIRE(reg.add(entry_decl()));
  auto s = store::store::open(data / "users/example.com/storm.sqlite", reg);
  REQUIRE(s);
  CHECK(*(*s)->integrity_check() == "ok");
  std::set<std::int64_t> stored;
  store::query q;
  q.type = "test.entry";
  REQUIRE((*s)->for_each(q, [&](store::item&& it) {
    stored.insert(std::get<std::int64_t>(it.values[0]));
  }));
  std::size_t missing = 0;
  for (auto seq : acked)
    missing += stored.count(seq) == 0 ? 1 : 0;
  INFO("acknowledged " << acked.size() << ", stored " << stored.size());
  CHECK(acked.size() >= 4500);
  CHECK(missing == 0);
}

TEST_CASE("frames a killed node never synced are answered only once synced",
          "[integration][durability]") {
  // A kill -9 cannot lose what the page cache holds, but an OS crash can:
  // a store that opens with frames in its WAL syncs them before it answers
  // from them (docs/node.md, "Durability").
  using actors::internal::wal_failpoints;
  test::temp_dir dir;
  auto data = dir / "data";
  const std::string address = "held@example.com";
  const std::string scope = "/held.sqlite-wal";
  auto child = test::fork_child([&](int fd) {
    // The child: a write whose sync hangs (60 s); it says so, then waits
    // for the kill. Its writer is never answered.
    actors::node_options opts;
    opts.data_dir = data;
    actors::node n{opts};
    std::string err;
    if (!n.types().add(entry_decl()) || !n.start(err))
      ::_exit(3);
    auto created = n.wait([&](actors::reply_handler done) {
      n.create_store(address, std::move(done));
    });
    if (!created.ok)
      ::_exit(5);
    actors::internal::arm_failpoint("wal.sync_delay_ms", "60000:" + scope);
    n.put({actors::system_role, "held"}, address, "test.entry",
          R"({"seq":7})", [](actors::reply) { ::_exit(6); });
    while (wal_failpoints().delays_started == 0)
      std::this_thread::sleep_for(1ms);
    auto said = ::write(fd, "syncing\n", 8);
    (void) said;
    for (;;)
      std::this_thread::sleep_for(1s);
  });
  char buf[16] = {};
  pollfd p{child.fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 120'000) == 1);
  auto got = ::read(child.fd, buf, sizeof(buf) - 1);
  int status = child.kill();
  REQUIRE(got == 8);
  REQUIRE(std::string{buf} == "syncing\n");
  REQUIRE(WIFSIGNALED(status));
  auto wal = data / "users/example.com/held.sqlite-wal";
  REQUIRE(std::filesystem::file_size(wal) > 0);  // the frames are there

  // Here: the same data, every sync of that store held 300 ms. A read
  // that would see the killed node's write waits for a sync.
  actors::internal::scoped_failpoint delay{"wal.sync_delay_ms", "300:" + scope};
  actors::node_options opts;
  opts.data_dir = data;
  actors::node n{opts};
  REQUIRE(n.types().add(entry_decl()));
  std::string err;
  REQUIRE(n.start(err));
  auto done_before = wal_failpoints().delays_done.load();
  auto t0 = std::chrono::steady_clock::now();
  std::promise<std::pair<actors::reply, std::uint64_t>> answered;
  n.query({actors::system_role, "held"}, address, R"({"type":"test.entry"})",
          [&](actors::reply r) {
            answered.set_value({std::move(r), wal_failpoints().delays_done.load()});
          });
  auto [r, done_at_answer] = answered.get_future().get();
  INFO(r.message);
  REQUIRE(r.ok);
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
  CHECK(done_at_answer > done_before);
  // The unacknowledged write is there (the page cache kept it), now durable.
  auto items = nlohmann::json::parse(r.body)["items"];
  REQUIRE(items.size() == 1);
  CHECK(items[0]["seq"] == 7);
  // A later read has nothing to wait for.
  auto again = n.wait([&](actors::reply_handler d) {
    n.query({actors::system_role, "held"}, address, R"({"type":"test.entry"})",
            std::move(d));
  });
  CHECK(again.ok);
  n.stop();
}
