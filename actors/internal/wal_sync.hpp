#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

/// Durability of store commits off the store actors' threads.
///
/// A store the node opens with `synchronous=FULL` semantics is run by its
/// actor as SQLite `synchronous=NORMAL` in WAL mode: a commit appends its
/// frames to the WAL without an fsync. The actor then asks a `sync_pool` to
/// `fdatasync` the WAL file and answers the commit's writers only when that
/// sync has returned, so every acknowledged write is as durable as under
/// FULL (whose commit is exactly: append frames, fsync the WAL). Meanwhile
/// the actor goes on with the next batch, and one sync covers every commit
/// made before it started. See docs/node.md, "Durability".
namespace mantissa::actors::internal {

/// The WAL file of one open store, opened by path for syncing only (the
/// file belongs to SQLite: this never reads, writes or truncates it). The
/// first successful sync also syncs the directory, so that a WAL file the
/// store created survives a crash with its name. Thread-safe.
class wal_file {
 public:
  /// Opens `<database>-wal`; on failure returns null and sets `err`.
  static std::shared_ptr<wal_file> open(const std::filesystem::path& database,
                                        std::string& err);
  ~wal_file();
  wal_file(const wal_file&) = delete;
  wal_file& operator=(const wal_file&) = delete;

  /// Makes everything written to the file so far durable. Returns 0 or an
  /// errno value.
  ///
  /// Failpoints (failpoint.hpp; docs/node.md, "Durability"), each for every
  /// WAL or, with `:TEXT` / `=TEXT`, only for WAL paths containing TEXT:
  /// `wal.sync_fail[=TEXT]` returns EIO without syncing;
  /// `wal.sync_delay_ms=N[:TEXT]` sleeps N ms (at most 60000) first. The
  /// delay runs wherever sync() does: on a sync-pool thread, or on the
  /// store actor's scheduler thread when a closing store syncs (sync_now).
  int sync();

  /// The path of the WAL file.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  wal_file(int fd, int dir_fd, std::string path)
    : fd_(fd), dir_fd_(dir_fd), path_(std::move(path)) {}
  std::mutex mutex_;
  int fd_;
  int dir_fd_;  // -1 once the directory is synced
  const std::string path_;
};

/// What the WAL failpoints did in this process, for tests to observe (a
/// sync held by `wal.sync_delay_ms` is in progress while `delays_started`
/// is ahead of `delays_done`). Never reset.
struct wal_failpoint_counts {
  std::atomic<std::uint64_t> delays_started{0};
  std::atomic<std::uint64_t> delays_done{0};  ///< the delayed sync returned
  std::atomic<std::uint64_t> failures{0};     ///< syncs failed by sync_fail
};
wal_failpoint_counts& wal_failpoints();

/// A few threads that run WAL syncs for every store of a node, so that a
/// store actor never blocks a scheduler thread in fsync while its writers
/// wait. Jobs of different stores run in parallel; a store has at most one
/// job queued or running at a time (its actor sees to that).
class sync_pool {
 public:
  explicit sync_pool(unsigned threads);
  ~sync_pool();  ///< runs what is queued, then joins
  sync_pool(const sync_pool&) = delete;
  sync_pool& operator=(const sync_pool&) = delete;

  /// Syncs `file` on a pool thread and calls `done` there with 0 or the
  /// errno of the failed sync. `done` must not block.
  void submit(std::shared_ptr<wal_file> file, std::function<void(int)> done);

 private:
  struct job {
    std::shared_ptr<wal_file> file;
    std::function<void(int)> done;
  };
  void run();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace mantissa::actors::internal
