#pragma once

#include <utility>

#include "store/store.hpp"

namespace mantissa::store {

/// Runs the write `f` atomically: in a transaction of its own when none is
/// in progress (`transact`); inside one, in a savepoint when
/// `needs_savepoint` (a write of several statements), else directly (one
/// statement is atomic). On error, what `f` wrote is rolled back and its
/// error returned.
template <class F>
auto store::write_op(bool needs_savepoint, F&& f) -> decltype(f()) {
  if (opts_.read_only)
    return error{errc::read_only, db_->path().string() + " is open read-only"};
  if (depth_ == 0)
    return transact(std::forward<F>(f));
  if (!needs_savepoint)
    return f();
  MANTISSA_TRY(savepoint());
  auto r = f();
  if (!r) {
    rollback_savepoint();
    return r;
  }
  MANTISSA_TRY(release_savepoint());
  return r;
}

} // namespace mantissa::store
