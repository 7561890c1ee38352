#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"
#include "store/store.hpp"
#include "store/value.hpp"

/// Timed events of one store: "run this item at that time". The events are
/// rows of the store (`mantissa_schedule`), so they commit with the writes
/// that made them and move with the file. What running means is not
/// decided here: the node runs a due event with the runnable registered for
/// the item's type (actors/scheduler.hpp) and records failures here.
///
/// Thread rule: as `store` — only the owner of the store calls these.
namespace mantissa::store {

/// One scheduled run of an item.
struct scheduled_event {
  std::int64_t id = 0;
  item_ref item;
  timestamp due;
  friend bool operator==(const scheduled_event&, const scheduled_event&)
    = default;
};

/// A run that failed (the failure log).
struct schedule_failure {
  std::int64_t id = 0;
  item_ref item;
  timestamp due; ///< when the failed run was due
  timestamp at;  ///< when it failed
  std::string message;
};

/// Failure records kept per store; older ones are dropped.
inline constexpr std::size_t max_schedule_failures = 1000;

/// Schedules `item` (which must exist: `no_such_item`) to run at `when`.
/// An item may be scheduled at several times. Returns the event.
[[nodiscard]] result<scheduled_event> schedule(store& s, const item_ref& item,
                                               timestamp when);

/// Removes every event of `item`; returns how many there were.
[[nodiscard]] result<std::int64_t> unschedule(store& s, const item_ref& item);

/// Replaces every event of `item` by one at `when`.
[[nodiscard]] result<scheduled_event> reschedule(store& s, const item_ref& item,
                                                 timestamp when);

/// The times `item` is scheduled at, earliest first.
[[nodiscard]] result<std::vector<timestamp>>
scheduled_times(store& s, const item_ref& item);

/// Events, earliest first (ties: in the order they were scheduled), at
/// most `limit`.
[[nodiscard]] result<std::vector<scheduled_event>>
scheduled_events(store& s, std::size_t limit = 1000);

/// The earliest due time; nullopt when nothing is scheduled.
[[nodiscard]] result<std::optional<timestamp>> next_due(store& s);

/// The earliest event if it is due at `now` (due <= now), else nullopt.
[[nodiscard]] result<std::optional<scheduled_event>> first_due(store& s,
                                                               timestamp now);

/// Removes one event (it ran and is done); a missing event is no error.
[[nodiscard]] result<void> remove_event(store& s, std::int64_t event_id);

/// Moves one event to `when` (it ran and asked to run again).
[[nodiscard]] result<void> move_event(store& s, std::int64_t event_id,
                                      timestamp when);

/// Adds a record to the failure log, dropping the oldest beyond
/// `max_schedule_failures`. `message` is cut to 4 KiB.
[[nodiscard]] result<void> record_failure(store& s, const scheduled_event& e,
                                          timestamp at,
                                          std::string_view message);

/// The failure log, newest first, at most `limit` records.
[[nodiscard]] result<std::vector<schedule_failure>>
schedule_failures(store& s, std::size_t limit = 100);

} // namespace mantissa::store
