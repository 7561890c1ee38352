#pragma once

#include <condition_variable>
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
  int sync();

 private:
  wal_file(int fd, int dir_fd) : fd_(fd), dir_fd_(dir_fd) {}
  std::mutex mutex_;
  int fd_;
  int dir_fd_;  // -1 once the directory is synced
};

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
