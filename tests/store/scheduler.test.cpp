// Timed events of a store (store/scheduler.hpp) on real SQLite files.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <string>
#include <vector>

#include "store/scheduler.hpp"
#include "store/store.hpp"
#include "tests/support/result.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::ok;
using mantissa::test::temp_dir;

namespace {

constexpr const char* task_type = "sched.task";

struct fixture {
  temp_dir dir;
  std::filesystem::path file = dir / "s.sqlite";
  type_registry reg;
  std::unique_ptr<store> s;

  fixture() {
    type_decl task;
    task.name = task_type;
    attribute_decl name;
    name.name = "name";
    name.type = attribute_type::text;
    task.attributes = {name};
    REQUIRE(reg.add(task));
    reopen();
  }

  void reopen(store_options opts = {}) {
    s.reset();
    auto r = store::open(file, reg, opts);
    REQUIRE(r);
    s = std::move(*r);
  }

  item_ref task(const std::string& name) {
    item it{0, task_type, {name}};
    REQUIRE(s->insert(it));
    return {task_type, it.id};
  }
};

timestamp at(std::int64_t micros) {
  return timestamp{micros};
}

} // namespace

TEST_CASE_METHOD(fixture, "events are kept in due order and survive reopening",
                 "[store][scheduler]") {
  auto a = task("a");
  auto b = task("b");
  CHECK(!ok(next_due(*s)).has_value());
  auto e1 = ok(schedule(*s, a, at(3000)));
  auto e2 = ok(schedule(*s, b, at(1000)));
  auto e3 = ok(schedule(*s, a, at(2000)));
  auto e4 = ok(schedule(*s, b, at(2000))); // same time: scheduling order
  CHECK(e1.item == a);
  CHECK(e2.due == at(1000));
  reopen();
  auto all = ok(scheduled_events(*s));
  REQUIRE(all.size() == 4);
  CHECK(all[0] == e2);
  CHECK(all[1] == e3);
  CHECK(all[2] == e4);
  CHECK(all[3] == e1);
  CHECK(ok(scheduled_events(*s, 2)).size() == 2);
  CHECK(ok(scheduled_times(*s, a))
        == std::vector<timestamp>{at(2000), at(3000)});
  CHECK(ok(next_due(*s)) == at(1000));
  CHECK(!ok(first_due(*s, at(999))).has_value());
  CHECK(ok(first_due(*s, at(1000))) == e2);
  CHECK(ok(first_due(*s, at(5000))) == e2);
}

TEST_CASE_METHOD(fixture, "unschedule, reschedule, move and remove events",
                 "[store][scheduler]") {
  auto a = task("a");
  auto b = task("b");
  (void)ok(schedule(*s, a, at(10)));
  (void)ok(schedule(*s, a, at(20)));
  auto eb = ok(schedule(*s, b, at(30)));
  CHECK(ok(unschedule(*s, a)) == 2);
  CHECK(ok(unschedule(*s, a)) == 0);
  CHECK(ok(scheduled_times(*s, a)).empty());
  (void)ok(schedule(*s, a, at(10)));
  (void)ok(schedule(*s, a, at(20)));
  auto moved = ok(reschedule(*s, a, at(50)));
  CHECK(ok(scheduled_times(*s, a)) == std::vector<timestamp>{at(50)});
  REQUIRE(move_event(*s, eb.id, at(60)));
  CHECK(ok(scheduled_times(*s, b)) == std::vector<timestamp>{at(60)});
  REQUIRE(remove_event(*s, moved.id));
  REQUIRE(remove_event(*s, moved.id)); // gone already: no error
  CHECK(ok(next_due(*s)) == at(60));
}

TEST_CASE_METHOD(fixture, "only existing items can be scheduled",
                 "[store][scheduler]") {
  auto r = schedule(*s, item_ref{task_type, 12345}, at(1));
  REQUIRE(!r);
  CHECK(r.code() == errc::no_such_item);
  auto t = schedule(*s, item_ref{"sched.nothing", 1}, at(1));
  REQUIRE(!t);
  CHECK(ok(scheduled_events(*s)).empty());
}

TEST_CASE_METHOD(fixture, "deleting an item removes its events",
                 "[store][scheduler]") {
  auto a = task("a");
  auto b = task("b");
  (void)ok(schedule(*s, a, at(10)));
  (void)ok(schedule(*s, b, at(20)));
  REQUIRE(s->remove(task_type, a.id));
  auto all = ok(scheduled_events(*s));
  REQUIRE(all.size() == 1);
  CHECK(all[0].item == b);
}

TEST_CASE_METHOD(fixture, "a rolled-back transaction schedules nothing",
                 "[store][scheduler]") {
  auto a = task("a");
  auto r = s->transact([&]() -> result<int> {
    MANTISSA_TRY(schedule(*s, a, at(10)));
    return error{errc::invalid_value, "changed my mind"};
  });
  REQUIRE(!r);
  CHECK(ok(scheduled_events(*s)).empty());
}

TEST_CASE_METHOD(fixture, "the failure log keeps the newest records",
                 "[store][scheduler]") {
  auto a = task("a");
  auto e = ok(schedule(*s, a, at(10)));
  std::string huge(10'000, 'x');
  REQUIRE(record_failure(*s, e, at(11), huge));
  for (std::size_t i = 0; i < max_schedule_failures + 5; ++i)
    REQUIRE(record_failure(*s, e, at(100 + static_cast<std::int64_t>(i)),
                           "failure " + std::to_string(i)));
  auto log = ok(schedule_failures(*s, 5000));
  REQUIRE(log.size() == max_schedule_failures);
  CHECK(log.front().message
        == "failure " + std::to_string(max_schedule_failures + 4));
  CHECK(log.front().item == a);
  CHECK(log.front().due == at(10));
  CHECK(log.back().message == "failure 5");
  reopen();
  CHECK(ok(schedule_failures(*s, 1)).size() == 1);
  // A long message is cut.
  fixture other;
  auto t = other.task("t");
  auto oe = ok(schedule(*other.s, t, at(1)));
  REQUIRE(record_failure(*other.s, oe, at(2), huge));
  CHECK(ok(schedule_failures(*other.s)).front().message.size() == 4096);
}

TEST_CASE_METHOD(fixture,
                 "a file from before the schedule tables gets them when opened "
                 "read-write, and reads as empty read-only",
                 "[store][scheduler]") {
  auto a = task("a");
  s.reset();
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr)
            == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "DROP TABLE mantissa_schedule; DROP TABLE "
                         "mantissa_schedule_failures; DELETE FROM "
                         "mantissa_meta WHERE key = 'catalogue';",
                         nullptr, nullptr, nullptr)
            == SQLITE_OK);
    sqlite3_close(db);
  }
  store_options ro;
  ro.read_only = true;
  reopen(ro);
  CHECK(!s->has_schedule_tables());
  CHECK(ok(scheduled_events(*s)).empty());
  CHECK(!ok(next_due(*s)).has_value());
  CHECK(!schedule(*s, a, at(1)));
  reopen();
  CHECK(s->has_schedule_tables());
  (void)ok(schedule(*s, a, at(1)));
  CHECK(ok(scheduled_events(*s)).size() == 1);
}
