#pragma once

#include <algorithm>
#include <chrono>
#include <string_view>

#include "store/value.hpp"

namespace mantissa::offerings::internal {

/// `[a-z][a-z0-9_-]*`, at most 64 bytes: installable powerup and product
/// names.
inline bool valid_simple_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
           || c == '-';
  });
}

/// The current time as a store timestamp.
inline store::timestamp now() {
  using namespace std::chrono;
  return store::timestamp{
    duration_cast<microseconds>(system_clock::now().time_since_epoch())
      .count()};
}

} // namespace mantissa::offerings::internal
