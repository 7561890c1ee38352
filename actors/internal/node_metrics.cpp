#include "actors/internal/node_metrics.hpp"

#include <atomic>
#include <cstdint>

#include "actors/internal/runtime.hpp"
#include "actors/metrics.hpp"
#include "actors/port/door.hpp"

namespace mantissa::actors::internal {

/// The network port's series (docs/operations.md, "Metrics").
void write_port_metrics(prometheus_text& out, const port::door_stats& s) {
  auto d = [](std::uint64_t x) { return static_cast<double>(x); };
  out.single("mantissa_port_connections", "gauge",
             "Connections to the network port that have logged in, now",
             d(s.open));
  out.single("mantissa_port_pending_connections", "gauge",
             "Connections to the network port that have not logged in yet",
             d(s.pending));
  out.family("mantissa_port_connections_total", "counter",
             "Connections to the network port, by what became of them");
  out.sample("mantissa_port_connections_total", {{"result", "accepted"}},
             d(s.accepted));
  out.sample("mantissa_port_connections_total", {{"result", "refused_total"}},
             d(s.refused_total));
  out.sample("mantissa_port_connections_total",
             {{"result", "refused_address"}}, d(s.refused_address));
  out.sample("mantissa_port_connections_total", {{"result", "malformed"}},
             d(s.malformed));
  out.sample("mantissa_port_connections_total", {{"result", "timeout"}},
             d(s.login_timeouts));
  out.family("mantissa_port_logins_total", "counter",
             "Logins on the network port by result");
  out.sample("mantissa_port_logins_total", {{"result", "ok"}}, d(s.login_ok));
  out.sample("mantissa_port_logins_total", {{"result", "failed"}},
             d(s.login_failed));
  out.family("mantissa_port_dropped_total", "counter",
             "Messages from logged-in peers dropped by the port's guard, by "
             "reason");
  for (auto& [why, n] : s.dropped)
    out.sample("mantissa_port_dropped_total", {{"reason", why}}, d(n));
  out.family("mantissa_port_closed_total", "counter",
             "Connections the port closed for what they sent, by reason");
  for (auto& [why, n] : s.closed)
    out.sample("mantissa_port_closed_total", {{"reason", why}}, d(n));
}

void write_store_metrics(prometheus_text& out, const counters& c) {
  auto load = [](const std::atomic<std::int64_t>& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };
  out.single("mantissa_stores_open", "gauge",
             "Store actors open now",
             load(c.open_stores));
  out.single("mantissa_store_activations_total", "counter",
             "Stores opened (activated) since the node started",
             load(c.activations));
  out.single("mantissa_store_passivations_total", "counter",
             "Stores closed (passivated) since the node started",
             load(c.passivations));
  out.single("mantissa_commits_total", "counter",
             "Store transactions committed",
             load(c.commits));
  out.single("mantissa_committed_writes_total", "counter",
             "Writes acknowledged after their commit",
             load(c.committed_writes));
  out.family("mantissa_commit_batch_writes", "histogram",
             "Writes per commit (group commit)");
  out.samples("mantissa_commit_batch_writes", {}, c.commit_batch);
  out.family("mantissa_commit_seconds", "histogram",
             "Time of SQLite's COMMIT of a batch");
  out.samples("mantissa_commit_seconds", {}, c.commit_seconds);
  out.family("mantissa_interstore_deliveries_total", "counter",
             "Deliveries of reliable messages to a store: answered (ok), "
             "to be retried, or final (no such store)");
  out.sample("mantissa_interstore_deliveries_total", {{"result", "ok"}},
             load(c.deliveries_ok));
  out.sample("mantissa_interstore_deliveries_total", {{"result", "retry"}},
             load(c.deliveries_retried));
  out.sample("mantissa_interstore_deliveries_total", {{"result", "final"}},
             load(c.deliveries_final));
  out.family("mantissa_interstore_answers_total", "counter",
             "Answers to reliable messages taken by their senders");
  out.sample("mantissa_interstore_answers_total", {{"result", "ok"}},
             load(c.answers_ok));
  out.sample("mantissa_interstore_answers_total", {{"result", "error"}},
             load(c.answers_failed));
  out.single("mantissa_interstore_received_total", "counter",
             "Reliable messages that arrived at this node's stores (repeats " "included)",
             load(c.messages_received));
  out.family("mantissa_wal_sync_seconds", "histogram",
             "Time from a commit to the end of its WAL sync (durable stores)");
  out.samples("mantissa_wal_sync_seconds", {}, c.sync_seconds);
  out.single("mantissa_interstore_outbox_depth", "gauge",
             "Reliable messages waiting for their answer in open stores",
             load(c.outbox_depth));
  out.family("mantissa_scheduler_lag_seconds", "histogram",
             "How late the timer woke stores for their timed events and "
             "outboxes");
  out.samples("mantissa_scheduler_lag_seconds", {}, c.scheduler_lag);
  out.single("mantissa_moves_in_progress", "gauge",
             "Store moves from this node in progress", load(c.moves_running));
  out.family("mantissa_moves_total", "counter",
             "Store moves from this node, by result");
  out.sample("mantissa_moves_total", {{"result", "ok"}}, load(c.moves_ok));
  out.sample("mantissa_moves_total", {{"result", "failed"}},
             load(c.moves_failed));
  out.family("mantissa_replication_changesets_total", "counter",
             "Changes shipped to replicas, by result");
  out.sample("mantissa_replication_changesets_total", {{"result", "ok"}},
             load(c.replication_ok));
  out.sample("mantissa_replication_changesets_total", {{"result", "failed"}},
             load(c.replication_failed));
  out.single("mantissa_replication_pending", "gauge",
             "Changes shipped to replicas and not confirmed yet (the lag)",
             load(c.replication_pending));
  out.single("mantissa_snapshots_in_progress", "gauge",
             "Store snapshots (backups and moves) being taken",
             load(c.snapshots_running));
}

} // namespace mantissa::actors::internal
