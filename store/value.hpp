#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace mantissa::store {

/// A store id: unique within one store and never reused, even after delete.
/// Valid ids are positive.
using item_id = std::int64_t;

/// A point in time as microseconds since 1970-01-01T00:00:00Z (negative for
/// earlier times).
struct timestamp {
  std::int64_t micros = 0;
  friend bool operator==(timestamp, timestamp) = default;
  friend auto operator<=>(timestamp, timestamp) = default;
};

/// Arbitrary bytes (may contain NUL). Distinct from text so the two never mix.
struct blob {
  std::string data;
  friend bool operator==(const blob&, const blob&) = default;
};

/// A reference to another item of the same store (its id).
struct reference {
  item_id id = 0;
  friend bool operator==(reference, reference) = default;
};

/// The kinds of attribute an item type can declare.
enum class attribute_type : std::uint8_t {
  integer,    ///< signed 64-bit
  real,       ///< IEEE double
  text,       ///< UTF-8 text without NUL
  bytes,      ///< `blob`
  boolean,    ///< `bool`
  timestamp,  ///< `timestamp`, stored as integer microseconds UTC
  json,       ///< any JSON document, stored as text
  reference,  ///< `reference` to an item of a declared type in this store
};

/// The name of an attribute type as used in the catalogue and in JSON
/// (`"integer"`, `"text"`, ...).
[[nodiscard]] const char* to_string(attribute_type t) noexcept;

/// One attribute value. `std::monostate` is null; otherwise the alternative's
/// index minus one is the `attribute_type` it belongs to.
using value = std::variant<std::monostate, std::int64_t, double, std::string,
                           blob, bool, timestamp, nlohmann::json, reference>;

/// True when `v` is null.
[[nodiscard]] inline bool is_null(const value& v) noexcept {
  return v.index() == 0;
}

/// True when `v` is null or holds the alternative for `t`.
[[nodiscard]] inline bool holds(const value& v, attribute_type t) noexcept {
  return v.index() == static_cast<std::size_t>(t) + 1;
}

/// Renders a value for messages and logs (blobs as their length only).
[[nodiscard]] std::string describe(const value& v);

} // namespace mantissa::store
