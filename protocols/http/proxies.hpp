#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace mantissa::http {

/// The reverse proxies whose `X-Forwarded-For` the server believes (the
/// site setting `http.trusted_proxies`, docs/security.md). A request from
/// any other peer is from that peer, whatever headers it sends.
class trusted_proxies {
 public:
  /// Parses a comma- or space-separated list of addresses and networks
  /// ("127.0.0.1, 10.0.0.0/8, ::1"); on a malformed entry returns false and
  /// sets `err`. An empty list trusts no one.
  bool parse(std::string_view list, std::string& err);

  [[nodiscard]] bool empty() const noexcept { return nets_.empty(); }

  /// Whether `address` (an IPv4 or IPv6 address as text) is a listed proxy.
  [[nodiscard]] bool contains(std::string_view address) const;

  /// The client of a request that came from `peer` with `X-Forwarded-For`
  /// `forwarded_for` (empty: none): `peer` unless it is a listed proxy;
  /// then the rightmost address of the header that is not a listed proxy
  /// (each proxy appends the address it got the request from, so entries
  /// left of an untrusted one are the client's word only). A malformed
  /// entry stops the walk at the last good one.
  [[nodiscard]] std::string client_of(std::string_view peer,
                                      std::string_view forwarded_for) const;

 private:
  struct network {
    std::array<unsigned char, 16> bytes{};  ///< IPv4 as ::ffff:a.b.c.d
    int prefix = 128;
  };
  std::vector<network> nets_;
};

} // namespace mantissa::http
