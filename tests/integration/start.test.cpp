// `mantissa start` as a real process: serves /healthz on a free port and
// stops cleanly on SIGTERM and SIGINT.

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <regex>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::child;
using mantissa::test::http_request;
using mantissa::test::temp_dir;

namespace {

/// Reads the "serving http://HOST:PORT/" line and returns the port.
std::uint16_t serving_port(child& node) {
  auto line = node.wait_for_line("serving http://", 30s);
  REQUIRE(line);
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, std::regex{R"(:(\d+)/)"}));
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

} // namespace

TEST_CASE("start serves /healthz and exits 0 on SIGTERM within 2 s",
          "[integration][start]") {
  temp_dir dir;
  auto data = dir / "data";
  child node{{MANTISSA_BINARY, "start", "--data", data.string(), "--http",
              "127.0.0.1:0"}};
  auto port = serving_port(node);
  auto res = http_request(port, "GET", "/healthz");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->header("Content-Type") == "application/json");
  CHECK(res->body.find("\"status\":\"ok\"") != std::string::npos);
  CHECK(std::filesystem::is_directory(data));

  auto missing = http_request(port, "GET", "/no/such/route");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->body.find("\"code\":\"not_found\"") != std::string::npos);

  node.signal(SIGTERM);
  auto code = node.wait(2s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("start stops cleanly on SIGINT", "[integration][start]") {
  temp_dir dir;
  child node{{MANTISSA_BINARY, "start", "--data", (dir / "d").string(),
              "--http", "127.0.0.1:0"}};
  auto port = serving_port(node);
  REQUIRE(http_request(port, "GET", "/healthz"));
  node.signal(SIGINT);
  auto code = node.wait(2s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("start uses $MANTISSA_DATA when --data is not given",
          "[integration][start]") {
  temp_dir dir;
  auto data = dir / "from-env";
  child node{{MANTISSA_BINARY, "start", "--http", "127.0.0.1:0"},
             {"MANTISSA_DATA=" + data.string()}};
  auto line = node.wait_for_line("data directory", 30s);
  REQUIRE(line);
  CHECK(line->find(data.string()) != std::string::npos);
  serving_port(node);
  CHECK(std::filesystem::is_directory(data));
  node.signal(SIGTERM);
  CHECK(node.wait(2s) == 0);
}

TEST_CASE("start fails clearly when the HTTP port is taken",
          "[integration][start]") {
  temp_dir dir;
  child first{{MANTISSA_BINARY, "start", "--data", (dir / "a").string(),
               "--http", "127.0.0.1:0"}};
  auto port = serving_port(first);
  auto r = mantissa::test::run({MANTISSA_BINARY, "start", "--data",
                                (dir / "b").string(), "--http",
                                "127.0.0.1:" + std::to_string(port)});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot serve HTTP") != std::string::npos);
  first.signal(SIGTERM);
  CHECK(first.wait(2s) == 0);
}

TEST_CASE("start takes CAF settings with --caf and refuses malformed ones",
          "[integration][start]") {
  temp_dir dir;
  auto data = (dir / "d").string();
  SECTION("a setting is applied and reported") {
    child node{{MANTISSA_BINARY, "start", "--data", data, "--http",
                "127.0.0.1:0", "--caf", "scheduler.max-threads=3", "--caf",
                "work-stealing.moderate-poll-attempts=500"}};
    auto line = node.wait_for_line("CAF setting scheduler.max-threads", 30s);
    REQUIRE(line);
    CHECK(line->find("= 3") != std::string::npos);
    REQUIRE(node.wait_for_line("CAF setting work-stealing", 5s));
    auto port = serving_port(node);
    CHECK(http_request(port, "GET", "/healthz"));
    node.signal(SIGTERM);
    CHECK(node.wait(2s) == 0);
  }
  SECTION("without KEY=VALUE") {
    auto r = mantissa::test::run({MANTISSA_BINARY, "start", "--data", data,
                                  "--http", "127.0.0.1:0", "--caf",
                                  "scheduler.max-threads"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--caf wants KEY=VALUE") != std::string::npos);
  }
  SECTION("a value CAF cannot parse") {
    auto r = mantissa::test::run({MANTISSA_BINARY, "start", "--data", data,
                                  "--http", "127.0.0.1:0", "--caf",
                                  "scheduler.max-threads=\"unterminated"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("malformed CAF setting scheduler.max-threads")
          != std::string::npos);
  }
}
