// The store actor's activation (opening the file on first use), its
// passivation, and what every request does first.

#include "actors/internal/store_actor/behavior.hpp"

#include <filesystem>
#include <system_error>

#include "log/log.hpp"
#include "store/scheduler.hpp"

namespace mantissa::actors::internal::store_parts {

/// Opens the store on first use. Failure is reported to the caller and
/// the actor quits so that the next message activates a fresh one.
bool store_behavior::ensure_open(caf::response_promise& rp) {
  auto& st = self_->state;
  if (st.db)
    return true;
  store::store_options opts;
  opts.create = false;
  opts.synchronous = st.rt->synchronous;
  st.commit.deferred_sync
    = st.rt->synchronous == store::sqlite::synchronous_mode::full
      && st.rt->syncer != nullptr;
  if (st.commit.deferred_sync)
    opts.synchronous = store::sqlite::synchronous_mode::normal;
  // A clean close leaves an empty WAL; frames in it come from a run that
  // stopped before syncing them (kill -9, a close that failed). The page cache
  // still has them, so SQLite reads them: nothing read from them is
  // answered, and no message queued in them sent, before they are synced.
  std::error_code size_err;
  auto left = std::filesystem::file_size(st.path.string() + "-wal", size_err);
  bool unsynced = st.commit.deferred_sync && !size_err && left > 0;
  auto s = store::store::open(st.path, *st.rt->types, opts);
  if (!s) {
    rp.deliver(make_error(s.error_value()));
    passivate();
    return false;
  }
  st.db = std::move(*s);
  // What an activation reads besides the request: the outbox (a store
  // that never queued a message has no sequence for it, so its count and
  // due times need no query) and the next timed event. Kept until the
  // store writes, for the passivation's report to the timer.
  st.opened = {};
  if (auto q = store::last_queued(*st.db)) {
    st.msg.queued_seq = *q;
    st.msg.durable_seq = unsynced ? 0 : *q;
    st.opened.outbox_used = *q > 0;
    if (*q > 0 && !unsynced)
      self_->send(self_, outbox_atom_v);
  } else {
    log("cannot read the outbox: " + q.error_value().message);
  }
  if (unsynced) {
    st.commit.open_sync_pending = true;
    held_reply synced;
    synced.then = [this, q = st.msg.queued_seq] {
      auto& s2 = self_->state;
      s2.commit.open_sync_pending = false;
      s2.msg.durable_seq = std::max(s2.msg.durable_seq, q);
      self_->send(self_, outbox_atom_v);
    };
    st.commit.waiting.emplace_back(++st.commit.committed_seq,
                                   std::move(synced));
    start_sync();
  }
  if (st.opened.outbox_used)
    count_outbox();
  st.opened.next_due = next_due();
  st.opened.changes = st.db->connection().total_changes();
  arm_tick(st.opened.next_due);
  return true;
}

/// Whether nothing was written since the store opened: the due times
/// read then still hold.
bool store_behavior::unchanged_since_open() const {
  auto& st = self_->state;
  return st.opened.changes >= 0
         && st.db->connection().total_changes() == st.opened.changes;
}

/// Keeps the node's outbox depth (runtime.hpp) current with this store's
/// unanswered messages.
void store_behavior::count_outbox() {
  auto& st = self_->state;
  if (!st.db)
    return;
  auto n = store::unanswered_count(*st.db);
  if (!n)
    return;
  st.rt->stats.outbox_depth.fetch_add(*n - st.msg.outbox_counted,
                                      std::memory_order_relaxed);
  st.msg.outbox_counted = *n;
}

/// The store closes: its messages leave the node's outbox depth.
void store_behavior::uncount_outbox() {
  auto& st = self_->state;
  st.rt->stats.outbox_depth.fetch_sub(st.msg.outbox_counted,
                                      std::memory_order_relaxed);
  st.msg.outbox_counted = 0;
}

void store_behavior::snapshots(int delta) {
  self_->state.rt->stats.snapshots_running.fetch_add(delta,
                                                     std::memory_order_relaxed);
}

/// A debug line per request (`mantissa start --log-level debug`): the
/// operation, the caller's role and request id (wire/protocol.hpp).
void store_behavior::trace(const caller& who, const char* op) {
  if (!mantissa::log::enabled(mantissa::log::level::debug))
    return;
  mantissa::log::debug("store", op,
                       {{"store", self_->state.address},
                        {"role", who.role},
                        {"request_id", who.request_id}});
}

void store_behavior::log(const std::string& what) {
  mantissa::log::warn("store", what, {{"store", self_->state.address}});
}

void store_behavior::passivate() {
  auto& st = self_->state;
  if (st.closing)
    return;
  if (st.backup.finishing()) {
    // Its worker is syncing and hashing the copy: close once it is done
    // (then the other backups are taken in one go).
    st.backup.passivate_after = true;
    return;
  }
  st.closing = true;
  if (st.commit.batch_open)
    commit(true);
  // A backup in progress is finished in one go before the file closes
  // (the manager evicting the store, or the node stopping).
  while (!st.backup.jobs.empty() && st.db)
    advance_backup(true);
  sync_now();
  if (st.db) {
    if (unchanged_since_open() && !st.opened.outbox_used)
      report_due(st.opened.next_due, true, false);
    else
      report_due(wake_due(next_due()), true, false);
  }
  st.commit.open_gate(); // closing: nothing more to wait for
  deliver_synced();
  st.moves.recorder.reset(); // a move in progress fails (its freeze bounces)
  uncount_outbox();
  st.db.reset(); // closes the file before the manager hears of it
  st.rt->stats.passivations.fetch_add(1, std::memory_order_relaxed);
  self_->send(st.manager, passivated_atom_v, st.address);
  self_->quit();
}

void store_behavior::on_idle_check() {
  auto& st = self_->state;
  auto idle_for = clock_type::now() - st.last_activity;
  // The manager's sweep asks every open store (manager.hpp); one that is
  // busy, was used lately, or has not yet served the request it was
  // activated for (the manager can still evict it under the cap) is asked
  // again at the next sweep.
  if (st.commit.batch_open || st.commit.synced_seq < st.commit.committed_seq
      || !st.served || !st.msg.in_flight.empty() || !st.msg.asks.empty()
      || !st.backup.jobs.empty() || st.moves.recorder
      || idle_for < st.rt->idle_timeout)
    return;
  passivate();
}

caf::response_promise store_behavior::begin_request() {
  self_->state.last_activity = clock_type::now();
  self_->state.served = true;
  return self_->make_response_promise();
}

caf::message_handler store_behavior::lifecycle_handlers() {
  return {
    [this](idle_atom) { on_idle_check(); },
    [this](passivate_atom) { passivate(); },
  };
}

caf::behavior store_behavior::make() {
  return item_handlers()
    .or_else(powerup_handlers())
    .or_else(sharing_handlers())
    .or_else(inbox_handlers())
    .or_else(outbox_handlers())
    .or_else(ask_handlers())
    .or_else(backup_handlers())
    .or_else(move_handlers())
    .or_else(commit_handlers())
    .or_else(due_handlers())
    .or_else(lifecycle_handlers());
}

} // namespace mantissa::actors::internal::store_parts
