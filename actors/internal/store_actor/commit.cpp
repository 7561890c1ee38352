// Group commit and WAL sync: the open batch, its commit, the sync off
// the actor's thread, and the answers held until what they saw is durable.

#include "actors/internal/store_actor/behavior.hpp"

#include <cstring>

#include "actors/internal/wal_sync.hpp"
#include "log/log.hpp"

namespace mantissa::actors::internal::store_parts {

namespace {

/// How long a batch waits for more writes when the last batch had several
/// writers (commit_delay, as databases call it).
constexpr auto commit_delay = std::chrono::microseconds(250);

} // namespace

/// Delivers `reply` now, or once what it may have seen is durable: after
/// the open batch commits, or after the last commit is synced.
void store_behavior::finish(caf::response_promise& rp, caf::message reply) {
  held_reply h{std::move(rp), std::move(reply), {}};
  switch (self_->state.commit.keep(h)) {
    case commit_pipeline::kept::no:
      h.release();
      break;
    case commit_pipeline::kept::batch_full:
      self_->send(self_, commit_atom_v);
      break;
    case commit_pipeline::kept::yes:
      break;
  }
}

void store_behavior::fail(caf::response_promise& rp, caf::error err) {
  rp.deliver(std::move(err));
}

/// Starts a group-commit batch if none is open: the commit message goes
/// to the back of the mailbox, so every write already queued joins it.
bool store_behavior::open_batch(caf::response_promise& rp) {
  auto& st = self_->state;
  if (st.commit.batch_open)
    return true;
  if (auto r = st.db->begin(); !r) {
    fail(rp, make_error(r.error_value()));
    return false;
  }
  if (st.commit.open_batch()) {
    self_->send(self_, commit_atom_v);
  } else {
    // Several writers were active in the last batch: give them a moment
    // to send their next writes so that one fsync covers them all. The
    // batch commits early once it is as large as the last one.
    self_->delayed_send(self_, commit_delay, commit_atom_v);
  }
  return true;
}

/// Commits the open batch. While more messages wait in the mailbox (more
/// writes from writers that were just answered), the commit is moved
/// behind them — a bounded number of times — so that one fsync covers as
/// many writes as possible.
///
/// With deferred syncs, a batch that is ready while the previous commit's
/// sync runs keeps growing until that sync returns (it commits then), so
/// each sync covers one commit of as many writes as arrived meanwhile.
void store_behavior::commit(bool final) {
  auto& st = self_->state;
  bool was_open = st.commit.batch_open;
  commit_batch(final);
  if (was_open && !st.commit.batch_open && st.backup.after_commit
      && !st.closing) {
    // A backup waited for this batch: its next step runs now, between
    // this commit and the next batch, so that writers cannot starve it.
    st.backup.after_commit = false;
    advance_backup(false);
  }
}

void store_behavior::commit_batch(bool final) {
  auto& st = self_->state;
  switch (st.commit.on_commit_due(final, self_->mailbox().empty())) {
    case commit_pipeline::commit_step::none:
    case commit_pipeline::commit_step::after_sync:
      return;
    case commit_pipeline::commit_step::defer:
      self_->send(self_, commit_atom_v);
      return;
    case commit_pipeline::commit_step::now:
      break;
  }
  auto held = st.commit.take_held();
  auto commit_started = std::chrono::steady_clock::now();
  auto r = st.db->commit();
  st.rt->stats.commit_seconds.observe(
    std::chrono::duration<double>(std::chrono::steady_clock::now()
                                  - commit_started)
      .count());
  if (!r) {
    st.cache.clear();
    auto err = make_error(error_code::store_unavailable,
                          "commit failed: " + r.error_value().message);
    for (auto& h : held)
      h.fail(err);
    st.msg.acks.clear();
    return;
  }
  if (st.commit.release_after_commit) {
    st.commit.release_after_commit = false;
    st.db->connection().release_memory();
  }
  auto n = static_cast<std::int64_t>(held.size());
  st.rt->stats.commits.fetch_add(1, std::memory_order_relaxed);
  st.rt->stats.committed_writes.fetch_add(n, std::memory_order_relaxed);
  auto prev = st.rt->stats.max_batch.load(std::memory_order_relaxed);
  while (n > prev && !st.rt->stats.max_batch.compare_exchange_weak(prev, n)) {
  }
  st.rt->stats.commit_batch.observe(static_cast<double>(n));
  auto durable = messages_committed();
  if (!st.commit.deferred_sync) {
    for (auto& h : held)
      h.release();
    if (durable.then)
      durable.release();
    after_commit();
    return;
  }
  st.commit.queue_commit(std::move(held), std::move(durable));
  after_commit();
  start_sync();
}

/// Hands the WAL to the sync pool unless a sync runs already (its
/// completion starts the next one).
void store_behavior::start_sync() {
  auto& st = self_->state;
  if (st.closing || !st.commit.sync_due())
    return;
  if (!st.commit.wal) {
    std::string err;
    st.commit.wal = wal_file::open(st.path, err);
    if (!st.commit.wal) {
      sync_failed(st.commit.committed_seq, err);
      return;
    }
  }
  st.commit.sync_in_flight = true;
  auto target = st.commit.committed_seq;
  caf::actor me = caf::actor_cast<caf::actor>(self_);
  auto* rt = st.rt;
  auto started = std::chrono::steady_clock::now();
  st.rt->syncer->submit(st.commit.wal, [me, target, rt, started](int rc) {
    rt->stats.sync_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
        .count());
    caf::anon_send(me, synced_atom_v, target, rc);
  });
}

/// A sync covering every commit up to `target` returned `rc`.
void store_behavior::on_synced(std::uint64_t target, int rc) {
  auto& st = self_->state;
  if (rc != 0) {
    st.commit.sync_in_flight = false;
    sync_failed(target, std::strerror(rc));
    return;
  }
  st.commit.synced(target);
  deliver_synced();
  if (st.commit.commit_after_sync)
    commit(true);
  else
    start_sync();
}

/// Answers everything that waited for a commit up to `synced_seq` (and
/// before `index_gate`).
void store_behavior::deliver_synced() {
  while (auto h = self_->state.commit.next_durable())
    h->release();
}

/// The WAL could not be made durable: what waited for it gets
/// store_unavailable (the writes may or may not survive a crash), and the
/// store closes so that its next activation starts from the file.
void store_behavior::sync_failed(std::uint64_t target, const std::string& why) {
  auto& st = self_->state;
  mantissa::log::error("store", "cannot make commits durable: " + why,
                       {{"store", st.address}});
  auto err = make_error(error_code::store_unavailable,
                        "the store could not make the write durable: " + why);
  while (auto h = st.commit.next_upto(target))
    h->fail(err);
  st.commit.synced_seq = std::max(st.commit.synced_seq, target);
  passivate();
}

/// Makes every commit durable on this thread (when the store closes).
void store_behavior::sync_now() {
  auto& st = self_->state;
  if (st.commit.synced_seq >= st.commit.committed_seq)
    return;
  auto target = st.commit.committed_seq;
  std::string err;
  if (!st.commit.wal)
    st.commit.wal = wal_file::open(st.path, err);
  int rc = st.commit.wal ? st.commit.wal->sync() : EIO;
  if (rc != 0) {
    if (err.empty())
      err = std::strerror(rc);
    auto e = make_error(error_code::store_unavailable,
                        "the store could not make the write durable: " + err);
    mantissa::log::error("store", "cannot make commits durable: " + err,
                         {{"store", st.address}});
    while (auto h = st.commit.next_upto(UINT64_MAX))
      h->fail(e);
  }
  st.commit.synced_seq = target;
  deliver_synced();
}

caf::message_handler store_behavior::commit_handlers() {
  return {
    [this](commit_atom) { commit(); },
    [this](synced_atom, std::uint64_t target, int rc) {
      on_synced(target, rc);
    },
  };
}

} // namespace mantissa::actors::internal::store_parts
