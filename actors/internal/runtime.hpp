#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include <caf/actor.hpp>

#include "actors/handlers.hpp"
#include "actors/metrics.hpp"
#include "store/registry.hpp"
#include "store/sqlite.hpp"

namespace mantissa::actors::internal {

class sync_pool;

/// Counters shared by a node's actors; relaxed atomics, read by `stats`.
struct counters {
  std::atomic<std::int64_t> activations{0};
  std::atomic<std::int64_t> passivations{0};
  std::atomic<std::int64_t> commits{0};
  std::atomic<std::int64_t> committed_writes{0};
  std::atomic<std::int64_t> max_batch{0};
  std::atomic<std::int64_t> open_stores{0};
  /// Writes per commit.
  histogram commit_batch{1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096};
  /// Seconds of SQLite's COMMIT (the WAL sync is timed apart: sync_seconds).
  histogram commit_seconds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                           0.01, 0.025, 0.05, 0.1, 0.25, 1};
  /// Seconds from a commit to its WAL sync's end, for durable stores.
  /// Reliable messages (docs/interstore.md): deliveries of a batch to a
  /// target answered (ok), to be retried (a transport failure), or final
  /// (no such store); answers taken (ok or an error answer); messages that
  /// arrived in batches from truthful senders (repeats included).
  std::atomic<std::int64_t> deliveries_ok{0};
  std::atomic<std::int64_t> deliveries_retried{0};
  std::atomic<std::int64_t> deliveries_final{0};
  std::atomic<std::int64_t> answers_ok{0};
  std::atomic<std::int64_t> answers_failed{0};
  std::atomic<std::int64_t> messages_received{0};
  histogram sync_seconds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                         0.01, 0.025, 0.05, 0.1, 0.25, 1};
  /// Reliable messages waiting for their answer in the outboxes of the
  /// open stores (each store adds its count when it opens, keeps it
  /// current at every commit, and takes it back when it closes).
  std::atomic<std::int64_t> outbox_depth{0};
  /// How late the node's timer woke stores for their timed events and
  /// outboxes, in seconds (the scheduler's lag).
  histogram scheduler_lag{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60};
  /// Long operations: store moves from this node in progress and done,
  /// and store snapshots (backups and moves) being taken.
  std::atomic<std::int64_t> moves_running{0};
  std::atomic<std::int64_t> moves_ok{0};
  std::atomic<std::int64_t> moves_failed{0};
  std::atomic<std::int64_t> snapshots_running{0};
  /// Replicas: changesets shipped and confirmed, or failed (the replica
  /// is then taken again from a snapshot), and those still unconfirmed.
  std::atomic<std::int64_t> replication_ok{0};
  std::atomic<std::int64_t> replication_failed{0};
  std::atomic<std::int64_t> replication_pending{0};
};

/// What every store actor of a node needs; owned by the node, outlives its
/// actors, read-only after start (except the counters).
struct runtime {
  std::filesystem::path data_dir;
  /// The node's name (node_options::name), for backup manifests.
  std::string node_name;
  /// The node is part of a cluster: a store with a move marker is served
  /// only once the directory says it lives here (actors/internal/move.hpp).
  bool clustered = false;
  const store::type_registry* types = nullptr;
  const handler_registry* handlers = nullptr;
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_open_stores = 512;
  std::size_t item_cache_size = 256;  // per store
  store::sqlite::synchronous_mode synchronous
    = store::sqlite::synchronous_mode::full;
  /// Runs WAL syncs for stores opened with FULL durability (see
  /// wal_sync.hpp); null: each commit syncs on the store's own thread.
  sync_pool* syncer = nullptr;
  /// The node's timer (timer.hpp): store actors report their next due
  /// time to it. Invalid in nodes without one (then only open stores run
  /// their events).
  caf::actor timer;
  /// Resolves store addresses and carries interstore messages (the node's
  /// bridge; M9: through the directory). Invalid: no interstore messages.
  caf::actor router;
  /// How long a store waits for the router's answer.
  std::chrono::milliseconds request_timeout{30'000};
  /// Backoff of reliable messages after transport failures.
  std::chrono::milliseconds retry_min{500};
  std::chrono::milliseconds retry_max{120'000};
  std::size_t delivery_bytes = 4 * 1024 * 1024;
  counters stats;

  /// How long a delivery of reliable messages may be in flight: its
  /// router's timeout and a margin. A store records its next attempt this
  /// far ahead when it sends, so that the timer wakes it if the node stops
  /// meanwhile; after a restart, attempts due within it are made at once.
  [[nodiscard]] std::chrono::milliseconds delivery_window() const {
    return request_timeout + std::chrono::seconds(5);
  }
};

} // namespace mantissa::actors::internal
