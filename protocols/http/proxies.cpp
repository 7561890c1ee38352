#include "protocols/http/proxies.hpp"

#include <cstring>
#include <optional>

#include <arpa/inet.h>

namespace mantissa::http {

namespace {

/// `text` as 16 bytes (IPv4 mapped into IPv6), or nothing.
std::optional<std::array<unsigned char, 16>> to_bytes(std::string_view text,
                                                      bool& v4) {
  std::string s{text};
  std::array<unsigned char, 16> out{};
  in_addr a4{};
  if (::inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    out[10] = 0xFF;
    out[11] = 0xFF;
    std::memcpy(out.data() + 12, &a4, 4);
    v4 = true;
    return out;
  }
  in6_addr a6{};
  if (::inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(out.data(), &a6, 16);
    v4 = false;
    return out;
  }
  return std::nullopt;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

bool trusted_proxies::parse(std::string_view list, std::string& err) {
  nets_.clear();
  std::size_t at = 0;
  while (at < list.size()) {
    auto end = list.find_first_of(", ", at);
    if (end == std::string_view::npos)
      end = list.size();
    auto entry = list.substr(at, end - at);
    at = end + 1;
    if (entry.empty())
      continue;
    auto slash = entry.find('/');
    auto addr = entry.substr(0, slash);
    bool v4 = false;
    auto bytes = to_bytes(addr, v4);
    if (!bytes) {
      err = "'" + std::string{entry.substr(0, 64)}
            + "' is not an IP address or network";
      return false;
    }
    network n;
    n.bytes = *bytes;
    n.prefix = 128;
    if (slash != std::string_view::npos) {
      auto bits = entry.substr(slash + 1);
      int p = 0;
      if (bits.empty() || bits.size() > 3)
        p = -1;
      for (char c : bits)
        p = c >= '0' && c <= '9' && p >= 0 ? p * 10 + (c - '0') : -1;
      if (p < 0 || p > (v4 ? 32 : 128)) {
        err = "'" + std::string{entry.substr(0, 64)} + "': a bad prefix length";
        return false;
      }
      n.prefix = v4 ? p + 96 : p;
    }
    nets_.push_back(n);
  }
  return true;
}

bool trusted_proxies::contains(std::string_view address) const {
  bool v4 = false;
  auto bytes = to_bytes(trim(address), v4);
  if (!bytes)
    return false;
  for (auto& n : nets_) {
    int full = n.prefix / 8;
    int rest = n.prefix % 8;
    if (std::memcmp(bytes->data(), n.bytes.data(), static_cast<std::size_t>(full)) != 0)
      continue;
    if (rest != 0) {
      auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
      if (((*bytes)[static_cast<std::size_t>(full)] & mask)
          != (n.bytes[static_cast<std::size_t>(full)] & mask))
        continue;
    }
    return true;
  }
  return false;
}

std::string trusted_proxies::client_of(std::string_view peer,
                                       std::string_view forwarded_for) const {
  std::string client{peer};
  if (forwarded_for.empty() || !contains(peer))
    return client;
  // From the right: each hop appended the address it was reached from.
  auto rest = forwarded_for;
  while (!rest.empty()) {
    auto comma = rest.rfind(',');
    auto entry = trim(comma == std::string_view::npos ? rest
                                                      : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{}
                                           : rest.substr(0, comma);
    bool v4 = false;
    if (!to_bytes(entry, v4))
      break;  // not an address: trust nothing further left
    client = std::string{entry};
    if (!contains(entry))
      break;
  }
  return client;
}

} // namespace mantissa::http
