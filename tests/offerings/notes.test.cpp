// The notes offering through a real in-process node: its handlers run in
// the store actor of a user who has the notes product.

#include <catch2/catch.hpp>

#include <thread>

#include "offerings/notes.hpp"
#include "tests/offerings/fixture.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

struct notes_fixture : test::offerings_fixture {
  notes_fixture() {
    REQUIRE(offerings::install_offering(*site, ctx(), "notes"));
    add_user("alice@example.com");
    add_user("bob@example.com");
    REQUIRE(offerings::add_product_to_user(*site, ctx(),
                                           addr("alice@example.com"), "notes"));
    // bob has a store but not the product.
    REQUIRE(offerings::add_product_to_user(*site, ctx(),
                                           addr("bob@example.com"), "notes"));
    REQUIRE(offerings::remove_product_from_user(
      *site, ctx(), addr("bob@example.com"), "notes"));
    start_node();
  }
};

const std::string alice = "alice@example.com";

} // namespace

TEST_CASE_METHOD(notes_fixture, "notes are created, edited, listed and deleted",
                 "[offerings][notes]") {
  auto a
    = ok(alice, "notes.create", {{"title", "groceries"}, {"body", "milk"}});
  CHECK(a["type"] == "notes.note");
  CHECK(a["title"] == "groceries");
  CHECK(a["body"] == "milk");
  CHECK(a["created"] == a["modified"]);
  CHECK(a["created"].get<std::int64_t>() > 0);
  std::this_thread::sleep_for(2ms);
  auto b = ok(alice, "notes.create", {{"title", "ideas"}});
  CHECK(b["body"] == "");

  // Newest modified first.
  auto list = ok(alice, "notes.list", json::object());
  CHECK(list["total"] == 2);
  REQUIRE(list["notes"].size() == 2);
  CHECK(list["notes"][0]["title"] == "ideas");
  CHECK(list["notes"][1]["title"] == "groceries");

  // Editing moves a note to the front and keeps what is not given.
  auto e = ok(alice, "notes.edit", {{"id", a["id"]}, {"body", "milk, eggs"}});
  CHECK(e["title"] == "groceries");
  CHECK(e["body"] == "milk, eggs");
  CHECK(e["created"] == a["created"]);
  CHECK(e["modified"].get<std::int64_t>() > a["modified"].get<std::int64_t>());
  list = ok(alice, "notes.list", {{"limit", 1}});
  REQUIRE(list["notes"].size() == 1);
  CHECK(list["notes"][0]["id"] == a["id"]);
  CHECK(list["total"] == 2);
  list = ok(alice, "notes.list", {{"limit", 1}, {"offset", 1}});
  CHECK(list["notes"][0]["id"] == b["id"]);

  // The note is an item of the store like any other.
  auto got = n->wait([&](actors::reply_handler done) {
    n->get(sys, alice, "notes.note", a["id"].get<std::int64_t>(),
           std::move(done));
  });
  REQUIRE(got.ok);
  CHECK(json::parse(got.body)["body"] == "milk, eggs");

  CHECK(ok(alice, "notes.delete", {{"id", a["id"]}})["ok"] == true);
  list = ok(alice, "notes.list", json::object());
  CHECK(list["total"] == 1);
  auto gone = run(alice, "notes.delete", {{"id", a["id"]}});
  CHECK_FALSE(gone.ok);
  CHECK(gone.code == actors::error_code::no_such_item);
  auto edit_gone = run(alice, "notes.edit", {{"id", a["id"]}, {"title", "x"}});
  CHECK_FALSE(edit_gone.ok);
  CHECK(edit_gone.code == actors::error_code::no_such_item);
}

TEST_CASE_METHOD(notes_fixture, "notes handlers refuse bad arguments",
                 "[offerings][notes][bad-input]") {
  for (auto [handler, args] : std::vector<std::pair<std::string, json>>{
         {"notes.create", {{"title", 5}}},
         {"notes.create", json::array({1, 2})},
         {"notes.create", {{"title", std::string(5000, 'x')}}},
         {"notes.edit", {{"title", "no id"}}},
         {"notes.edit", {{"id", "1"}}},
         {"notes.edit", {{"id", -3}}},
         {"notes.list", {{"limit", 100000}}},
         {"notes.list", {{"offset", -1}}},
         {"notes.list", {{"limit", 18446744073709551615ull}}},
         {"notes.delete", json::object()}}) {
    INFO(handler << " " << args.dump());
    auto r = run(alice, handler, args);
    CHECK_FALSE(r.ok);
    CHECK(r.code == actors::error_code::invalid_value);
    CHECK_FALSE(r.message.empty());
  }
  CHECK(ok(alice, "notes.list", json::object())["total"] == 0);
}

TEST_CASE_METHOD(notes_fixture, "a store without the notebook has no notes",
                 "[offerings][notes]") {
  auto r = run("bob@example.com", "notes.create", {{"title", "x"}});
  REQUIRE_FALSE(r.ok);
  CHECK_THAT(r.message, Contains("notebook"));
  CHECK_THAT(r.message, Contains("'notes' product"));
}
