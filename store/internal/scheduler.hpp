#pragma once

#include "store/error.hpp"
#include "store/value.hpp"
#include "store/sqlite.hpp"

/// The schedule tables' queries that the store itself runs (scheduler.cpp).
namespace mantissa::store::internal {

/// Deletes the scheduled events of item `id` (it is being deleted).
[[nodiscard]] result<void> remove_events_of(sqlite::connection& db,
                                            item_id id);

} // namespace mantissa::store::internal
