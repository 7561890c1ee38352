// The mail offering: header parsing, and delivery through a real
// in-process node into the store of a user who has the mail product.

#include <catch2/catch.hpp>

#include "offerings/mail.hpp"
#include "tests/offerings/fixture.hpp"

using namespace mantissa;
using Catch::Matchers::Contains;
using nlohmann::json;

TEST_CASE("mail headers are parsed and unfolded", "[offerings][mail]") {
  std::string raw = "Received: from x\r\n"
                    "SUBJECT: Lunch\r\n"
                    "  plans\r\n"
                    "\tfor friday\r\n"
                    "From: Alice <alice@example.org>\r\n"
                    "to: bob@example.com,\r\n"
                    " carol@example.com\r\n"
                    "Subject: a second subject is ignored\r\n"
                    "Date: Fri, 20 Nov 2026 10:00:00 +0000\r\n"
                    "Message-ID:   <1@example.org>   \r\n"
                    "\r\n"
                    "Subject: not a header, the body\r\n";
  auto h = offerings::mail::parse_headers(raw);
  CHECK(h.subject == "Lunch  plans\tfor friday");
  CHECK(h.from == "Alice <alice@example.org>");
  CHECK(h.to == "bob@example.com, carol@example.com");
  CHECK(h.date == "Fri, 20 Nov 2026 10:00:00 +0000");
  CHECK(h.message_id == "<1@example.org>");

  SECTION("bare LF line ends, a missing body, lines without colon") {
    auto l = offerings::mail::parse_headers("junk line\nSubject: hi\n there");
    CHECK(l.subject == "hi there");
    CHECK(l.from.empty());
  }
  SECTION("8-bit and NUL bytes become U+FFFD; long values are cut") {
    auto b = offerings::mail::parse_headers(
      std::string{"Subject: caf\xE9 \xC3\xA9 x\0y\r\n\r\n", 24});
    CHECK(b.subject == "caf\xEF\xBF\xBD \xC3\xA9 x\xEF\xBF\xBDy");
    auto big = offerings::mail::parse_headers(
      "Subject: " + std::string(20000, 'a') + "\n");
    CHECK(big.subject.size() == offerings::mail::max_header_size);
  }
  SECTION("nothing at all") {
    auto e = offerings::mail::parse_headers("");
    CHECK(e.subject.empty());
  }
}

namespace {

struct mail_fixture : test::offerings_fixture {
  mail_fixture() {
    REQUIRE(offerings::install_offering(*site, ctx(), "mail"));
    add_user("alice@example.com");
    add_user("bob@example.com");
    REQUIRE(offerings::add_product_to_user(*site, ctx(),
                                           addr("alice@example.com"), "mail"));
    // bob's store exists (the account's copy) but has no inbox.
    auto bob = actors::find_account(*site, addr("bob@example.com"));
    REQUIRE(bob);
    auto path = actors::store_path(data, addr("bob@example.com"));
    std::filesystem::create_directories(path.parent_path());
    auto s = store::store::open(path, types);
    REQUIRE(s);
    REQUIRE(actors::write_account_copy(**s, *bob));
    s->reset();
    start_node();
  }

  json deliver(const std::string& to, const std::string& delivery_id,
               const std::string& raw) {
    return ok(to, "mail.deliver",
              {{"delivery_id", delivery_id},
               {"raw", store::base64_encode(raw)},
               {"sender", "alice@example.org"},
               {"recipients", {to}}});
  }
};

const std::string alice = "alice@example.com";

// CRLF line ends, 8-bit bytes in a header and in the body, a NUL, a
// trailing line without CRLF.
const std::string message_bytes
  = std::string{"From: Alice <alice@example.org>\r\n"
                "To: alice@example.com\r\n"
                "Subject: =?utf-8?q?Caf=C3=A9?= \xE9t\xE9\r\n"
                "Date: Sat, 21 Nov 2026 09:00:00 +0100\r\n"
                "Message-ID: <42@example.org>\r\n"
                "\r\n"
                "body line one\r\n"
                "8-bit: \xFF\xFE\x80 and a NUL: \0 end\r\n"
                "last line without newline",
                232};

} // namespace

TEST_CASE_METHOD(mail_fixture,
                 "a delivered message keeps its raw bytes and parsed headers",
                 "[offerings][mail]") {
  REQUIRE(message_bytes.size() == 232);
  REQUIRE(message_bytes.back() == 'e');
  auto r = deliver(alice, "smtp-1", message_bytes);
  CHECK(r["duplicate"] == false);
  auto m = r["message"];
  CHECK_FALSE(m.contains("raw"));
  CHECK(m["subject"] == "=?utf-8?q?Caf=C3=A9?= \xEF\xBF\xBDt\xEF\xBF\xBD");
  CHECK(m["from_header"] == "Alice <alice@example.org>");
  CHECK(m["to_header"] == "alice@example.com");
  CHECK(m["message_id"] == "<42@example.org>");
  CHECK(m["date_header"] == "Sat, 21 Nov 2026 09:00:00 +0100");
  CHECK(m["sender"] == "alice@example.org");
  CHECK(m["recipients"] == json{alice});
  CHECK(m["size"] == 232);
  CHECK(m["read"] == false);
  CHECK(m["delivery_id"] == "smtp-1");

  auto full = ok(alice, "mail.get", {{"id", r["id"]}});
  auto raw = store::base64_decode(full["raw"].get<std::string>());
  REQUIRE(raw);
  CHECK(*raw == message_bytes);
}

TEST_CASE_METHOD(mail_fixture, "a delivery id is delivered once",
                 "[offerings][mail]") {
  auto first = deliver(alice, "smtp-7", message_bytes);
  auto second = deliver(alice, "smtp-7", "Subject: different\r\n\r\nother");
  CHECK(second["duplicate"] == true);
  CHECK(second["id"] == first["id"]);
  CHECK(second["message"]["message_id"] == "<42@example.org>");
  auto other = deliver(alice, "smtp-8", "Subject: different\r\n\r\nother");
  CHECK(other["duplicate"] == false);
  auto list = ok(alice, "mail.list", json::object());
  CHECK(list["total"] == 2);
  REQUIRE(list["messages"].size() == 2);
  CHECK(list["messages"][0]["subject"] == "different"); // newest first
  CHECK_FALSE(list["messages"][0].contains("raw"));
}

TEST_CASE_METHOD(mail_fixture, "messages are marked read",
                 "[offerings][mail]") {
  auto a = deliver(alice, "d1", "Subject: one\r\n\r\n");
  deliver(alice, "d2", "Subject: two\r\n\r\n");
  CHECK(ok(alice, "mail.mark_read", {{"id", a["id"]}})["read"] == true);
  auto unread = ok(alice, "mail.list", {{"unread", true}});
  CHECK(unread["total"] == 1);
  CHECK(unread["messages"][0]["subject"] == "two");
  CHECK(ok(alice, "mail.mark_read", {{"id", a["id"]}, {"read", false}})["read"]
        == false);
  CHECK(ok(alice, "mail.list", {{"unread", true}})["total"] == 2);
  CHECK_FALSE(run(alice, "mail.mark_read", {{"id", 999999}}).ok);
}

TEST_CASE_METHOD(mail_fixture,
                 "delivery is refused without the delivery powerup",
                 "[offerings][mail]") {
  auto r = run("bob@example.com", "mail.deliver",
               {{"delivery_id", "x"},
                {"raw", store::base64_encode("Subject: hi\r\n\r\n")},
                {"sender", "a@b.c"},
                {"recipients", {"bob@example.com"}}});
  REQUIRE_FALSE(r.ok);
  CHECK_THAT(r.message, Contains("mail-delivery powerup"));
  auto count = n->wait([&](actors::reply_handler done) {
    n->count(sys, "bob@example.com", "mail.message", "", std::move(done));
  });
  REQUIRE(count.ok);
  CHECK(json::parse(count.body)["count"] == 0);
}

TEST_CASE_METHOD(mail_fixture, "bad deliveries are refused and store nothing",
                 "[offerings][mail][bad-input]") {
  for (auto& args : std::vector<json>{
         {{"raw", "U3ViamVjdDogaGkNCg0K"}}, // no delivery id
         {{"delivery_id", ""}, {"raw", "U3ViamVjdDogaGkNCg0K"}},
         {{"delivery_id", std::string(300, 'd')}, {"raw", ""}},
         {{"delivery_id", "a"}}, // no raw
         {{"delivery_id", "a"}, {"raw", "not base64!"}},
         {{"delivery_id", "a"}, {"raw", ""}, {"recipients", "x"}},
         {{"delivery_id", "a"}, {"raw", ""}, {"recipients", {1}}},
         {{"delivery_id", 7}, {"raw", ""}},
         json::array()}) {
    INFO(args.dump());
    auto r = run(alice, "mail.deliver", args);
    CHECK_FALSE(r.ok);
    CHECK(r.code == actors::error_code::invalid_value);
  }
  CHECK(ok(alice, "mail.list", json::object())["total"] == 0);
}

TEST_CASE_METHOD(mail_fixture,
                 "a large message is stored in chunks, read back in ranges "
                 "byte for byte, and deleted with its chunks",
                 "[offerings][mail]") {
  // 2.5 MiB of every byte value, with the bytes beside the arguments (the
  // SMTP front end's way): three chunks, the last one short.
  std::string big = "Subject: large\r\n\r\n";
  for (std::size_t i = 0; big.size() < (std::size_t{5} << 19) + 77; ++i)
    big += static_cast<char>((i * 131 + i / 7) & 0xFF);
  auto bytes = std::make_shared<const std::string>(big);
  auto r = n->wait([&](actors::reply_handler done) {
    n->run(sys, alice, "mail.deliver",
           json{{"delivery_id", "big-1"}, {"sender", "x@example.org"},
                {"recipients", {alice}}}
             .dump(),
           actors::shared_bytes{bytes}, std::move(done));
  });
  INFO(r.message);
  REQUIRE(r.ok);
  auto id = json::parse(r.body)["id"].get<std::int64_t>();
  CHECK(json::parse(r.body)["message"]["subject"] == "large");
  CHECK(json::parse(r.body)["message"]["size"] == big.size());
  auto got = ok(alice, "mail.get", {{"id", id}});
  CHECK(got["raw_chunked"] == true);
  CHECK_FALSE(got.contains("raw"));
  CHECK(ok(alice, "mail.list", {})["total"] == 1);
  // Whole, 1 MiB per call, and ranges across chunk boundaries.
  std::string back;
  for (std::int64_t at = 0;;) {
    auto part = ok(alice, "mail.raw", {{"id", id}, {"offset", at}});
    CHECK(part["size"] == big.size());
    auto piece = store::base64_decode(part["data"].get<std::string>());
    REQUIRE(piece);
    if (piece->empty())
      break;
    back += *piece;
    at += static_cast<std::int64_t>(piece->size());
  }
  CHECK(back == big);
  for (auto [from, len] : {std::pair<std::int64_t, std::int64_t>{0, 10},
                           {(1 << 20) - 3, 7},
                           {(2 << 20) - 1, 5000},
                           {static_cast<std::int64_t>(big.size()) - 1, 100}}) {
    auto part = ok(alice, "mail.raw",
                   {{"id", id}, {"offset", from}, {"length", len}});
    auto piece = store::base64_decode(part["data"].get<std::string>());
    REQUIRE(piece);
    CHECK(*piece == big.substr(static_cast<std::size_t>(from),
                              static_cast<std::size_t>(len)));
  }
  CHECK_FALSE(run(alice, "mail.raw", {{"id", id}, {"length", 2 << 20}}).ok);
  // The same delivery again is the same message; deleting it takes its
  // chunks along.
  auto again = n->wait([&](actors::reply_handler done) {
    n->run(sys, alice, "mail.deliver",
           json{{"delivery_id", "big-1"}}.dump(), actors::shared_bytes{bytes},
           std::move(done));
  });
  REQUIRE(again.ok);
  CHECK(json::parse(again.body)["duplicate"] == true);
  auto count = [&](const char* type) {
    auto c = n->wait([&](actors::reply_handler done) {
      n->count(sys, alice, type, "", std::move(done));
    });
    REQUIRE(c.ok);
    return json::parse(c.body)["count"].get<std::int64_t>();
  };
  CHECK(count("mail.raw_chunk") == 3);
  auto del = n->wait([&](actors::reply_handler done) {
    n->remove(sys, alice, "mail.message", id, std::move(done));
  });
  REQUIRE(del.ok);
  CHECK(count("mail.raw_chunk") == 0);
}

TEST_CASE_METHOD(mail_fixture,
                 "a message written as an item gets a received time that "
                 "updates keep",
                 "[offerings][mail][hooks]") {
  auto write = [&](auto f) {
    auto r = n->wait([&](actors::reply_handler done) { f(std::move(done)); });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body);
  };
  // No received time given: the hook sets one.
  auto m = write([&](auto done) {
    n->put(sys, alice, "mail.message", R"({"subject":"put"})", std::move(done));
  });
  auto received = m["received"].get<std::int64_t>();
  CHECK(received > 0);
  auto id = m["id"].get<std::int64_t>();
  auto changed = write([&](auto done) {
    n->update(sys, alice, "mail.message", id, R"({"read":true,"received":5})",
              std::move(done));
  });
  CHECK(changed["read"] == true);
  CHECK(changed["received"] == received);
  // A writer that gives a received time keeps it.
  auto given = write([&](auto done) {
    n->put(sys, alice, "mail.message", R"({"received":1234})", std::move(done));
  });
  CHECK(given["received"] == 1234);
}
