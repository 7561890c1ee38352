// `mantissa signup open|close|list|ticket` as an administrator runs them
// offline: real processes on a temporary data directory.

#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "tests/support/process.hpp"
#include "tests/support/site.hpp"

namespace {

/// A site made with `mantissa init --domain example.com`, with the notes
/// offering (and so the product notes) installed.
struct signup_site : mantissa::test::site_fixture {
  signup_site() {
    REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
    REQUIRE(cmd({"offering", "install", "notes"}).exit_code == 0);
  }

  /// The id `signup open` printed.
  std::string open(const std::string& kind) {
    auto r = cmd({"signup", "open", kind, "--product", "notes"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex{"^opened signup (\\d+)\t"}));
    return m[1];
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE_METHOD(signup_site, "signups are opened, listed and closed offline",
                 "[cli][signup]") {
  auto free_id = open("free");
  auto second = cmd({"signup", "open", "free", "--product", "notes"});
  CHECK(second.exit_code == 1);
  CHECK(has(second.err, "free signup " + free_id + " is open"));
  auto ticket_id = open("ticket");

  auto list = cmd({"signup", "list"});
  REQUIRE(list.exit_code == 0);
  CHECK(list.out
        == free_id + "\tfree\tnotes\texample.com\topen\n" + ticket_id
             + "\tticket\tnotes\texample.com\topen\n");

  auto made = cmd({"signup", "ticket", ticket_id});
  REQUIRE(made.exit_code == 0);
  CHECK(std::regex_match(made.out,
                         std::regex{"/signup\\?ticket=[A-Za-z0-9_-]{43}\n"}));
  // A free signup needs no tickets; a ticket lives at most a year.
  CHECK(has(cmd({"signup", "ticket", free_id}).err, "is free"));
  CHECK(cmd({"signup", "ticket", ticket_id, "--expires-in", "99999999"})
          .exit_code
        == 1);

  REQUIRE(cmd({"signup", "close", ticket_id}).exit_code == 0);
  CHECK(has(cmd({"signup", "list"}).out, "\tticket\tnotes\texample.com\tclosed"));
  CHECK(has(cmd({"signup", "ticket", ticket_id}).err, "is closed"));
  CHECK(cmd({"signup", "close", "999999"}).exit_code == 1);

  // Bad input is a clear error.
  auto unknown = cmd({"signup", "open", "free", "--product", "nope"});
  CHECK(unknown.exit_code == 1);
  CHECK(has(unknown.err, "nope"));
  CHECK(cmd({"signup", "open", "maybe", "--product", "notes"}).exit_code == 1);
  CHECK(cmd({"signup", "open", "ticket", "--product", "notes", "--inviters",
             "admins"})
          .exit_code
        == 1);
}
