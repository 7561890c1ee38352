#pragma once

namespace mantissa::actors {
class prometheus_text;
} // namespace mantissa::actors

namespace mantissa::actors::port {
struct door_stats;
} // namespace mantissa::actors::port

/// The node's metric series (docs/operations.md, "Metrics"), written by
/// `node::write_metrics`. Any thread: they read atomics and snapshots only.
namespace mantissa::actors::internal {

struct counters;

/// The network port's series (`mantissa_port_*`).
void write_port_metrics(prometheus_text& out, const port::door_stats& s);

/// The stores' series: activations, commits, interstore messages, WAL
/// syncs, the timer's lag, moves, replication and snapshots.
void write_store_metrics(prometheus_text& out, const counters& c);

} // namespace mantissa::actors::internal
