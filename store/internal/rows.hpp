#pragma once

#include <cstdint>
#include <vector>

#include "store/error.hpp"
#include "store/sqlite.hpp"

namespace mantissa::store::internal {

/// Steps `st` to the end, collecting column 0 as integers (ids).
[[nodiscard]] inline result<std::vector<std::int64_t>>
int_column(sqlite::statement& st) {
  std::vector<std::int64_t> out;
  MANTISSA_TRY(st.for_each_row([&] { out.push_back(st.column_int64(0)); }));
  return out;
}

} // namespace mantissa::store::internal
