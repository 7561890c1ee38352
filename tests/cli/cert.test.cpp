// `mantissa cert` and the CA that `mantissa init` makes, as a user runs
// them: real processes on a temporary data directory.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "tests/support/process.hpp"
#include "tests/support/site.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::child;
using mantissa::test::run;
using mantissa::test::temp_dir;
namespace fs = std::filesystem;

namespace {

struct cert_fixture : mantissa::test::site_fixture {
  fs::path tls = dir / "data/tls";

  static std::string slurp(const fs::path& p) {
    std::ifstream in{p, std::ios::binary};
    return {std::istreambuf_iterator<char>{in},
            std::istreambuf_iterator<char>{}};
  }

  static unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
  }

  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (auto end = text.find('\n'); end != std::string::npos;
         start = end + 1, end = text.find('\n', start))
      out.push_back(text.substr(start, end - start));
    return out;
  }
};

} // namespace

TEST_CASE_METHOD(cert_fixture, "init creates the site CA", "[cli][cert]") {
  auto r = cmd({"init", "--domain", "example.com"});
  REQUIRE(r.exit_code == 0);
  auto out = lines(r.out);
  REQUIRE(out.size() == 2);
  CHECK(out[0] == "initialized " + data + " for domain example.com");
  CHECK(out[1] == "created the site CA in " + tls.string());
  CHECK(fs::exists(tls / "ca.pem"));
  CHECK(mode_of(tls / "ca.key") == 0600);
  CHECK(mode_of(tls) == 0700);
  auto ca = slurp(tls / "ca.pem");

  // `cert ca` shows it and leaves it as it is.
  r = cmd({"cert", "ca"});
  REQUIRE(r.exit_code == 0);
  CHECK(
    r.out.rfind("the site CA is " + (tls / "ca.pem").string() + " (SHA-256 ", 0)
    == 0);
  CHECK(slurp(tls / "ca.pem") == ca);
}

TEST_CASE_METHOD(cert_fixture, "cert ca creates the CA once", "[cli][cert]") {
  auto r = cmd({"cert", "ca"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("created the site CA in " + tls.string() + " (SHA-256 ", 0)
        == 0);
  auto fingerprint = r.out.substr(r.out.find("SHA-256 "));
  CHECK(fingerprint.size() == 8 + 95 + 2); // "SHA-256 " hex ")\n"
  auto ca = slurp(tls / "ca.pem");
  r = cmd({"cert", "ca"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out
        == "the site CA is " + (tls / "ca.pem").string() + " (" + fingerprint);
  CHECK(slurp(tls / "ca.pem") == ca);
  // A site initialized afterwards keeps it.
  r = cmd({"init", "--domain", "example.com"});
  REQUIRE(r.exit_code == 0);
  CHECK(lines(r.out).size() == 1);
  CHECK(slurp(tls / "ca.pem") == ca);
}

TEST_CASE_METHOD(cert_fixture,
                 "cert issue writes a node's files once, beside a running node",
                 "[cli][cert]") {
  REQUIRE(cmd({"init", "--domain", "example.com"}).exit_code == 0);
  REQUIRE(cmd({"port", "add", "http", "127.0.0.1:0"}).exit_code == 0);
  child node{{MANTISSA_BINARY, "start", "--data", data}};
  REQUIRE(node.wait_for_line("serving http://", 30s));

  auto x = dir / "x";
  auto r = cmd({"cert", "issue", "n2", "--node", "--host", "n2.example.com",
                "--host", "10.0.0.2", "--out", x.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto out = lines(r.out);
  REQUIRE(out.size() == 2);
  auto pem = (x / "n2.pem").string();
  auto key = (x / "n2.key").string();
  CHECK(out[0].rfind("issued a node certificate for n2: " + pem + ", " + key
                       + " (SHA-256 ",
                     0)
        == 0);
  CHECK(out[1]
        == "start it with --tls-cert " + pem + " --tls-key " + key
             + " --tls-ca " + (x / "ca.pem").string()
             + ", or copy the three files into its DATA/tls/");
  CHECK(fs::exists(x / "n2.pem"));
  CHECK(mode_of(x / "n2.key") == 0600);
  CHECK(mode_of(x) == 0700);
  CHECK(slurp(x / "ca.pem") == slurp(tls / "ca.pem"));

  // The same name again is refused and changes nothing.
  auto before = slurp(x / "n2.pem");
  r = cmd({"cert", "issue", "n2", "--node", "--out", x.string()});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("n2.pem exists") != std::string::npos);
  CHECK(slurp(x / "n2.pem") == before);

  // A client's certificate, into DATA/tls by default.
  r = cmd({"cert", "issue", "tool"});
  REQUIRE(r.exit_code == 0);
  out = lines(r.out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].rfind("issued a client certificate for tool: ", 0) == 0);
  CHECK(out[1].find("client::configure_tls") != std::string::npos);
  CHECK(out[1].find((tls / "tool.pem").string()) != std::string::npos);
  CHECK(mode_of(tls / "tool.key") == 0600);

  // Bad names are refused before anything is written.
  r = cmd({"cert", "issue", "../escape", "--out", x.string()});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("certificate name") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "escape.pem"));
}

TEST_CASE_METHOD(cert_fixture, "cert issue without a CA says how to make one",
                 "[cli][cert]") {
  auto r
    = cmd({"cert", "issue", "n2", "--node", "--out", (dir / "x").string()});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("no site CA in " + tls.string()) != std::string::npos);
  CHECK(r.err.find("run mantissa init or mantissa cert ca first")
        != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "x"));
  CHECK_FALSE(fs::exists(tls));
}
