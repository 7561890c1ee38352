// `mantissa start` and its SMTP front end: the site's smtp port service,
// and clear refusals of a configuration it cannot serve.

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <regex>
#include <string>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/smtp_client.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::child;
using mantissa::test::temp_dir;

namespace {

mantissa::test::run_result mantissa_cmd(const std::vector<std::string>& args,
                                        const std::string& input = {}) {
  std::vector<std::string> argv{MANTISSA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return mantissa::test::run(argv, input);
}

void cli(const std::vector<std::string>& args, const std::string& input = {}) {
  auto r = mantissa_cmd(args, input);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

} // namespace

TEST_CASE("start serves the site's smtp port with its settings",
          "[integration][smtp]") {
  temp_dir dir;
  auto data = (dir / "data").string();
  cli({"init", "--data", data, "--domain", "example.com"});
  cli({"offering", "install", "mail", "--data", data});
  cli({"user", "add", "alice@example.org", "--product", "mail",
       "--password-stdin", "--data", data},
      "alice password\n");
  cli({"port", "add", "smtp", "127.0.0.1:0", "--data", data});
  cli({"config", "set", "smtp.domains", "example.org, example.net", "--data",
       data});
  cli({"config", "set", "smtp.hostname", "mx.example.com", "--data", data});
  cli({"config", "set", "smtp.max_message_size", "1K", "--data", data});
  child node{{MANTISSA_BINARY, "start", "--data", data, "--http", "127.0.0.1:0",
              "--no-demo"}};
  auto line = node.wait_for_line("serving smtp on", 30s);
  INFO(node.err());
  REQUIRE(line);
  CHECK(line->find("for example.com example.org example.net")
        != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, std::regex{R"(127\.0\.0\.1:(\d+))"}));
  mantissa::test::smtp_connection c{
    static_cast<std::uint16_t>(std::stoi(m[1]))};
  auto hello = c.read_reply();
  REQUIRE(hello);
  CHECK(hello->text() == "220 mx.example.com ESMTP Mantissa");
  auto ehlo = c.command("EHLO client.example");
  REQUIRE(ehlo);
  CHECK(std::find(ehlo->lines.begin(), ehlo->lines.end(), "SIZE 1024")
        != ehlo->lines.end());
  REQUIRE(c.code("MAIL FROM:<x@remote.example>") == 250);
  CHECK(c.code("RCPT TO:<alice@example.org>") == 250);
  CHECK(c.code("RCPT TO:<nobody@example.net>") == 550);
  CHECK(c.data("Subject: hi\r\n\r\nhello\r\n") == 250);
  CHECK(c.code("QUIT") == 221);
  // The delivery shows in the node's metrics.
  auto http_line = node.wait_for_line("serving http://", 10s);
  REQUIRE(http_line);
  std::smatch hm;
  REQUIRE(std::regex_search(*http_line, hm, std::regex{R"(:(\d+)/)"}));
  auto metrics = mantissa::test::http_request(
    static_cast<std::uint16_t>(std::stoi(hm[1])), "GET", "/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("mantissa_smtp_sessions_total 1\n")
        != std::string::npos);
  CHECK(metrics->body.find("mantissa_smtp_deliveries_total{result=\"ok\"} 1\n")
        != std::string::npos);
  CHECK(metrics->body.find("# TYPE mantissa_smtp_connections gauge")
        != std::string::npos);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("start refuses SMTP without a mail domain or with a bad setting",
          "[integration][smtp]") {
  temp_dir dir;
  auto data = (dir / "data").string();
  // A first start without the demo creates a site without a domain.
  auto r = mantissa_cmd({"start", "--data", data, "--http", "127.0.0.1:0",
                         "--smtp", "127.0.0.1:0", "--no-demo"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no mail domain") != std::string::npos);
  cli({"config", "set", "smtp.domains", "example.com", "--data", data});
  cli({"config", "set", "smtp.max_recipients", "many", "--data", data});
  r = mantissa_cmd({"start", "--data", data, "--http", "127.0.0.1:0", "--smtp",
                    "127.0.0.1:0", "--no-demo"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("smtp.max_recipients") != std::string::npos);
  cli({"config", "set", "smtp.max_recipients", "10", "--data", data});
  r = mantissa_cmd({"start", "--data", data, "--http", "127.0.0.1:0", "--smtp",
                    "127.0.0.1:0", "--no-demo", "--smtp-cert",
                    (dir / "missing.pem").string(), "--smtp-key",
                    (dir / "missing.key").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("STARTTLS") != std::string::npos);
  r = mantissa_cmd({"start", "--data", data, "--http", "127.0.0.1:0", "--smtp",
                    "127.0.0.1:99999", "--no-demo"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--smtp") != std::string::npos);
}
