// `kill -9` of a node right after it said 250 to a message: the message is
// in the store after a restart. The node is a real `mantissa start`
// process; mail goes in over SMTP and is read back over HTTP.

#include <catch2/catch.hpp>

#include <csignal>
#include <regex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
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
    child node{{MANTISSA_BINARY, "start", "--data", data, "--http",
                "127.0.0.1:0", "--smtp", "127.0.0.1:0", "--no-demo"}};
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
