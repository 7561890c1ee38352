// The SMTP session state machine alone: bytes in, replies and requests out,
// no sockets. A small driver answers its requests the way the node would.

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "protocols/smtp/session.hpp"

using namespace mantissa;
using smtp::recipient_status;

namespace {

smtp::session_options test_options() {
  smtp::session_options o;
  o.hostname = "mx.example.com";
  o.domains = {"example.com", "Example.org"};
  o.max_message_size = 1000;
  o.max_recipients = 3;
  o.max_command_line = 100;
  o.max_errors = 5;
  return o;
}

/// Feeds input to a session and answers every request at once:
/// alice@ and bob@example.com (and postmaster@) are mailboxes, other local
/// addresses are unknown; passwords are "secret"; deliveries succeed
/// unless `fail_deliveries`.
struct driver {
  explicit driver(smtp::session_options o = test_options(),
                  smtp::peer_info p = {"192.0.2.1", false})
    : s(std::move(o), std::move(p)) {
    s.set_clock([] { return std::chrono::system_clock::time_point{}; });
    s.start();
    greeting = s.take_output();
  }

  /// Feeds `input` (in pieces of `chunk` bytes; 0: at once) and returns
  /// the replies produced.
  std::string feed(std::string_view input, std::size_t chunk = 0) {
    std::string out;
    if (chunk == 0)
      chunk = input.size() == 0 ? 1 : input.size();
    for (std::size_t i = 0; i < input.size(); i += chunk) {
      s.receive(input.substr(i, chunk));
      answer(out);
    }
    if (input.empty())
      answer(out);
    return out;
  }

  void answer(std::string& out) {
    for (;;) {
      out += s.take_output();
      for (auto& l : s.take_log())
        log.push_back(l);
      auto* r = s.pending();
      if (r == nullptr)
        return;
      switch (r->kind) {
        case smtp::request_kind::check_recipient: {
          ++lookups;
          auto& a = r->address;
          if (a == "alice@example.com" || a == "bob@example.com"
              || a == "postmaster@example.com")
            s.recipient_checked({recipient_status::result::accepted, a});
          else if (a == "later@example.com")
            s.recipient_checked({recipient_status::result::unavailable, {}});
          else
            s.recipient_checked({recipient_status::result::unknown, {}});
          break;
        }
        case smtp::request_kind::authenticate:
          if (r->password == "secret")
            s.authenticated({smtp::auth_status::result::ok, r->username});
          else
            s.authenticated({smtp::auth_status::result::invalid, {}});
          break;
        case smtp::request_kind::deliver:
          if (fail_deliveries) {
            failed.push_back(r->message);
            s.delivered({false, "injected failure", permanent_failures});
          } else {
            delivered.push_back(r->message);
            s.delivered({true, {}});
          }
          break;
        case smtp::request_kind::start_tls:
          ++handshakes;
          s.tls_started();
          break;
        case smtp::request_kind::none:
          return;
      }
    }
  }

  smtp::session s;
  std::string greeting;
  std::vector<smtp::delivery> delivered;
  std::vector<smtp::delivery> failed;
  std::vector<std::string> log;
  bool fail_deliveries = false;
  bool permanent_failures = false;
  int lookups = 0;
  int handshakes = 0;
};

/// The reply codes of `out`, one per reply (continuation lines skipped).
std::vector<std::string> codes(const std::string& out) {
  std::vector<std::string> result;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto end = out.find("\r\n", pos);
    REQUIRE(end != std::string::npos);
    auto line = out.substr(pos, end - pos);
    REQUIRE(line.size() >= 3);
    if (line.size() == 3 || line[3] == ' ')
      result.push_back(line.substr(0, 3));
    pos = end + 2;
  }
  return result;
}

using strings = std::vector<std::string>;

const std::string message = "Subject: hi\r\nFrom: <carol@remote.example>\r\n"
                            "\r\nHello\r\n";

std::string transaction(const std::string& body = message) {
  return "MAIL FROM:<carol@remote.example>\r\n"
         "RCPT TO:<alice@example.com>\r\n"
         "DATA\r\n"
         + body + ".\r\n";
}

} // namespace

TEST_CASE("the greeting and EHLO list the extensions", "[smtp][session]") {
  driver d;
  CHECK(d.greeting == "220 mx.example.com ESMTP Mantissa\r\n");
  auto out = d.feed("EHLO client.example\r\n");
  CHECK(out
        == "250-mx.example.com greets client.example\r\n"
           "250-SIZE 1000\r\n"
           "250-8BITMIME\r\n"
           "250-PIPELINING\r\n"
           "250-ENHANCEDSTATUSCODES\r\n"
           "250 HELP\r\n");
  CHECK(d.feed("HELO client.example\r\n") == "250 mx.example.com\r\n");
}

TEST_CASE("a message is delivered with a Received header and its envelope",
          "[smtp][session]") {
  driver d;
  auto out = d.feed("EHLO client.example\r\n" + transaction());
  CHECK(codes(out) == strings{"250", "250", "250", "354", "250"});
  REQUIRE(d.delivered.size() == 1);
  auto& m = d.delivered[0];
  CHECK(m.sender == "carol@remote.example");
  REQUIRE(m.recipients.size() == 1);
  CHECK(m.recipients[0].address == "alice@example.com");
  CHECK(m.recipients[0].store == "alice@example.com");
  CHECK(m.raw.substr(m.data_offset) == message);
  CHECK(m.raw.substr(0, m.data_offset)
        == "Received: from client.example ([192.0.2.1])\r\n"
           "\tby mx.example.com (Mantissa) with ESMTP\r\n"
           "\tfor <alice@example.com>; Thu, 01 Jan 1970 00:00:00 +0000\r\n");
  CHECK(m.delivery_id == smtp::make_delivery_id(m.sender, message));
  CHECK(m.delivery_id.size() == 64);
  // The reply names the delivery; the session is ready for another.
  CHECK(out.find("250 2.0.0 Ok: delivered as " + m.delivery_id.substr(0, 16))
        != std::string::npos);
  CHECK(codes(d.feed(transaction())) == strings{"250", "250", "354", "250"});
  CHECK(d.delivered.size() == 2);
}

TEST_CASE("dot-stuffed lines are unstuffed and CRLF kept", "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  d.feed(transaction("..leading dot\r\n...two\r\n.\r\nnot the end?\r\n"
                     "a.b\r\n.x\r\n"));
  // ".\r\n" ended the message at the third line; the rest are commands.
  REQUIRE(d.delivered.size() == 1);
  CHECK(d.delivered[0].raw.substr(d.delivered[0].data_offset)
        == ".leading dot\r\n..two\r\n");
}

TEST_CASE("message data split at every byte gives the same message",
          "[smtp][session]") {
  std::string body = "Subject: split\r\n\r\n..dot\r\nline\r\n\r\n.\r\n";
  std::string input = "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\n"
                      "DATA\r\n"
                      + body + "QUIT\r\n";
  driver whole;
  auto expected = whole.feed(input);
  for (std::size_t chunk : {1, 2, 3, 7}) {
    driver d;
    CHECK(d.feed(input, chunk) == expected);
    REQUIRE(d.delivered.size() == 1);
    CHECK(d.delivered[0].raw == whole.delivered[0].raw);
    CHECK(d.delivered[0].raw.substr(d.delivered[0].data_offset)
          == "Subject: split\r\n\r\n.dot\r\nline\r\n\r\n");
    CHECK(d.s.closed());
  }
}

TEST_CASE("commands out of sequence get 503", "[smtp][session]") {
  driver d;
  CHECK(codes(d.feed("MAIL FROM:<a@b.example>\r\n")) == strings{"503"});
  d.feed("EHLO c\r\n");
  CHECK(codes(d.feed("RCPT TO:<alice@example.com>\r\n")) == strings{"503"});
  CHECK(codes(d.feed("DATA\r\n")) == strings{"503"});
  CHECK(codes(d.feed("MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n"))
        == strings{"250", "503"});
  CHECK(codes(d.feed("RSET\r\nRCPT TO:<alice@example.com>\r\n"))
        == strings{"250", "503"});
  CHECK(d.log.size() == 5);
  CHECK(d.log[0] == "192.0.2.1: 503 MAIL before EHLO");
}

TEST_CASE("relaying is refused and unknown users get 550 5.1.1",
          "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\nMAIL FROM:<carol@remote.example>\r\n");
  auto out = d.feed("RCPT TO:<someone@elsewhere.example>\r\n"
                    "RCPT TO:<nobody@example.com>\r\n"
                    "RCPT TO:<ALICE@Example.COM>\r\n"
                    "RCPT TO:<later@example.com>\r\n");
  CHECK(out
        == "550 5.7.1 <someone@elsewhere.example>: Relay access denied\r\n"
           "550 5.1.1 <nobody@example.com>: Recipient address rejected: "
           "User unknown\r\n"
           "250 2.1.5 Ok\r\n"
           "451 4.3.0 <later@example.com>: Temporary lookup failure, try "
           "again later\r\n");
  // The relay attempt was not even looked up.
  CHECK(d.lookups == 3);
  CHECK(codes(d.feed("DATA\r\nhi\r\n.\r\n")) == strings{"354", "250"});
  REQUIRE(d.delivered.size() == 1);
  REQUIRE(d.delivered[0].recipients.size() == 1);
  CHECK(d.delivered[0].recipients[0].address == "alice@example.com");
}

TEST_CASE("a second local domain is local, postmaster needs no domain",
          "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\nMAIL FROM:<>\r\n");
  CHECK(codes(d.feed("RCPT TO:<x@example.org>\r\nRCPT TO:<postmaster>\r\n"))
        == strings{"550", "250"});
  CHECK(d.log[0].find("unknown recipient <x@example.org>")
        != std::string::npos);
}

TEST_CASE("DATA after only refused recipients is 554 and stores nothing",
          "[smtp][session]") {
  driver d;
  auto out = d.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
                    "RCPT TO:<nobody@example.com>\r\nDATA\r\n");
  CHECK(codes(out) == strings{"250", "250", "550", "554"});
  CHECK(d.delivered.empty());
}

TEST_CASE("too many recipients get 452, duplicates count once",
          "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
  auto out
    = d.feed("RCPT TO:<alice@example.com>\r\nRCPT TO:<alice@example.com>\r\n"
             "RCPT TO:<bob@example.com>\r\nRCPT TO:<postmaster@example.com>\r\n"
             "RCPT TO:<bob@example.com>\r\nRCPT TO:<x@example.com>\r\n");
  CHECK(codes(out) == strings{"250", "250", "250", "250", "250", "452"});
  d.feed("DATA\r\nx\r\n.\r\n");
  REQUIRE(d.delivered.size() == 1);
  CHECK(d.delivered[0].recipients.size() == 3);
  // Several recipients: no "for" clause in the Received header.
  CHECK(d.delivered[0].raw.find("\tfor ") == std::string::npos);
}

TEST_CASE("SIZE is enforced when declared and when sent", "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  CHECK(d.feed("MAIL FROM:<a@b.example> SIZE=1001\r\n")
        == "552 5.3.4 Message size exceeds fixed limit of 1000 bytes\r\n");
  CHECK(codes(d.feed("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME\r\n"))
        == strings{"250"});
  d.feed("RCPT TO:<alice@example.com>\r\nDATA\r\n");
  std::string big(600, 'x');
  auto out = d.feed(big + "\r\n" + big + "\r\n.\r\n");
  CHECK(out == "552 5.3.4 Message size exceeds fixed limit of 1000 bytes\r\n");
  CHECK(d.delivered.empty());
  // The session goes on, with a fresh transaction.
  CHECK(codes(d.feed(transaction())) == strings{"250", "250", "354", "250"});
  // Exactly the limit is accepted.
  driver e;
  e.feed("EHLO c\r\n");
  std::string exact(998, 'y');
  CHECK(codes(e.feed(transaction(exact + "\r\n")))
        == strings{"250", "250", "354", "250"});
}

TEST_CASE("bad MAIL and RCPT arguments get 501 or 555", "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  CHECK(codes(d.feed("MAIL FROM:a@b.example\r\n")) == strings{"501"});
  CHECK(codes(d.feed("MAIL TO:<a@b.example>\r\n")) == strings{"501"});
  CHECK(codes(d.feed("MAIL FROM:<a b@c>\r\n")) == strings{"501"});
  CHECK(codes(d.feed("MAIL FROM:<a@b.example> FOO=1\r\n")) == strings{"555"});
  CHECK(codes(d.feed("MAIL FROM: <a@b.example>\r\n")) == strings{"250"});
  CHECK(codes(d.feed("RCPT TO:<@relay.example:alice@example.com>\r\n"))
        == strings{"250"});
  driver h;
  h.feed("HELO c\r\n");
  CHECK(codes(h.feed("MAIL FROM:<a@b.example> SIZE=10\r\n")) == strings{"555"});
}

TEST_CASE("pipelined commands are answered in order", "[smtp][session]") {
  driver d;
  auto out = d.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
                    "RCPT TO:<alice@example.com>\r\n"
                    "RCPT TO:<nobody@example.com>\r\n"
                    "RCPT TO:<bob@example.com>\r\nDATA\r\n");
  CHECK(codes(out) == strings{"250", "250", "250", "550", "250", "354"});
  out = d.feed("x\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n");
  CHECK(codes(out) == strings{"250", "250", "250", "221"});
  CHECK(d.s.closed());
  CHECK(d.delivered.size() == 1);
}

TEST_CASE("bare LF in message data is refused and the session closed",
          "[smtp][session]") {
  for (std::string body :
       {"line\nmore\r\n.\r\n", "line\r\n.\n", "line\rx\r\n.\r\n",
        "a\r\n\n.\nMAIL FROM:<x@y>\r\n"}) {
    driver d;
    d.feed("EHLO c\r\n");
    auto out
      = d.feed(transaction(body).substr(0, transaction(body).size() - 3));
    CHECK(codes(out) == strings{"250", "250", "354", "554"});
    CHECK(d.delivered.empty());
    CHECK(d.s.closed());
  }
}

TEST_CASE("bare LF ends command lines", "[smtp][session]") {
  driver d;
  CHECK(codes(d.feed("EHLO c\nNOOP\n")) == strings{"250", "250"});
}

TEST_CASE("long command lines get 500 and the session goes on",
          "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  std::string longline = "NOOP " + std::string(200, 'a') + "\r\n";
  CHECK(d.feed(longline) == "500 5.5.2 Error: line too long\r\n");
  // Arriving in pieces, the error comes once the limit is passed.
  CHECK(d.feed(longline, 10) == "500 5.5.2 Error: line too long\r\n");
  CHECK(codes(d.feed("NOOP\r\n")) == strings{"250"});
  // Message data lines may be longer than command lines.
  CHECK(codes(d.feed(transaction(std::string(500, 'z') + "\r\n")))
        == strings{"250", "250", "354", "250"});
}

TEST_CASE("unknown commands get 500, and too many errors close",
          "[smtp][session]") {
  driver d;
  CHECK(d.feed("FOO bar\r\n") == "500 5.5.2 Error: command not recognized\r\n");
  CHECK(codes(d.feed("EXPN list\r\n\r\nHELO\r\n"))
        == strings{"502", "500", "501"});
  auto out = d.feed("FOO\r\nFOO\r\nNOOP\r\n");
  CHECK(out
        == "500 5.5.2 Error: command not recognized\r\n"
           "421 4.7.0 mx.example.com Error: too many errors, closing "
           "connection\r\n");
  CHECK(d.s.closed());
  CHECK(d.feed("NOOP\r\n").empty());
  CHECK(d.log.back().find("too many errors") != std::string::npos);
}

TEST_CASE("NUL in a command is refused", "[smtp][session]") {
  driver d;
  CHECK(codes(d.feed(std::string("NO\0OP\r\n", 7))) == strings{"500"});
}

TEST_CASE("VRFY, HELP, NOOP, RSET and QUIT", "[smtp][session]") {
  driver d;
  CHECK(codes(d.feed("VRFY alice\r\n")) == strings{"252"});
  CHECK(d.feed("HELP\r\n").substr(0, 4) == "214 ");
  CHECK(d.feed("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(d.feed("rset\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(d.feed("QUIT\r\n") == "221 2.0.0 Bye\r\n");
  CHECK(d.s.closed());
}

TEST_CASE("a failed delivery is 451 and the retry has the same id",
          "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  d.fail_deliveries = true;
  auto out = d.feed(transaction());
  CHECK(codes(out) == strings{"250", "250", "354", "451"});
  d.fail_deliveries = false;
  CHECK(codes(d.feed(transaction())) == strings{"250", "250", "354", "250"});
  REQUIRE(d.failed.size() == 1);
  REQUIRE(d.delivered.size() == 1);
  CHECK(d.failed[0].delivery_id == d.delivered[0].delivery_id);
  // Another sender: another delivery.
  CHECK(smtp::make_delivery_id("x@y.example", message)
        != d.delivered[0].delivery_id);
}

TEST_CASE("AUTH PLAIN on loopback", "[smtp][session]") {
  auto o = test_options();
  o.max_errors = 20;
  driver d{o, {"127.0.0.1", true}};
  auto ehlo = d.feed("EHLO c\r\n");
  CHECK(ehlo.find("250-AUTH PLAIN\r\n") != std::string::npos);
  // "\0alice@example.com\0wrong" and "\0alice@example.com\0secret"
  CHECK(codes(d.feed("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n\r\n"))
        == strings{"535"});
  CHECK(codes(d.feed("AUTH PLAIN !!!\r\n")) == strings{"501"});
  CHECK(codes(d.feed("AUTH LOGIN\r\n")) == strings{"504"});
  CHECK(d.feed("AUTH PLAIN\r\n") == "334 \r\n");
  CHECK(codes(d.feed("*\r\n")) == strings{"501"});
  CHECK(d.feed("AUTH PLAIN\r\n") == "334 \r\n");
  CHECK(codes(d.feed("AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"))
        == strings{"235"});
  CHECK(codes(d.feed("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"))
        == strings{"503"});
  // Authenticated, still no relaying.
  CHECK(codes(d.feed("MAIL FROM:<alice@example.com>\r\n"
                     "RCPT TO:<x@elsewhere.example>\r\n"
                     "RCPT TO:<bob@example.com>\r\nDATA\r\nhi\r\n.\r\n"))
        == strings{"250", "550", "250", "354", "250"});
  REQUIRE(d.delivered.size() == 1);
  CHECK(d.delivered[0].authenticated == "alice@example.com");
  CHECK(d.delivered[0].raw.find("with ESMTPA") != std::string::npos);
}

TEST_CASE("AUTH is not offered in clear text off loopback", "[smtp][session]") {
  driver d;
  CHECK(d.feed("EHLO c\r\n").find("AUTH") == std::string::npos);
  CHECK(codes(d.feed("AUTH PLAIN AGEAYg==\r\n")) == strings{"502"});
  auto o = test_options();
  o.tls_available = true;
  driver t{o};
  auto ehlo = t.feed("EHLO c\r\n");
  CHECK(ehlo.find("250-STARTTLS\r\n") != std::string::npos);
  CHECK(ehlo.find("AUTH") == std::string::npos);
  CHECK(codes(t.feed("AUTH PLAIN AGEAYg==\r\n")) == strings{"530"});
}

TEST_CASE("STARTTLS starts over and drops what was pipelined after it",
          "[smtp][session]") {
  auto o = test_options();
  o.tls_available = true;
  driver d{o};
  d.feed("EHLO c\r\n");
  auto out = d.feed("STARTTLS\r\nMAIL FROM:<injected@x.example>\r\n");
  CHECK(out == "220 2.0.0 Ready to start TLS\r\n");
  CHECK(d.handshakes == 1);
  CHECK(d.s.encrypted());
  // A new EHLO is needed; it offers AUTH now, and STARTTLS no more.
  CHECK(codes(d.feed("MAIL FROM:<a@b.example>\r\n")) == strings{"503"});
  auto ehlo = d.feed("EHLO c\r\n");
  CHECK(ehlo.find("STARTTLS") == std::string::npos);
  CHECK(ehlo.find("250-AUTH PLAIN\r\n") != std::string::npos);
  CHECK(codes(d.feed("STARTTLS\r\n")) == strings{"503"});
  d.feed(transaction());
  REQUIRE(d.delivered.size() == 1);
  CHECK(d.delivered[0].raw.find("with ESMTPS") != std::string::npos);
}

TEST_CASE("STARTTLS without a certificate is not implemented",
          "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  CHECK(codes(d.feed("STARTTLS\r\n")) == strings{"502"});
}

TEST_CASE("a timeout closes with 421", "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  d.s.timed_out();
  CHECK(d.s.take_output().substr(0, 10) == "421 4.4.2 ");
  CHECK(d.s.closed());
  CHECK(!d.s.wants_input());
}

TEST_CASE("shutting down answers a pending delivery first", "[smtp][session]") {
  smtp::session s{test_options(), {"192.0.2.1", false}};
  s.start();
  s.receive("EHLO c\r\n" + transaction());
  auto* r = s.pending();
  REQUIRE(r != nullptr);
  REQUIRE(r->kind == smtp::request_kind::check_recipient);
  s.recipient_checked(
    {recipient_status::result::accepted, "alice@example.com"});
  REQUIRE(s.pending() != nullptr);
  REQUIRE(s.pending()->kind == smtp::request_kind::deliver);
  s.shutting_down();
  CHECK(!s.closed());
  s.delivered({true, {}});
  auto out = s.take_output();
  CHECK(codes(out) == strings{"220", "250", "250", "250", "354", "250", "421"});
  CHECK(s.closed());
}

TEST_CASE("message data beyond the server's budget is 452, nothing is "
          "delivered, and the budget comes back",
          "[smtp][session]") {
  auto o = test_options();
  o.max_message_size = std::size_t{8} << 20;
  o.budget = std::make_shared<smtp::data_budget>(std::size_t{2} << 20);
  driver d{o};
  d.feed("EHLO c\r\n");
  // A declared size that does not fit now: refused at MAIL, for later.
  CHECK(codes(d.feed("MAIL FROM:<a@b.example> SIZE=3000000\r\n"))
        == strings{"452"});
  // Undeclared: read to its end, then refused.
  std::string body(3u << 20, 'x');
  for (std::size_t i = 998; i < body.size(); i += 1000) {
    body[i] = '\r';
    body[i + 1] = '\n';
  }
  auto out = d.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n"
                    "DATA\r\n" + body + "\r\n.\r\n", 4096);
  CHECK(codes(out) == strings{"250", "250", "354", "452"});
  CHECK(d.delivered.empty());
  CHECK(o.budget->used() == 0);
  // A message that fits goes through and gives its share back.
  CHECK(codes(d.feed(transaction())) == strings{"250", "250", "354", "250"});
  CHECK(d.delivered.size() == 1);
  CHECK(o.budget->used() == 0);
  // Two sessions share the budget: one holding data keeps the other out.
  driver other{o};
  CHECK(codes(other.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
                         "RCPT TO:<bob@example.com>\r\nDATA\r\n"))
        == strings{"250", "250", "250", "354"});
  other.feed(body.substr(0, std::size_t{1} << 20));
  CHECK(o.budget->used() > 0);
  CHECK(codes(d.feed("MAIL FROM:<a@b.example> SIZE=1000000\r\n"))
        == strings{"452"});
}

TEST_CASE("a store's refusal for good is 554, not 451", "[smtp][session]") {
  driver d;
  d.feed("EHLO c\r\n");
  d.fail_deliveries = true;
  d.permanent_failures = true;
  auto out = d.feed(transaction());
  CHECK(codes(out) == strings{"250", "250", "354", "554"});
  CHECK(out.find("554 5.3.0") != std::string::npos);
}
