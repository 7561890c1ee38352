#pragma once

#include <set>

#include "store/error.hpp"
#include "store/registry.hpp"
#include "store/sqlite.hpp"
#include "store/value.hpp"

namespace mantissa::store::internal {

/// Fails with `disallowed` when an item that is left refers, through a
/// `disallow` reference, to one of the `removed` items. Run after a delete
/// and all its cascades, so that a referrer deleted by the same cascade
/// does not refuse it whatever the order in which the cascade met them;
/// the caller rolls the delete back on error (removal.cpp).
[[nodiscard]] result<void> check_disallowed(sqlite::connection& db,
                                            const type_registry& reg,
                                            const std::set<item_id>& removed);

} // namespace mantissa::store::internal
