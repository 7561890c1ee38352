#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>

#include <caf/response_promise.hpp>

#include "actors/backup.hpp"
#include "store/backup.hpp"

namespace mantissa::actors::internal::store_parts {

/// A snapshot of the store in progress (docs/operations.md): copied in
/// steps, then hashed in steps, then answered.
struct backup_job {
  caf::response_promise promise;
  std::filesystem::path dest;
  std::unique_ptr<store::online_backup> copy; // while copying
  std::unique_ptr<file_hasher> hasher;        // after the copy
  std::uint64_t bytes = 0;
  std::int64_t pages = 0;
  int steps = 0;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::duration longest_step{}; // the longest pause
  /// The copy is closed and a worker thread syncs, renames and hashes it
  /// (answering with bkdone_atom); the store does not close meanwhile.
  bool finishing = false;
  /// The snapshot of a move (actors/internal/move.hpp): the store records
  /// its changes from the moment the copy is complete.
  bool for_move = false;
};

/// The store's backups, one at a time in arrival order. Used only by the
/// owning store actor.
///
/// Invariants:
/// - only the first job runs; each job's promise is answered once, when
///   it leaves the queue (the node's `snapshots_running` counts the jobs).
/// - `after_commit`: the first job's next copy step waits for the open
///   batch to commit (a copy step never runs inside a transaction).
/// - `passivate_after`: the store was asked to close while the first
///   job's worker finishes it; it closes when the worker answers.
struct backup_queue {
  std::deque<backup_job> jobs;
  bool after_commit = false;
  bool passivate_after = false; // asked to close while finishing

  /// Whether the first job's worker is finishing it (the store must not
  /// close meanwhile).
  [[nodiscard]] bool finishing() const {
    return !jobs.empty() && jobs.front().finishing;
  }
  /// Whether a job is the snapshot of a move.
  [[nodiscard]] bool has_move() const {
    for (const auto& j : jobs)
      if (j.for_move)
        return true;
    return false;
  }
};

} // namespace mantissa::actors::internal::store_parts
