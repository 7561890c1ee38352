// `mantissa offering`, `product` and `user ... --product` / `user product`
// as an administrator runs them: real processes on a temporary data
// directory.

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <sqlite3.h>

#include "tests/support/process.hpp"
#include "tests/support/site.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::child;
using mantissa::test::run;
using mantissa::test::temp_dir;

namespace {

/// A site made with `mantissa init --domain example.com`.
struct site_fixture : mantissa::test::site_fixture {
  site_fixture() {
    auto r = cmd({"init", "--domain", "example.com"});
    REQUIRE(r.exit_code == 0);
  }

  static std::string bytes(const std::filesystem::path& p) {
    std::ifstream f{p, std::ios::binary};
    return {std::istreambuf_iterator<char>{f},
            std::istreambuf_iterator<char>{}};
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE_METHOD(site_fixture,
                 "offering install then user add --product works after init",
                 "[cli][offerings]") {
  auto list = cmd({"offering", "list"});
  REQUIRE(list.exit_code == 0);
  CHECK(has(list.out, "mail\t1.0\tnot-installed"));
  CHECK(has(list.out, "notes\t1.0\tnot-installed"));

  auto r = cmd({"offering", "install", "notes"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(has(r.out, "installed offering notes"));
  CHECK(has(r.out, "created product notes"));
  CHECK(std::filesystem::exists(dir / "data/apps/notes.sqlite"));
  CHECK(has(cmd({"offering", "list"}).out, "notes\t1.0\tinstalled"));
  CHECK(cmd({"product", "list"}).out == "notes\tnotebook\n");

  r = cmd({"user", "add", "alice@example.com", "--product", "notes",
           "--password-stdin"},
          "pw\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(has(r.out, "added product notes to alice@example.com"));
  auto user_file = dir / "data/users/example.com/alice.sqlite";
  CHECK(sql(user_file, "SELECT count(*) FROM mantissa_powerups "
                       "WHERE interface = 'notes'")
        == "1");
  CHECK(
    sql(user_file, "SELECT product FROM item_mantissa__product_installation_v1")
    == "notes");
}

TEST_CASE_METHOD(site_fixture, "installing an offering twice changes nothing",
                 "[cli][offerings]") {
  REQUIRE(cmd({"offering", "install", "mail"}).exit_code == 0);
  auto site_file = dir / "data/site.sqlite";
  auto app_file = dir / "data/apps/mail.sqlite";
  auto site_before = bytes(site_file);
  auto app_before = bytes(app_file);
  auto r = cmd({"offering", "install", "mail"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "already installed"));
  CHECK(bytes(site_file) == site_before);
  CHECK(bytes(app_file) == app_before);

  r = cmd({"offering", "install", "nosuch"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "unknown offering 'nosuch'"));
  r = cmd({"offering", "install", "../etc"});
  CHECK(r.exit_code != 0);
  CHECK_FALSE(r.err.empty());
}

TEST_CASE_METHOD(site_fixture, "products are created, given and taken away",
                 "[cli][offerings]") {
  auto r = cmd({"product", "create", "suite", "--powerups", "notebook,inbox"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "not installed"));
  REQUIRE(cmd({"offering", "install", "notes"}).exit_code == 0);
  REQUIRE(cmd({"offering", "install", "mail"}).exit_code == 0);
  r = cmd({"product", "create", "suite", "--powerups", "notebook,nosuch"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "unknown powerup 'nosuch'"));
  r = cmd({"product", "create", "suite", "--powerups", "notebook, inbox"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(has(cmd({"product", "list"}).out, "suite\tnotebook,inbox\n"));
  r = cmd({"product", "create", "suite", "--powerups", "inbox"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "exists"));

  // An unknown product creates no account.
  r = cmd(
    {"user", "add", "bob@example.com", "--no-password", "--product", "nosuch"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "no product named 'nosuch'"));
  CHECK_FALSE(has(cmd({"user", "list"}).out, "bob@"));

  REQUIRE(cmd({"user", "add", "bob@example.com", "--no-password", "--product",
               "notes", "--product", "mail"})
            .exit_code
          == 0);
  auto user_file = dir / "data/users/example.com/bob.sqlite";
  const std::string powerups = "SELECT group_concat(interface, ',') FROM "
                               "(SELECT interface FROM mantissa_powerups "
                               "ORDER BY interface)";
  CHECK(sql(user_file, powerups) == "mail_delivery,notes");

  r = cmd({"user", "product", "add", "bob@example.com", "notes"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "already has product 'notes'"));
  REQUIRE(cmd({"user", "product", "add", "bob@example.com", "suite"}).exit_code
          == 0);
  REQUIRE(
    cmd({"user", "product", "remove", "bob@example.com", "notes"}).exit_code
    == 0);
  CHECK(sql(user_file, powerups) == "mail_delivery,notes");
  REQUIRE(
    cmd({"user", "product", "remove", "bob@example.com", "suite"}).exit_code
    == 0);
  REQUIRE(
    cmd({"user", "product", "remove", "bob@example.com", "mail"}).exit_code
    == 0);
  CHECK(sql(user_file, powerups).empty());
  r = cmd({"user", "product", "remove", "bob@example.com", "mail"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "does not have product 'mail'"));
  r = cmd({"user", "product", "add", "nobody@example.com", "mail"});
  CHECK(r.exit_code != 0);
}

TEST_CASE_METHOD(site_fixture, "plugins named in the site configuration load",
                 "[cli][offerings][plugin]") {
  REQUIRE(
    cmd({"config", "set", "offerings.plugins", MANTISSA_TEST_PLUGIN}).exit_code
    == 0);
  auto list = cmd({"offering", "list"});
  INFO(list.err);
  REQUIRE(list.exit_code == 0);
  CHECK(has(list.out, "hello\t0.1\tnot-installed"));
  REQUIRE(cmd({"offering", "install", "hello"}).exit_code == 0);
  REQUIRE(cmd({"user", "add", "carol@example.com", "--no-password", "--product",
               "hello"})
            .exit_code
          == 0);
  CHECK(sql(dir / "data/users/example.com/carol.sqlite",
            "SELECT count(*) FROM mantissa_powerups WHERE interface = 'hello'")
        == "1");

  // A plugin for another API version: refused with both versions named.
  REQUIRE(
    cmd({"config", "set", "offerings.plugins",
         std::string{MANTISSA_TEST_PLUGIN} + "," + MANTISSA_TEST_OLD_PLUGIN})
      .exit_code
    == 0);
  auto r = cmd({"offering", "list"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, MANTISSA_TEST_OLD_PLUGIN));
  // offerings::api_version is 3; the old plugin claims api_version + 1.
  CHECK(has(r.err, "API version 4"));
  CHECK(has(r.err, "API version 3"));
}

TEST_CASE_METHOD(site_fixture,
                 "start loads the configured plugins or refuses to run",
                 "[cli][offerings][plugin]") {
  REQUIRE(cmd({"config", "set", "offerings.plugins", MANTISSA_TEST_OLD_PLUGIN})
            .exit_code
          == 0);
  auto r = run({MANTISSA_BINARY, "start", "--data", data, "--http",
                "127.0.0.1:0", "--no-demo"});
  CHECK(r.exit_code != 0);
  CHECK(has(r.err, "API version 3"));
  CHECK(has(r.err, "offerings.plugins"));

  REQUIRE(
    cmd({"config", "set", "offerings.plugins", MANTISSA_TEST_PLUGIN}).exit_code
    == 0);
  child node{{MANTISSA_BINARY, "start", "--data", data, "--http", "127.0.0.1:0",
              "--no-demo"}};
  auto line = node.wait_for_line("serving http://", 30s);
  INFO(node.err());
  REQUIRE(line);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}
