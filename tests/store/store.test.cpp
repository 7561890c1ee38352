#include <catch2/catch.hpp>

#include <fstream>

#include "store/store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::temp_dir;

namespace {

attribute_decl attr(std::string name, attribute_type t, bool indexed = false) {
  attribute_decl a;
  a.name = std::move(name);
  a.type = t;
  a.indexed = indexed;
  return a;
}

[[maybe_unused]] attribute_decl ref(std::string name, std::string target,
                                    delete_policy p) {
  auto a = attr(std::move(name), attribute_type::reference);
  a.target_type = std::move(target);
  a.on_delete = p;
  return a;
}

type_decl note_decl() {
  return {"notes.note", 1,
          {attr("title", attribute_type::text, true),
           attr("body", attribute_type::text),
           attr("rank", attribute_type::integer)}};
}

struct fixture {
  temp_dir dir;
  type_registry reg;

  fixture() {
    REQUIRE(reg.add(note_decl()));
  }

  std::unique_ptr<store> open(const std::string& name = "s.sqlite") {
    auto s = store::open(dir / name, reg);
    REQUIRE(s);
    return std::move(*s);
  }
};

item note(std::string title, std::int64_t rank, std::string body = "") {
  return {0, "notes.note", {std::move(title), std::move(body), rank}};
}

} // namespace

TEST_CASE_METHOD(fixture, "insert assigns ids that are never reused",
                 "[store]") {
  auto s = open();
  auto a = note("a", 1);
  auto b = note("b", 2);
  REQUIRE(s->insert(a));
  REQUIRE(s->insert(b));
  CHECK(a.id > 0);
  CHECK(b.id > a.id);
  REQUIRE(s->remove("notes.note", b.id));
  s.reset();
  s = open();
  auto c = note("c", 3);
  REQUIRE(s->insert(c));
  CHECK(c.id > b.id);
}

TEST_CASE_METHOD(fixture, "items survive closing and reopening", "[store]") {
  item a = note("persisted", 7, "body text");
  {
    auto s = open();
    REQUIRE(s->insert(a));
  }
  auto s = open();
  auto back = s->get("notes.note", a.id);
  REQUIRE(back);
  CHECK(*back == a);
}

TEST_CASE_METHOD(fixture, "get, update and remove report missing items",
                 "[store]") {
  auto s = open();
  CHECK(s->get("notes.note", 99).code() == errc::no_such_item);
  CHECK(s->get("no.type", 1).code() == errc::no_such_type);
  auto ghost = note("x", 1);
  ghost.id = 99;
  CHECK(s->update(ghost).code() == errc::no_such_item);
  CHECK(s->remove("notes.note", 99).code() == errc::no_such_item);
}

TEST_CASE_METHOD(fixture, "a rolled back transaction leaves no trace",
                 "[store][transaction]") {
  auto s = open();
  auto keep = note("keep", 1);
  REQUIRE(s->insert(keep));
  auto r = s->transact([&]() -> result<int> {
    auto a = note("gone", 2);
    MANTISSA_TRY(s->insert(a));
    keep.values[0] = std::string{"changed"};
    MANTISSA_TRY(s->update(keep));
    return error{errc::internal, "abort on purpose"};
  });
  CHECK_FALSE(r);
  CHECK(*s->count("notes.note") == 1);
  CHECK(std::get<std::string>(s->get("notes.note", keep.id)->values[0])
        == "keep");
}

TEST_CASE_METHOD(fixture, "nested transactions join the outer one",
                 "[store][transaction]") {
  auto s = open();
  auto outer = s->transact([&]() -> result<void> {
    auto a = note("outer", 1);
    MANTISSA_TRY(s->insert(a));
    auto inner = s->transact([&]() -> result<void> {
      auto b = note("inner", 2);
      MANTISSA_TRY(s->insert(b));
      return error{errc::internal, "inner fails"};
    });
    CHECK_FALSE(inner);
    return {};  // the outer ignores the failure...
  });
  // ...but a failed nested transaction dooms the whole one.
  CHECK_FALSE(outer);
  CHECK(*s->count("notes.note") == 0);
  CHECK_FALSE(s->in_transaction());
}

TEST_CASE_METHOD(fixture, "an exception inside transact rolls back",
                 "[store][transaction]") {
  auto s = open();
  CHECK_THROWS(s->transact([&]() -> result<void> {
    auto a = note("x", 1);
    MANTISSA_TRY(s->insert(a));
    throw std::runtime_error("boom");
  }));
  CHECK(*s->count("notes.note") == 0);
  CHECK_FALSE(s->in_transaction());
}

TEST_CASE_METHOD(fixture, "queries filter, sort and page", "[store][query]") {
  auto s = open();
  REQUIRE(s->transact([&]() -> result<void> {
    for (int i = 0; i < 50; ++i) {
      auto n = note("n" + std::to_string(i % 10), i);
      MANTISSA_TRY(s->insert(n));
    }
    return {};
  }));
  query q;
  q.type = "notes.note";
  q.where = cmp("title", compare_op::eq, std::string{"n3"});
  auto r = s->select(q);
  REQUIRE(r);
  REQUIRE(r->size() == 5);
  for (auto& it : *r)
    CHECK(std::get<std::int64_t>(it.values[2]) % 10 == 3);

  q.where = cmp("rank", compare_op::ge, std::int64_t{40});
  q.sort = {{"rank", true}};
  q.limit = 3;
  q.offset = 2;
  r = s->select(q);
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  CHECK(std::get<std::int64_t>((*r)[0].values[2]) == 47);
  CHECK(std::get<std::int64_t>((*r)[2].values[2]) == 45);

  CHECK(*s->count("notes.note", cmp("rank", compare_op::lt, std::int64_t{10}))
        == 10);
  CHECK(std::get<std::int64_t>(
          *s->aggregate("notes.note", aggregate_fn::sum, "rank"))
        == 49 * 50 / 2);
  CHECK(std::get<std::int64_t>(
          *s->aggregate("notes.note", aggregate_fn::max, "rank"))
        == 49);
  CHECK(std::get<double>(*s->aggregate("notes.note", aggregate_fn::avg, "rank"))
        == Approx(24.5));
  auto d = s->distinct("notes.note", "title");
  REQUIRE(d);
  CHECK(d->size() == 10);
  CHECK(std::get<std::string>(d->front()) == "n0");

  query bad;
  bad.type = "notes.note";
  bad.where = cmp("nope", compare_op::eq, std::int64_t{1});
  auto e = s->select(bad);
  REQUIRE_FALSE(e);
  CHECK(e.code() == errc::no_such_attribute);
  CHECK(e.error_value().message.find("nope") != std::string::npos);
}

TEST_CASE_METHOD(fixture, "a file that is not SQLite is refused cleanly",
                 "[store][bad-input]") {
  auto path = dir / "junk.sqlite";
  {
    std::ofstream out{path};
    out << std::string(8192, 'x');
  }
  auto s = store::open(path, reg);
  REQUIRE_FALSE(s);
  CHECK(s.code() == errc::not_a_database);
  std::ifstream in{path};
  std::string content((std::istreambuf_iterator<char>(in)), {});
  CHECK(content == std::string(8192, 'x'));  // not damaged
}

TEST_CASE_METHOD(fixture, "backup_to writes a store that opens on its own",
                 "[store][backup]") {
  auto s = open();
  auto a = note("backed up", 5);
  REQUIRE(s->insert(a));
  REQUIRE(s->backup_to(dir / "copy.sqlite"));
  auto copy = open("copy.sqlite");
  auto back = copy->get("notes.note", a.id);
  REQUIRE(back);
  CHECK(*back == a);
  CHECK(*copy->integrity_check() == "ok");
}
