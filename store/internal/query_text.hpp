#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "store/error.hpp"
#include "store/query.hpp"

/// What the query's two forms share (query.cpp): the JSON form
/// (query_json.cpp) and its compilation to SQL check the same limits and
/// word their errors alike.
namespace mantissa::store::internal {

inline constexpr int max_depth = 32;
inline constexpr std::size_t max_operands = 1000;
inline constexpr std::size_t max_conditions = 1000;

/// Caller-supplied text quoted for an error message, cut short when long.
[[nodiscard]] std::string shown(std::string_view text);

[[nodiscard]] error invalid_query(std::string message);

/// An operator of the JSON form and the condition it makes.
struct op_entry {
  std::string_view name;
  condition::kind k;
  compare_op op;
};

/// The operator named `name`, or null.
[[nodiscard]] const op_entry* find_op(std::string_view name);

/// The JSON name of `c`'s operator.
[[nodiscard]] std::string_view op_name(const condition& c);

} // namespace mantissa::store::internal
