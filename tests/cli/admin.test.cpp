// Offline administration commands as a user runs them: real processes on a
// temporary data directory.

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <regex>
#include <set>

#include <sqlite3.h>

#include "tests/support/process.hpp"
#include "tests/support/site.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::child;
using mantissa::test::run;
using mantissa::test::temp_dir;

namespace {

using mantissa::test::site_fixture;

} // namespace

TEST_CASE_METHOD(site_fixture, "init creates a site once and refuses twice",
                 "[cli][admin]") {
  auto r = cmd({"init", "--domain", "Example.COM"});
  REQUIRE(r.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "data/site.sqlite"));
  auto before = std::filesystem::file_size(dir / "data/site.sqlite");
  r = cmd({"init", "--domain", "other.org"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("already initialized") != std::string::npos);
  CHECK(std::filesystem::file_size(dir / "data/site.sqlite") == before);
  CHECK(cmd({"config", "get", "site.domain"}).out == "example.com\n");
}

TEST_CASE_METHOD(site_fixture, "commands on a missing site say how to create one",
                 "[cli][admin]") {
  auto r = cmd({"user", "list"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("mantissa init") != std::string::npos);
}

TEST_CASE_METHOD(site_fixture,
                 "user add, disable and passwd keep the user store's copy in sync",
                 "[cli][admin]") {
  REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
  auto r = cmd({"user", "add", "Alice@Example.com", "--password-stdin"}, "pw1\n");
  REQUIRE(r.exit_code == 0);
  auto user_file = dir / "data/users/example.com/alice.sqlite";
  REQUIRE(std::filesystem::exists(user_file));
  auto site_file = dir / "data/site.sqlite";
  const std::string q = "SELECT revision || '/' || disabled || '/' || "
                        "password_hash FROM item_mantissa__account_v1 WHERE "
                        "localpart = 'alice'";
  CHECK(sql(user_file, q) == sql(site_file, q));

  REQUIRE(cmd({"user", "disable", "alice@example.com"}).exit_code == 0);
  CHECK(sql(user_file, q) == sql(site_file, q));
  CHECK(cmd({"user", "list"}).out.find("alice@example.com\tdisabled")
        != std::string::npos);

  REQUIRE(cmd({"user", "passwd", "ALICE@example.com", "--password-stdin"},
              "pw2\n")
            .exit_code
          == 0);
  CHECK(sql(user_file, q) == sql(site_file, q));
  // Passwords are stored hashed with argon2id, never in clear.
  auto hash = sql(site_file, "SELECT password_hash FROM "
                             "item_mantissa__account_v1");
  CHECK(hash.rfind("$argon2id$", 0) == 0);
  CHECK(hash.find("pw2") == std::string::npos);
}

TEST_CASE_METHOD(site_fixture, "bad account names are rejected before any file",
                 "[cli][admin][bad-input]") {
  REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
  for (auto bad : {"../x@example.com", "a/b@example.com", "@example.com",
                   "x@", "x@../etc", "x y@example.com",
                   "caf\xC3\xA9@example.com"}) {
    INFO(bad);
    auto r = cmd({"user", "add", bad, "--no-password"});
    CHECK(r.exit_code != 0);
    CHECK_FALSE(r.err.empty());
  }
  // Only the site's own files exist: no user store, no directory for a
  // rejected domain.
  std::set<std::string> files;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path()))
    files.insert(std::filesystem::relative(e.path(), dir.path()).string());
  CHECK(files
        == std::set<std::string>{"data", "data/node.lock", "data/site.sqlite",
                                 "data/site.sqlite-wal", "data/tls",
                                 "data/tls/ca.key", "data/tls/ca.pem"});
  CHECK(cmd({"user", "list"}).out.empty());
}

TEST_CASE_METHOD(site_fixture, "duplicate accounts and missing passwords are refused",
                 "[cli][admin]") {
  REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
  REQUIRE(cmd({"user", "add", "bob@example.com", "--no-password"}).exit_code == 0);
  auto r = cmd({"user", "add", "BOB@example.com", "--no-password"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("exists") != std::string::npos);
  r = cmd({"user", "add", "carol@example.com"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("--password-stdin") != std::string::npos);
  r = cmd({"user", "add", "carol@example.com", "--password-stdin"}, "");
  CHECK(r.exit_code != 0);
  CHECK(cmd({"user", "list"}).out == "bob@example.com\tno-password\n");
}

TEST_CASE_METHOD(site_fixture, "secrets are never printed in full",
                 "[cli][admin]") {
  REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
  auto r = cmd({"config", "set", "mail.api_key", "--secret", "--value-stdin"},
               "sk-live-0123456789abcdef\n");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("0123456789abcdef") == std::string::npos);
  CHECK(cmd({"config", "list"}).out.find("0123456789abcdef") == std::string::npos);
  CHECK(cmd({"config", "get", "mail.api_key"}).out.find("sk") == 0);
}

TEST_CASE_METHOD(site_fixture,
                 "offline commands refuse to run beside a node and change nothing",
                 "[cli][admin]") {
  REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
  REQUIRE(cmd({"port", "add", "http", "127.0.0.1:0"}).exit_code == 0);
  child node{{MANTISSA_BINARY, "start", "--data", data}};
  REQUIRE(node.wait_for_line("serving http://", 30s));
  auto r = cmd({"user", "add", "dave@example.com", "--no-password"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("running node") != std::string::npos);
  node.signal(SIGTERM);
  REQUIRE(node.wait(5s) == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "data/users/example.com/dave.sqlite"));
  // Once the node stopped, the lock is free again.
  CHECK(cmd({"user", "add", "dave@example.com", "--no-password"}).exit_code == 0);
}

TEST_CASE_METHOD(site_fixture, "start creates a demo account on the first run",
                 "[cli][start]") {
  child node{{MANTISSA_BINARY, "start", "--data", data, "--http", "127.0.0.1:0"}};
  auto login = node.wait_for_line("demo login", 30s);
  REQUIRE(login);
  CHECK(std::regex_search(*login, std::regex{R"(demo@example\.com / \S{12,})"}));
  REQUIRE(node.wait_for_line("serving http://", 30s));
  node.signal(SIGTERM);
  REQUIRE(node.wait(5s) == 0);
  CHECK(cmd({"user", "list"}).out == "demo@example.com\n");
}

TEST_CASE_METHOD(site_fixture, "user admin grants and revokes group:admin in "
                               "the site store",
                 "[cli][admin]") {
  REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
  REQUIRE(cmd({"user", "add", "alice@example.com", "--password-stdin"}, "pw\n")
            .exit_code
          == 0);
  CHECK(cmd({"user", "admin", "nobody@example.com"}).exit_code != 0);
  auto r = cmd({"user", "admin", "Alice@example.com"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(cmd({"user", "list"}).out == "alice@example.com\tadmin\n");
  CHECK(sql(dir / "data/site.sqlite",
            "SELECT member || ' ' || grp FROM mantissa_members")
        == "user:alice@example.com group:admin");
  REQUIRE(cmd({"user", "admin", "alice@example.com", "--revoke"}).exit_code
          == 0);
  CHECK(cmd({"user", "list"}).out == "alice@example.com\n");
}
