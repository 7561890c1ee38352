// node_bench: the node-level performance checks of issues M3 and M5, each
// against a baseline measured in the same run.
//
//   read   reads of one hot item by id, sent by an event-based client
//          straight to a store actor (`(get_atom, caller, type, id)`), vs
//          the same request/response to a trivial actor that answers with a
//          fixed string. Target: >= 0.5x.
//   auth   the same hot read sent as the store's owner (no share check) and
//          as a reader whose access comes from a share to a group it is a
//          member of (closure and interfaces looked up, then cached).
//          Target: the check costs <= 10% (ratio >= 0.9). Also prints
//          session validations per second (memory only).
//   write  64 writer actors x 1,000 durable `put_atom` writes to one store
//          (group commit) vs raw sqlite3 with one transaction per row
//          (WAL, synchronous=FULL) in a loop. The store actor with one
//          writer at a time, and the same writers against a trivial actor
//          (what the message pattern alone allows), are printed as
//          references. Target: >= 20x.
//   touch  one read from each of N distinct user stores through `node::get`
//          with the default cap of 512 open stores: peak RSS, most open file
//          descriptors, cold activation + read latency p50/p99, vs a bare
//          sqlite3 open + prepared SELECT by id + close of a store file.
//          Targets: RSS <= 1 GiB, fds <= 3 x cap + 64, p50 <= 1 ms.
//
//   build/bench/node_bench [read|auth|write|touch|all] [options]
//     --dir DIR          parent of the temporary data directory (/tmp)
//     --data DIR         use (and keep) this data directory instead; stores
//                        already created there by `touch` are reused
//     --requests N       round trips per read measurement (200000)
//     --inflight K       requests in flight for the second read row (16)
//     --writers W        concurrent writers (64)
//     --writes N         writes per writer (1000)
//     --baseline-writes N  one-transaction-per-write baseline writes (2000)
//     --stores N         user stores touched (100000)
//     --threads T        threads creating stores (2 x cores)
//     --concurrency C    touch requests in flight (1)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

#include <sqlite3.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/accounts.hpp"
#include "actors/node.hpp"
#include "wire/protocol.hpp"
#include "store/store.hpp"

using namespace mantissa;
using clock_type = std::chrono::steady_clock;

namespace {

// -- helpers ------------------------------------------------------------------

struct options {
  std::string which = "all";
  std::filesystem::path parent = std::filesystem::temp_directory_path();
  std::filesystem::path data;  // empty: a temporary directory under parent
  int requests = 200'000;
  int inflight = 16;
  int writers = 64;
  int writes = 1'000;
  int baseline_writes = 2'000;
  int stores = 100'000;
  int threads = 0;
  int concurrency = 1;
};

constexpr const char* note_type = "bench.note";

void die(const std::string& what) {
  std::fprintf(stderr, "node_bench: %s\n", what.c_str());
  std::exit(1);
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double seconds_since(clock_type::time_point start) {
  return seconds_between(start, clock_type::now());
}

/// Declares the benchmark's item type: a title and a number.
void declare_note(store::type_registry& reg) {
  store::type_decl decl{note_type, 1, {}};
  store::attribute_decl title{"title", store::attribute_type::text};
  title.nullable = false;
  store::attribute_decl n{"n", store::attribute_type::integer};
  n.nullable = false;
  decl.attributes = {title, n};
  if (auto r = reg.add(decl); !r)
    die("declare: " + r.error_value().message);
}

const char* verdict(bool met) {
  return met ? "met" : "NOT met";
}

/// A value of the `VmHWM` or `VmRSS` line of /proc/self/status, in KiB.
long proc_status_kib(const char* key) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  auto prefix = std::string{key} + ":";
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0)
      return std::atol(line.c_str() + prefix.size());
  return -1;
}

/// Resets VmHWM to the current RSS (Linux >= 4.0); false when refused.
bool reset_peak_rss() {
  std::ofstream out{"/proc/self/clear_refs"};
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

int open_fds() {
  int n = 0;
  std::error_code ec;
  for (auto i = std::filesystem::directory_iterator{"/proc/self/fd", ec};
       !ec && i != std::filesystem::directory_iterator{}; i.increment(ec))
    ++n;
  return n - 1;  // the iterator's own descriptor
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(k, v.size() - 1)];
}

/// A started node over `dir` that knows the benchmark's type.
std::unique_ptr<actors::node> start_node(const std::filesystem::path& dir) {
  actors::node_options o;
  o.data_dir = dir;
  auto n = std::make_unique<actors::node>(o);
  declare_note(n->types());
  std::string err;
  if (!n->start(err))
    die("node start: " + err);
  return n;
}

actors::caller bench_caller() {
  return {actors::system_role, "bench"};
}

/// The store actor of `address`, looked up once through the node's manager.
caf::actor store_handle(actors::node& n, const std::string& address) {
  caf::actor out;
  caf::scoped_actor self{n.system()};
  self->request(n.manager(), std::chrono::seconds(30), actors::store_atom::value,
                address)
    .receive([&](caf::actor& a) { out = std::move(a); },
             [&](caf::error& e) { die("lookup: " + n.system().render(e)); });
  return out;
}

/// Creates the store of `address` and puts one note in it; returns its id.
std::int64_t create_with_note(actors::node& n, const std::string& address) {
  auto r = n.wait([&](actors::reply_handler done) {
    n.create_store(address, std::move(done));
  });
  if (!r.ok)
    die("create " + address + ": " + r.message);
  r = n.wait([&](actors::reply_handler done) {
    n.put(bench_caller(), address, note_type,
          R"({"title":"a hot note","n":42})", std::move(done));
  });
  if (!r.ok)
    die("put: " + r.message);
  return nlohmann::json::parse(r.body).at("id").get<std::int64_t>();
}

std::string node_stats(actors::node& n) {
  auto r = n.wait([&](actors::reply_handler done) { n.stats(std::move(done)); });
  if (!r.ok)
    die("stats: " + r.message);
  return r.body;
}

// -- an event-based client doing request/response round trips ----------------

/// Shared between one client actor and the thread that waits for it.
struct loop_state {
  int left = 0;         // requests not yet sent
  int outstanding = 0;  // sent, not yet answered
  clock_type::time_point start;
  clock_type::time_point end;
  std::string error;    // first failure, if any
  std::promise<void> done;
};

template <class Reply>
void issue(caf::event_based_actor* self, const caf::actor& target,
           const caf::message& msg, std::shared_ptr<loop_state> s) {
  --s->left;
  ++s->outstanding;
  // No timeout: a timeout is not cancelled by the reply in CAF 0.17 and
  // would add its own cost to every round trip of both sides.
  self->request(target, caf::infinite, msg)
    .then(
      [self, target, msg, s](Reply&) {
        --s->outstanding;
        if (s->left > 0) {
          issue<Reply>(self, target, msg, s);
        } else if (s->outstanding == 0) {
          s->end = clock_type::now();
          s->done.set_value();
          self->quit();
        }
      },
      [self, s](caf::error& e) {
        if (s->error.empty())
          s->error = to_string(e);
        s->left = 0;
        if (--s->outstanding == 0) {
          s->end = clock_type::now();
          s->done.set_value();
          self->quit();
        }
      });
}

template <class Reply>
caf::behavior client(caf::event_based_actor* self, caf::actor target,
                     caf::message msg, int inflight,
                     std::shared_ptr<loop_state> s) {
  s->start = clock_type::now();
  for (int i = 0; i < inflight && s->left > 0; ++i)
    issue<Reply>(self, target, msg, s);
  return {[](caf::ok_atom) {}};  // alive until the last reply
}

/// Starts a client sending `msg` to `target` `total` times, `inflight` at
/// once. Wait on the returned state's `done`.
template <class Reply>
std::shared_ptr<loop_state> start_client(caf::actor_system& sys,
                                         const caf::actor& target,
                                         const caf::message& msg, int total,
                                         int inflight) {
  auto s = std::make_shared<loop_state>();
  s->left = total;
  sys.spawn(client<Reply>, target, msg, inflight, s);
  return s;
}

/// Round trips per second of one client.
template <class Reply>
double round_trips(caf::actor_system& sys, const caf::actor& target,
                   const caf::message& msg, int total, int inflight) {
  auto s = start_client<Reply>(sys, target, msg, total, inflight);
  s->done.get_future().wait();
  if (!s->error.empty())
    die("request failed: " + s->error);
  return total / seconds_between(s->start, s->end);
}

// -- 1. read of a hot item ----------------------------------------------------

caf::behavior fixed_reply(caf::event_based_actor*, std::string text) {
  return {
    [text](caf::get_atom, const actors::caller&, const std::string&,
           std::int64_t) { return text; },
  };
}

/// Answers a put with a fixed item, as a store would, without storing it.
caf::behavior fixed_put_reply(caf::event_based_actor*, std::string text) {
  return {
    [text](caf::put_atom, const actors::caller&, const std::string&,
           const std::string&) { return text; },
  };
}

caf::behavior echo_int(caf::event_based_actor*) {
  return {[](int x) { return x; }};
}

void bench_read(const options& opt, const std::filesystem::path& dir) {
  auto n = start_node(dir);
  const std::string address = "reader@bench.example";
  auto id = create_with_note(*n, address);
  auto store = store_handle(*n, address);
  auto& sys = n->system();
  auto get = caf::make_message(actors::get_atom::value, bench_caller(),
                               std::string{note_type}, id);
  // The reply of the trivial actor is the item itself, so both sides move
  // the same message and reply types.
  std::string item_text;
  {
    auto r = n->wait([&](actors::reply_handler done) {
      n->get(bench_caller(), address, note_type, id, std::move(done));
    });
    if (!r.ok)
      die("get: " + r.message);
    item_text = r.body;
  }
  auto trivial = sys.spawn(fixed_reply, item_text);
  auto echo = sys.spawn(echo_int);
  auto ping = caf::make_message(1);
  // Warm up both paths (the store's first read fills its item cache).
  round_trips<std::string>(sys, store, get, 10'000, 1);
  round_trips<std::string>(sys, trivial, get, 10'000, 1);
  round_trips<int>(sys, echo, ping, 10'000, 1);
  double raw1 = 0, raw_int = 0, mine1 = 0, rawk = 0, minek = 0;
  for (int round = 0; round < 3; ++round) {
    raw1 = std::max(raw1, round_trips<std::string>(sys, trivial, get,
                                                   opt.requests, 1));
    mine1 = std::max(mine1, round_trips<std::string>(sys, store, get,
                                                     opt.requests, 1));
    raw_int = std::max(raw_int, round_trips<int>(sys, echo, ping,
                                                 opt.requests, 1));
    rawk = std::max(rawk, round_trips<std::string>(sys, trivial, get,
                                                   opt.requests, opt.inflight));
    minek = std::max(minek, round_trips<std::string>(sys, store, get,
                                                     opt.requests,
                                                     opt.inflight));
  }
  caf::anon_send_exit(trivial, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  n->stop();
  std::printf("\n[read] hot item by id, %d round trips per run, best of 3, "
              "event-based client request(...).then(...), no timeout\n",
              opt.requests);
  std::printf("  baseline: trivial actor answering the same message with a "
              "fixed string (int echo shown for reference)\n");
  std::printf("  %-34s %12s %12s %8s\n", "work", "baseline/s", "store/s",
              "ratio");
  std::printf("  %-34s %12.0f %12s %8s\n", "int echo, sequential", raw_int, "-",
              "-");
  std::printf("  %-34s %12.0f %12.0f %8.2f\n", "get, sequential", raw1, mine1,
              mine1 / raw1);
  char label[64];
  std::snprintf(label, sizeof(label), "get, %d in flight", opt.inflight);
  std::printf("  %-34s %12.0f %12.0f %8.2f\n", label, rawk, minek,
              minek / rawk);
  std::printf("  target >= 0.50x (sequential): %s; vs int echo: %.2fx\n",
              verdict(mine1 >= 0.5 * raw1), mine1 / raw_int);
}

// -- 1b. authorization on the read path ---------------------------------------

void bench_auth(const options& opt, const std::filesystem::path& dir) {
  auto n = start_node(dir);
  const std::string address = "owner@bench.example";
  auto id = create_with_note(*n, address);
  auto r = n->wait([&](actors::reply_handler done) {
    n->share(bench_caller(), address, note_type, id, "group:readers",
             R"(["read"])", "", std::move(done));
  });
  if (r.ok)
    r = n->wait([&](actors::reply_handler done) {
      n->member(bench_caller(), address, "user:reader@bench.example",
                "group:readers", true, std::move(done));
    });
  if (!r.ok)
    die("share: " + r.message);
  auto store = store_handle(*n, address);
  auto& sys = n->system();
  auto as_owner = caf::make_message(
    actors::get_atom::value, actors::caller{"user:" + address, "bench"},
    std::string{note_type}, id);
  auto as_reader = caf::make_message(
    actors::get_atom::value, actors::caller{"user:reader@bench.example", "bench"},
    std::string{note_type}, id);
  round_trips<std::string>(sys, store, as_owner, 10'000, 1);
  round_trips<std::string>(sys, store, as_reader, 10'000, 1);
  double own1 = 0, shared1 = 0, ownk = 0, sharedk = 0;
  for (int round = 0; round < 3; ++round) {
    own1 = std::max(own1, round_trips<std::string>(sys, store, as_owner,
                                                   opt.requests, 1));
    shared1 = std::max(shared1, round_trips<std::string>(sys, store, as_reader,
                                                         opt.requests, 1));
    ownk = std::max(ownk, round_trips<std::string>(sys, store, as_owner,
                                                   opt.requests, opt.inflight));
    sharedk = std::max(sharedk,
                       round_trips<std::string>(sys, store, as_reader,
                                                opt.requests, opt.inflight));
  }
  // Session validation: in memory only (hash of the token, one map lookup).
  actors::session_table sessions{actors::auth_options{}};
  auto token = actors::session_table::new_token();
  sessions.add(actors::session_table::hash_token(token),
               {"reader@bench.example", "user:reader@bench.example", 0, 0});
  std::int64_t now_ms = 1;
  auto t0 = clock_type::now();
  int valid = 0;
  for (int i = 0; i < opt.requests; ++i)
    valid += sessions.validate(token, now_ms).has_value() ? 1 : 0;
  double validations = opt.requests / seconds_since(t0);
  n->stop();
  if (valid != opt.requests)
    die("session validation failed");
  std::printf("\n[auth] hot item by id: the owner (no share check) vs a "
              "reader whose access comes from a group share; %d round trips "
              "per run, best of 3\n",
              opt.requests);
  std::printf("  %-34s %12s %12s %8s\n", "work", "owner/s", "shared/s",
              "ratio");
  std::printf("  %-34s %12.0f %12.0f %8.2f\n", "get, sequential", own1,
              shared1, shared1 / own1);
  char label[64];
  std::snprintf(label, sizeof(label), "get, %d in flight", opt.inflight);
  std::printf("  %-34s %12.0f %12.0f %8.2f\n", label, ownk, sharedk,
              sharedk / ownk);
  std::printf("  target: the share check costs <= 10%% (ratio >= 0.90, "
              "sequential): %s\n",
              verdict(shared1 >= 0.9 * own1));
  std::printf("  session validation (memory only): %.0f/s on one thread\n",
              validations);
}

// -- 2. group commit ----------------------------------------------------------

/// Writes per second of raw sqlite3, one transaction per row, WAL,
/// synchronous=FULL, on a fresh file at `path`.
double raw_single_row_transactions(const std::filesystem::path& path, int n) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK)
    die("open raw");
  auto exec = [&](const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      die(std::string{"raw: "} + sqlite3_errmsg(db));
  };
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
       "CREATE TABLE note(id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
       " n INTEGER NOT NULL) STRICT;");
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO note(title, n) VALUES (?, ?)", -1, &ins,
                     nullptr);
  std::string title = "a written note";
  auto start = clock_type::now();
  for (int i = 0; i < n; ++i) {
    exec("BEGIN IMMEDIATE");
    sqlite3_bind_text(ins, 1, title.data(), static_cast<int>(title.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, i);
    if (sqlite3_step(ins) != SQLITE_DONE)
      die("raw insert");
    sqlite3_reset(ins);
    exec("COMMIT");
  }
  double s = seconds_since(start);
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return n / s;
}

/// Round trips per second of `writers` clients sending `msg` to `target`
/// `writes` times each, one request in flight per client, from the first
/// client's start to the last client's end.
double concurrent_round_trips(caf::actor_system& sys, const caf::actor& target,
                              const caf::message& msg, int writers,
                              int writes) {
  std::vector<std::shared_ptr<loop_state>> clients;
  for (int w = 0; w < writers; ++w)
    clients.push_back(start_client<std::string>(sys, target, msg, writes, 1));
  auto first = clock_type::time_point::max();
  auto last = clock_type::time_point::min();
  for (auto& c : clients) {
    c->done.get_future().wait();
    if (!c->error.empty())
      die("request failed: " + c->error);
    first = std::min(first, c->start);
    last = std::max(last, c->end);
  }
  return static_cast<double>(writers) * writes / seconds_between(first, last);
}

void bench_write(const options& opt, const std::filesystem::path& dir) {
  auto n = start_node(dir);
  auto& sys = n->system();
  auto put = caf::make_message(actors::put_atom::value, bench_caller(),
                               std::string{note_type},
                               std::string{R"({"title":"a written note","n":7})"});
  create_with_note(*n, "single@bench.example");
  create_with_note(*n, "group@bench.example");
  auto single = store_handle(*n, "single@bench.example");
  auto group = store_handle(*n, "group@bench.example");

  double raw_a = raw_single_row_transactions(dir / "raw-a.sqlite",
                                             opt.baseline_writes);
  double one_writer = round_trips<std::string>(sys, single, put,
                                               opt.baseline_writes, 1);

  auto before = nlohmann::json::parse(node_stats(*n));
  double grouped
    = concurrent_round_trips(sys, group, put, opt.writers, opt.writes);
  auto after = nlohmann::json::parse(node_stats(*n));

  // The same writers against an actor that answers at once with an item
  // of the same size: the rate of the message pattern alone.
  auto trivial = sys.spawn(
    fixed_put_reply,
    std::string{
      R"({"id":1,"n":7,"title":"a written note","type":"bench.note"})"});
  double no_store
    = concurrent_round_trips(sys, trivial, put, opt.writers, opt.writes);
  caf::anon_send_exit(trivial, caf::exit_reason::user_shutdown);

  double raw_b = raw_single_row_transactions(dir / "raw-b.sqlite",
                                             opt.baseline_writes);
  n->stop();
  double raw = std::max(raw_a, raw_b);  // the stronger baseline
  auto commits = after["commits"].get<long>() - before["commits"].get<long>();
  auto written = after["committed_writes"].get<long>()
                 - before["committed_writes"].get<long>();

  std::printf("\n[write] %d writers x %d durable puts to one store, WAL, "
              "synchronous=FULL\n",
              opt.writers, opt.writes);
  std::printf("  baseline: raw sqlite3, one BEGIN IMMEDIATE/INSERT/COMMIT per "
              "row in a loop, %d rows, best of a run before and after\n",
              opt.baseline_writes);
  std::printf("  %-40s %12s\n", "work", "writes/s");
  std::printf("  %-40s %12.0f  (%.0f, %.0f)\n", "raw sqlite3, one transaction per row",
              raw, raw_a, raw_b);
  std::printf("  %-40s %12.0f\n", "store actor, one writer at a time", one_writer);
  char label[64];
  std::snprintf(label, sizeof(label), "store actor, %d writers (group commit)",
                opt.writers);
  std::printf("  %-40s %12.0f\n", label, grouped);
  std::snprintf(label, sizeof(label), "trivial actor, %d writers (no store)",
                opt.writers);
  std::printf("  %-40s %12.0f  (%.1fx raw)\n", label, no_store, no_store / raw);
  std::printf("  batches: %ld commits for %ld writes, mean %.1f, max_batch %ld "
              "(node stats after: %s)\n",
              commits, written,
              commits > 0 ? static_cast<double>(written) / commits : 0.0,
              after["max_batch"].get<long>(), after.dump().c_str());
  std::printf("  ratio vs raw: %.1fx, vs one writer: %.1fx\n", grouped / raw,
              grouped / one_writer);
  std::printf("  target >= 20x raw: %s\n", verdict(grouped >= 20 * raw));
}

// -- 3. many stores -------------------------------------------------------------

std::string user_address(int i) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "u%06d@bench.example", i);
  return buf;
}

std::filesystem::path user_path(const std::filesystem::path& dir, int i) {
  auto addr = actors::parse_address(user_address(i));
  if (!addr)
    die(addr.error_value().message);
  return actors::store_path(dir, *addr);
}

/// Creates stores 0..n-1 below `dir` that do not exist yet, each with one
/// note, on `threads` threads with a progress line. Returns the note's id
/// (the same in every store).
std::int64_t create_stores(const std::filesystem::path& dir, int n,
                           int threads) {
  std::filesystem::create_directories(user_path(dir, 0).parent_path());
  store::type_registry reg;
  declare_note(reg);
  std::atomic<int> next{0}, done{0}, created{0}, running{threads};
  std::atomic<std::int64_t> note_id{0};
  std::mutex err_mutex;
  std::string err;
  auto work = [&] {
    store::store_options so;
    // Setup only: durability of the fixture does not matter.
    so.synchronous = store::sqlite::synchronous_mode::off;
    for (int i = next++; i < n; i = next++) {
      auto path = user_path(dir, i);
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) {
        ++done;
        continue;
      }
      auto s = store::store::open(path.string() + ".tmp", reg, so);
      if (!s) {
        std::lock_guard lock{err_mutex};
        err = s.error_value().message;
        next = n;
        break;
      }
      store::item it;
      it.type = note_type;
      it.values = {std::string{"note of store " + std::to_string(i)},
                   std::int64_t{i}};
      auto id = (*s)->insert(it);
      if (!id) {
        std::lock_guard lock{err_mutex};
        err = id.error_value().message;
        next = n;
        break;
      }
      s->reset();
      // Renamed when complete, so that an interrupted run leaves no
      // half-made store behind under the final name.
      std::filesystem::rename(path.string() + ".tmp", path, ec);
      std::int64_t expect = 0;
      note_id.compare_exchange_strong(expect, *id);
      ++created;
      ++done;
    }
    --running;
  };
  auto start = clock_type::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(work);
  for (;;) {
    int d = done.load();
    double s = seconds_since(start);
    double rate = s > 0 ? created.load() / s : 0;
    std::fprintf(stderr, "\r  creating stores: %d/%d (%d new, %.0f/s, %.0f s)   ",
                 d, n, created.load(), rate, s);
    if (running.load() == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (auto& t : pool)
    t.join();
  std::fprintf(stderr, "\r  creating stores: %d/%d (%d new) in %.0f s            \n",
               done.load(), n, created.load(), seconds_since(start));
  if (!err.empty())
    die("create: " + err);
  if (created.load() == 0) {
    // All reused: read the id back from store 0.
    auto s = store::store::open(user_path(dir, 0), reg);
    if (!s)
      die(s.error_value().message);
    store::query q;
    q.type = note_type;
    auto items = (*s)->select(q);
    if (!items || items->empty())
      die("store 0 has no note");
    return (*items)[0].id;
  }
  return note_id.load();
}

/// Latencies in ms of a bare sqlite3 open + prepared SELECT by id + close
/// of `samples` existing store files spread over 0..n-1.
std::vector<double> raw_open_select_close(const std::filesystem::path& dir,
                                          int n, int samples,
                                          std::int64_t id) {
  auto sql = "SELECT \"title\", \"n\" FROM \""
             + store::table_name(note_type, 1) + "\" WHERE \"id\" = ?";
  std::vector<double> lat;
  samples = std::min(samples, n);
  int step = std::max(1, n / samples);
  for (int i = 0; i < n && static_cast<int>(lat.size()) < samples; i += step) {
    auto path = user_path(dir, i);
    auto t0 = clock_type::now();
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr)
        != SQLITE_OK)
      die("raw open " + path.string());
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      die(std::string{"raw prepare: "} + sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW)
      die("raw select found nothing in " + path.string());
    std::string title{reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                      static_cast<std::size_t>(sqlite3_column_bytes(st, 0))};
    auto v = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    lat.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0)
                    .count());
    if (v != i || title.empty())
      die("raw select read the wrong note");
  }
  return lat;
}

void bench_touch(const options& opt, const std::filesystem::path& dir) {
  int threads = opt.threads > 0
                  ? opt.threads
                  : static_cast<int>(2 * std::max(1u, std::thread::hardware_concurrency()));
  std::printf("\n[touch] %d user stores, one read each through node::get, "
              "default cap\n", opt.stores);
  std::fflush(stdout);
  auto id = create_stores(dir, opt.stores, threads);
  long hwm_setup = proc_status_kib("VmHWM");

  auto raw = raw_open_select_close(dir, opt.stores, 2'000, id);

  bool peak_reset = reset_peak_rss();
  int fds_before = open_fds();
  auto n = start_node(dir);
  std::size_t cap = n->options().max_open_stores;
  long fd_bound = static_cast<long>(3 * cap + 64);
  int fds_max = open_fds();

  std::vector<double> lat(static_cast<std::size_t>(opt.stores), 0.0);
  std::counting_semaphore<4096> slots{std::clamp(opt.concurrency, 1, 4096)};
  std::atomic<int> failures{0};
  std::mutex err_mutex;
  std::string first_error;
  auto who = bench_caller();
  auto start = clock_type::now();
  auto progress_at = start;
  for (int i = 0; i < opt.stores; ++i) {
    slots.acquire();
    if (i % 1000 == 0) {
      fds_max = std::max(fds_max, open_fds());
      if (seconds_since(progress_at) >= 1.0) {
        progress_at = clock_type::now();
        std::fprintf(stderr, "\r  reading: %d/%d (%.0f/s), fds now %d   ", i,
                     opt.stores, i / seconds_since(start), open_fds());
      }
    }
    auto t0 = clock_type::now();
    n->get(who, user_address(i), note_type, id,
           [&, i, t0](actors::reply r) {
             lat[static_cast<std::size_t>(i)]
               = std::chrono::duration<double, std::milli>(clock_type::now() - t0)
                   .count();
             if (!r.ok) {
               if (failures++ == 0) {
                 std::lock_guard lock{err_mutex};
                 first_error = r.message;
               }
             }
             slots.release();
           });
  }
  for (int k = 0; k < std::clamp(opt.concurrency, 1, 4096); ++k)
    slots.acquire();
  double elapsed = seconds_since(start);
  fds_max = std::max(fds_max, open_fds());
  std::fprintf(stderr, "\r  reading: %d/%d done in %.1f s                    \n",
               opt.stores, opt.stores, elapsed);
  long hwm = proc_status_kib("VmHWM");
  auto stats = node_stats(*n);
  n->stop();
  if (failures > 0)
    die(std::to_string(failures.load()) + " reads failed, first: " + first_error);

  double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99);
  double raw50 = percentile(raw, 0.50), raw99 = percentile(raw, 0.99);
  double hwm_mib = static_cast<double>(hwm) / 1024.0;
  std::printf("  %d requests in flight; node stats: %s\n", opt.concurrency,
              stats.c_str());
  std::printf("  baseline: bare sqlite3 open + prepared SELECT by id + close "
              "of %zu existing store files\n", raw.size());
  std::printf("  %-40s %10s %10s\n", "work", "p50 ms", "p99 ms");
  std::printf("  %-40s %10.3f %10.3f\n", "raw open + SELECT + close", raw50, raw99);
  std::printf("  %-40s %10.3f %10.3f\n", "node::get, cold activation + read",
              p50, p99);
  std::printf("  ratio p50 node/raw: %.2f; throughput %.0f reads/s\n",
              p50 / raw50, opt.stores / elapsed);
  std::printf("  peak RSS (VmHWM) of the node phase: %.1f MiB%s; setup phase "
              "%.1f MiB\n",
              hwm_mib, peak_reset ? "" : " (peak not reset: whole process)",
              static_cast<double>(hwm_setup) / 1024.0);
  std::printf("  open fds: %d before the node, at most %d sampled "
              "(every 1,000 stores), bound 3 x %zu + 64 = %ld\n",
              fds_before, fds_max, cap, fd_bound);
  std::printf("  targets: RSS <= 1 GiB: %s; fds <= %ld: %s; p50 <= 1 ms: %s\n",
              verdict(hwm_mib <= 1024.0), fd_bound, verdict(fds_max <= fd_bound),
              verdict(p50 <= 1.0));
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  int i = 1;
  if (i < argc && argv[i][0] != '-')
    opt.which = argv[i++];
  for (; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--dir")
      opt.parent = v;
    else if (a == "--data")
      opt.data = v;
    else if (a == "--requests")
      opt.requests = std::atoi(v);
    else if (a == "--inflight")
      opt.inflight = std::atoi(v);
    else if (a == "--writers")
      opt.writers = std::atoi(v);
    else if (a == "--writes")
      opt.writes = std::atoi(v);
    else if (a == "--baseline-writes")
      opt.baseline_writes = std::atoi(v);
    else if (a == "--stores")
      opt.stores = std::atoi(v);
    else if (a == "--threads")
      opt.threads = std::atoi(v);
    else if (a == "--concurrency")
      opt.concurrency = std::atoi(v);
    else
      die("unknown option " + a);
  }
  if (i < argc)
    die(std::string{"missing value after "} + argv[i]);
  bool all = opt.which == "all";
  if (!all && opt.which != "read" && opt.which != "auth"
      && opt.which != "write" && opt.which != "touch")
    die("usage: node_bench [read|auth|write|touch|all] [options] (see the "
        "source)");
  if (opt.requests < 1 || opt.inflight < 1 || opt.writers < 1 || opt.writes < 1
      || opt.baseline_writes < 1 || opt.stores < 1 || opt.concurrency < 1)
    die("counts must be positive");

  bool keep = !opt.data.empty();
  auto base = keep ? opt.data
                   : opt.parent
                       / ("mantissa-node-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(base);
  std::string load;
  std::getline(std::ifstream{"/proc/loadavg"}, load);
  std::printf("node_bench: %u cores, load average %s, data under %s\n",
              std::thread::hardware_concurrency(), load.c_str(), base.c_str());
  if (all || opt.which == "read")
    bench_read(opt, base / "read");
  if (all || opt.which == "auth")
    bench_auth(opt, base / "auth");
  if (all || opt.which == "write")
    bench_write(opt, base / "write");
  if (all || opt.which == "touch")
    bench_touch(opt, base / "touch");
  if (keep) {
    // Keep the touch stores for the next run, drop the rest.
    std::filesystem::remove_all(base / "read");
    std::filesystem::remove_all(base / "auth");
    std::filesystem::remove_all(base / "write");
  } else {
    std::filesystem::remove_all(base);
  }
  return 0;
}
