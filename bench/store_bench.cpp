// store_bench: 100,000 items of a 3-attribute type inserted in one
// transaction, then read back one by one through an indexed attribute —
// once through mantissa::store and once with raw prepared sqlite3_* calls,
// in the same run, on files in the same directory. Prints both rates and
// the ratio (store / raw).
//
//   build/bench/store_bench [--items N] [--dir DIR]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.hpp"

using namespace mantissa::store;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void die(const std::string& what) {
  std::fprintf(stderr, "store_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string key_for(int i) {
  return "key-" + std::to_string(i);
}

struct rates {
  double insert_per_s;
  double read_per_s;
};

rates run_raw(const std::filesystem::path& path, int n) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK)
    die("open raw");
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "PRAGMA foreign_keys=ON;"
               "CREATE TABLE item(id INTEGER PRIMARY KEY, key TEXT NOT NULL,"
               " body TEXT NOT NULL, n INTEGER NOT NULL) STRICT;"
               "CREATE INDEX item_key ON item(key);",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO item(id, key, body, n) VALUES (?,?,?,?)",
                     -1, &ins, nullptr);
  std::string body = "a body of some length for every item";
  auto start = clock_type::now();
  sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  for (int i = 0; i < n; ++i) {
    auto key = key_for(i);
    sqlite3_bind_int64(ins, 1, i + 1);
    sqlite3_bind_text(ins, 2, key.data(), static_cast<int>(key.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, body.data(), static_cast<int>(body.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, i);
    if (sqlite3_step(ins) != SQLITE_DONE)
      die("raw insert");
    sqlite3_reset(ins);
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  double insert_s = seconds_since(start);
  sqlite3_finalize(ins);

  sqlite3_stmt* sel = nullptr;
  sqlite3_prepare_v2(db, "SELECT id, key, body, n FROM item WHERE key = ?", -1,
                     &sel, nullptr);
  long long check = 0;
  start = clock_type::now();
  for (int i = 0; i < n; ++i) {
    auto key = key_for(i);
    sqlite3_bind_text(sel, 1, key.data(), static_cast<int>(key.size()),
                      SQLITE_STATIC);
    while (sqlite3_step(sel) == SQLITE_ROW) {
      // Materialize the row as an application would.
      std::string k{reinterpret_cast<const char*>(sqlite3_column_text(sel, 1)),
                    static_cast<size_t>(sqlite3_column_bytes(sel, 1))};
      std::string b{reinterpret_cast<const char*>(sqlite3_column_text(sel, 2)),
                    static_cast<size_t>(sqlite3_column_bytes(sel, 2))};
      check += sqlite3_column_int64(sel, 3) + static_cast<long long>(k.size() + b.size());
    }
    sqlite3_reset(sel);
  }
  double read_s = seconds_since(start);
  sqlite3_finalize(sel);
  sqlite3_close(db);
  if (check == 0)
    die("raw read found nothing");
  return {n / insert_s, n / read_s};
}

rates run_store(const std::filesystem::path& path, int n) {
  type_registry reg;
  type_decl decl{"bench.item", 1, {}};
  attribute_decl key{"key", attribute_type::text};
  key.indexed = true;
  key.nullable = false;
  attribute_decl body{"body", attribute_type::text};
  body.nullable = false;
  attribute_decl num{"n", attribute_type::integer};
  num.nullable = false;
  decl.attributes = {key, body, num};
  if (!reg.add(decl))
    die("declare");
  auto s = store::open(path, reg);
  if (!s)
    die(s.error_value().message);
  auto& st = **s;
  std::string body_text = "a body of some length for every item";
  auto start = clock_type::now();
  auto r = st.transact([&]() -> result<void> {
    item it;
    it.type = "bench.item";
    for (int i = 0; i < n; ++i) {
      it.values = {key_for(i), body_text, std::int64_t{i}};
      MANTISSA_TRY(st.insert(it));
    }
    return {};
  });
  if (!r)
    die(r.error_value().message);
  double insert_s = seconds_since(start);

  long long check = 0;
  query q;
  q.type = "bench.item";
  start = clock_type::now();
  for (int i = 0; i < n; ++i) {
    q.where = cmp("key", compare_op::eq, key_for(i));
    auto items = st.select(q);
    if (!items)
      die(items.error_value().message);
    for (auto& it : *items)
      check += std::get<std::int64_t>(it.values[2])
               + static_cast<long long>(std::get<std::string>(it.values[0]).size()
                                        + std::get<std::string>(it.values[1]).size());
  }
  double read_s = seconds_since(start);
  if (check == 0)
    die("store read found nothing");
  return {n / insert_s, n / read_s};
}

} // namespace

int main(int argc, char** argv) {
  int n = 100'000;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--items")
      n = std::atoi(argv[i + 1]);
    else if (a == "--dir")
      dir = argv[i + 1];
  }
  auto base = dir / ("mantissa-store-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(base);
  // Alternate the order to spread warm-up effects, keep the best of 3.
  rates raw{0, 0}, mine{0, 0};
  for (int round = 0; round < 3; ++round) {
    auto tag = std::to_string(round);
    auto r = run_raw(base / ("raw" + tag + ".sqlite"), n);
    auto s = run_store(base / ("store" + tag + ".sqlite"), n);
    raw.insert_per_s = std::max(raw.insert_per_s, r.insert_per_s);
    raw.read_per_s = std::max(raw.read_per_s, r.read_per_s);
    mine.insert_per_s = std::max(mine.insert_per_s, s.insert_per_s);
    mine.read_per_s = std::max(mine.read_per_s, s.read_per_s);
  }
  std::filesystem::remove_all(base);
  std::printf("store_bench: %d items, 3 attributes, WAL, synchronous=FULL, best of 3\n", n);
  std::printf("%-28s %12s %12s %8s\n", "work", "raw/s", "store/s", "ratio");
  std::printf("%-28s %12.0f %12.0f %8.2f\n", "insert (one transaction)",
              raw.insert_per_s, mine.insert_per_s,
              mine.insert_per_s / raw.insert_per_s);
  std::printf("%-28s %12.0f %12.0f %8.2f\n", "read by indexed attribute",
              raw.read_per_s, mine.read_per_s, mine.read_per_s / raw.read_per_s);
  bool ok = mine.insert_per_s >= 0.7 * raw.insert_per_s
            && mine.read_per_s >= 0.7 * raw.read_per_s;
  std::printf("target >= 0.70x raw: %s\n", ok ? "met" : "NOT met");
  return 0;
}
