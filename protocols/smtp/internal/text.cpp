#include "protocols/smtp/internal/text.hpp"

#include <algorithm>

namespace mantissa::smtp::internal {

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size()
         && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Printable ASCII without space.
bool is_graphic(char c) noexcept {
  return c > 0x20 && c < 0x7f;
}

/// What a client sent, shown in a log line: printable ASCII, at most 80
/// bytes, other bytes as \xNN.
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < 80; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (s.size() > 80)
    out += "...";
  return out;
}

/// A domain: dot-separated labels of letters, digits and '-', or an
/// address literal in brackets.
bool valid_domain(std::string_view d) noexcept {
  if (d.empty() || d.size() > 255)
    return false;
  if (d.front() == '[')
    return d.size() > 2 && d.back() == ']'
           && std::all_of(d.begin() + 1, d.end() - 1, [](char c) {
                return is_graphic(c) && c != '[' && c != ']' && c != '\\';
              });
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63)
      return false;
  }
  return label > 0;
}

namespace {

/// A local part: printable ASCII without the characters that end a path,
/// or a quoted string.
bool valid_local_part(std::string_view l) noexcept {
  if (l.empty() || l.size() > std::size_t{64} * 4)
    return false;
  if (l.size() >= 2 && l.front() == '"' && l.back() == '"')
    return std::all_of(l.begin() + 1, l.end() - 1,
                       [](char c) { return c >= 0x20 && c < 0x7f; });
  return std::all_of(l.begin(), l.end(), [](char c) {
    return is_graphic(c) && c != '<' && c != '>' && c != '(' && c != ')'
           && c != ',' && c != ';' && c != ':' && c != '\\' && c != '"'
           && c != '[' && c != ']';
  });
}

} // namespace

/// Parses `<keyword>:<path> [params]`; tolerates a space after the colon
/// and before the bracket, as many clients send it.
path_arg parse_path(std::string_view arg, std::string_view keyword) {
  path_arg out;
  if (!istarts_with(arg, keyword))
    return out;
  arg.remove_prefix(keyword.size());
  arg = trim(arg);
  if (arg.empty() || arg.front() != ':')
    return out;
  arg.remove_prefix(1);
  arg = trim(arg);
  if (arg.empty() || arg.front() != '<')
    return out;
  auto close = arg.find('>');
  if (close == std::string_view::npos)
    return out;
  auto path = arg.substr(1, close - 1);
  auto rest = arg.substr(close + 1);
  if (!rest.empty() && rest.front() != ' ')
    return out;
  // A source route (<@a,@b:user@d>) is ignored, as RFC 5321 §3.3 allows.
  if (!path.empty() && path.front() == '@') {
    auto colon = path.find(':');
    if (colon == std::string_view::npos)
      return out;
    path.remove_prefix(colon + 1);
  }
  out.ok = true;
  out.path = std::string{path};
  out.params = std::string{trim(rest)};
  return out;
}

/// Splits `local@domain` at the last '@' and checks both parts.
bool split_mailbox(std::string_view path, std::string_view& local,
                   std::string_view& domain) {
  auto at = path.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == path.size())
    return false;
  local = path.substr(0, at);
  domain = path.substr(at + 1);
  return valid_local_part(local) && valid_domain(domain);
}

std::vector<std::string_view> split_params(std::string_view params) {
  std::vector<std::string_view> out;
  while (!params.empty()) {
    auto sp = params.find(' ');
    auto word = params.substr(0, sp);
    if (!word.empty())
      out.push_back(word);
    if (sp == std::string_view::npos)
      break;
    params.remove_prefix(sp + 1);
  }
  return out;
}

namespace {

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

} // namespace

/// Strict base64 (padding required); nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view s) {
  if (s.size() % 4 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(s.size() / 4 * 3);
  for (std::size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == s.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0)
        return std::nullopt;
      v[k] = base64_value(c);
      if (v[k] < 0)
        return std::nullopt;
    }
    auto n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2)
      out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1)
      out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

} // namespace mantissa::smtp::internal
