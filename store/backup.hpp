#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "store/error.hpp"
#include "store/sqlite.hpp"

struct sqlite3_backup;

namespace mantissa::store {

/// A consistent copy of one open database, taken in steps with SQLite's
/// online backup API (`sqlite3_backup_init/step/finish`).
///
/// The copy is written to `<dest>.tmp` (no journal, no syncs while it
/// grows); `finish` syncs it, renames it to `dest` and syncs the directory,
/// so a file at `dest` is always a complete copy. Writes made through the
/// source connection between steps are applied to the copy as well (SQLite
/// does that for writes through the same connection), so the finished copy
/// is the source as it was at the last step.
///
/// Thread rule: used only by the owner of the source connection, between
/// its transactions: `step` fails with `busy` while the source is inside a
/// transaction (the copy would otherwise see uncommitted pages). An
/// unfinished backup removes its temporary file when destroyed.
class online_backup {
 public:
  /// Prepares a copy of `source` into `dest` (an absolute or relative
  /// path; its directory is created if missing). Errors name `dest`.
  [[nodiscard]] static result<std::unique_ptr<online_backup>>
  start(sqlite::connection& source, const std::filesystem::path& dest);

  ~online_backup();
  online_backup(const online_backup&) = delete;
  online_backup& operator=(const online_backup&) = delete;

  /// Copies up to `pages` pages (a negative count: all that are left).
  /// Returns true once the copy is complete (then call `finish`).
  [[nodiscard]] result<bool> step(int pages);

  /// Pages copied so far and the source's page count, as of the last step.
  [[nodiscard]] std::int64_t pages_done() const noexcept;
  [[nodiscard]] std::int64_t page_count() const noexcept;
  /// Steps taken so far.
  [[nodiscard]] int steps() const noexcept { return steps_; }

  /// After `step` returned true: closes the copy, makes it durable and
  /// gives it its final name. Returns the size of the copy in bytes.
  /// The same as `close` followed by `finish_copy`.
  [[nodiscard]] result<std::uint64_t> finish();

  /// After `step` returned true: closes the copy (its pages are written,
  /// not synced) and hands the temporary file (`temp()`) to the caller,
  /// who finishes it with `finish_copy`, on any thread: the source
  /// connection is not used any more.
  [[nodiscard]] result<void> close();

  [[nodiscard]] const std::filesystem::path& temp() const noexcept {
    return temp_;
  }

  [[nodiscard]] const std::filesystem::path& dest() const noexcept {
    return dest_;
  }

 private:
  online_backup(sqlite::connection& source, sqlite3* dest_db,
                sqlite3_backup* b, std::filesystem::path dest,
                std::filesystem::path temp) noexcept;
  void abandon() noexcept;

  sqlite::connection* source_;
  sqlite3* dest_db_;
  sqlite3_backup* backup_;
  std::filesystem::path dest_;
  std::filesystem::path temp_;
  bool done_ = false;
  bool finished_ = false;
  int steps_ = 0;
  std::int64_t remaining_ = -1;
  std::int64_t total_ = -1;
};

/// Makes the closed copy `temp` durable, renames it to `dest` and syncs
/// the directory; returns its size. On failure `temp` is removed.
/// Thread-safe (touches only these files).
[[nodiscard]] result<std::uint64_t>
finish_copy(const std::filesystem::path& temp,
            const std::filesystem::path& dest);

/// Syncs the file at `path` to the disk (fdatasync). Errors name it.
[[nodiscard]] result<void> sync_file(const std::filesystem::path& path);
/// Syncs the directory at `path`, so that names created or renamed in it
/// survive a crash.
[[nodiscard]] result<void> sync_directory(const std::filesystem::path& path);

} // namespace mantissa::store
