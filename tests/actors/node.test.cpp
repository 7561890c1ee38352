// The node in-process: store actors reached through the node's bridge,
// activation and passivation, the cap on open stores, group commit, and
// isolation of slow stores. Real SQLite files in a temporary directory.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <dirent.h>
#include <memory>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/node.hpp"
#include "store/typed.hpp"
#include "tests/support/node.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using actors::reply;
using nlohmann::json;

namespace {

using test::note_decl;

const actors::caller sys{actors::system_role, "test"};

/// Collects replies from many concurrent requests.
class latch {
 public:
  explicit latch(int n) : left_(n) {}
  void count_down() {
    std::lock_guard<std::mutex> g{mx_};
    if (--left_ == 0)
      cv_.notify_all();
  }
  bool wait(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> g{mx_};
    return cv_.wait_for(g, limit, [this] { return left_ == 0; });
  }

 private:
  std::mutex mx_;
  std::condition_variable cv_;
  int left_;
};

int open_fds() {
  int n = 0;
  if (auto* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr)
      ++n;
    ::closedir(d);
  }
  return n;
}

/// A handler that says when it has started and then holds its store's
/// actor until the test opens the gate (at most 60 s, so a failing test
/// does not hang).
class gate {
 public:
  void enter() {
    std::unique_lock<std::mutex> g{mx_};
    started_ = true;
    cv_.notify_all();
    cv_.wait_for(g, 60s, [this] { return open_; });
  }
  bool wait_started(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> g{mx_};
    return cv_.wait_for(g, limit, [this] { return started_; });
  }
  void open() {
    std::lock_guard<std::mutex> g{mx_};
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mx_;
  std::condition_variable cv_;
  bool started_ = false;
  bool open_ = false;
};

struct node_fixture : test::node_fixture {
  gate held;  // outlives the node, whose handler may be inside it

  ~node_fixture() {  // never leave a store actor blocked
    held.open();
    n.reset();
  }

  void start(actors::node_options opts = {}) {
    start_node(std::move(opts), [this](actors::node& node) {
      REQUIRE(node.types().add(note_decl()));
      REQUIRE(node.handlers().add(
        "test.hold",
        [this](store::store&, const json&, const actors::caller&)
          -> store::result<json> {
          held.enter();
          return json{{"held", true}};
        }));
      REQUIRE(node.handlers().add(
        "test.fail_after_write",
        [](store::store& s, const json&, const actors::caller&)
          -> store::result<json> {
          store::item it{0, "notes.note", {std::string{"from handler"}, std::int64_t{1}}};
          MANTISSA_TRY(s.insert(it));
          return store::error{store::errc::invalid_value, "refused on purpose"};
        }));
    });
  }

  reply create(const std::string& address) { return create_store(address); }

  reply put(const std::string& address, const json& j) {
    return n->wait([&](actors::reply_handler done) {
      n->put(sys, address, "notes.note", j.dump(), std::move(done));
    });
  }

  reply get(const std::string& address, std::int64_t id) {
    return n->wait([&](actors::reply_handler done) {
      n->get(sys, address, "notes.note", id, std::move(done));
    });
  }

  json stats() {
    auto r = n->wait([&](actors::reply_handler done) { n->stats(std::move(done)); });
    REQUIRE(r.ok);
    return json::parse(r.body);
  }
};

} // namespace

TEST_CASE_METHOD(node_fixture, "items round-trip through a store actor",
                 "[actors][node]") {
  start();
  REQUIRE(create("alice@example.com").ok);
  auto created = put("alice@example.com", {{"title", "hello"}, {"n", 1}});
  REQUIRE(created.ok);
  auto item = json::parse(created.body);
  auto id = item["id"].get<std::int64_t>();
  CHECK(item["title"] == "hello");

  auto got = get("alice@example.com", id);
  REQUIRE(got.ok);
  CHECK(json::parse(got.body) == item);

  auto updated = n->wait([&](actors::reply_handler done) {
    n->update(sys, "alice@example.com", "notes.note", id, R"({"n":2})",
              std::move(done));
  });
  REQUIRE(updated.ok);
  CHECK(json::parse(updated.body)["n"] == 2);
  CHECK(json::parse(updated.body)["title"] == "hello");

  auto q = n->wait([&](actors::reply_handler done) {
    n->query(sys, "alice@example.com",
             R"({"type":"notes.note","where":{"attr":"n","op":">=","value":2}})",
             std::move(done));
  });
  REQUIRE(q.ok);
  CHECK(json::parse(q.body)["total"] == 1);

  auto removed = n->wait([&](actors::reply_handler done) {
    n->remove(sys, "alice@example.com", "notes.note", id, std::move(done));
  });
  REQUIRE(removed.ok);
  auto gone = get("alice@example.com", id);
  CHECK_FALSE(gone.ok);
  CHECK(gone.code == actors::error_code::no_such_item);
}

TEST_CASE_METHOD(node_fixture, "bad requests get clear errors", "[actors][node]") {
  start();
  REQUIRE(create("bob@example.com").ok);
  auto r = n->wait([&](actors::reply_handler done) {
    n->put(sys, "bob@example.com", "notes.note", "{not json", std::move(done));
  });
  CHECK(r.code == actors::error_code::invalid_query);
  CHECK(r.message.find("invalid JSON") != std::string::npos);

  r = put("bob@example.com", {{"title", 5}});
  CHECK(r.code == actors::error_code::invalid_value);
  r = n->wait([&](actors::reply_handler done) {
    n->get(sys, "bob@example.com", "no.such", 1, std::move(done));
  });
  CHECK(r.code == actors::error_code::no_such_type);
  r = get("nobody@example.com", 1);
  CHECK(r.code == actors::error_code::no_such_store);
  r = get("../../etc@example.com", 1);
  CHECK(r.code == actors::error_code::invalid_name);
  r = n->wait([&](actors::reply_handler done) {
    n->run(sys, "bob@example.com", "no.handler", "{}", std::move(done));
  });
  CHECK(r.code == actors::error_code::no_such_handler);
}

TEST_CASE_METHOD(node_fixture, "a failing handler undoes only its own writes",
                 "[actors][node]") {
  start();
  REQUIRE(create("carol@example.com").ok);
  latch done{2};
  reply first, second;
  // Both land in one group-commit batch; the handler's failure must not
  // roll back the other write.
  n->put(sys, "carol@example.com", "notes.note", R"({"title":"kept"})",
         [&](reply r) { first = r; done.count_down(); });
  n->run(sys, "carol@example.com", "test.fail_after_write", "{}",
         [&](reply r) { second = r; done.count_down(); });
  REQUIRE(done.wait(30s));
  CHECK(first.ok);
  CHECK_FALSE(second.ok);
  CHECK(second.message.find("refused on purpose") != std::string::npos);
  auto c = n->wait([&](actors::reply_handler d) {
    n->count(sys, "carol@example.com", "notes.note", "", std::move(d));
  });
  REQUIRE(c.ok);
  CHECK(json::parse(c.body)["count"] == 1);
}

TEST_CASE_METHOD(node_fixture, "stores passivate when idle and come back",
                 "[actors][node][activation]") {
  actors::node_options opts;
  opts.idle_timeout = 100ms;
  start(opts);
  REQUIRE(create("dave@example.com").ok);
  auto id = json::parse(put("dave@example.com", {{"title", "x"}}).body)["id"]
              .get<std::int64_t>();
  // Wait until every store (dave's and the site store, which the node read
  // at start) has passivated.
  for (int i = 0; i < 200 && stats()["open_stores"] != 0; ++i)
    std::this_thread::sleep_for(20ms);
  CHECK(stats()["open_stores"] == 0);
  CHECK(stats()["passivations"].get<int>() >= 1);
  auto before = stats()["activations"].get<int>();
  auto got = get("dave@example.com", id);
  REQUIRE(got.ok);
  CHECK(stats()["activations"].get<int>() == before + 1);
}

TEST_CASE_METHOD(node_fixture,
                 "requests racing passivation are never lost",
                 "[actors][node][activation]") {
  actors::node_options opts;
  opts.idle_timeout = 1ms;  // passivate all the time
  start(opts);
  REQUIRE(create("erin@example.com").ok);
  constexpr int total = 2000;
  latch done{total};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::string last_error;
  std::mutex mx;
  for (int i = 0; i < total; ++i) {
    n->put(sys, "erin@example.com", "notes.note",
           json{{"title", "t" + std::to_string(i)}, {"n", i}}.dump(),
           [&](reply r) {
             if (r.ok) {
               ++ok;
             } else {
               ++failed;
               std::lock_guard<std::mutex> g{mx};
               last_error = r.message;
             }
             done.count_down();
           });
    if (i % 100 == 0)
      std::this_thread::sleep_for(2ms);  // let the store go idle
  }
  REQUIRE(done.wait(120s));
  INFO(last_error);
  CHECK(failed == 0);
  CHECK(ok == total);
  auto c = n->wait([&](actors::reply_handler d) {
    n->count(sys, "erin@example.com", "notes.note", "", std::move(d));
  });
  REQUIRE(c.ok);
  CHECK(json::parse(c.body)["count"] == total);
  // Idle for 1 ms after its last answer, the store passivates (the pauses
  // above usually made it happen already).
  for (int i = 0; i < 1000 && stats()["passivations"].get<int>() < 1; ++i)
    std::this_thread::sleep_for(20ms);
  CHECK(stats()["passivations"].get<int>() >= 1);
}

TEST_CASE_METHOD(node_fixture,
                 "the cap on open stores holds under 5,000 distinct stores",
                 "[actors][node][activation]") {
  actors::node_options opts;
  opts.max_open_stores = 16;
  opts.synchronous = store::sqlite::synchronous_mode::off;
  start(opts);
  constexpr int stores = 5000;
  auto fds_before = open_fds();
  int max_open = 0;
  int max_fds = 0;
  for (int i = 0; i < stores; ++i) {
    auto address = "u" + std::to_string(i) + "@example.com";
    REQUIRE(create(address).ok);
    REQUIRE(put(address, {{"title", address}}).ok);
    if (i % 250 == 0) {
      max_open = std::max(max_open, stats()["open_stores"].get<int>());
      max_fds = std::max(max_fds, open_fds() - fds_before);
    }
  }
  // Every store is still reachable, through reactivation.
  for (int i = 0; i < stores; i += 97) {
    auto address = "u" + std::to_string(i) + "@example.com";
    auto q = n->wait([&](actors::reply_handler d) {
      n->count(sys, address, "notes.note", "", std::move(d));
    });
    REQUIRE(q.ok);
    CHECK(json::parse(q.body)["count"] == 1);
  }
  auto s = stats();
  CHECK(max_open <= 16);
  CHECK(s["open_stores"].get<int>() <= 16);
  CHECK(max_fds <= 3 * 16 + 64);
  CHECK(s["activations"].get<int>() >= stores);
}

TEST_CASE_METHOD(node_fixture,
                 "concurrent writers are committed in groups and all persist",
                 "[actors][node][group-commit]") {
  start();
  REQUIRE(create("frank@example.com").ok);
  constexpr int writers = 32;
  constexpr int each = 50;
  latch done{writers * each};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < each; ++i)
        n->put(sys, "frank@example.com", "notes.note",
               json{{"title", "w" + std::to_string(w)}, {"n", i}}.dump(),
               [&](reply r) {
                 if (r.ok)
                   ++ok;
                 done.count_down();
               });
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(done.wait(120s));
  CHECK(ok == writers * each);
  auto s = stats();
  CHECK(s["max_batch"].get<int>() > 1);
  CHECK(s["commits"].get<int>() < writers * each);
  // Everything acknowledged is in the file after the node stops.
  n->stop();
  store::type_registry reg;
  REQUIRE(reg.add(note_decl()));
  auto file = store::store::open(dir / "data/users/example.com/frank.sqlite",
                                 reg);
  REQUIRE(file);
  CHECK(*(*file)->count("notes.note") == writers * each);
}

TEST_CASE_METHOD(node_fixture, "a slow store does not hold up another store",
                 "[actors][node]") {
  start();
  REQUIRE(create("slow@example.com").ok);
  REQUIRE(create("fast@example.com").ok);
  struct answer {
    std::atomic<bool> done{false};
    std::atomic<bool> ok{false};
    latch arrived{1};
  };
  auto slow = std::make_shared<answer>();  // outlives a failed REQUIRE
  n->run(sys, "slow@example.com", "test.hold", "{}", [slow](reply r) {
    slow->ok = r.ok;
    slow->done = true;
    slow->arrived.count_down();
  });
  // The slow store's handler is running (and stays so until the gate
  // opens): a request to another store is answered meanwhile.
  REQUIRE(held.wait_started(30s));
  auto fast = get("fast@example.com", 1);
  CHECK(fast.code == actors::error_code::no_such_item);
  CHECK_FALSE(slow->done);
  held.open();
  REQUIRE(slow->arrived.wait(60s));
  CHECK(slow->ok);
}
