#pragma once

#include <cstdint>

#include "actors/internal/store_actor/due_alarm.hpp"

namespace mantissa::actors::internal::store_parts {

/// What the store and the node's timer know of the store's next timed
/// event (docs/scheduler.md). Used only by the owning store actor.
///
/// Owns the pending tick and the last report to the timer. Invariants:
/// - `tick` holds the due time of the one tick in flight; a tick is armed
///   again only for an earlier time.
/// - `indexed_due` is what the timer was last told, meaningful only while
///   `index_known` (a failed report clears it, so the next one is sent).
/// - `force_report`: the next commit reports its exact due time (a run of
///   timed events may have changed it either way).
struct due_times {
  due_alarm tick;
  bool index_known = false;
  std::int64_t indexed_due = -1; // -1: nothing
  bool force_report = false;

  /// Whether the timer must be told `due` (-1: nothing due): with `exact`
  /// whenever it was told something else, else only when it might wake
  /// the store too late.
  [[nodiscard]] bool report_needed(std::int64_t due, bool exact) const {
    if (exact)
      return !index_known || indexed_due != due;
    return due >= 0 && (!index_known || indexed_due < 0 || due < indexed_due);
  }
  /// The timer is told `due` (a failed report clears `index_known`).
  void reported(std::int64_t due) {
    index_known = true;
    indexed_due = due;
  }
};

} // namespace mantissa::actors::internal::store_parts
