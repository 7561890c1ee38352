// Timed events (docs/scheduler.md): the store's tick and its reports to
// the node's timer.

#include "actors/internal/store_actor/behavior.hpp"

#include "actors/scheduler.hpp"
#include "log/log.hpp"
#include "store/scheduler.hpp"

namespace mantissa::actors::internal::store_parts {

/// The store's next due time in microseconds, -1 when nothing is
/// scheduled (or it cannot be read: logged).
std::int64_t store_behavior::next_due() {
  auto& st = self_->state;
  auto nd = store::next_due(*st.db);
  if (!nd) {
    log("cannot read the next due time: " + nd.error_value().message);
    return -1;
  }
  return *nd ? (*nd)->micros : -1;
}

/// Makes sure a tick arrives by `due`.
void store_behavior::arm_tick(std::int64_t due) {
  auto& st = self_->state;
  if (!st.due.tick.arm(due))
    return;
  auto wait = std::max<std::int64_t>(0, due - now_timestamp().micros);
  // Far-off events are looked at again within the hour (the clock may
  // have been changed meanwhile).
  wait = std::min<std::int64_t>(wait, 3'600'000'000);
  self_->delayed_send(self_, std::chrono::microseconds(wait), tick_atom_v);
}

/// Tells the node's timer when this store is next due, when it might
/// otherwise wake the store too late (or, with `exact`, whenever it was
/// told something else). With `gate`, the answers of the last commit
/// wait until the timer has recorded it durably.
void store_behavior::report_due(std::int64_t due, bool exact, bool gate) {
  auto& st = self_->state;
  if (!st.rt->timer)
    return;
  if (!st.due.report_needed(due, exact))
    return;
  st.due.reported(due);
  if (!gate || !st.commit.deferred_sync || due < 0) {
    self_->send(st.rt->timer, due_atom_v, st.address, due);
    return;
  }
  st.commit.gate_last_commit();
  auto release = [this] {
    if (self_->state.commit.report_done())
      deliver_synced();
  };
  self_->request(st.rt->timer, caf::infinite, due_atom_v, st.address, due)
    .then([release](ok_atom) { release(); },
          [this, release](caf::error& err) {
            log("the timer did not record the next due time: "
                + error_message(err));
            self_->state.due.index_known = false;
            release();
          });
}

/// After a commit: the next due time may have changed.
void store_behavior::after_commit() {
  auto& st = self_->state;
  count_outbox();
  ship_changes();
  auto due = next_due();
  arm_tick(due);
  bool exact = st.due.force_report;
  st.due.force_report = false;
  report_due(wake_due(due), exact, true);
}

/// Runs what is due, in the group-commit batch.
void store_behavior::on_tick() {
  auto& st = self_->state;
  st.due.tick.fired();
  caf::response_promise sink; // nobody waits for a tick
  if (st.closing || !ensure_open(sink))
    return;
  st.served = true;
  st.last_activity = clock_type::now();
  auto now = now_timestamp();
  auto first = store::first_due(*st.db, now);
  if (!first) {
    log("cannot read the schedule: " + first.error_value().message);
    return;
  }
  self_->send(self_, outbox_atom_v); // the outbox may be due too
  if (!*first) {
    auto due = next_due();
    arm_tick(due);
    report_due(wake_due(due), true, false);
    return;
  }
  if (!open_batch(sink))
    return;
  auto r = run_due_events(*st.db, *st.rt->handlers, now);
  // A run may change anything, shares and memberships included.
  st.cache.clear();
  st.access.clear();
  if (!r)
    log("cannot run timed events: " + r.error_value().message);
  else if (r->more_due)
    self_->send(self_, tick_atom_v);
  st.due.force_report = true;
}

/// When the node's timer must wake this store: its next timed event or
/// its outbox, whichever is first (-1: never).
std::int64_t store_behavior::wake_due(std::int64_t sched_due) {
  auto od = store::outbox_due(*self_->state.db);
  if (!od) {
    log("cannot read the outbox: " + od.error_value().message);
    return sched_due;
  }
  if (!*od)
    return sched_due;
  // A due time in the past while a delivery is in flight would have the
  // timer wake this (open) store over and over: its answer rearms it.
  if (!self_->state.msg.in_flight.empty())
    (*od)->micros = std::max((*od)->micros, now_timestamp().micros + 1'000'000);
  return sched_due < 0 ? (*od)->micros : std::min(sched_due, (*od)->micros);
}

caf::message_handler store_behavior::due_handlers() {
  return {
    // The timer's confirmation of a report sent without waiting for it.
    [](ok_atom) {},
    [this](tick_atom) { on_tick(); },
  };
}

} // namespace mantissa::actors::internal::store_parts
