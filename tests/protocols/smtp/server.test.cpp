// The SMTP server on 127.0.0.1 against a real node (real store files, the
// built-in mail offering, accounts made with the `mantissa` command), with
// a C++ client on raw sockets.

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/node.hpp"
#include "offerings/setup.hpp"
#include "protocols/smtp/backend.hpp"
#include "protocols/smtp/server.hpp"
#include "store/item.hpp"
#include "tests/support/node.hpp"
#include "tests/support/process.hpp"
#include "tests/support/smtp_client.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using nlohmann::json;
using test::smtp_connection;
namespace fs = std::filesystem;

namespace {

void cli(const std::vector<std::string>& args, const std::string& input = {}) {
  std::vector<std::string> argv{MANTISSA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run(argv, input);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

/// A data directory with the mail offering installed and the accounts
/// alice@ and bob@example.com (product mail, password "<name> password"),
/// carol@example.com (no inbox) and dave@example.com (mail, disabled).
/// Made once with the `mantissa` command, then copied for each test.
const fs::path& template_data() {
  static test::temp_dir dir{"mantissa-smtp-template"};
  static bool made = false;
  auto data = dir / "data";
  if (!made) {
    auto d = data.string();
    cli({"init", "--data", d, "--domain", "example.com"});
    cli({"offering", "install", "mail", "--data", d});
    for (auto* who : {"alice", "bob", "dave"})
      cli({"user", "add", std::string{who} + "@example.com", "--product",
           "mail", "--password-stdin", "--data", d},
          std::string{who} + " password\n");
    cli({"user", "add", "carol@example.com", "--password-stdin", "--data", d},
        "carol password\n");
    cli({"user", "disable", "dave@example.com", "--data", d});
    made = true;
  }
  static const fs::path path = data;
  return path;
}

/// Forwards to the node's backend; fails the answer of the next
/// `fail_next` deliveries after they really happened (as if one store's
/// commit failed after the others committed).
class flaky_backend final : public smtp::backend {
 public:
  explicit flaky_backend(smtp::backend& real) : real_(real) {}
  std::atomic<int> fail_next{0};

  void check_recipient(const std::string& a,
                       std::function<void(smtp::recipient_status)> d) override {
    real_.check_recipient(a, std::move(d));
  }
  void authenticate(const std::string& u, const std::string& p,
                    const std::string& c,
                    std::function<void(smtp::auth_status)> d) override {
    real_.authenticate(u, p, c, std::move(d));
  }
  void deliver(smtp::delivery m,
               std::function<void(smtp::delivery_status)> d) override {
    if (fail_next.fetch_sub(1) > 0) {
      real_.deliver(std::move(m),
                    [d = std::move(d)](const smtp::delivery_status&) {
                      d({false, "injected failure"});
                    });
      return;
    }
    fail_next.store(0);
    real_.deliver(std::move(m), std::move(d));
  }

 private:
  smtp::backend& real_;
};

struct fixture : test::node_fixture {
  offerings::offering_registry known;
  std::unique_ptr<smtp::backend> real;
  std::unique_ptr<flaky_backend> backend;
  std::unique_ptr<smtp::server> server;
  std::uint16_t port = 0;

  explicit fixture(const std::function<void(smtp::server_options&)>& tweak
                   = {})
    : test::node_fixture{"mantissa-smtp"} {
    fs::copy(template_data(), data, fs::copy_options::recursive);
    REQUIRE(offerings::add_builtin_offerings(known));
    start_node({}, [this](actors::node& node) {
      REQUIRE(offerings::register_offerings(known, node));
      REQUIRE(smtp::register_handlers(node.handlers()));
    });
    std::string err;
    real = smtp::make_node_backend(*n);
    backend = std::make_unique<flaky_backend>(*real);
    smtp::server_options so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.session.hostname = "mx.example.com";
    so.session.domains = {"example.com"};
    if (tweak)
      tweak(so);
    server = std::make_unique<smtp::server>(so, *backend);
    REQUIRE(server->start(err));
    port = server->port();
  }

  ~fixture() {
    server->stop();
    n->stop();
  }

  /// A connection that has been greeted and said EHLO.
  std::unique_ptr<smtp_connection> connect() {
    auto c = std::make_unique<smtp_connection>(port);
    auto greeting = c->read_reply();
    REQUIRE(greeting);
    REQUIRE(greeting->code == 220);
    REQUIRE(c->code("EHLO client.example") == 250);
    return c;
  }

  /// `mail.list` of a store: the messages without raw, newest first.
  json messages(const std::string& address) {
    auto r = n->wait([&](actors::reply_handler done) {
      n->run({actors::system_role, "t"}, address, "mail.list",
                R"({"limit":1000})", std::move(done));
    });
    REQUIRE(r.ok);
    return json::parse(r.body)["messages"];
  }

  /// The stored bytes of message `id` in `address`.
  std::string raw(const std::string& address, std::int64_t id) {
    auto r = n->wait([&](actors::reply_handler done) {
      n->run({actors::system_role, "t"}, address, "mail.get",
                json{{"id", id}}.dump(), std::move(done));
    });
    REQUIRE(r.ok);
    auto bytes
      = store::base64_decode(json::parse(r.body)["raw"].get<std::string>());
    REQUIRE(bytes);
    return *bytes;
  }

  /// Waits until the server has no connection left (it has processed
  /// everything a closed client sent).
  void wait_idle() {
    for (int i = 0; i < 1000 && server->connections() > 0; ++i)
      std::this_thread::sleep_for(10ms);
    REQUIRE(server->connections() == 0);
  }
};

const std::string sample = "From: Carol <carol@remote.example>\r\n"
                           "To: alice@example.com, bob@example.com\r\n"
                           "Subject: Lunch\r\n"
                           "Date: Tue, 02 Dec 2025 12:00:00 +0000\r\n"
                           "Message-ID: <lunch-1@remote.example>\r\n"
                           "\r\n"
                           "Shall we?\r\n";

/// The stored bytes without the Received header the server put first.
std::string without_received(const std::string& raw) {
  REQUIRE(raw.rfind("Received: from ", 0) == 0);
  // The header ends at the first line break not followed by white space.
  std::size_t pos = 0;
  for (;;) {
    auto nl = raw.find("\r\n", pos);
    REQUIRE(nl != std::string::npos);
    pos = nl + 2;
    if (pos < raw.size() && raw[pos] != '\t' && raw[pos] != ' ')
      return raw.substr(pos);
  }
}

} // namespace

TEST_CASE("a message to two recipients is stored in both stores",
          "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
  REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
  REQUIRE(c->code("RCPT TO:<Bob@Example.com>") == 250);
  REQUIRE(c->data(sample) == 250);
  CHECK(c->code("QUIT") == 221);
  for (auto* who : {"alice@example.com", "bob@example.com"}) {
    auto list = f.messages(who);
    REQUIRE(list.size() == 1);
    auto& m = list[0];
    CHECK(m["subject"] == "Lunch");
    CHECK(m["from_header"] == "Carol <carol@remote.example>");
    CHECK(m["to_header"] == "alice@example.com, bob@example.com");
    CHECK(m["date_header"] == "Tue, 02 Dec 2025 12:00:00 +0000");
    CHECK(m["message_id"] == "<lunch-1@remote.example>");
    CHECK(m["sender"] == "carol@remote.example");
    // Each store sees only its own envelope recipients.
    CHECK(m["recipients"].size() == 1);
    auto raw = f.raw(who, m["id"].get<std::int64_t>());
    CHECK(without_received(raw) == sample);
    CHECK(raw.find("by mx.example.com (Mantissa) with ESMTP")
          != std::string::npos);
  }
}

TEST_CASE("unknown, disabled and inbox-less recipients are refused among "
          "valid ones",
          "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
  auto nobody = c->command("RCPT TO:<nobody@example.com>");
  REQUIRE(nobody);
  CHECK(nobody->code == 550);
  CHECK(nobody->lines[0].rfind("5.1.1 ", 0) == 0);
  CHECK(c->code("RCPT TO:<alice@example.com>") == 250);
  CHECK(c->code("RCPT TO:<dave@example.com>") == 550);  // disabled
  CHECK(c->code("RCPT TO:<carol@example.com>") == 550); // no inbox
  CHECK(c->code("RCPT TO:<bad..name@example.com>") == 550);
  REQUIRE(c->data(sample) == 250);
  CHECK(f.messages("alice@example.com").size() == 1);
  CHECK(f.messages("carol@example.com").empty());
}

TEST_CASE("relaying is denied, also to authenticated users", "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  REQUIRE(c->code("MAIL FROM:<alice@example.com>") == 250);
  auto r = c->command("RCPT TO:<someone@elsewhere.example>");
  REQUIRE(r);
  CHECK(r->code == 550);
  CHECK(r->text()
        == "550 5.7.1 <someone@elsewhere.example>: Relay access "
           "denied");
  CHECK(c->code("DATA") == 554); // no valid recipients
  CHECK(c->code("RSET") == 250);
  // "\0alice@example.com\0alice password"
  auto plain = store::base64_encode(
    std::string{"\0alice@example.com\0alice password", 33});
  CHECK(c->code("AUTH PLAIN " + plain) == 235);
  REQUIRE(c->code("MAIL FROM:<alice@example.com>") == 250);
  CHECK(c->code("RCPT TO:<someone@elsewhere.example>") == 550);
  CHECK(c->code("RCPT TO:<bob@example.com>") == 250);
  REQUIRE(c->data(sample) == 250);
  auto list = f.messages("bob@example.com");
  REQUIRE(list.size() == 1);
  auto raw = f.raw("bob@example.com", list[0]["id"].get<std::int64_t>());
  CHECK(raw.find("with ESMTPA") != std::string::npos);
}

TEST_CASE("a wrong password is refused", "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  auto plain
    = store::base64_encode(std::string{"\0alice@example.com\0wrong", 24});
  CHECK(c->code("AUTH PLAIN " + plain) == 535);
  CHECK(c->code("NOOP") == 250);
}

TEST_CASE("SIZE is refused when declared and when sent", "[smtp][server]") {
  fixture f{[](smtp::server_options& o) { o.session.max_message_size = 4096; }};
  auto c = f.connect();
  CHECK(c->code("MAIL FROM:<carol@remote.example> SIZE=5000") == 552);
  REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
  REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < 10'000)
    big += std::string(70, 'x') + "\r\n";
  CHECK(c->data(big) == 552);
  // The session goes on.
  REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
  REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
  CHECK(c->data(sample) == 250);
  CHECK(f.messages("alice@example.com").size() == 1);
}

TEST_CASE("pipelined commands over a socket are answered in order",
          "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  c->send("MAIL FROM:<carol@remote.example>\r\n"
          "RCPT TO:<alice@example.com>\r\n"
          "RCPT TO:<nobody@example.com>\r\n"
          "RCPT TO:<bob@example.com>\r\n"
          "DATA\r\n");
  for (int want : {250, 250, 550, 250, 354}) {
    auto r = c->read_reply();
    REQUIRE(r);
    CHECK(r->code == want);
  }
  c->send(test::dot_stuff(sample)
          + "MAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\n"
            "DATA\r\n");
  for (int want : {250, 250, 250, 354}) {
    auto r = c->read_reply();
    REQUIRE(r);
    CHECK(r->code == want);
  }
  c->send(test::dot_stuff("Subject: bounce\r\n\r\nx\r\n") + "QUIT\r\n");
  for (int want : {250, 221}) {
    auto r = c->read_reply();
    REQUIRE(r);
    CHECK(r->code == want);
  }
  CHECK(c->closed_by_peer(5s));
  CHECK(f.messages("alice@example.com").size() == 1);
  CHECK(f.messages("bob@example.com").size() == 2);
}

TEST_CASE("dot-stuffed and long lines round-trip exactly", "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  std::string body = "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n"
                     " . \r\n"
                     + std::string(5000, 'L') + "\r\n"
                     + "8-bit: \xc3\xa9\xff\r\nNUL: " + std::string(1, '\0')
                     + "\r\n.";
  body += "\r\n";
  REQUIRE(c->code("MAIL FROM:<carol@remote.example> BODY=8BITMIME") == 250);
  REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
  REQUIRE(c->data(body) == 250);
  auto list = f.messages("alice@example.com");
  REQUIRE(list.size() == 1);
  CHECK(without_received(
          f.raw("alice@example.com", list[0]["id"].get<std::int64_t>()))
        == body);
  CHECK(list[0]["subject"] == "dots");
}

TEST_CASE("bare LF in message data is refused, long command lines get 500",
          "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  auto r = c->command("NOOP " + std::string(5000, 'a'));
  REQUIRE(r);
  CHECK(r->code == 500);
  CHECK(c->code("NOOP") == 250);
  REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
  REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
  REQUIRE(c->code("DATA") == 354);
  c->send("Subject: bare\n\nline\n.\nMAIL FROM:<smuggled@x.example>\r\n");
  auto refused = c->read_reply();
  REQUIRE(refused);
  CHECK(refused->code == 554);
  CHECK(c->closed_by_peer(5s));
  f.wait_idle();
  CHECK(f.messages("alice@example.com").empty());
}

TEST_CASE("a client that disconnects in the middle of DATA stores nothing",
          "[smtp][server]") {
  fixture f;
  {
    auto c = f.connect();
    REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
    REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
    REQUIRE(c->code("DATA") == 354);
    c->send("Subject: cut\r\n\r\nhalf a message\r\n");
    c->abort();
  }
  {
    auto c = f.connect();
    REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
    REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
    REQUIRE(c->code("DATA") == 354);
    c->send("Subject: cut\r\n\r\nno final dot\r\n");
    // A clean close (FIN) without the final dot.
  }
  f.wait_idle();
  CHECK(f.messages("alice@example.com").empty());
}

TEST_CASE("a failed store gives 4xx and the retry leaves one copy each",
          "[smtp][server]") {
  fixture f;
  f.backend->fail_next = 1;
  auto c = f.connect();
  auto send_once = [&] {
    REQUIRE(c->code("MAIL FROM:<carol@remote.example>") == 250);
    REQUIRE(c->code("RCPT TO:<alice@example.com>") == 250);
    REQUIRE(c->code("RCPT TO:<bob@example.com>") == 250);
    return c->data(sample);
  };
  CHECK(send_once() == 451);
  // Both stores did commit it; the retry must not add a second copy.
  CHECK(send_once() == 250);
  CHECK(f.messages("alice@example.com").size() == 1);
  CHECK(f.messages("bob@example.com").size() == 1);
  // The same message again, later, is the same delivery.
  CHECK(send_once() == 250);
  CHECK(f.messages("alice@example.com").size() == 1);
}

TEST_CASE("connections beyond the cap get 421", "[smtp][server]") {
  fixture f{[](smtp::server_options& o) { o.max_connections = 2; }};
  auto a = f.connect();
  auto b = f.connect();
  smtp_connection third{f.port};
  auto r = third.read_reply();
  REQUIRE(r);
  CHECK(r->code == 421);
  CHECK(third.closed_by_peer(5s));
  CHECK(a->code("NOOP") == 250);
}

TEST_CASE("an idle client is closed with 421", "[smtp][server]") {
  fixture f{[](smtp::server_options& o) { o.command_timeout = 200ms; }};
  auto c = f.connect();
  auto r = c->read_reply();
  REQUIRE(r);
  CHECK(r->code == 421);
  CHECK(r->lines[0].rfind("4.4.2 ", 0) == 0);
  CHECK(c->closed_by_peer(5s));
}

TEST_CASE("stopping the server says 421 to idle clients", "[smtp][server]") {
  fixture f;
  auto c = f.connect();
  f.server->stop();
  auto r = c->read_reply();
  REQUIRE(r);
  CHECK(r->code == 421);
}
