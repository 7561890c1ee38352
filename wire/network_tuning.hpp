#pragma once

namespace caf {
class actor_system_config;
} // namespace caf

namespace mantissa::actors {

/// Sets the scheduler and network settings that nodes and custom actors
/// (`client::configure`) use for remote round trips; docs/cluster.md
/// ("Tuning") gives the measurements behind them. Values set later in
/// the same config (a node's `caf_settings`, `--caf KEY=VALUE` flags, the
/// program's own `cfg.set`) override them:
///
/// - `work-stealing.moderate-poll-attempts = 0`: an idle worker spins
///   briefly (CAF's 100 aggressive polls) and then waits on its condition
///   variable, which the next enqueue signals at once. CAF's default
///   first polls 500 times with 50 µs sleeps in between, so an idle
///   worker notices new work only when its sleep ends (about 100 µs with
///   Linux's timer slack), and a remote round trip crosses four of them.
/// - `middleman.workers = 0`: the network thread deserializes an incoming
///   message and enqueues it at its receiver itself, instead of handing
///   it to a BASP worker that the scheduler runs first (one hop less).
void apply_latency_defaults(caf::actor_system_config& cfg);

} // namespace mantissa::actors
