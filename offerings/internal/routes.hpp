#pragma once

// Routes of offerings (offering.hpp, `route`): their patterns checked and
// matched. Used by `validate` and by the HTTP front end that serves them
// (protocols/http/app_routes.cpp).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "offerings/offering.hpp"

namespace mantissa::offerings::internal {

/// The segments of a route pattern: "/" is none, "/a/{b}" is {"a", "{b}"}.
[[nodiscard]] std::vector<std::string> pattern_segments(const std::string& p);

/// Checks one route of `o`: method, pattern syntax (no parameter twice),
/// the handler among `o`'s, and `store` and `share` parameters present in
/// the pattern. The message names the route.
[[nodiscard]] store::result<void> check_route(const offering& o,
                                              const route& r);

/// The parameters when the decoded path segments `segs` (after
/// `/apps/{offering}`) match `r`'s pattern; nullopt otherwise.
[[nodiscard]] std::optional<std::map<std::string, std::string>>
match_route(const route& r, const std::vector<std::string>& segs);

} // namespace mantissa::offerings::internal
