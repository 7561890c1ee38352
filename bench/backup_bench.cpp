// backup_bench: backups (issue M10) through the node vs plain SQLite, in the
// same run, on the same files.
//
//   node      every store of a data directory (N small user stores and one
//             large one) backed up by the store actors through
//             `node::backup_store`, K at a time as `mantissa backup` does
//             (copy in steps of 1024 pages, sync, rename, SHA-256), while
//             one reader keeps reading the large store: its worst read
//             latency during the backup shows what the steps cost others.
//   baseline  the same files copied by the sqlite3 C API the way the
//             `sqlite3` shell's `.backup` does it (open, backup_init,
//             step(-1), finish, close: a default rollback-journal
//             destination with synchronous=FULL), one after the other.
//
//   build/bench/backup_bench [--stores N] [--notes M] [--big-mb B]
//                            [--parallel K] [--dir DIR]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/backup.hpp"
#include "actors/node.hpp"
#include "store/store.hpp"

using namespace mantissa;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

store::type_decl note_decl() {
  store::type_decl d{"notes.note", 1, {}};
  store::attribute_decl title{"title", store::attribute_type::text};
  title.indexed = true;
  store::attribute_decl body{"body", store::attribute_type::text};
  d.attributes = {title, body};
  return d;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

void fill(const fs::path& file, const store::type_registry& reg, int notes,
          std::size_t body_size) {
  fs::create_directories(file.parent_path());
  auto s = store::store::open(file, reg);
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error_value().message.c_str());
    std::exit(1);
  }
  (void)(*s)->begin();
  std::string body(body_size, 'b');
  for (int i = 0; i < notes; ++i) {
    body[static_cast<std::size_t>(i) % body_size] = static_cast<char>('a' + i % 26);
    store::item it{0, "notes.note", {"note " + std::to_string(i), body}};
    if (!(*s)->insert(it)) {
      std::fprintf(stderr, "insert failed\n");
      std::exit(1);
    }
  }
  (void)(*s)->commit();
}

std::uint64_t tree_bytes(const fs::path& dir) {
  std::uint64_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".sqlite")
      n += e.file_size();
  return n;
}

/// `.backup` of the sqlite3 shell: the C API with a default destination.
bool sqlite_backup(const fs::path& from, const fs::path& to) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  bool ok = sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READONLY, nullptr)
              == SQLITE_OK
            && sqlite3_open_v2(to.c_str(), &dst,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                               nullptr)
                 == SQLITE_OK;
  if (ok) {
    auto* b = sqlite3_backup_init(dst, "main", src, "main");
    ok = b != nullptr && sqlite3_backup_step(b, -1) == SQLITE_DONE;
    ok = sqlite3_backup_finish(b) == SQLITE_OK && ok;
  }
  sqlite3_close_v2(dst);
  sqlite3_close_v2(src);
  return ok;
}

} // namespace

int main(int argc, char** argv) {
  int stores = 1000;
  int notes = 50;
  int big_mb = 100;
  unsigned parallel = 4;
  fs::path parent = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--stores")
      stores = std::atoi(argv[i + 1]);
    else if (a == "--notes")
      notes = std::atoi(argv[i + 1]);
    else if (a == "--big-mb")
      big_mb = std::atoi(argv[i + 1]);
    else if (a == "--parallel")
      parallel = static_cast<unsigned>(std::atoi(argv[i + 1]));
    else if (a == "--dir")
      parent = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  auto root = parent / ("backup_bench." + std::to_string(::getpid()));
  auto data = root / "data";
  fs::create_directories(data);

  // -- the data: N small user stores, one ~big_mb MB store ------------------
  store::type_registry reg;
  if (!reg.add(note_decl()) || !actors::register_account_types(reg))
    return 1;
  auto t0 = clock_type::now();
  for (int i = 0; i < stores; ++i)
    fill(data / "users/example.com" / ("u" + std::to_string(i) + ".sqlite"),
         reg, notes, 400);
  constexpr std::size_t big_body = 1000;
  int big_rows = big_mb * 1024 * 1024 / static_cast<int>(big_body + 60);
  fill(data / "users/example.com/big.sqlite", reg, big_rows, big_body);
  auto bytes = tree_bytes(data);
  std::printf("data: %d stores of %d notes + 1 store of %d notes, %.1f MiB, "
              "made in %.1f s\n",
              stores, notes, big_rows, bytes / 1048576.0, seconds_since(t0));

  // -- through the node -----------------------------------------------------
  double node_secs = 0;
  double idle_max_ms = 0, during_max_ms = 0;
  std::size_t during_reads = 0;
  std::vector<double> during_ms;
  std::uint64_t big_bytes = 0;
  std::int64_t longest_step_us = 0, big_steps = 0;
  std::uint64_t node_bytes = 0;
  {
    actors::node_options opts;
    opts.data_dir = data;
    actors::node n{opts};
    if (!n.types().add(note_decl()))
      return 1;
    std::string err;
    if (!n.start(err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return 1;
    }
    auto listed = n.wait([&](actors::reply_handler d) { n.list_stores(d); });
    auto addresses = nlohmann::json::parse(listed.body)["stores"]
                       .get<std::vector<std::string>>();
    // The large store last, so that the reader overlaps its backup.
    std::stable_partition(addresses.begin(), addresses.end(),
                          [](auto& a) { return a != "big@example.com"; });
    const actors::caller sys{actors::system_role, "bench"};
    auto read_once = [&] {
      auto t = clock_type::now();
      auto r = n.wait([&](actors::reply_handler d) {
        n.get(sys, "big@example.com", "notes.note", 1 + (during_reads % 1000),
              d);
      });
      if (!r.ok)
        std::fprintf(stderr, "read failed: %s\n", r.message.c_str());
      return seconds_since(t) * 1000;
    };
    for (int i = 0; i < 2000; ++i)
      idle_max_ms = std::max(idle_max_ms, read_once());

    std::atomic<bool> stop{false};
    std::thread reader{[&] {
      while (!stop) {
        during_ms.push_back(read_once());
        during_max_ms = std::max(during_max_ms, during_ms.back());
        ++during_reads;
      }
    }};
    auto out = root / "node-backup";
    std::mutex mx;
    std::condition_variable cv;
    std::size_t next = 0, done = 0, in_flight = 0;
    bool failed = false;
    auto start = clock_type::now();
    std::unique_lock<std::mutex> g{mx};
    while (done < addresses.size()) {
      while (next < addresses.size() && in_flight < parallel) {
        auto rel = actors::relative_store_path(addresses[next]);
        ++in_flight;
        ++next;
        g.unlock();
        n.backup_store(addresses[next - 1], out / *rel,
                       [&](actors::reply r) {
                         std::lock_guard<std::mutex> l{mx};
                         if (!r.ok) {
                           failed = true;
                           std::fprintf(stderr, "%s\n", r.message.c_str());
                         } else {
                           auto j = nlohmann::json::parse(r.body);
                           node_bytes += j["bytes"].get<std::uint64_t>();
                           longest_step_us = std::max(
                             longest_step_us,
                             j["longest_step_micros"].get<std::int64_t>());
                           if (j["address"] == "big@example.com") {
                             big_bytes = j["bytes"].get<std::uint64_t>();
                             big_steps = j["steps"].get<std::int64_t>();
                           }
                         }
                         --in_flight;
                         ++done;
                         cv.notify_all();
                       });
        g.lock();
      }
      cv.wait(g);
    }
    g.unlock();
    node_secs = seconds_since(start);
    stop = true;
    reader.join();
    if (failed)
      return 1;
    n.stop();
  }

  // -- plain SQLite, the same files -----------------------------------------
  auto files = actors::list_store_files(data);
  auto out = root / "sqlite-backup";
  auto start = clock_type::now();
  for (auto& f : *files) {
    auto rel = actors::relative_store_path(f.address);
    fs::create_directories((out / *rel).parent_path());
    if (!sqlite_backup(f.path, out / *rel)) {
      std::fprintf(stderr, "sqlite backup of %s failed\n", f.path.c_str());
      return 1;
    }
  }
  auto sqlite_secs = seconds_since(start);

  auto mibs = [](std::uint64_t b, double s) { return b / 1048576.0 / s; };
  std::printf("stores backed up: %zu, %.1f MiB\n", files->size(),
              node_bytes / 1048576.0);
  std::printf("node (store actors, %u at a time, sync + SHA-256): %.2f s, "
              "%.1f MiB/s, %.0f stores/s\n",
              parallel, node_secs, mibs(node_bytes, node_secs),
              files->size() / node_secs);
  std::printf("sqlite3 C API .backup, one at a time:               %.2f s, "
              "%.1f MiB/s, %.0f stores/s\n",
              sqlite_secs, mibs(bytes, sqlite_secs),
              files->size() / sqlite_secs);
  std::printf("ratio node/sqlite (throughput): %.2fx\n",
              sqlite_secs / node_secs);
  std::sort(during_ms.begin(), during_ms.end());
  auto pct = [&](double q) {
    return during_ms.empty()
             ? 0.0
             : during_ms[static_cast<std::size_t>(q * (during_ms.size() - 1))];
  };
  std::printf("large store: %.1f MiB; its reads: worst %.2f ms idle; during "
              "the backup p50 %.2f ms, p99 %.2f ms, worst %.2f ms (%zu "
              "reads)\n",
              big_bytes / 1048576.0, idle_max_ms, pct(0.5), pct(0.99),
              during_max_ms, during_reads);
  std::printf("longest step of any store's backup (its actor busy): %.2f ms; "
              "the large store's copy took %lld steps\n",
              longest_step_us / 1000.0, static_cast<long long>(big_steps));
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
