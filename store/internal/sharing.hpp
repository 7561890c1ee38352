#pragma once

#include <cstddef>
#include <string>

#include "store/error.hpp"
#include "store/value.hpp"
#include "store/sqlite.hpp"

namespace mantissa::store {
struct visibility;
}

/// The sharing tables' queries that the store itself runs (sharing.cpp).
namespace mantissa::store::internal {

/// ` AND "id" IN (...)`: keeps the items shared under an interface with one
/// of `roles` roles (a count). Its parameters are the item type, the
/// interface, then each role (`bind_visibility`); no name is ever part of
/// the SQL text.
[[nodiscard]] std::string visibility_sql(std::size_t roles);

/// Binds the parameters of `visibility_sql` from index `n`; returns the
/// next free index. `type` and `vis` must outlive the statement's use.
int bind_visibility(sqlite::statement& st, int n, const std::string& type,
                    const visibility& vis);

/// Deletes the shares of item `id` (it is being deleted).
[[nodiscard]] result<void> remove_shares_of(sqlite::connection& db,
                                            item_id id);

} // namespace mantissa::store::internal
