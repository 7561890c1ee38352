#pragma once

#include <cstddef>
#include <optional>

#include "actors/handlers.hpp"
#include "store/error.hpp"
#include "store/scheduler.hpp"
#include "store/store.hpp"

/// Running a store's timed events (store/scheduler.hpp) with the runnables
/// registered for their item types (handlers.hpp). The store actor calls
/// `run_due_events` when its next event is due; the node's timer wakes
/// passivated stores for it (docs/scheduler.md).
namespace mantissa::actors {

/// The current wall-clock time as a store timestamp.
[[nodiscard]] store::timestamp now_timestamp();

/// What one round of `run_due_events` did.
struct run_report {
  std::size_t ran = 0;    ///< runs that succeeded
  std::size_t failed = 0; ///< runs that failed (logged in the store)
  bool more_due = false;  ///< stopped at `max_events` with more due
};

/// Runs the events of `s` due at `now`, earliest first, at most
/// `max_events`, inside the transaction in progress (which must exist).
/// Each run is isolated in a savepoint: its writes and its event's new time
/// (or removal) commit together, and a failure (an error, an exception, no
/// runnable for the type) undoes only that run. A failed run is recorded in
/// the store's failure log; the type's `on_error` then decides whether the
/// event runs again, else it is dropped. Fails only when the store itself
/// fails.
[[nodiscard]] store::result<run_report>
run_due_events(store::store& s, const handler_registry& handlers,
               store::timestamp now, std::size_t max_events = 64);

/// Adds the handlers a client uses to schedule items of its stores (owner
/// only, as every handler): `mantissa.schedule` `{type, id, at}` → the
/// event, `mantissa.reschedule` (same; replaces the item's events),
/// `mantissa.unschedule` `{type, id}` → `{removed}`, `mantissa.scheduled`
/// `{type?, id?, limit?}` → `{"events": [...]}` and
/// `mantissa.schedule_failures` `{limit?}` → `{"failures": [...]}`. Times
/// are microseconds since the Unix epoch.
[[nodiscard]] store::result<void>
register_scheduler_handlers(handler_registry& handlers);

} // namespace mantissa::actors
