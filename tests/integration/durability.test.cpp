// kill -9 of a node during a write storm: every write the node acknowledged
// is in the store after restart. The node runs in a forked child process
// (forked before any thread exists) and reports each acknowledged write
// through a pipe; the parent kills it with SIGKILL mid-storm.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <set>
#include <string>
#include <thread>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/node.hpp"
#include "store/store.hpp"
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
bool read_acks(int fd, std::set<std::int64_t>& acked, std::string& partial,
               std::size_t want, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (acked.size() < want) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      return true;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t pos;
    while ((pos = partial.find('\n')) != std::string::npos) {
      acked.insert(std::stoll(partial.substr(0, pos)));
      partial.erase(0, pos + 1);
    }
  }
  return true;
}

} // namespace

TEST_CASE("every acknowledged write survives kill -9 of the node",
          "[integration][durability]") {
  test::temp_dir dir;
  auto data = dir / "data";
  std::set<std::int64_t> acked;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      write_storm(data, fds[1], round * 1'000'000'000LL);
    }
    ::close(fds[1]);
    std::string partial;
    auto target = acked.size() + 1500;
    bool got = read_acks(fds[0], acked, partial, target, 120s);
    ::kill(pid, SIGKILL);
    // Acks already in the pipe were sent before the kill: they count too.
    read_acks(fds[0], acked, partial, SIZE_MAX, 10s);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
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
