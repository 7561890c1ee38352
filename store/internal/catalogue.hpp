#pragma once

#include <string>

#include "store/type.hpp"

/// SQL made from a type's declaration (catalogue.cpp).
namespace mantissa::store::internal {

/// `"id", "attr1", ...`: the columns of a type's table, in declaration order.
[[nodiscard]] std::string column_list(const type_decl& d);

} // namespace mantissa::store::internal
