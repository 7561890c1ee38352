#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

using mantissa::test::run;

TEST_CASE("mantissa --help exits 0 and lists the start command", "[cli]") {
  auto r = run({MANTISSA_BINARY, "--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("start") != std::string::npos);
  CHECK(r.out.find("Usage") != std::string::npos);
}

TEST_CASE("mantissa --version prints the version", "[cli]") {
  auto r = run({MANTISSA_BINARY, "--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("mantissa ", 0) == 0);
}

TEST_CASE("an unknown subcommand exits non-zero with a message on stderr",
          "[cli]") {
  auto r = run({MANTISSA_BINARY, "frobnicate"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("frobnicate") != std::string::npos);
}

TEST_CASE("mantissa without a subcommand exits non-zero", "[cli]") {
  auto r = run({MANTISSA_BINARY});
  CHECK(r.exit_code != 0);
  CHECK_FALSE(r.err.empty());
}

TEST_CASE("start rejects a malformed --http endpoint", "[cli]") {
  for (auto bad : {"127.0.0.1", "127.0.0.1:", ":80", "host:99999",
                   "host:12ab"}) {
    INFO(bad);
    auto r = run({MANTISSA_BINARY, "start", "--http", bad});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--http") != std::string::npos);
  }
}
