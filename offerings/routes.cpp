// Offering routes: pattern syntax and matching (internal/routes.hpp).

#include "offerings/internal/routes.hpp"

#include <algorithm>
#include <set>

namespace mantissa::offerings::internal {

namespace {

bool literal_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~'
         || c == '-';
}

bool param_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || (n[0] >= '0' && n[0] <= '9'))
    return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

/// `{name}` -> "name"; anything else -> "".
std::string param_of(const std::string& seg) {
  if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}')
    return {};
  return seg.substr(1, seg.size() - 2);
}

} // namespace

std::vector<std::string> pattern_segments(const std::string& p) {
  std::vector<std::string> out;
  std::size_t i = 1;
  while (i <= p.size() && p.size() > 1) {
    auto slash = p.find('/', i);
    if (slash == std::string::npos)
      slash = p.size();
    out.push_back(p.substr(i, slash - i));
    i = slash + 1;
  }
  return out;
}

store::result<void> check_route(const offering& o, const route& r) {
  auto where = "offering '" + o.name.substr(0, 64) + "': route "
               + r.method.substr(0, 16) + " " + r.pattern.substr(0, 128);
  auto bad = [&](const std::string& why) {
    return store::error{store::errc::invalid_value, where + ": " + why};
  };
  static const std::set<std::string, std::less<>> methods{
    "GET", "POST", "PUT", "PATCH", "DELETE"};
  if (methods.count(r.method) == 0)
    return bad("the method is not one of GET, POST, PUT, PATCH, DELETE");
  if (r.pattern.empty() || r.pattern[0] != '/' || r.pattern.size() > 512)
    return bad("the pattern must start with '/' (at most 512 bytes)");
  std::set<std::string> params;
  for (auto& seg : pattern_segments(r.pattern)) {
    auto p = param_of(seg);
    if (!p.empty()) {
      if (!param_name(p))
        return bad("parameter {" + p.substr(0, 64)
                   + "} is not [a-z_][a-z0-9_]* (at most 64 bytes)");
      if (!params.insert(p).second)
        return bad("parameter {" + p + "} appears twice");
      continue;
    }
    if (seg.empty() || !std::all_of(seg.begin(), seg.end(), literal_char))
      return bad("segment '" + seg.substr(0, 64)
                 + "' is neither {name} nor [A-Za-z0-9._~-]+");
  }
  bool known = std::any_of(o.handlers.begin(), o.handlers.end(),
                           [&](auto& h) { return h.name == r.handler; });
  if (!known)
    return bad("its handler '" + r.handler.substr(0, 128)
               + "' is not one of the offering's handlers");
  if (r.where == route_store::param && params.count(r.store) == 0)
    return bad("the store parameter '" + r.store.substr(0, 64)
               + "' is not a parameter of the pattern");
  auto sp = param_of(r.share);
  if (!sp.empty() && params.count(sp) == 0)
    return bad("the share parameter {" + sp.substr(0, 64)
               + "} is not a parameter of the pattern");
  return {};
}

std::optional<std::map<std::string, std::string>>
match_route(const route& r, const std::vector<std::string>& segs) {
  auto pat = pattern_segments(r.pattern);
  if (pat.size() != segs.size())
    return std::nullopt;
  std::map<std::string, std::string> params;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    auto p = param_of(pat[i]);
    if (p.empty()) {
      if (pat[i] != segs[i])
        return std::nullopt;
    } else if (segs[i].empty()) {
      return std::nullopt;
    } else {
      params[p] = segs[i];
    }
  }
  return params;
}

} // namespace mantissa::offerings::internal
