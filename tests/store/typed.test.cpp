#include <catch2/catch.hpp>

#include "store/typed.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;

namespace {

struct task {
  item_id id = 0;
  std::string title;
  std::int64_t priority = 3;
  bool done = false;
  std::optional<timestamp> due;
  blob attachment;
  nlohmann::json tags = nlohmann::json::array();
};

const item_type<task>& task_type() {
  static const auto t = item_type<task>{"todo.task", 1}
                          .attribute("title", &task::title, {.indexed = true})
                          .attribute("priority", &task::priority)
                          .attribute("done", &task::done)
                          .attribute("due", &task::due)
                          .attribute("attachment", &task::attachment)
                          .attribute("tags", &task::tags);
  return t;
}

} // namespace

TEST_CASE("a struct declaration yields a type declaration with defaults",
          "[store][typed]") {
  auto& d = task_type().decl();
  REQUIRE(validate(d));
  REQUIRE(d.attributes.size() == 6);
  CHECK(d.attributes[0].type == attribute_type::text);
  CHECK(d.attributes[0].indexed);
  CHECK_FALSE(d.attributes[0].nullable);
  CHECK(std::get<std::int64_t>(d.attributes[1].default_value) == 3);
  CHECK(d.attributes[3].type == attribute_type::timestamp);
  CHECK(d.attributes[3].nullable);
}

TEST_CASE("the same item is read as a struct, as an item and as JSON",
          "[store][typed]") {
  mantissa::test::temp_dir dir;
  type_registry reg;
  REQUIRE(reg.add(task_type().decl()));
  auto s = store::open(dir / "t.sqlite", reg);
  REQUIRE(s);
  task t;
  t.title = "write docs";
  t.due = timestamp{1'700'000'000'000'000};
  t.attachment = blob{std::string{"\0\1", 2}};
  t.tags = {"docs", "m2"};
  REQUIRE(task_type().insert(**s, t));
  CHECK(t.id > 0);

  auto back = task_type().get(**s, t.id);
  REQUIRE(back);
  CHECK(back->title == "write docs");
  CHECK(back->priority == 3);
  CHECK(back->due == t.due);
  CHECK(back->attachment == t.attachment);
  CHECK(back->tags == t.tags);

  auto j = to_json(task_type().decl(), *(*s)->get("todo.task", t.id));
  CHECK(j["title"] == "write docs");
  CHECK(j["attachment"] == "AAE=");
  auto from_json = task_type().from_json(j);
  REQUIRE(from_json);
  CHECK(from_json->id == t.id);
  CHECK(from_json->title == t.title);

  back->done = true;
  back->due.reset();
  REQUIRE(task_type().update(**s, *back));
  query q;
  q.where = cmp("done", compare_op::eq, true);
  auto done = task_type().select(**s, q);
  REQUIRE(done);
  REQUIRE(done->size() == 1);
  CHECK_FALSE(done->front().due.has_value());
}

TEST_CASE("JSON missing an attribute takes the struct's default",
          "[store][typed]") {
  auto t = task_type().from_json({{"title", "x"}});
  REQUIRE(t);
  CHECK(t->priority == 3);
  CHECK_FALSE(t->done);
  auto bad = task_type().from_json({{"title", 5}});
  REQUIRE_FALSE(bad);
  CHECK(bad.code() == errc::invalid_value);
}
