#include "store/query.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/item.hpp"

using namespace mantissa::store;
using nlohmann::json;

namespace {

value text(const char* s) { return value{std::string{s}}; }
value integer(std::int64_t i) { return value{i}; }

type_decl note_decl() {
  type_decl decl;
  decl.name = "notes.note";
  auto add = [&](const char* name, attribute_type t) {
    attribute_decl a;
    a.name = name;
    a.type = t;
    if (t == attribute_type::reference)
      a.target_type = "notes.note";
    decl.attributes.push_back(a);
  };
  add("title", attribute_type::text);
  add("n", attribute_type::integer);
  add("score", attribute_type::real);
  add("data", attribute_type::bytes);
  add("done", attribute_type::boolean);
  add("due", attribute_type::timestamp);
  add("meta", attribute_type::json);
  add("parent", attribute_type::reference);
  return decl;
}

template <class T>
errc code_of(const result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.code();
}

template <class T>
std::string message_of(const result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error_value().message;
}

compiled_query compile_ok(const condition& c, const std::vector<sort_key>& sort = {}) {
  auto r = compile(note_decl(), c, sort);
  if (!r)
    FAIL("compile failed: " << r.error_value().message);
  return *r;
}

condition parse_ok(const json& j) {
  auto r = condition_from_json(j);
  if (!r)
    FAIL("parse of " << j.dump() << " failed: " << r.error_value().message);
  return *r;
}

json nested_not(int depth) {
  json j = {{"attr", "n"}, {"op", "="}, {"value", 1}};
  for (int i = 1; i < depth; ++i)
    j = json{{"not", j}};
  return j;
}

/// A table shaped like the store's table for `note_decl()`, filled with rows
/// that exercise nulls, case and LIKE wildcards.
class note_db {
 public:
  note_db() {
    REQUIRE(sqlite3_open(":memory:", &db_) == SQLITE_OK);
    exec("CREATE TABLE t (id INTEGER PRIMARY KEY, title TEXT, n INTEGER,"
         " score REAL, data BLOB, done INTEGER, due INTEGER, meta TEXT,"
         " parent INTEGER)");
    insert(1, text("Apple pie"), integer(1), value{1.5}, value{blob{std::string("\0\1", 2)}},
           value{true}, value{timestamp{1000}}, value{json{{"a", 1}}}, value{reference{2}});
    insert(2, text("apple tart"), integer(2), value{2.0}, value{blob{"abc"}},
           value{false}, value{timestamp{2000}}, value{json::array({1, 2})}, value{});
    insert(3, text("50% off"), integer(3), value{}, value{}, value{}, value{}, value{},
           value{reference{1}});
    insert(4, text("50 apples"), value{}, value{-1.0}, value{}, value{false},
           value{timestamp{-5}}, value{json("s")}, value{});
    insert(5, text("a_b"), integer(5), value{}, value{}, value{}, value{}, value{}, value{});
    insert(6, text("axb"), integer(6), value{}, value{}, value{}, value{}, value{}, value{});
    insert(7, value{}, integer(7), value{}, value{}, value{}, value{}, value{}, value{});
    insert(8, text("back\\slash"), integer(8), value{}, value{}, value{}, value{}, value{},
           value{});
    insert(9, text("it's \"quoted\""), integer(9), value{}, value{}, value{}, value{},
           value{}, value{});
  }
  note_db(const note_db&) = delete;
  note_db& operator=(const note_db&) = delete;
  ~note_db() { sqlite3_close(db_); }

  /// Ids of the rows matching `c`, in the compiled order.
  std::vector<std::int64_t> ids(const condition& c,
                                const std::vector<sort_key>& sort = {}) {
    auto q = compile_ok(c, sort);
    auto sql = "SELECT id FROM t WHERE " + q.where_sql + " ORDER BY " + q.order_sql;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
      FAIL("prepare failed for " << sql << ": " << sqlite3_errmsg(db_));
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    REQUIRE(sqlite3_bind_parameter_count(raw) == static_cast<int>(q.params.size()));
    for (std::size_t i = 0; i < q.params.size(); ++i)
      bind(raw, static_cast<int>(i) + 1, q.params[i]);
    std::vector<std::int64_t> out;
    int rc = 0;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW)
      out.push_back(sqlite3_column_int64(raw, 0));
    REQUIRE(rc == SQLITE_DONE);
    return out;
  }

 private:
  void exec(const char* sql) {
    REQUIRE(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  }

  void insert(std::int64_t id, const value& title, const value& n, const value& score,
              const value& data, const value& done, const value& due, const value& meta,
              const value& parent) {
    sqlite3_stmt* raw = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, "INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?)", -1,
                               &raw, nullptr)
            == SQLITE_OK);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    bind(raw, 1, integer(id));
    int i = 2;
    for (const value* v : {&title, &n, &score, &data, &done, &due, &meta, &parent})
      bind(raw, i++, *v);
    REQUIRE(sqlite3_step(raw) == SQLITE_DONE);
  }

  static void bind(sqlite3_stmt* st, int i, const value& v) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::monostate>(v)) {
      rc = sqlite3_bind_null(st, i);
    } else if (auto* n = std::get_if<std::int64_t>(&v)) {
      rc = sqlite3_bind_int64(st, i, *n);
    } else if (auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(st, i, *d);
    } else if (auto* s = std::get_if<std::string>(&v)) {
      rc = sqlite3_bind_text(st, i, s->data(), static_cast<int>(s->size()),
                             SQLITE_TRANSIENT);
    } else if (auto* b = std::get_if<blob>(&v)) {
      rc = sqlite3_bind_blob(st, i, b->data.data(), static_cast<int>(b->data.size()),
                             SQLITE_TRANSIENT);
    } else if (auto* flag = std::get_if<bool>(&v)) {
      rc = sqlite3_bind_int(st, i, *flag ? 1 : 0);
    } else if (auto* t = std::get_if<timestamp>(&v)) {
      rc = sqlite3_bind_int64(st, i, t->micros);
    } else if (auto* j = std::get_if<json>(&v)) {
      auto s2 = j->dump(-1, ' ', false, json::error_handler_t::replace);
      rc = sqlite3_bind_text(st, i, s2.data(), static_cast<int>(s2.size()),
                             SQLITE_TRANSIENT);
    } else if (auto* r = std::get_if<reference>(&v)) {
      rc = sqlite3_bind_int64(st, i, r->id);
    }
    REQUIRE(rc == SQLITE_OK);
  }

  sqlite3* db_ = nullptr;
};

using ids = std::vector<std::int64_t>;

} // namespace

// --- parsing -----------------------------------------------------------------

TEST_CASE("condition_from_json parses every comparison operator", "[query][json]") {
  struct row {
    const char* op;
    compare_op expected;
  };
  for (auto [op, expected] : {row{"=", compare_op::eq}, row{"!=", compare_op::ne},
                              row{"<", compare_op::lt}, row{"<=", compare_op::le},
                              row{">", compare_op::gt}, row{">=", compare_op::ge}}) {
    CAPTURE(op);
    auto c = parse_ok({{"attr", "n"}, {"op", op}, {"value", 3}});
    CHECK(c == cmp("n", expected, integer(3)));
  }
}

TEST_CASE("condition_from_json parses in and not_in with arrays of scalars",
          "[query][json]") {
  CHECK(parse_ok({{"attr", "n"}, {"op", "in"}, {"value", {1, "two", 3.5, true}}})
        == in("n", {integer(1), text("two"), value{3.5}, value{true}}));
  CHECK(parse_ok({{"attr", "n"}, {"op", "not_in"}, {"value", json::array()}})
        == not_in("n", {}));
  auto nested = condition_from_json({{"attr", "n"}, {"op", "in"}, {"value", {{1, 2}}}});
  CHECK(code_of(nested) == errc::invalid_query);
  auto object = condition_from_json(
    {{"attr", "n"}, {"op", "in"}, {"value", json::array({json::object()})}});
  CHECK(code_of(object) == errc::invalid_query);
  auto scalar = condition_from_json({{"attr", "n"}, {"op", "not_in"}, {"value", 1}});
  CHECK(code_of(scalar) == errc::invalid_query);
  auto missing = condition_from_json({{"attr", "n"}, {"op", "in"}});
  CHECK(code_of(missing) == errc::invalid_query);
}

TEST_CASE("condition_from_json parses like and prefix with string operands",
          "[query][json]") {
  CHECK(parse_ok({{"attr", "title"}, {"op", "like"}, {"value", "a%"}})
        == like("title", "a%"));
  CHECK(parse_ok({{"attr", "title"}, {"op", "prefix"}, {"value", "50%"}})
        == prefix("title", "50%"));
  auto number = condition_from_json({{"attr", "title"}, {"op", "like"}, {"value", 5}});
  CHECK(code_of(number) == errc::invalid_query);
  auto null = condition_from_json({{"attr", "title"}, {"op", "prefix"}, {"value", nullptr}});
  CHECK(code_of(null) == errc::invalid_query);
}

TEST_CASE("condition_from_json parses is_null and not_null without a value",
          "[query][json]") {
  CHECK(parse_ok({{"attr", "due"}, {"op", "is_null"}}) == is_null("due"));
  CHECK(parse_ok({{"attr", "due"}, {"op", "not_null"}}) == not_null("due"));
  auto with_value =
    condition_from_json({{"attr", "due"}, {"op", "is_null"}, {"value", nullptr}});
  CHECK(code_of(with_value) == errc::invalid_query);
  CHECK_THAT(message_of(with_value), Catch::Contains("is_null"));
}

TEST_CASE("condition_from_json parses nested and, or and not", "[query][json]") {
  auto j = json::parse(R"({"and": [
      {"attr": "title", "op": "=", "value": "x"},
      {"or": [{"attr": "due", "op": "is_null"}, {"not": {"attr": "n", "op": ">", "value": 2}}]},
      {"and": []},
      {"or": []}
    ]})");
  auto expected = and_({cmp("title", compare_op::eq, text("x")),
                        or_({is_null("due"), not_(cmp("n", compare_op::gt, integer(2)))}),
                        and_({}), or_({})});
  CHECK(parse_ok(j) == expected);
}

TEST_CASE("empty object and null conditions match everything", "[query][json]") {
  CHECK(parse_ok(json::object()) == condition{});
  CHECK(parse_ok(nullptr) == condition{});
  CHECK(parse_ok({{"not", nullptr}}) == not_(condition{}));
}

TEST_CASE("JSON operands become values of the matching alternative", "[query][json]") {
  auto operand = [](const json& v) {
    return parse_ok({{"attr", "n"}, {"op", "="}, {"value", v}}).operand;
  };
  CHECK(operand(nullptr) == value{});
  CHECK(operand(-42) == integer(-42));
  CHECK(operand(std::uint64_t{9223372036854775807ULL})
        == integer(INT64_C(9223372036854775807)));
  CHECK(operand(2.5) == value{2.5});
  CHECK(operand("hi") == text("hi"));
  CHECK(operand(true) == value{true});
  CHECK(operand(false) == value{false});

  auto too_big = condition_from_json(
    {{"attr", "n"}, {"op", "="}, {"value", std::uint64_t{9223372036854775808ULL}}});
  CHECK(code_of(too_big) == errc::invalid_query);
  auto array = condition_from_json({{"attr", "n"}, {"op", "="}, {"value", {1, 2}}});
  CHECK(code_of(array) == errc::invalid_query);
  auto object = condition_from_json(
    {{"attr", "n"}, {"op", "="}, {"value", json::object({{"a", 1}})}});
  CHECK(code_of(object) == errc::invalid_query);
  auto binary = condition_from_json(
    {{"attr", "n"}, {"op", "="}, {"value", json::binary({1, 2})}});
  CHECK(code_of(binary) == errc::invalid_query);
}

TEST_CASE("an unknown operator is invalid_query naming the operator", "[query][json][error]") {
  auto r = condition_from_json({{"attr", "n"}, {"op", "~="}, {"value", 1}});
  CHECK(code_of(r) == errc::invalid_query);
  CHECK_THAT(message_of(r), Catch::Contains("'~='"));
  auto word = condition_from_json({{"attr", "n"}, {"op", "between"}, {"value", 1}});
  CHECK_THAT(message_of(word), Catch::Contains("between"));
  auto upper = condition_from_json({{"attr", "n"}, {"op", "IN"}, {"value", {1}}});
  CHECK(code_of(upper) == errc::invalid_query);
}

TEST_CASE("unknown keys are invalid_query naming the key", "[query][json][error]") {
  auto leaf = condition_from_json({{"attr", "n"}, {"op", "="}, {"value", 1}, {"val", 2}});
  CHECK(code_of(leaf) == errc::invalid_query);
  CHECK_THAT(message_of(leaf), Catch::Contains("'val'"));

  auto beside = condition_from_json({{"and", json::array()}, {"limit", 3}});
  CHECK(code_of(beside) == errc::invalid_query);
  CHECK_THAT(message_of(beside), Catch::Contains("'limit'"));

  auto two = condition_from_json({{"and", json::array()}, {"or", json::array()}});
  CHECK(code_of(two) == errc::invalid_query);

  auto mixed = condition_from_json({{"attr", "n"}, {"op", "is_null"}, {"and", json::array()}});
  CHECK_THAT(message_of(mixed), Catch::Contains("'and'"));

  auto only_unknown = condition_from_json({{"where", 1}});
  CHECK_THAT(message_of(only_unknown), Catch::Contains("'where'"));
}

TEST_CASE("malformed condition shapes are invalid_query", "[query][json][error]") {
  for (const char* text_form : {
         R"({"and": 5})", R"({"or": {}})", R"({"and": [5]})", R"({"not": 5})",
         R"({"not": [{"attr": "n", "op": "is_null"}]})", R"({"attr": 1})",
         R"({"attr": 1, "op": "=", "value": 1})", R"({"attr": "", "op": "is_null"})",
         R"({"attr": "n"})", R"({"attr": "n", "op": 5, "value": 1})",
         R"({"attr": "n", "op": "="})", R"({"op": "=", "value": 1})", R"([1])",
         R"("title")", R"(5)", R"(true)"}) {
    CAPTURE(text_form);
    auto r = condition_from_json(json::parse(text_form));
    CHECK(code_of(r) == errc::invalid_query);
  }
}

TEST_CASE("nesting deeper than 32 levels is refused", "[query][json][limits]") {
  CHECK(condition_from_json(nested_not(32)).has_value());
  auto deep = condition_from_json(nested_not(33));
  CHECK(code_of(deep) == errc::invalid_query);
  CHECK_THAT(message_of(deep), Catch::Contains("32"));

  json very_deep = json::object();
  for (int i = 0; i < 10000; ++i) {
    json outer = json::object();
    outer["and"] = json::array();
    outer["and"].push_back(std::move(very_deep));
    very_deep = std::move(outer);
  }
  CHECK(code_of(condition_from_json(very_deep)) == errc::invalid_query);
}

TEST_CASE("more than 1000 operands in total are refused", "[query][json][limits]") {
  json list = json::array();
  for (int i = 0; i < 1000; ++i)
    list.push_back(i);
  CHECK(condition_from_json({{"attr", "n"}, {"op", "in"}, {"value", list}}).has_value());

  json split = {{"and", json::array({json{{"attr", "n"}, {"op", "in"}, {"value", list}},
                                     json{{"attr", "n"}, {"op", "="}, {"value", 1}}})}};
  auto over = condition_from_json(split);
  CHECK(code_of(over) == errc::invalid_query);
  CHECK_THAT(message_of(over), Catch::Contains("1000"));

  json many = json::array();
  for (int i = 0; i < 1001; ++i)
    many.push_back({{"attr", "n"}, {"op", "is_null"}});
  CHECK(code_of(condition_from_json({{"or", many}})) == errc::invalid_query);
}

TEST_CASE("condition_from_json inverts to_json", "[query][json][roundtrip]") {
  std::vector<condition> cases = {
    condition{},
    cmp("title", compare_op::eq, text("it's \"x\"")),
    cmp("n", compare_op::ne, integer(-3)),
    cmp("score", compare_op::lt, value{0.25}),
    cmp("score", compare_op::le, value{1.0}),
    cmp("done", compare_op::gt, value{false}),
    cmp("n", compare_op::ge, integer(INT64_MIN)),
    cmp("n", compare_op::eq, value{}),
    in("n", {integer(1), integer(2)}),
    in("n", {}),
    not_in("title", {text("a"), text("b")}),
    like("title", "%pie"),
    prefix("title", "50%"),
    is_null("due"),
    not_null("due"),
    and_({}),
    or_({}),
    not_(condition{}),
    and_({or_({is_null("a"), not_(like("title", "x_"))}), in("id", {integer(7)})}),
  };
  for (const auto& c : cases) {
    auto j = to_json(c);
    CAPTURE(j.dump());
    auto back = condition_from_json(j);
    REQUIRE(back.has_value());
    CHECK(*back == c);
    CHECK(to_json(*back) == j);
  }
}

TEST_CASE("to_json renders typed operands in their JSON form", "[query][json]") {
  CHECK(to_json(cmp("data", compare_op::eq, value{blob{"abc"}}))["value"] == "YWJj");
  CHECK(to_json(cmp("due", compare_op::lt, value{timestamp{123}}))["value"] == 123);
  CHECK(to_json(cmp("parent", compare_op::eq, value{reference{9}}))["value"] == 9);
  CHECK(to_json(cmp("meta", compare_op::eq, value{json{{"a", 1}}}))["value"] == R"({"a":1})");
  CHECK(to_json(is_null("due")) == json{{"attr", "due"}, {"op", "is_null"}});
  CHECK(to_json(condition{}) == json::object());

  // The typed operands come back as their JSON scalars; compile converts
  // them to the same parameters.
  auto c = and_({cmp("data", compare_op::eq, value{blob{"abc"}}),
                 cmp("due", compare_op::lt, value{timestamp{123}}),
                 cmp("parent", compare_op::eq, value{reference{9}}),
                 cmp("meta", compare_op::eq, value{json{{"a", 1}}})});
  auto back = condition_from_json(to_json(c));
  REQUIRE(back.has_value());
  CHECK(compile_ok(*back).params == compile_ok(c).params);
}

TEST_CASE("sort_from_json accepts strings, prefixed strings and objects", "[query][sort]") {
  auto keys = sort_from_json(json::parse(
    R"(["title", "-n", {"attr": "due", "dir": "desc"}, {"attr": "score", "dir": "asc"},
        {"attr": "done"}])"));
  REQUIRE(keys.has_value());
  CHECK(*keys == std::vector<sort_key>{{"title", false}, {"n", true}, {"due", true},
                                       {"score", false}, {"done", false}});
  auto single = sort_from_json("-title");
  REQUIRE(single.has_value());
  CHECK(*single == std::vector<sort_key>{{"title", true}});
  auto none = sort_from_json(nullptr);
  REQUIRE(none.has_value());
  CHECK(none->empty());

  CHECK(to_json(*keys) == json{"title", "-n", "-due", "score", "done"});
  auto back = sort_from_json(to_json(*keys));
  REQUIRE(back.has_value());
  CHECK(*back == *keys);
}

TEST_CASE("malformed sort keys are invalid_query", "[query][sort][error]") {
  for (const char* text_form :
       {R"("")", R"("-")", R"(5)", R"([1])", R"({"attr": "n"})", R"([{"attr": 1}])",
        R"([{"dir": "asc"}])", R"([{"attr": "n", "dir": "down"}])",
        R"([{"attr": "n", "dir": 1}])", R"([{"attr": "n", "order": "asc"}])"}) {
    CAPTURE(text_form);
    CHECK(code_of(sort_from_json(json::parse(text_form))) == errc::invalid_query);
  }
  auto unknown = sort_from_json(json::parse(R"([{"attr": "n", "order": "asc"}])"));
  CHECK_THAT(message_of(unknown), Catch::Contains("'order'"));
}

TEST_CASE("query_from_json reads every member and defaults the optional ones",
          "[query][json]") {
  auto full = query_from_json(json::parse(R"({"type": "notes.note",
      "where": {"attr": "n", "op": ">", "value": 1}, "sort": ["-n"],
      "limit": 10, "offset": 20})"));
  REQUIRE(full.has_value());
  CHECK(full->type == "notes.note");
  CHECK(full->where == cmp("n", compare_op::gt, integer(1)));
  CHECK(full->sort == std::vector<sort_key>{{"n", true}});
  CHECK(full->limit == 10);
  CHECK(full->offset == 20);
  CHECK(query_from_json(to_json(*full)).value() == *full);

  auto minimal = query_from_json({{"type", "notes.note"}});
  REQUIRE(minimal.has_value());
  CHECK(minimal->where == condition{});
  CHECK(minimal->sort.empty());
  CHECK(minimal->limit == -1);
  CHECK(minimal->offset == 0);
  CHECK(to_json(*minimal) == json{{"type", "notes.note"}});

  auto zero = query_from_json({{"type", "t"}, {"limit", 0}, {"where", nullptr}});
  REQUIRE(zero.has_value());
  CHECK(zero->limit == 0);
  CHECK(query_from_json(to_json(*zero)).value() == *zero);
}

TEST_CASE("query_from_json refuses bad members", "[query][json][error]") {
  for (const char* text_form : {
         R"({})", R"({"type": 5})", R"({"type": ""})", R"({"type": "t", "limit": -1})",
         R"({"type": "t", "limit": 1.5})", R"({"type": "t", "limit": "10"})",
         R"({"type": "t", "limit": null})", R"({"type": "t", "offset": -2})",
         R"({"type": "t", "offset": 18446744073709551615})",
         R"({"type": "t", "where": {"and": 5}})", R"({"type": "t", "sort": 5})",
         R"([])", R"("t")"}) {
    CAPTURE(text_form);
    CHECK(code_of(query_from_json(json::parse(text_form))) == errc::invalid_query);
  }
  auto unknown = query_from_json({{"type", "t"}, {"filter", json::object()}});
  CHECK(code_of(unknown) == errc::invalid_query);
  CHECK_THAT(message_of(unknown), Catch::Contains("'filter'"));
}

// --- compilation -------------------------------------------------------------

TEST_CASE("compile renders comparisons with placeholders and typed params",
          "[query][compile]") {
  auto all = compile_ok(condition{});
  CHECK(all.where_sql == "1");
  CHECK(all.order_sql == "\"id\"");
  CHECK(all.params.empty());

  auto q = compile_ok(and_({cmp("title", compare_op::eq, text("x")),
                            cmp("n", compare_op::gt, integer(3))}),
                      {{"title", true}});
  CHECK(q.where_sql == R"(("title" = ? AND "n" > ?))");
  CHECK(q.order_sql == R"("title" DESC, "id")");
  CHECK(q.params == std::vector<value>{text("x"), integer(3)});

  struct row {
    compare_op op;
    const char* sql;
  };
  for (auto [op, sql] : {row{compare_op::eq, R"("n" = ?)"}, row{compare_op::ne, R"("n" <> ?)"},
                         row{compare_op::lt, R"("n" < ?)"}, row{compare_op::le, R"("n" <= ?)"},
                         row{compare_op::gt, R"("n" > ?)"}, row{compare_op::ge, R"("n" >= ?)"}})
    CHECK(compile_ok(cmp("n", op, integer(1))).where_sql == sql);
}

TEST_CASE("compile renders lists, patterns, null tests and combinators",
          "[query][compile]") {
  auto list = compile_ok(in("n", {integer(1), integer(2)}));
  CHECK(list.where_sql == R"("n" IN (?, ?))");
  CHECK(list.params == std::vector<value>{integer(1), integer(2)});
  CHECK(compile_ok(not_in("n", {integer(1)})).where_sql == R"("n" NOT IN (?))");
  CHECK(compile_ok(in("n", {})).where_sql == "0");
  CHECK(compile_ok(not_in("n", {})).where_sql == R"("n" IS NOT NULL)");

  auto pattern = compile_ok(like("title", "a%"));
  CHECK(pattern.where_sql == R"("title" LIKE ? ESCAPE '\')");
  CHECK(pattern.params == std::vector<value>{text("a%")});

  auto starts = compile_ok(prefix("title", "50%"));
  CHECK(starts.where_sql == R"(substr("title", 1, length(?)) = ?)");
  CHECK(starts.params == std::vector<value>{text("50%"), text("50%")});

  CHECK(compile_ok(is_null("due")).where_sql == R"("due" IS NULL)");
  CHECK(compile_ok(not_null("due")).where_sql == R"("due" IS NOT NULL)");
  CHECK(compile_ok(and_({})).where_sql == "1");
  CHECK(compile_ok(or_({})).where_sql == "0");
  CHECK(compile_ok(and_({is_null("n")})).where_sql == R"("n" IS NULL)");
  CHECK(compile_ok(not_(is_null("n"))).where_sql == R"(NOT coalesce("n" IS NULL, 0))");
  CHECK(compile_ok(or_({is_null("n"), and_({is_null("due"), not_null("title")})})).where_sql
        == R"(("n" IS NULL OR ("due" IS NULL AND "title" IS NOT NULL)))");
}

TEST_CASE("compile converts operands to the attribute's type", "[query][compile]") {
  auto params = [](const condition& c) { return compile_ok(c).params; };
  CHECK(params(cmp("due", compare_op::lt, integer(1700000000000000)))
        == std::vector<value>{value{timestamp{1700000000000000}}});
  CHECK(params(cmp("due", compare_op::lt, value{timestamp{5}}))
        == std::vector<value>{value{timestamp{5}}});
  CHECK(params(cmp("parent", compare_op::eq, integer(7)))
        == std::vector<value>{value{reference{7}}});
  CHECK(params(cmp("score", compare_op::ge, integer(2))) == std::vector<value>{value{2.0}});
  CHECK(params(cmp("data", compare_op::eq, text("AAE="))) == std::vector<value>{
          value{blob{std::string("\0\1", 2)}}});
  CHECK(params(cmp("done", compare_op::eq, value{true})) == std::vector<value>{value{true}});
  CHECK(params(cmp("meta", compare_op::ne, text(R"({"b": 2, "a": 1})")))
        == std::vector<value>{value{json{{"a", 1}, {"b", 2}}}});
  CHECK(params(in("id", {integer(3), value{reference{4}}}))
        == std::vector<value>{integer(3), integer(4)});
  CHECK(params(in("due", {integer(1), integer(2)}))
        == std::vector<value>{value{timestamp{1}}, value{timestamp{2}}});
}

TEST_CASE("unknown attributes are no_such_attribute naming attribute and type",
          "[query][compile][error]") {
  auto r = compile(note_decl(), cmp("color", compare_op::eq, text("red")), {});
  CHECK(code_of(r) == errc::no_such_attribute);
  CHECK_THAT(message_of(r), Catch::Contains("'color'") && Catch::Contains("notes.note"));

  auto nested = compile(note_decl(), or_({is_null("n"), not_(is_null("colour"))}), {});
  CHECK_THAT(message_of(nested), Catch::Contains("'colour'"));

  auto sort = compile(note_decl(), condition{}, {{"size", false}});
  CHECK(code_of(sort) == errc::no_such_attribute);
  CHECK_THAT(message_of(sort), Catch::Contains("'size'"));

  CHECK(code_of(compile(note_decl(), is_null("type"), {})) == errc::no_such_attribute);
  CHECK(code_of(compile(note_decl(), is_null("Title"), {})) == errc::no_such_attribute);
}

TEST_CASE("operands that do not fit the attribute are invalid_value naming it",
          "[query][compile][error]") {
  struct row {
    condition c;
    const char* attr;
  };
  std::vector<row> rows = {
    {cmp("n", compare_op::eq, text("3")), "'n'"},
    {cmp("n", compare_op::eq, value{3.0}), "'n'"},
    {cmp("n", compare_op::eq, value{true}), "'n'"},
    {cmp("score", compare_op::eq, text("1.5")), "'score'"},
    {cmp("title", compare_op::eq, integer(1)), "'title'"},
    {cmp("title", compare_op::eq, value{std::string("a\0b", 3)}), "'title'"},
    {cmp("done", compare_op::eq, integer(1)), "'done'"},
    {cmp("due", compare_op::eq, text("2024-01-01")), "'due'"},
    {cmp("due", compare_op::eq, value{1.5}), "'due'"},
    {cmp("parent", compare_op::eq, text("7")), "'parent'"},
    {cmp("data", compare_op::eq, text("not base64!")), "'data'"},
    {cmp("data", compare_op::eq, integer(1)), "'data'"},
    {cmp("meta", compare_op::eq, text("{not json")), "'meta'"},
    {cmp("meta", compare_op::eq, integer(1)), "'meta'"},
    {cmp("id", compare_op::eq, text("1")), "'id'"},
    {in("n", {integer(1), text("2")}), "'n'"},
    {not_in("due", {value{2.5}}), "'due'"},
  };
  for (const auto& [c, attr] : rows) {
    CAPTURE(to_json(c).dump());
    auto r = compile(note_decl(), c, {});
    CHECK(code_of(r) == errc::invalid_value);
    CHECK_THAT(message_of(r), Catch::Contains(attr));
  }
}

TEST_CASE("operators that do not apply to a type are invalid_query",
          "[query][compile][error]") {
  for (const auto& c : {like("n", "1%"), prefix("n", "1"), like("meta", "%"),
                        prefix("data", "AA=="), like("id", "1"), prefix("due", "1"),
                        cmp("meta", compare_op::lt, text("1")),
                        cmp("parent", compare_op::gt, integer(1)),
                        in("meta", {text("1")}), not_in("meta", {})}) {
    CAPTURE(to_json(c).dump());
    CHECK(code_of(compile(note_decl(), c, {})) == errc::invalid_query);
  }
  condition odd = like("title", "x");
  odd.operand = integer(1);
  CHECK(code_of(compile(note_decl(), odd, {})) == errc::invalid_query);
}

TEST_CASE("null operands are invalid_query pointing to is_null and not_null",
          "[query][compile][error]") {
  for (const auto& c : {cmp("n", compare_op::eq, value{}), cmp("n", compare_op::ne, value{}),
                        cmp("n", compare_op::lt, value{}), in("n", {integer(1), value{}}),
                        not_in("title", {value{}})}) {
    CAPTURE(to_json(c).dump());
    auto r = compile(note_decl(), c, {});
    CHECK(code_of(r) == errc::invalid_query);
    CHECK_THAT(message_of(r), Catch::Contains("is_null") && Catch::Contains("not_null"));
  }
}

TEST_CASE("compile refuses trees built in code that break the limits",
          "[query][compile][limits]") {
  condition deep = is_null("n");
  for (int i = 1; i < 33; ++i)
    deep = not_(deep);
  CHECK(code_of(compile(note_decl(), deep, {})) == errc::invalid_query);

  std::vector<value> list(1001, integer(1));
  CHECK(code_of(compile(note_decl(), in("n", list), {})) == errc::invalid_query);
  list.pop_back();
  CHECK(compile(note_decl(), in("n", list), {}).has_value());

  condition malformed;
  malformed.k = condition::kind::not_;
  CHECK(code_of(compile(note_decl(), malformed, {})) == errc::invalid_query);
}

TEST_CASE("sort keys end with id unless id is already a key", "[query][compile][sort]") {
  CHECK(compile_ok(condition{}, {{"n", false}, {"title", true}}).order_sql
        == R"("n", "title" DESC, "id")");
  CHECK(compile_ok(condition{}, {{"id", true}}).order_sql == R"("id" DESC)");
  CHECK(compile_ok(condition{}, {{"id", false}, {"n", false}}).order_sql
        == R"("id", "n")");
}

TEST_CASE("caller-supplied strings never reach the SQL text", "[query][compile][security]") {
  const std::string evil = R"(x" OR 1=1 --)";
  auto attr = compile(note_decl(), cmp(evil, compare_op::eq, integer(1)), {});
  CHECK(code_of(attr) == errc::no_such_attribute);
  CHECK(code_of(compile(note_decl(), condition{}, {{evil, false}}))
        == errc::no_such_attribute);
  auto parsed = condition_from_json({{"attr", evil}, {"op", "="}, {"value", 1}});
  REQUIRE(parsed.has_value());
  CHECK(code_of(compile(note_decl(), *parsed, {})) == errc::no_such_attribute);

  const std::string payload = R"(' OR 1=1; DROP TABLE t; --")";
  auto q = compile_ok(and_({cmp("title", compare_op::eq, value{payload}),
                            like("title", payload), prefix("title", payload),
                            in("title", {value{payload}}),
                            cmp("meta", compare_op::eq, value{json(payload).dump()})}));
  CHECK(q.where_sql.find("OR 1=1") == std::string::npos);
  CHECK(q.where_sql.find("DROP") == std::string::npos);
  CHECK(std::count(q.where_sql.begin(), q.where_sql.end(), '\'') == 2);  // ESCAPE '\'
  CHECK(q.params.size() == 6);
  CHECK(q.params.front() == value{payload});
}

// --- semantics on SQLite -----------------------------------------------------

TEST_CASE("comparisons select the expected rows and never match nulls",
          "[query][sqlite]") {
  note_db db;
  CHECK(db.ids(condition{}) == ids{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(db.ids(cmp("n", compare_op::eq, integer(2))) == ids{2});
  CHECK(db.ids(cmp("n", compare_op::ne, integer(2))) == ids{1, 3, 5, 6, 7, 8, 9});
  CHECK(db.ids(cmp("n", compare_op::lt, integer(3))) == ids{1, 2});
  CHECK(db.ids(cmp("n", compare_op::le, integer(3))) == ids{1, 2, 3});
  CHECK(db.ids(cmp("n", compare_op::gt, integer(7))) == ids{8, 9});
  CHECK(db.ids(cmp("n", compare_op::ge, integer(7))) == ids{7, 8, 9});
  CHECK(db.ids(cmp("score", compare_op::gt, integer(1))) == ids{1, 2});
  CHECK(db.ids(cmp("score", compare_op::lt, value{0.0})) == ids{4});
  CHECK(db.ids(cmp("title", compare_op::eq, text("apple tart"))) == ids{2});
  CHECK(db.ids(cmp("title", compare_op::eq, text("APPLE TART"))).empty());
  CHECK(db.ids(cmp("title", compare_op::eq, text("it's \"quoted\""))) == ids{9});
  CHECK(db.ids(cmp("id", compare_op::ge, integer(8))) == ids{8, 9});
}

TEST_CASE("typed operands match stored booleans, timestamps, references, bytes and JSON",
          "[query][sqlite]") {
  note_db db;
  CHECK(db.ids(cmp("done", compare_op::eq, value{true})) == ids{1});
  CHECK(db.ids(cmp("done", compare_op::eq, value{false})) == ids{2, 4});
  CHECK(db.ids(cmp("done", compare_op::ne, value{true})) == ids{2, 4});
  CHECK(db.ids(cmp("due", compare_op::gt, integer(1000))) == ids{2});
  CHECK(db.ids(cmp("due", compare_op::lt, value{timestamp{0}})) == ids{4});
  CHECK(db.ids(cmp("parent", compare_op::eq, integer(2))) == ids{1});
  CHECK(db.ids(cmp("parent", compare_op::ne, value{reference{2}})) == ids{3});
  CHECK(db.ids(cmp("data", compare_op::eq, text("AAE="))) == ids{1});
  CHECK(db.ids(cmp("data", compare_op::eq, value{blob{"abc"}})) == ids{2});
  CHECK(db.ids(cmp("meta", compare_op::eq, text(R"({ "a" : 1 })"))) == ids{1});
  CHECK(db.ids(cmp("meta", compare_op::eq, text("[1,2]"))) == ids{2});
  CHECK(db.ids(cmp("meta", compare_op::eq, text(R"("s")"))) == ids{4});
  CHECK(db.ids(cmp("meta", compare_op::ne, text("[1,2]"))) == ids{1, 4});
}

TEST_CASE("in and not_in select members and not_in never matches nulls",
          "[query][sqlite]") {
  note_db db;
  CHECK(db.ids(in("n", {integer(2), integer(5), integer(99)})) == ids{2, 5});
  CHECK(db.ids(in("n", {})).empty());
  CHECK(db.ids(not_in("n", {integer(1), integer(2), integer(3)})) == ids{5, 6, 7, 8, 9});
  CHECK(db.ids(not_in("n", {})) == ids{1, 2, 3, 5, 6, 7, 8, 9});
  CHECK(db.ids(in("title", {text("axb"), text("a_b")})) == ids{5, 6});
  CHECK(db.ids(in("due", {integer(1000), integer(-5)})) == ids{1, 4});
}

TEST_CASE("is_null and not_null partition the rows", "[query][sqlite]") {
  note_db db;
  CHECK(db.ids(is_null("n")) == ids{4});
  CHECK(db.ids(not_null("n")) == ids{1, 2, 3, 5, 6, 7, 8, 9});
  CHECK(db.ids(is_null("title")) == ids{7});
  CHECK(db.ids(is_null("meta")) == ids{3, 5, 6, 7, 8, 9});
  CHECK(db.ids(is_null("id")).empty());
}

TEST_CASE("like uses SQL wildcards, ASCII case-insensitively, with backslash escapes",
          "[query][sqlite]") {
  note_db db;
  CHECK(db.ids(like("title", "apple%")) == ids{1, 2});
  CHECK(db.ids(like("title", "%APPLE%")) == ids{1, 2, 4});
  CHECK(db.ids(like("title", "a_b")) == ids{5, 6});
  CHECK(db.ids(like("title", R"(a\_b)")) == ids{5});
  CHECK(db.ids(like("title", R"(50\%%)")) == ids{3});
  CHECK(db.ids(like("title", R"(back\\slash)")) == ids{8});
}

TEST_CASE("prefix is case-sensitive and treats wildcards literally", "[query][sqlite]") {
  note_db db;
  CHECK(db.ids(prefix("title", "Apple")) == ids{1});
  CHECK(db.ids(prefix("title", "apple")) == ids{2});
  CHECK(db.ids(prefix("title", "50%")) == ids{3});
  CHECK(db.ids(prefix("title", "50")) == ids{3, 4});
  CHECK(db.ids(prefix("title", "a_")) == ids{5});
  CHECK(db.ids(prefix("title", "%")).empty());
  CHECK(db.ids(prefix("title", "_")).empty());
  CHECK(db.ids(prefix("title", "back\\")) == ids{8});
  CHECK(db.ids(prefix("title", "it's \"")) == ids{9});
  CHECK(db.ids(prefix("title", "")) == ids{1, 2, 3, 4, 5, 6, 8, 9});
  CHECK(db.ids(prefix("title", "Apple pie and more")).empty());
}

TEST_CASE("and, or and not combine as sets, and not matches what its child does not",
          "[query][sqlite]") {
  note_db db;
  CHECK(db.ids(and_({cmp("n", compare_op::ge, integer(2)), cmp("n", compare_op::le, integer(5))}))
        == ids{2, 3, 5});
  CHECK(db.ids(or_({cmp("n", compare_op::eq, integer(1)), is_null("n")})) == ids{1, 4});
  CHECK(db.ids(and_({})) == ids{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(db.ids(or_({})).empty());
  // `!=` follows SQL and skips the null row 4; `not (=)` is the complement.
  CHECK(db.ids(cmp("n", compare_op::ne, integer(1))) == ids{2, 3, 5, 6, 7, 8, 9});
  CHECK(db.ids(not_(cmp("n", compare_op::eq, integer(1)))) == ids{2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(db.ids(not_(not_in("n", {integer(1)}))) == ids{1, 4});
  CHECK(db.ids(not_(or_({is_null("n"), cmp("n", compare_op::gt, integer(3))})))
        == ids{1, 2, 3});
  CHECK(db.ids(not_(condition{})).empty());
  CHECK(db.ids(not_(not_(cmp("n", compare_op::eq, integer(1))))) == ids{1});
}

TEST_CASE("order_sql sorts by the keys and then by id", "[query][sqlite][sort]") {
  note_db db;
  CHECK(db.ids(in("id", {integer(1), integer(2), integer(4)}), {{"done", true}})
        == ids{1, 2, 4});
  CHECK(db.ids(in("id", {integer(1), integer(2), integer(4)}), {{"done", false}})
        == ids{2, 4, 1});
  CHECK(db.ids(not_null("n"), {{"n", true}}) == ids{9, 8, 7, 6, 5, 3, 2, 1});
  CHECK(db.ids(condition{}, {{"id", true}}) == ids{9, 8, 7, 6, 5, 4, 3, 2, 1});
}

TEST_CASE("a query parsed from JSON runs against SQLite", "[query][sqlite][json]") {
  note_db db;
  auto q = query_from_json(json::parse(R"({"type": "notes.note",
    "where": {"or": [{"attr": "title", "op": "prefix", "value": "50"},
                     {"and": [{"attr": "due", "op": ">=", "value": 1000},
                              {"not": {"attr": "done", "op": "=", "value": true}}]}]},
    "sort": ["-title"]})"));
  REQUIRE(q.has_value());
  CHECK(db.ids(q->where, q->sort) == ids{2, 3, 4});
}
