#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>

#include <caf/fwd.hpp>

#include "actors/backup.hpp"

namespace mantissa::actors {
class prometheus_text;
} // namespace mantissa::actors

/// A node backing itself up on schedule (docs/operations.md, "Scheduled
/// backups"): every `interval` a `backup-<UTC time>/` directory below the
/// schedule's directory, the same format `mantissa restore` reads, its
/// manifest written last; then the complete backups beyond the newest
/// `keep` are removed, and so are incomplete ones (a run that failed or a
/// node that died while backing up). Only `backup-*` entries of the
/// directory are ever touched.
namespace mantissa::actors::internal {

/// The last runs, for metrics and `<dir>/last-run.json`. Written by the
/// scheduler actor, read by any thread (relaxed atomics).
struct backup_status {
  std::atomic<std::int64_t> last_run_unix{0};      ///< 0: no run yet
  std::atomic<std::int64_t> last_success_unix{0};  ///< 0: none yet
  std::atomic<int> last_ok{-1};                    ///< -1 none, 0 failed, 1 ok
  std::atomic<std::int64_t> last_bytes{0};
  std::atomic<std::int64_t> last_micros{0};
  std::atomic<std::int64_t> runs_ok{0};
  std::atomic<std::int64_t> runs_failed{0};
};

/// Spawns the scheduler (detached: it creates and removes directories).
/// The first run comes one interval after the newest complete backup in
/// the directory (at once, give or take a second, when there is none or it
/// is older). Stores are backed up one at a time, each by its own actor
/// (`request_backup`). `status` must outlive the actor.
caf::actor spawn_backup_scheduler(caf::actor_system& sys,
                                  const caf::actor& manager,
                                  const std::filesystem::path& data_dir,
                                  const std::string& node_name,
                                  const backup_schedule& schedule,
                                  backup_status& status);

/// Appends the `mantissa_backup_*` series of `status` to `out`.
void write_backup_metrics(prometheus_text& out, const backup_status& status);

} // namespace mantissa::actors::internal
