// `kill -9` of a node right after it said 250 to a message, and in the
// middle of a storm of 8 connections: every acknowledged message is in the
// store after a restart, once. With the WAL failpoints (docs/node.md,
// "Durability"): the 250 waits for the sync, and a failed sync gives a 4xx.
// The node is a real `mantissa start` process; mail goes in over SMTP and
// is read back over HTTP.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/smtp_client.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::child;
using mantissa::test::temp_dir;
using nlohmann::json;

namespace {

void cli(const std::vector<std::string>& args, const std::string& input = {}) {
  std::vector<std::string> argv{MANTISSA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = mantissa::test::run(argv, input);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

/// The port in the first line containing `needle` ("...HOST:PORT...").
std::uint16_t port_after(child& node, const std::string& needle) {
  auto line = node.wait_for_line(needle, 30s);
  INFO(node.err());
  REQUIRE(line);
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, std::regex{R"(127\.0\.0\.1:(\d+))"}));
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

/// A data directory with the mail offering and `users` (password
/// "USER password" each, USER the local part).
/// The command line of `mantissa start` on `data` with HTTP and SMTP on
/// free ports of 127.0.0.1.
std::vector<std::string> mail_node(const std::string& data) {
  return {MANTISSA_BINARY, "start", "--data", data, "--http", "127.0.0.1:0",
          "--smtp", "127.0.0.1:0", "--no-demo"};
}

std::string mail_site(temp_dir& dir, const std::vector<std::string>& users) {
  auto data = (dir / "data").string();
  cli({"init", "--data", data, "--domain", "example.com"});
  cli({"offering", "install", "mail", "--data", data});
  for (auto& u : users)
    cli({"user", "add", u + "@example.com", "--product", "mail",
         "--password-stdin", "--data", data},
        u + " password\n");
  return data;
}

/// The mail.message items of `user`'s mailbox, read over HTTP from a node
/// listening on `http_port`.
json mailbox(std::uint16_t http_port, const std::string& user) {
  auto login = mantissa::test::http_request(
    http_port, "POST", "/api/login",
    json{{"username", user + "@example.com"}, {"password", user + " password"}}
      .dump(),
    {{"Content-Type", "application/json"}});
  REQUIRE(login);
  REQUIRE(login->status == 200);
  auto token = json::parse(login->body)["token"].get<std::string>();
  auto list = mantissa::test::http_request(
    http_port, "GET",
    "/api/stores/" + user + "@example.com/items/mail.message?limit=1000", {},
    {{"Authorization", "Bearer " + token}});
  REQUIRE(list);
  INFO(list->body.substr(0, 2000));
  REQUIRE(list->status == 200);
  auto body = json::parse(list->body);
  if (body.contains("total"))
    REQUIRE(body["total"] == body["items"].size());
  return body["items"];
}

/// Standard base64 (how an item's blob attribute appears in JSON) decoded;
/// stops at the first character that is not base64.
std::string from_base64(const std::string& in) {
  static const std::string alphabet
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int nbits = 0;
  for (char ch : in) {
    auto v = alphabet.find(ch);
    if (v == std::string::npos)
      break;
    bits = (bits << 6) | static_cast<unsigned>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((bits >> nbits) & 0xff));
    }
  }
  return out;
}

/// `text` without carriage returns (what is compared of stored bodies).
std::string no_cr(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
  return text;
}

} // namespace

TEST_CASE("kill -9 right after 250 loses no acknowledged message",
          "[integration][smtp]") {
  temp_dir dir;
  auto data = (dir / "data").string();
  cli({"init", "--data", data, "--domain", "example.com"});
  cli({"offering", "install", "mail", "--data", data});
  cli({"user", "add", "alice@example.com", "--product", "mail",
       "--password-stdin", "--data", data},
      "alice password\n");

  std::set<std::string> acked;
  {
    child node{mail_node(data)};
    auto smtp_port = port_after(node, "serving smtp on");
    port_after(node, "serving http://");
    mantissa::test::smtp_connection c{smtp_port};
    REQUIRE(c.read_reply());
    REQUIRE(c.code("EHLO client.example") == 250);
    for (int i = 0; i < 20; ++i) {
      auto subject = "durable " + std::to_string(i);
      REQUIRE(c.code("MAIL FROM:<carol@remote.example>") == 250);
      REQUIRE(c.code("RCPT TO:<alice@example.com>") == 250);
      auto code
        = c.data("Subject: " + subject + "\r\n\r\nmessage " + subject + "\r\n");
      REQUIRE(code == 250);
      acked.insert(subject);
    }
    // Killed the moment the last 250 arrived: no QUIT, no clean close.
    node.signal(SIGKILL);
    REQUIRE(node.wait(10s));
  }

  child node{{MANTISSA_BINARY, "start", "--data", data, "--http", "127.0.0.1:0",
              "--no-demo"}};
  auto http_port = port_after(node, "serving http://");
  auto login = mantissa::test::http_request(
    http_port, "POST", "/api/login",
    R"({"username":"alice@example.com","password":"alice password"})",
    {{"Content-Type", "application/json"}});
  REQUIRE(login);
  REQUIRE(login->status == 200);
  auto token = json::parse(login->body)["token"].get<std::string>();
  auto list = mantissa::test::http_request(
    http_port, "GET",
    "/api/stores/alice@example.com/items/mail.message?limit=100", {},
    {{"Authorization", "Bearer " + token}});
  REQUIRE(list);
  INFO(list->body);
  REQUIRE(list->status == 200);
  std::set<std::string> stored;
  auto body = json::parse(list->body);
  for (auto& item : body["items"])
    stored.insert(item["subject"].get<std::string>());
  CHECK(stored == acked);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("the 250 after the final dot waits for the WAL sync",
          "[integration][smtp][durability]") {
  temp_dir dir;
  auto data = mail_site(dir, {"alice"});
  constexpr auto delay = 400ms;
  child node{mail_node(data),
             {"MANTISSA_FAILPOINTS=wal.sync_delay_ms=400:/alice.sqlite-wal"}};
  auto smtp_port = port_after(node, "serving smtp on");
  port_after(node, "serving http://");
  mantissa::test::smtp_connection c{smtp_port};
  REQUIRE(c.read_reply());
  REQUIRE(c.code("EHLO client.example") == 250);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(c.code("MAIL FROM:<carol@remote.example>") == 250);
    REQUIRE(c.code("RCPT TO:<alice@example.com>") == 250);
    REQUIRE(c.code("DATA") == 354);
    auto message = mantissa::test::dot_stuff(
      "Subject: slow " + std::to_string(i) + "\r\n\r\nwaits for the disk\r\n");
    // Everything but the final dot, then the dot alone: the clock starts
    // when the message is complete.
    auto dot = message.size() - 3;
    c.send(message.substr(0, dot));
    auto t0 = std::chrono::steady_clock::now();
    c.send(message.substr(dot));
    auto reply = c.read_reply();
    REQUIRE(reply);
    INFO(reply->text());
    CHECK(reply->code == 250);
    CHECK(std::chrono::steady_clock::now() - t0 >= delay);
  }
  c.code("QUIT");
  node.signal(SIGTERM);
  CHECK(node.wait(30s) == 0);
}

TEST_CASE("a failed WAL sync gives a 4xx, never 250, and the retry is stored once",
          "[integration][smtp][durability]") {
  temp_dir dir;
  auto data = mail_site(dir, {"alice", "bob"});
  auto message = [](int i) {
    return "From: carol@remote.example\r\nSubject: not durable "
           + std::to_string(i)
           + "\r\n\r\nstored only when the disk says so\r\n";
  };
  {
    child node{mail_node(data),
               {"MANTISSA_FAILPOINTS=wal.sync_fail=/alice.sqlite-wal"}};
    auto smtp_port = port_after(node, "serving smtp on");
    port_after(node, "serving http://");
    mantissa::test::smtp_connection c{smtp_port};
    REQUIRE(c.read_reply());
    REQUIRE(c.code("EHLO client.example") == 250);
    for (int i = 0; i < 2; ++i) {  // the second finds the store reopened
      REQUIRE(c.code("MAIL FROM:<carol@remote.example>") == 250);
      REQUIRE(c.code("RCPT TO:<alice@example.com>") == 250);
      auto code = c.data(message(i));
      CHECK(code >= 400);
      CHECK(code < 500);
    }
    // A message to alice and bob: bob's copy is durable, alice's is not,
    // so the client must try again: 4xx.
    REQUIRE(c.code("MAIL FROM:<carol@remote.example>") == 250);
    REQUIRE(c.code("RCPT TO:<alice@example.com>") == 250);
    REQUIRE(c.code("RCPT TO:<bob@example.com>") == 250);
    auto both = c.data("Subject: to both\r\n\r\nhalf durable\r\n");
    CHECK(both >= 400);
    CHECK(both < 500);
    // Another mailbox's syncs work meanwhile.
    REQUIRE(c.code("MAIL FROM:<carol@remote.example>") == 250);
    REQUIRE(c.code("RCPT TO:<bob@example.com>") == 250);
    CHECK(c.data("Subject: for bob\r\n\r\nfine\r\n") == 250);
    auto said = node.out() + node.err();
    CHECK(said.find("cannot make commits durable") != std::string::npos);
    node.signal(SIGKILL);
    REQUIRE(node.wait(10s));
  }
  // Restarted with a working disk. The refused message may be there (its
  // frames reached the WAL, only their sync failed), at most once: the
  // delivery id makes the client's retry a duplicate, not a second copy.
  child node{mail_node(data)};
  auto smtp_port = port_after(node, "serving smtp on");
  auto http_port = port_after(node, "serving http://");
  auto count = [&](const json& items, const std::string& subject) {
    int n = 0;
    for (auto& it : items)
      n += it["subject"] == subject ? 1 : 0;
    return n;
  };
  for (int i = 0; i < 2; ++i)
    CHECK(count(mailbox(http_port, "alice"), "not durable " + std::to_string(i))
          <= 1);
  CHECK(count(mailbox(http_port, "alice"), "to both") <= 1);
  CHECK(count(mailbox(http_port, "bob"), "to both") == 1);  // bob's synced
  CHECK(count(mailbox(http_port, "bob"), "for bob") == 1);
  {
    mantissa::test::smtp_connection c{smtp_port};
    REQUIRE(c.read_reply());
    REQUIRE(c.code("EHLO client.example") == 250);
    for (int i = 0; i < 2; ++i) {  // the client's retries
      REQUIRE(c.code("MAIL FROM:<carol@remote.example>") == 250);
      REQUIRE(c.code("RCPT TO:<alice@example.com>") == 250);
      CHECK(c.data(message(i)) == 250);
    }
    REQUIRE(c.code("MAIL FROM:<carol@remote.example>") == 250);
    REQUIRE(c.code("RCPT TO:<alice@example.com>") == 250);
    REQUIRE(c.code("RCPT TO:<bob@example.com>") == 250);
    CHECK(c.data("Subject: to both\r\n\r\nhalf durable\r\n") == 250);
  }
  for (int i = 0; i < 2; ++i)
    CHECK(count(mailbox(http_port, "alice"), "not durable " + std::to_string(i))
          == 1);
  CHECK(count(mailbox(http_port, "alice"), "to both") == 1);
  CHECK(count(mailbox(http_port, "bob"), "to both") == 1);
  node.signal(SIGTERM);
  CHECK(node.wait(30s) == 0);
}

TEST_CASE("kill -9 in a storm of 8 connections, all in the middle of DATA: "
          "every 250 is stored once, nothing partial",
          "[integration][smtp][durability]") {
  const auto seed = mantissa::test::test_seed("smtp storm");
  INFO("seed " << seed << " (MANTISSA_SEED replays it)");
  std::mt19937 rng{seed};
  const std::vector<std::string> users{"alice", "bob", "carol", "dave"};
  constexpr int connections = 8;
  // The kill comes once this many 250s arrived and every connection then
  // sent part of the DATA of its next message (and waits).
  const int kill_after = 16 + static_cast<int>(rng() % 49);

  temp_dir dir;
  auto data = mail_site(dir, users);

  struct message {
    std::string id;
    std::vector<std::string> rcpts;
    std::string text;  // as sent, before dot-stuffing
    int code = 0;      // the reply after the final dot; 0: none
    bool dot_sent = false;
  };
  std::vector<std::vector<message>> sent(connections);
  std::vector<std::string> failures(connections);
  std::atomic<int> acked{0};
  std::mutex mx;
  std::condition_variable cv;
  int parked = 0;      // guarded by mx
  bool killed = false; // guarded by mx

  {
    child node{mail_node(data)};
    auto smtp_port = port_after(node, "serving smtp on");
    port_after(node, "serving http://");

    auto client = [&](int ci, std::uint32_t cseed) {
      std::mt19937 r{cseed};
      try {
        mantissa::test::smtp_connection c{smtp_port, 120s};
        if (!c.read_reply() || c.code("EHLO storm" + std::to_string(ci)) != 250)
          throw std::runtime_error("no greeting");
        for (int k = 0;; ++k) {
          message m;
          m.id = "storm " + std::to_string(seed) + " c" + std::to_string(ci)
                 + " m" + std::to_string(k);
          m.rcpts.push_back(users[r() % users.size()]);
          if (r() % 3 == 0) {
            auto other = users[r() % users.size()];
            if (other != m.rcpts[0])
              m.rcpts.push_back(other);
          }
          m.text = "From: sender" + std::to_string(ci)
                   + "@remote.example\r\nSubject: " + m.id + "\r\n\r\n";
          auto lines = 5 + r() % 60;
          for (std::uint32_t l = 0; l < lines; ++l)
            m.text += m.id + " line " + std::to_string(l) + " "
                      + std::string(r() % 70, 'a' + static_cast<char>(l % 26))
                      + "\r\n";
          m.text += ".leading dot\r\nend of " + m.id + "\r\n";
          if (c.code("MAIL FROM:<sender" + std::to_string(ci)
                     + "@remote.example>")
              != 250)
            throw std::runtime_error("MAIL refused");
          for (auto& u : m.rcpts)
            if (c.code("RCPT TO:<" + u + "@example.com>") != 250)
              throw std::runtime_error("RCPT refused");
          if (c.code("DATA") != 354)
            throw std::runtime_error("DATA refused");
          auto stuffed = mantissa::test::dot_stuff(m.text);
          // A part of the data (never the final dot), then either the rest
          // or, once the kill is due, a wait in the middle of DATA.
          auto cut = 1 + r() % (stuffed.size() - 4);
          c.send(stuffed.substr(0, cut));
          if (acked.load() >= kill_after) {
            {
              std::lock_guard<std::mutex> g{mx};
              sent[ci].push_back(std::move(m));
              ++parked;
            }
            cv.notify_all();
            std::unique_lock<std::mutex> g{mx};
            cv.wait(g, [&] { return killed; });
            return;  // the node is gone; the data was never complete
          }
          c.send(stuffed.substr(cut));
          m.dot_sent = true;
          auto reply = c.read_reply();
          m.code = reply ? reply->code : 0;
          if (m.code == 250)
            ++acked;
          std::lock_guard<std::mutex> g{mx};
          sent[ci].push_back(std::move(m));
        }
      } catch (const std::exception& e) {
        {
          std::lock_guard<std::mutex> g{mx};
          failures[ci] = e.what();
          ++parked;  // not in DATA: the check below fails
        }
        cv.notify_all();
      }
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < connections; ++i)
      threads.emplace_back(client, i, static_cast<std::uint32_t>(rng()));
    bool all_in_data = false;
    {
      std::unique_lock<std::mutex> g{mx};
      all_in_data
        = cv.wait_for(g, 240s, [&] { return parked == connections; });
    }
    node.signal(SIGKILL);
    auto status = node.wait(10s);
    {
      std::lock_guard<std::mutex> g{mx};
      killed = true;
    }
    cv.notify_all();
    for (auto& t : threads)
      t.join();
    for (auto& f : failures)
      CHECK(f.empty());
    REQUIRE(all_in_data);
    REQUIRE(status);
  }
  std::cout << "smtp storm: killed after " << acked.load() << " 250s (due at "
            << kill_after << ")" << std::endl;
  REQUIRE(acked >= kill_after);

  child node{{MANTISSA_BINARY, "start", "--data", data, "--http", "127.0.0.1:0",
              "--no-demo"}};
  auto http_port = port_after(node, "serving http://");
  // What was sent, by id, and what each mailbox holds.
  std::map<std::string, const message*> by_id;
  for (auto& per : sent)
    for (auto& m : per)
      by_id[m.id] = &m;
  for (auto& u : users) {
    std::map<std::string, int> copies;
    for (auto& item : mailbox(http_port, u)) {
      auto id = item["subject"].get<std::string>();
      INFO(u << ": " << id);
      auto it = by_id.find(id);
      REQUIRE(it != by_id.end());  // nothing stored that was not sent
      const auto& m = *it->second;
      CHECK(std::find(m.rcpts.begin(), m.rcpts.end(), u) != m.rcpts.end());
      CHECK(m.dot_sent);  // a message cut in the middle of DATA is absent
      ++copies[id];
      // Whole: the stored message holds every line as sent.
      auto raw = no_cr(from_base64(item["raw"].get<std::string>()));
      CHECK(raw.find(no_cr(m.text.substr(m.text.find("\r\n\r\n") + 4)))
            != std::string::npos);
    }
    for (auto& [id, n] : copies) {
      INFO(u << ": " << id);
      CHECK(n == 1);
    }
    for (auto& [id, m] : by_id) {
      if (m->code != 250
          || std::find(m->rcpts.begin(), m->rcpts.end(), u) == m->rcpts.end())
        continue;
      INFO(u << ": acknowledged " << id);
      CHECK(copies.count(id) == 1);
    }
  }
  // Every message whose dot was sent before the kill was answered 250 (the
  // kill came while all of them waited in DATA).
  for (auto& [id, m] : by_id)
    if (m->dot_sent)
      CHECK(m->code == 250);
  node.signal(SIGTERM);
  CHECK(node.wait(30s) == 0);
}
