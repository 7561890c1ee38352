// Which X-Forwarded-For the HTTP server believes (docs/security.md,
// "Behind a reverse proxy").

#include <catch2/catch.hpp>

#include <string>

#include "protocols/http/proxies.hpp"

using mantissa::http::trusted_proxies;

TEST_CASE("only a listed proxy names the client, and only the part of "
          "X-Forwarded-For that listed proxies appended",
          "[http][proxies]") {
  trusted_proxies p;
  std::string err;
  REQUIRE(p.parse("127.0.0.1, 10.0.0.0/8 2001:db8::/32", err));
  CHECK(p.contains("127.0.0.1"));
  CHECK_FALSE(p.contains("127.0.0.2"));
  CHECK(p.contains("10.200.3.4"));
  CHECK_FALSE(p.contains("11.0.0.1"));
  CHECK(p.contains("2001:db8:ffff::1"));
  CHECK_FALSE(p.contains("2001:db9::1"));
  CHECK(p.contains("::ffff:10.1.1.1"));
  CHECK_FALSE(p.contains("not an address"));
  // Not from a proxy: the header is the client's word, ignored.
  CHECK(p.client_of("192.0.2.7", "203.0.113.1") == "192.0.2.7");
  // From a proxy: the rightmost entry that is not a proxy.
  CHECK(p.client_of("127.0.0.1", "203.0.113.1") == "203.0.113.1");
  CHECK(p.client_of("127.0.0.1", "6.6.6.6, 203.0.113.1, 10.0.0.5")
        == "203.0.113.1");
  CHECK(p.client_of("127.0.0.1", "") == "127.0.0.1");
  // Garbage stops the walk at the last address it could believe.
  CHECK(p.client_of("127.0.0.1", "203.0.113.1, junk, 10.0.0.5") == "10.0.0.5");
  CHECK(p.client_of("127.0.0.1", "junk") == "127.0.0.1");
  for (auto bad : {"300.1.1.1", "10.0.0.0/33", "::1/129", "host.example",
                   "10.0.0.0/"}) {
    INFO(bad);
    CHECK_FALSE(p.parse(bad, err));
    CHECK_FALSE(err.empty());
  }
  REQUIRE(p.parse("", err));
  CHECK(p.empty());
  CHECK(p.client_of("127.0.0.1", "203.0.113.1") == "127.0.0.1");
}
