#include <catch2/catch.hpp>

#include <limits>
#include <vector>

#include "store/item.hpp"
#include "store/type.hpp"

using namespace mantissa::store;

namespace {

attribute_decl attr(std::string name, attribute_type t) {
  attribute_decl a;
  a.name = std::move(name);
  a.type = t;
  return a;
}

} // namespace

TEST_CASE("type names are validated", "[store][type]") {
  CHECK(validate_type_name("notes.note"));
  CHECK(validate_type_name("a"));
  CHECK(validate_type_name("mail.message_v2"));
  for (auto bad : {"", "Notes.note", "notes..note", ".notes", "notes.",
                   "no tes", "a__b", "1abc", "a.b-c", "../etc",
                   "x\"; DROP TABLE t; --"}) {
    INFO(bad);
    auto r = validate_type_name(bad);
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::invalid_name);
  }
  CHECK_FALSE(validate_type_name(std::string(129, 'a')));
}

TEST_CASE("declarations reject reserved, duplicate and bad attributes",
          "[store][type]") {
  type_decl d{"t.x", 1, {attr("id", attribute_type::integer)}};
  CHECK(validate(d).code() == errc::invalid_name);
  d.attributes = {attr("a", attribute_type::integer),
                  attr("a", attribute_type::text)};
  CHECK(validate(d).code() == errc::invalid_name);
  d.attributes = {attr("ref", attribute_type::reference)};
  CHECK(validate(d).code() == errc::invalid_name);  // no target
  d.attributes[0].target_type = "t.y";
  CHECK(validate(d));
  d.attributes[0].nullable = false;  // nullify needs nullable
  CHECK_FALSE(validate(d));
  d.attributes[0].on_delete = delete_policy::cascade;
  CHECK(validate(d));
  d.compound_indexes = {{"ref", "nope"}};
  CHECK(validate(d).code() == errc::no_such_attribute);
  d.compound_indexes.clear();
  d.attributes.push_back(attr("n", attribute_type::integer));
  d.attributes.back().default_value = std::string{"not a number"};
  CHECK(validate(d).code() == errc::invalid_value);
}

TEST_CASE("table names map dots to double underscores", "[store][type]") {
  CHECK(table_name("notes.note", 1) == "item_notes__note_v1");
  CHECK(table_name("a.b_c", 3) != table_name("a_b.c", 3));
}

TEST_CASE("coerce checks types, nulls, sizes and text content",
          "[store][value]") {
  auto i = attr("i", attribute_type::integer);
  CHECK(coerce(i, std::int64_t{5}, 0));
  CHECK(coerce(i, std::string{"5"}, 0).code() == errc::invalid_value);
  i.nullable = false;
  CHECK(coerce(i, value{}, 0).code() == errc::invalid_value);

  auto r = attr("r", attribute_type::real);
  auto rv = coerce(r, std::int64_t{3}, 0);
  REQUIRE(rv);
  CHECK(std::get<double>(*rv) == 3.0);

  auto t = attr("t", attribute_type::text);
  CHECK(coerce(t, std::string{"h\xC3\xA9llo"}, 0));
  CHECK(coerce(t, std::string{"a\0b", 3}, 0).code() == errc::invalid_value);
  CHECK(coerce(t, std::string{"\xFF\xFE"}, 0).code() == errc::invalid_value);
  CHECK(coerce(t, std::string{"\xC0\xAF"}, 0).code() == errc::invalid_value);
  CHECK(coerce(t, std::string(11, 'x'), 10).code() == errc::invalid_value);
  t.max_size = 20;
  CHECK(coerce(t, std::string(11, 'x'), 10));

  auto b = attr("b", attribute_type::bytes);
  CHECK(coerce(b, blob{std::string{"\0\1\2", 3}}, 0));
  CHECK(coerce(b, std::string{"text"}, 0).code() == errc::invalid_value);

  auto ref = attr("ref", attribute_type::reference);
  ref.target_type = "x.y";
  CHECK(coerce(ref, reference{0}, 0).code() == errc::invalid_value);
  CHECK(coerce(ref, reference{7}, 0));
}

TEST_CASE("JSON conversion round-trips every attribute type at its edges",
          "[store][value]") {
  type_decl d{"t.all", 1, {}};
  d.attributes = {attr("i", attribute_type::integer),
                  attr("r", attribute_type::real),
                  attr("s", attribute_type::text),
                  attr("b", attribute_type::bytes),
                  attr("f", attribute_type::boolean),
                  attr("ts", attribute_type::timestamp),
                  attr("j", attribute_type::json),
                  attr("ref", attribute_type::reference)};
  d.attributes.back().target_type = "t.all";
  REQUIRE(validate(d));
  for (auto edge : {std::numeric_limits<std::int64_t>::min(),
                    std::numeric_limits<std::int64_t>::max(),
                    std::int64_t{0}, std::int64_t{-1}}) {
    item it = make_item(d);
    it.id = 42;
    it.values = {edge,
                 -1.5e300,
                 std::string{"\xE2\x9C\x93 ok"},
                 blob{std::string{"\0\xFF\x01", 3}},
                 true,
                 timestamp{-86'400'000'000},  // 1969-12-31
                 nlohmann::json{{"k", {1, 2, 3}}},
                 reference{9}};
    auto j = to_json(d, it);
    CHECK(j["id"] == 42);
    CHECK(j["type"] == "t.all");
    CHECK(j["b"] == "AP8B");
    auto back = item_from_json(d, j);
    REQUIRE(back);
    back->id = it.id;
    CHECK(*back == it);
  }
}

TEST_CASE("to_json_text renders what dump(to_json(...)) renders",
          "[store][value]") {
  auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  // Names that sort before, between and after "id" and "type".
  type_decl d{"t.all", 1, {}};
  d.attributes = {
    attr("zz", attribute_type::integer), attr("r", attribute_type::real),
    attr("s", attribute_type::text),     attr("b", attribute_type::bytes),
    attr("f", attribute_type::boolean),  attr("ts", attribute_type::timestamp),
    attr("j", attribute_type::json),     attr("ref", attribute_type::reference),
    attr("idx", attribute_type::text),   attr("a_1", attribute_type::integer)};
  d.attributes[7].target_type = "t.all";
  REQUIRE(validate(d));
  std::string controls;
  for (char c = 0; c < 0x20; ++c)
    controls += c;
  std::vector<value> texts
    = {std::string{},
       std::string{"plain"},
       controls,
       std::string{"quote \" back \\ slash / del \x7F"},
       std::string{"\xE2\x9C\x93 ok \xF0\x9F\x98\x80 \xC3\xA9"},
       std::string{"bad \xFF utf-8 \xC3"},
       std::string{"\xED\xA0\x80 surrogate"},
       std::string{"overlong \xC0\xAF"},
       value{}};
  std::vector<value> reals = {0.0,
                              -0.0,
                              1.0,
                              0.1,
                              -1.5e300,
                              1e-300,
                              12345.678,
                              std::numeric_limits<double>::infinity(),
                              std::numeric_limits<double>::quiet_NaN(),
                              value{}};
  std::vector<value> docs
    = {nlohmann::json{{"k", {1, 2, 3}}, {"a", "\n\xFF"}},
       nlohmann::json::array(), nlohmann::json("s"), value{}};
  std::size_t k = 0;
  for (auto& text : texts)
    for (auto& real : reals) {
      item it = make_item(d);
      it.id = static_cast<item_id>(k) - 3;
      it.values
        = {k % 2 == 0 ? value{std::numeric_limits<std::int64_t>::min()}
                      : value{std::int64_t{42}},
           real,
           text,
           k % 3 == 0 ? value{} : value{blob{std::string{"\0\xFF\x01", 3}}},
           k % 2 == 0 ? value{true} : value{false},
           timestamp{-86'400'000'000},
           docs[k % docs.size()],
           k % 4 == 0 ? value{} : value{reference{9}},
           text,
           std::numeric_limits<std::int64_t>::max()};
      ++k;
      CHECK(to_json_text(d, it) == dump(to_json(d, it)));
    }
  // A type name that needs escaping, and no attributes at all.
  type_decl bare{"t.bare", 1, {}};
  item it;
  it.id = 7;
  it.type = "t.\"bare\"";
  CHECK(to_json_text(bare, it) == dump(to_json(bare, it)));
}

TEST_CASE("item_from_json_text reads what item_from_json reads, or declines",
          "[store][value]") {
  type_decl d{"t.all", 1, {}};
  d.attributes = {
    attr("i", attribute_type::integer), attr("r", attribute_type::real),
    attr("s", attribute_type::text),    attr("b", attribute_type::bytes),
    attr("f", attribute_type::boolean), attr("ts", attribute_type::timestamp),
    attr("j", attribute_type::json),    attr("ref", attribute_type::reference)};
  d.attributes[0].default_value = std::int64_t{5};
  d.attributes[2].nullable = false;
  d.attributes.back().target_type = "t.all";
  REQUIRE(validate(d));
  // Texts the fast path reads, and texts it leaves to the full path.
  std::vector<std::string> fast = {
    R"({})",
    R"({"i":1,"r":2,"s":"x","b":"AP8B","f":true,"ts":-5,"j":"doc","ref":3})",
    R"({"r":1,"i":-9223372036854775808,"s":"tab\t \u00e9 \ud83d\ude00"})",
    R"({"i":9223372036854775807,"r":1e300,"j":null,"s":"x"})",
    R"( { "id" : 7 , "type" : "other" , "s" : "dup" , "s" : "last" } )",
    R"({"r":null,"ref":null,"b":null,"f":false,"j":12.5})",
    R"({"j":true,"i":0,"r":-0.0})",
  };
  std::vector<std::string> declined = {
    "",
    "null",
    "[]",
    "5",
    R"("s")",
    R"({"i":1)",
    R"({"i":1} x)",
    R"({"i":1,})",
    R"({'i':1})",
    R"({"nope":1})",
    R"({"i":"seven"})",
    R"({"i":1.5})",
    R"({"i":18446744073709551615})",
    R"({"s":null})",
    R"({"s":"a\u0000b"})",
    R"({"b":"AP8"})",
    R"({"ref":0})",
    R"({"j":{"k":[1,2]}})",
    R"({"j":[1]})",
    R"({"id":{"x":1}})",
    R"({"r":1e999})",
    R"({"s":"\ud800"})",
    R"({"f":1})",
    "{\"s\":\"\xFF\"}",
    R"({"i":1 /* comment */})",
  };
  for (auto& text : fast) {
    INFO(text);
    auto slow = item_from_json(d, nlohmann::json::parse(text));
    REQUIRE(slow);
    auto quick = item_from_json_text(d, text);
    REQUIRE(quick);
    CHECK(*quick == *slow);
  }
  for (auto& text : declined) {
    INFO(text);
    CHECK_FALSE(item_from_json_text(d, text));
  }
  // Declined only for being nested: the full path accepts these.
  CHECK(
    item_from_json(d, nlohmann::json::parse(R"({"j":{"k":[1,2]},"s":"x"})")));
}

TEST_CASE("item_from_json reports wrong types and unknown keys by name",
          "[store][value]") {
  type_decl d{"t.x", 1, {attr("n", attribute_type::integer),
                         attr("s", attribute_type::text)}};
  auto r = item_from_json(d, {{"n", "seven"}});
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::invalid_value);
  CHECK(r.error_value().message.find("'n'") != std::string::npos);
  r = item_from_json(d, {{"nope", 1}});
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::no_such_attribute);
  CHECK(r.error_value().message.find("nope") != std::string::npos);
  r = item_from_json(d, nlohmann::json::array());
  CHECK(r.code() == errc::invalid_value);
  r = item_from_json(d, {{"n", 18446744073709551615ull}});
  CHECK(r.code() == errc::invalid_value);
  r = item_from_json(d, {{"n", 1.5}});
  CHECK(r.code() == errc::invalid_value);

  item base = make_item(d);
  base.values = {std::int64_t{1}, std::string{"keep"}};
  auto patched = item_from_json(d, {{"n", 2}}, &base);
  REQUIRE(patched);
  CHECK(std::get<std::int64_t>(patched->values[0]) == 2);
  CHECK(std::get<std::string>(patched->values[1]) == "keep");
}

TEST_CASE("base64 encodes and rejects malformed input", "[store][value]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(*base64_decode("Zm9vYg==") == "foob");
  CHECK_FALSE(base64_decode("Zm9"));
  CHECK_FALSE(base64_decode("Zm=v"));
  CHECK_FALSE(base64_decode("Zm9v!A=="));
  std::string all;
  for (int c = 0; c < 256; ++c)
    all += static_cast<char>(c);
  CHECK(*base64_decode(base64_encode(all)) == all);
}
