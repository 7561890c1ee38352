// Fan-out (actors/fanout.hpp): the request's checks, the collation, and a
// node running one over its user stores in-process (real SQLite files).

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/fanout.hpp"
#include "actors/node.hpp"
#include "tests/support/node.hpp"

using namespace mantissa;
using actors::fanout_collate;
using actors::fanout_op;
using actors::parse_fanout_spec;
using nlohmann::json;

namespace {

actors::fanout_spec spec_of(const std::string& text) {
  auto s = parse_fanout_spec(text);
  INFO(text << ": " << (s ? "" : s.error_value().message));
  REQUIRE(s);
  return *s;
}

std::string refusal(const std::string& text) {
  auto s = parse_fanout_spec(text);
  REQUIRE_FALSE(s);
  CHECK(s.code() == store::errc::invalid_query);
  return s.error_value().message;
}

} // namespace

TEST_CASE("fanout specs: defaults, checks and the pushed-down top-N",
          "[fanout]") {
  auto c = spec_of(R"({"type":"notes.note"})");
  CHECK(c.op == fanout_op::count);
  CHECK(c.collate == fanout_collate::sum);
  CHECK(c.concurrency == 16);
  CHECK(c.where == "{}");
  auto q = spec_of(R"({"op":"query","query":{"type":"t"}})");
  CHECK(q.collate == fanout_collate::concat);
  auto top = spec_of(R"({"op":"query","query":{"type":"t"},"collate":"top",)"
                     R"("field":"n","limit":3,"order":"asc"})");
  auto pushed = json::parse(top.query);
  CHECK(pushed.at("sort") == json::array({"n"}));
  CHECK(pushed.at("limit") == 3);
  auto filtered = spec_of(R"({"type":"t","stores":{"domain":"Example.COM",)"
                          R"("addresses":["B@example.com","a@example.com"]}})");
  CHECK(filtered.domain == "example.com");
  CHECK(filtered.addresses
        == std::vector<std::string>{"a@example.com", "b@example.com"});
  CHECK(actors::fanout_selects(filtered, "a@example.com"));
  CHECK_FALSE(actors::fanout_selects(filtered, "c@example.com"));
  CHECK_FALSE(actors::fanout_selects(spec_of(R"({"type":"t","stores":{"domain":"x.org"}})"),
                                     "a@example.com"));
  // The JSON form reads back to the same spec.
  auto again = spec_of(filtered.to_json());
  CHECK(again.addresses == filtered.addresses);
  CHECK(again.domain == filtered.domain);

  CHECK(refusal("[1]").find("JSON object") != std::string::npos);
  CHECK(refusal("{").find("JSON object") != std::string::npos);
  CHECK(refusal(R"({"op":"count"})").find("needs a type") != std::string::npos);
  CHECK(refusal(R"({"op":"drop","type":"t"})").find("op must be") != std::string::npos);
  CHECK(refusal(R"({"type":"t","bogus":1})").find("unknown member 'bogus'")
        != std::string::npos);
  CHECK(refusal(R"({"op":"query","query":{"type":"t"},"collate":"sum"})")
          .find("needs a field")
        != std::string::npos);
  CHECK(refusal(R"({"type":"t","concurrency":0})").find("between") != std::string::npos);
  CHECK(refusal(R"({"type":"t","concurrency":100000})").find("between")
        != std::string::npos);
  CHECK(refusal(R"({"type":"t","limit":-1})").find("non-negative") != std::string::npos);
  CHECK(refusal(R"({"type":"t","stores":{"addresses":["../x@example.com"]}})")
          .find("stores.addresses")
        != std::string::npos);
  CHECK(refusal(R"({"type":"t","query":{"type":"t"}})").find("not used by op count")
        != std::string::npos);
}

TEST_CASE("fanout collation: sums, counts, concat with a limit, top-N and "
          "partial results of other nodes merged",
          "[fanout]") {
  SECTION("count: sum and stores with items") {
    auto s = spec_of(R"({"type":"t"})");
    actors::fanout_collator sum{s};
    sum.add_reply("a@x.org", R"({"count":3})");
    sum.add_reply("b@x.org", R"({"count":0})");
    sum.add_failure("c@x.org", "store_unavailable", "gone");
    auto r = json::parse(sum.result());
    CHECK(r.at("result") == 3);
    CHECK(r.at("stores") == 3);
    CHECK(r.at("ok") == 2);
    CHECK(r.at("failed") == 1);
    CHECK(r.at("failures")[0].at("store") == "c@x.org");
    s.collate = fanout_collate::count;
    actors::fanout_collator nonzero{s};
    nonzero.add_reply("a@x.org", R"({"count":3})");
    nonzero.add_reply("b@x.org", R"({"count":0})");
    CHECK(json::parse(nonzero.result()).at("result") == 1);
  }
  SECTION("query: concat keeps `limit` items and says it truncated") {
    auto s = spec_of(R"({"op":"query","query":{"type":"t"},"limit":3})");
    actors::fanout_collator c{s};
    c.add_reply("a@x.org", R"({"items":[{"id":1},{"id":2}],"total":2})");
    c.add_reply("b@x.org", R"({"items":[{"id":1},{"id":2}],"total":2})");
    auto r = json::parse(c.result());
    REQUIRE(r.at("result").size() == 3);
    CHECK(r.at("result")[2].at("store") == "b@x.org");
    CHECK(r.at("truncated") == true);
  }
  SECTION("query: sum of a field, across a node's partial result") {
    auto s = spec_of(R"({"op":"query","query":{"type":"t"},"collate":"sum","field":"n"})");
    actors::fanout_collator here{s}, there{s};
    here.add_reply("a@x.org", R"({"items":[{"n":1},{"n":2},{"m":9}]})");
    there.add_reply("b@y.org", R"({"items":[{"n":0.5}]})");
    REQUIRE(here.add_partial(there.partial()));
    auto r = json::parse(here.result());
    CHECK(r.at("result").get<double>() == Approx(3.5));
    CHECK(r.at("stores") == 2);
    CHECK_FALSE(here.add_partial("not json"));
  }
  SECTION("run: top-N by a member of the results; nodes down count their "
          "stores") {
    auto s = spec_of(R"({"op":"run","handler":"h","collate":"top","field":"score","limit":2})");
    actors::fanout_collator c{s};
    c.add_reply("a@x.org", R"({"score":5})");
    c.add_reply("b@x.org", R"({"score":9})");
    c.add_reply("c@x.org", R"({"other":1})");
    c.add_reply("d@x.org", R"({"score":7})");
    c.add_node_failure("n3", 10, "store_unavailable", "node n3 is down");
    auto r = json::parse(c.result());
    REQUIRE(r.at("result").size() == 2);
    CHECK(r.at("result")[0].at("store") == "b@x.org");
    CHECK(r.at("result")[1].at("store") == "d@x.org");
    CHECK(r.at("stores") == 14);
    CHECK(r.at("failed") == 10);
    CHECK(r.at("failures").size() == 1);
    CHECK(r.at("failures")[0].at("node") == "n3");
  }
}

namespace {

store::type_decl item_decl() {
  store::type_decl d{"t.item", 1, {}};
  d.attributes = {{"n", store::attribute_type::integer}};
  return d;
}

const actors::caller sys{actors::system_role, "test"};

} // namespace

TEST_CASE_METHOD(test::node_fixture,
                 "a node runs a fan-out over its user stores: counts, queries, "
                 "progress, and failures listed per store",
                 "[fanout][node]") {
  actors::node_options opts;
  opts.max_open_stores = 16; // far fewer than the stores: LRU at work
  start_node(opts, [](actors::node& node) {
    REQUIRE(node.types().add(item_decl()));
  });
  constexpr int stores = 120;
  std::int64_t items = 0, sum = 0;
  for (int i = 0; i < stores; ++i) {
    auto addr = "u" + std::to_string(i) + (i % 2 ? "@a.org" : "@b.org");
    REQUIRE(n->wait([&](actors::reply_handler d) { n->create_store(addr, d); }).ok);
    for (int k = 0; k < i % 4; ++k) {
      auto r = n->wait([&](actors::reply_handler d) {
        n->put(sys, addr, "t.item", json{{"n", i * 4 + k}}.dump(), d);
      });
      REQUIRE(r.ok);
      ++items;
      sum += i * 4 + k;
    }
  }
  auto run = [&](const std::string& spec, std::atomic<std::uint64_t>* last = nullptr) {
    auto r = n->wait([&](actors::reply_handler d) {
      n->fanout(spec,
               [last](std::uint64_t done, std::uint64_t total) {
                 CHECK(done <= total);
                 if (last != nullptr)
                   *last = done;
               },
               d);
    });
    INFO(spec << " -> " << r.body << r.message);
    REQUIRE(r.ok);
    return json::parse(r.body);
  };
  std::atomic<std::uint64_t> last{0};
  auto count = run(R"({"type":"t.item","concurrency":4})", &last);
  CHECK(count.at("result") == items);
  CHECK(count.at("stores") == stores);
  CHECK(count.at("failed") == 0);
  CHECK(last == stores); // the final progress
  auto where = run(R"({"type":"t.item","where":{"attr":"n","op":">=","value":400}})");
  std::int64_t big = 0;
  for (int i = 0; i < stores; ++i)
    for (int k = 0; k < i % 4; ++k)
      big += i * 4 + k >= 400 ? 1 : 0;
  CHECK(where.at("result") == big);
  auto summed = run(R"({"op":"query","query":{"type":"t.item"},"collate":"sum","field":"n"})");
  CHECK(summed.at("result") == sum);
  auto top = run(R"({"op":"query","query":{"type":"t.item"},"collate":"top","field":"n","limit":3})");
  REQUIRE(top.at("result").size() == 3);
  CHECK(top.at("result")[0].at("n") == (stores - 1) * 4 + 2);
  CHECK(top.at("result")[0].at("store") == "u119@a.org");
  auto domain = run(R"({"type":"t.item","stores":{"domain":"a.org"}})");
  CHECK(domain.at("stores") == stores / 2);
  // A handler no store has: every store fails, 100 are listed.
  auto failing = run(R"({"op":"run","handler":"no.such.handler","concurrency":32})");
  CHECK(failing.at("failed") == stores);
  CHECK(failing.at("failures").size() == actors::max_fanout_failures);
  CHECK(failing.at("failures")[0].at("code") == "no_such_handler");
  // A malformed request.
  auto bad = n->wait([&](actors::reply_handler d) { n->fanout("{\"op\":1}", {}, d); });
  CHECK_FALSE(bad.ok);
  CHECK(bad.code == actors::error_code::invalid_query);
  n->stop();
}
