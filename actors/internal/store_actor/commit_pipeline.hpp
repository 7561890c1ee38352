#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "actors/internal/store_actor/held_reply.hpp"

namespace mantissa::actors::internal {
class wal_file;
} // namespace mantissa::actors::internal

namespace mantissa::actors::internal::store_parts {

/// The store's group commit and WAL sync (docs/architecture.md, "Stores,
/// activation and durability"): the open batch, the replies it holds, the
/// commits waiting for their sync and the answers waiting for them. Used
/// only by the owning store actor.
///
/// Owns `batch_open`, `sync_in_flight`, `commit_after_sync` and the held
/// replies. Invariants:
/// - `held` is empty unless `batch_open`: a reply is held only for the
///   batch it read from or wrote to.
/// - `synced_seq <= committed_seq`; `waiting` is ordered by commit number,
///   each entry's number is in (`synced_seq`, `committed_seq`], and none of
///   it is delivered before the sync covering it returned (and, when
///   `index_gate` is set, before the timer recorded the due time of the
///   commits from `index_gate` on).
/// - `commit_after_sync` is set only while a batch is open and a sync
///   runs: that sync's return commits the batch (which clears it).
/// - at most one sync runs (`sync_in_flight`); without `deferred_sync`
///   every commit is durable when it returns and nothing waits.
struct commit_pipeline {
  /// Bounds on group commit: a batch is committed after at most this many
  /// deferrals, or once it holds this many replies.
  static constexpr int max_deferrals = 16;
  static constexpr std::size_t max_batch = 4096;

  /// Where `keep` put a finished reply.
  enum class kept {
    no,         // nothing it saw is pending: deliver it now (left as is)
    yes,        // held for the open batch or queued behind the last commit
    batch_full, // held, and the batch is as large as the last: commit now
  };
  /// What the commit message of the open batch does (`on_commit_due`).
  enum class commit_step {
    none,       // no batch is open
    after_sync, // the running sync returns first; the batch keeps growing
    defer,      // more messages wait: send the commit message again
    now,        // the batch is closed: commit `take_held()` now
  };

  /// Holds `h` until what it saw is durable: with the open batch, or behind
  /// the last commit while that is not synced.
  [[nodiscard]] kept keep(held_reply& h);

  /// Opens a batch; true when its commit message goes at once, false when
  /// it waits `commit_delay` for more writers (the last batch had several).
  [[nodiscard]] bool open_batch();

  /// Decides what the commit message does; with `final` (the store closes
  /// or the sync it waited for returned) the batch commits now. Until the
  /// mailbox is empty it is deferred, at most `max_deferrals` times and
  /// while the batch holds fewer than `max_batch` replies.
  [[nodiscard]] commit_step on_commit_due(bool final, bool mailbox_empty);

  /// The replies of the batch just closed by `on_commit_due`.
  [[nodiscard]] std::vector<held_reply> take_held();

  /// Numbers the commit just made and queues its replies (and `durable`,
  /// when it has work) until the sync that covers it.
  void queue_commit(std::vector<held_reply> replies, held_reply durable);

  /// Whether a sync should start: none runs and a commit is not synced.
  [[nodiscard]] bool sync_due() const {
    return !sync_in_flight && synced_seq < committed_seq;
  }

  /// The sync covering the commits up to `target` returned successfully.
  void synced(std::uint64_t target);

  /// The first waiting reply that may go now (its commit is synced and
  /// before `index_gate`), taken from the queue; none when none may.
  [[nodiscard]] std::optional<held_reply> next_durable();

  /// The first waiting reply of a commit up to `target`, taken from the
  /// queue (to fail it); none when there is none.
  [[nodiscard]] std::optional<held_reply> next_upto(std::uint64_t target);

  /// Answers of the last commit and later wait for the timer's
  /// confirmation of a report (one more report pending).
  void gate_last_commit();

  /// One report was confirmed (or failed); true when none is pending any
  /// more and the gate is open.
  [[nodiscard]] bool report_done();

  /// Nothing more waits for the timer (the store closes).
  void open_gate() { index_gate = UINT64_MAX; }

  bool batch_open = false;
  std::vector<held_reply> held; // answers waiting for the open batch
  // Durability off the actor's thread (see actors/internal/wal_sync.hpp):
  // commits are numbered; `waiting` holds answers until the sync that
  // covers their commit returns.
  bool deferred_sync = false;
  std::shared_ptr<wal_file> wal;
  std::uint64_t committed_seq = 0; // last commit
  std::uint64_t synced_seq = 0;    // last commit known durable
  bool sync_in_flight = false;
  bool commit_after_sync = false; // a commit waits for the running sync
  /// The WAL held frames when the store opened (the last run was killed,
  /// or its close failed): they count as a commit whose sync gates every
  /// answer and the outbox like any other commit's.
  bool open_sync_pending = false;
  /// The open batch wrote a large value (a mail message): after its commit
  /// the connection gives its page cache back, so a hundred stores that
  /// each took a large message do not each keep megabytes of it.
  bool release_after_commit = false;
  std::deque<std::pair<std::uint64_t, held_reply>> waiting;
  // Answers of commits from `index_gate` on wait until the node's timer
  // confirms a report of the store's next due time (`index_pending`
  // reports unconfirmed).
  std::uint64_t index_gate = UINT64_MAX;
  int index_pending = 0;
  int deferrals = 0; // times the open batch's commit was moved back
  std::size_t expected_batch = 0; // size of the last batch
};

inline commit_pipeline::kept commit_pipeline::keep(held_reply& h) {
  if (!batch_open) {
    if (synced_seq >= committed_seq)
      return kept::no;
    waiting.emplace_back(committed_seq, std::move(h));
    return kept::yes;
  }
  held.push_back(std::move(h));
  return expected_batch > 1 && held.size() == expected_batch ? kept::batch_full
                                                             : kept::yes;
}

inline bool commit_pipeline::open_batch() {
  batch_open = true;
  return expected_batch <= 1;
}

inline commit_pipeline::commit_step
commit_pipeline::on_commit_due(bool final, bool mailbox_empty) {
  if (!batch_open)
    return commit_step::none;
  if (!final && sync_in_flight && held.size() < max_batch) {
    commit_after_sync = true;
    return commit_step::after_sync;
  }
  if (!final && !mailbox_empty && deferrals < max_deferrals
      && held.size() < max_batch) {
    ++deferrals;
    return commit_step::defer;
  }
  commit_after_sync = false;
  deferrals = 0;
  batch_open = false;
  expected_batch = held.size();
  return commit_step::now;
}

inline std::vector<held_reply> commit_pipeline::take_held() {
  auto out = std::move(held);
  held.clear();
  return out;
}

inline void commit_pipeline::queue_commit(std::vector<held_reply> replies,
                                          held_reply durable) {
  ++committed_seq;
  for (auto& h : replies)
    waiting.emplace_back(committed_seq, std::move(h));
  if (durable.then)
    waiting.emplace_back(committed_seq, std::move(durable));
}

inline void commit_pipeline::synced(std::uint64_t target) {
  sync_in_flight = false;
  synced_seq = std::max(synced_seq, target);
}

inline std::optional<held_reply> commit_pipeline::next_durable() {
  return next_upto(std::min(synced_seq, index_gate - 1));
}

inline std::optional<held_reply>
commit_pipeline::next_upto(std::uint64_t target) {
  if (waiting.empty() || waiting.front().first > target)
    return std::nullopt;
  auto h = std::move(waiting.front().second);
  waiting.pop_front();
  return h;
}

inline void commit_pipeline::gate_last_commit() {
  index_gate = std::min(index_gate, committed_seq);
  ++index_pending;
}

inline bool commit_pipeline::report_done() {
  if (--index_pending != 0)
    return false;
  index_gate = UINT64_MAX;
  return true;
}

} // namespace mantissa::actors::internal::store_parts
