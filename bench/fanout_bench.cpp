// fanout_bench: a fan-out count over many user stores on one node (issue
// M10: 10,000 stores in <= 2 s on 2 cores) against, in the same run,
//
//   raw SQLite, 1 thread     open + SELECT count(*) + close of every file
//   raw SQLite, N threads    the same split over N threads
//   store by store           node::count for each store, one at a time
//                            (a client without fan-out)
//
// and the fan-out itself at several concurrencies, over all stores and
// over one tenth of them (one domain of ten), to show how it scales.
//
//   build/bench/fanout_bench [--stores 10000] [--items 3] [--data DIR]
//                            [--concurrency 4,16,64] [--runs 3] [--fanout-only]
//
// Without --data the stores are made under /tmp and removed afterwards;
// with it they are kept and reused (made once).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "actors/node.hpp"
#include "store/store.hpp"
#include "store/type.hpp"

using namespace mantissa;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "fanout_bench: %s\n", why.c_str());
  std::exit(1);
}

constexpr int domains = 10;
const char* const item_type = "bench.item";

std::string address_of(int i) {
  return "u" + std::to_string(i) + "@d" + std::to_string(i % domains)
         + ".example";
}

std::filesystem::path file_of(const std::filesystem::path& dir, int i) {
  return dir / "users" / ("d" + std::to_string(i % domains) + ".example")
         / ("u" + std::to_string(i) + ".sqlite");
}

store::type_decl item_decl() {
  store::type_decl d{item_type, 1, {}};
  d.attributes = {{"n", store::attribute_type::integer}};
  return d;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Raw SQLite over files [begin, end) with a step: the items counted.
std::int64_t raw_count(const std::filesystem::path& dir, int begin, int end,
                       int step) {
  auto sql = "SELECT count(*) FROM \"" + store::table_name(item_type, 1) + "\"";
  std::int64_t total = 0;
  for (int i = begin; i < end; i += step) {
    sqlite3* db = nullptr;
    auto path = file_of(dir, i);
    if (sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr)
        != SQLITE_OK)
      die("raw open " + path.string());
    // Leave the files as the node keeps them: a persistent WAL file (a
    // last close would otherwise delete it, and the node's next activation
    // would have to create it again).
    int persist = 1;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      die(std::string{"raw prepare: "} + sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
      total += sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  return total;
}

struct options {
  int stores = 10'000;
  int items = 3;
  std::string data;
  std::vector<std::size_t> concurrency{4, 16, 64};
  int runs = 3;
  bool baselines = true; ///< --fanout-only skips them (for profiling)
};

std::vector<std::size_t> parse_list(const std::string& text) {
  std::vector<std::size_t> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(',', pos);
    if (end == std::string::npos)
      end = text.size();
    out.push_back(static_cast<std::size_t>(std::atoi(text.substr(pos, end - pos).c_str())));
    pos = end + 1;
  }
  return out;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--fanout-only") {
      o.baselines = false;
      --i;
      continue;
    }
    if (i + 1 >= argc)
      die("a value is missing after " + a);
    std::string v = argv[i + 1];
    if (a == "--stores")
      o.stores = std::atoi(v.c_str());
    else if (a == "--items")
      o.items = std::atoi(v.c_str());
    else if (a == "--data")
      o.data = v;
    else if (a == "--concurrency")
      o.concurrency = parse_list(v);
    else if (a == "--runs")
      o.runs = std::atoi(v.c_str());
    else
      die("usage: fanout_bench [--stores N] [--items K] [--data DIR] "
          "[--concurrency a,b,c] [--runs R]");
  }
  if (o.stores < domains || o.items < 1 || o.runs < 1 || o.concurrency.empty())
    die("--stores must be at least 10, --items and --runs positive");
  bool keep = !o.data.empty();
  std::filesystem::path dir =
    keep ? std::filesystem::path{o.data}
         : std::filesystem::temp_directory_path()
             / ("mantissa-fanout-bench-" + std::to_string(::getpid()));
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("fanout_bench: %d stores x %d items, %u cores, data under %s\n",
              o.stores, o.items, cores, dir.c_str());

  // Active stores hold their files in exclusive mode, so the raw
  // baselines run while no node is up: the node is started for the store
  // phases of each run and stopped after them.
  actors::node_options opts;
  opts.data_dir = dir;
  std::unique_ptr<actors::node> node_ptr;
  auto start_node = [&] {
    node_ptr = std::make_unique<actors::node>(opts);
    if (!node_ptr->types().add(item_decl()))
      die("cannot declare the item type");
    std::string err;
    if (!node_ptr->start(err))
      die(err);
  };
  start_node();
  const actors::caller sys{actors::system_role, "bench"};

  // The stores (made once; a kept directory is reused).
  {
    auto& n = *node_ptr;
    auto t0 = clock_type::now();
    int made = 0;
    for (int i = 0; i < o.stores; ++i) {
      std::error_code ec;
      if (std::filesystem::exists(file_of(dir, i), ec))
        continue;
      auto addr = address_of(i);
      if (!n.wait([&](actors::reply_handler d) { n.create_store(addr, d); }).ok)
        die("cannot create " + addr);
      for (int k = 0; k < o.items; ++k)
        if (!n.wait([&](actors::reply_handler d) {
               n.put(sys, addr, item_type, json{{"n", k}}.dump(), d);
             }).ok)
          die("cannot write into " + addr);
      if (++made % 1000 == 0) {
        std::fprintf(stderr, "\r  made %d stores (%.0f/s)", made,
                     made / seconds_since(t0));
        std::fflush(stderr);
      }
    }
    if (made > 0)
      std::fprintf(stderr, "\r  made %d stores in %.1f s\n", made,
                   seconds_since(t0));
  }
  const std::int64_t expected = static_cast<std::int64_t>(o.stores) * o.items;
  node_ptr.reset();

  auto fanout = [&](const std::string& spec) {
    auto& n = *node_ptr;
    auto t0 = clock_type::now();
    auto r = n.wait(
      [&](actors::reply_handler d) { n.fanout(spec, {}, std::move(d)); });
    double s = seconds_since(t0);
    if (!r.ok)
      die("fanout failed: " + r.message);
    auto j = json::parse(r.body);
    if (j.at("failed") != 0)
      die("fanout: stores failed: " + j.at("failures").dump());
    return std::make_pair(s, j.at("result").get<std::int64_t>());
  };

  std::vector<double> raw1, rawn, one_by_one;
  std::vector<std::vector<double>> fan(o.concurrency.size()),
    fan_tenth(o.concurrency.size());
  for (int run = 0; run < o.runs; ++run) {
    auto t0 = clock_type::now();
    if (!o.baselines) {
      start_node();
      for (std::size_t c = 0; c < o.concurrency.size(); ++c)
        fan[c].push_back(
          fanout(json{{"type", item_type}, {"concurrency", o.concurrency[c]}}
                   .dump())
            .first);
      node_ptr.reset();
      continue;
    }
    if (raw_count(dir, 0, o.stores, 1) != expected)
      die("the raw count is wrong");
    raw1.push_back(seconds_since(t0));

    t0 = clock_type::now();
    std::atomic<std::int64_t> total{0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < cores; ++t)
      threads.emplace_back([&, t] {
        total += raw_count(dir, static_cast<int>(t), o.stores,
                           static_cast<int>(cores));
      });
    for (auto& t : threads)
      t.join();
    if (total != expected)
      die("the parallel raw count is wrong");
    rawn.push_back(seconds_since(t0));

    start_node();
    auto& n = *node_ptr;
    t0 = clock_type::now();
    std::int64_t sum = 0;
    for (int i = 0; i < o.stores; ++i) {
      auto r = n.wait([&](actors::reply_handler d) {
        n.count(sys, address_of(i), item_type, "{}", std::move(d));
      });
      if (!r.ok)
        die("count failed: " + r.message);
      sum += json::parse(r.body).at("count").get<std::int64_t>();
    }
    if (sum != expected)
      die("the store-by-store count is wrong");
    one_by_one.push_back(seconds_since(t0));

    for (std::size_t c = 0; c < o.concurrency.size(); ++c) {
      auto spec = json{{"type", item_type}, {"concurrency", o.concurrency[c]}};
      auto [s, got] = fanout(spec.dump());
      if (got != expected)
        die("the fan-out count is wrong: " + std::to_string(got));
      fan[c].push_back(s);
      spec["stores"] = {{"domain", "d0.example"}};
      auto [s10, got10] = fanout(spec.dump());
      if (got10 != expected / domains)
        die("the one-domain fan-out count is wrong");
      fan_tenth[c].push_back(s10);
    }
    node_ptr.reset();
  }

  std::printf("  open-store cap %zu (every fan-out activates stores cold)\n",
              opts.max_open_stores);
  std::printf("  median of %d runs                            seconds   stores/s\n",
              o.runs);
  auto row = [&](const std::string& what, double s, int stores) {
    std::printf("  %-44s %7.3f %10.0f\n", what.c_str(), s, stores / s);
  };
  if (!o.baselines) {
    for (std::size_t c = 0; c < o.concurrency.size(); ++c)
      row("fan-out count, concurrency " + std::to_string(o.concurrency[c]),
          median(fan[c]), o.stores);
    if (!keep)
      std::filesystem::remove_all(dir);
    return 0;
  }
  row("raw SQLite open+count+close, 1 thread", median(raw1), o.stores);
  row("raw SQLite, " + std::to_string(cores) + " threads",
      median(rawn), o.stores);
  row("node::count store by store, 1 in flight", median(one_by_one), o.stores);
  for (std::size_t c = 0; c < o.concurrency.size(); ++c) {
    row("fan-out count, concurrency " + std::to_string(o.concurrency[c]),
        median(fan[c]), o.stores);
    row("  one domain (" + std::to_string(o.stores / domains) + " stores)",
        median(fan_tenth[c]), o.stores / domains);
  }
  double best = 1e9;
  std::size_t best_c = 0;
  for (std::size_t c = 0; c < o.concurrency.size(); ++c)
    if (median(fan[c]) < best) {
      best = median(fan[c]);
      best_c = o.concurrency[c];
    }
  std::printf("  best fan-out (concurrency %zu): %.2fx the 1-thread raw rate, "
              "%.2fx the %u-thread raw rate, %.1fx store by store\n",
              best_c, median(raw1) / best, median(rawn) / best, cores,
              median(one_by_one) / best);
  std::printf("  target: %d stores in <= 2 s -> %s (%.3f s)\n", o.stores,
              best <= 2.0 ? "met" : "NOT met", best);
  if (!keep)
    std::filesystem::remove_all(dir);
  return 0;
}
