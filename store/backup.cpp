#include "store/backup.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <sqlite3.h>

namespace mantissa::store {

namespace {

error errno_error(const std::string& what, int err) {
  return error{err == ENOSPC || err == EIO ? errc::io_error
               : err == EACCES || err == EROFS ? errc::read_only
                                               : errc::io_error,
               what + ": " + std::strerror(err)};
}

result<void> sync_fd_of(const std::filesystem::path& path, int flags,
                        bool data_only) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0)
    return errno_error("cannot open " + path.string(), errno);
  int rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0)
    return errno_error("cannot sync " + path.string(), err);
  return {};
}

} // namespace

result<void> sync_file(const std::filesystem::path& path) {
  return sync_fd_of(path, O_RDONLY, true);
}

result<void> sync_directory(const std::filesystem::path& path) {
  return sync_fd_of(path.empty() ? std::filesystem::path{"."} : path,
                    O_RDONLY | O_DIRECTORY, false);
}

online_backup::online_backup(sqlite::connection& source, sqlite3* dest_db,
                             sqlite3_backup* b, std::filesystem::path dest,
                             std::filesystem::path temp) noexcept
  : source_(&source),
    dest_db_(dest_db),
    backup_(b),
    dest_(std::move(dest)),
    temp_(std::move(temp)) {}

result<std::unique_ptr<online_backup>>
online_backup::start(sqlite::connection& source,
                     const std::filesystem::path& dest) {
  std::error_code ec;
  if (dest.has_parent_path())
    std::filesystem::create_directories(dest.parent_path(), ec);
  if (ec)
    return error{errc::io_error, "cannot create " + dest.parent_path().string()
                                   + ": " + ec.message()};
  auto temp = dest;
  temp += ".tmp";
  // A leftover of an earlier, unfinished backup is replaced.
  std::filesystem::remove(temp, ec);
  sqlite3* db = nullptr;
  auto rc = sqlite3_open_v2(temp.c_str(), &db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                              | SQLITE_OPEN_NOMUTEX,
                            nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot create " + temp.string() + ": "
                      + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    std::filesystem::remove(temp, ec);
    return error{sqlite::map_error(rc), std::move(msg)};
  }
  // The copy is worthless until `finish` renames it: no journal and no
  // syncs while it is written; `finish` syncs it once.
  char* msg = nullptr;
  rc = sqlite3_exec(db, "PRAGMA journal_mode=OFF;PRAGMA synchronous=OFF",
                    nullptr, nullptr, &msg);
  sqlite3_free(msg);
  auto* b = sqlite3_backup_init(db, "main", source.handle(), "main");
  if (b == nullptr) {
    std::string text = "cannot back up " + source.path().string() + " to "
                       + temp.string() + ": " + sqlite3_errmsg(db);
    auto code = sqlite3_errcode(db);
    sqlite3_close_v2(db);
    std::filesystem::remove(temp, ec);
    return error{sqlite::map_error(code), std::move(text)};
  }
  return std::unique_ptr<online_backup>{
    new online_backup(source, db, b, dest, std::move(temp))};
}

online_backup::~online_backup() {
  if (!finished_)
    abandon();
}

void online_backup::abandon() noexcept {
  if (backup_ != nullptr)
    sqlite3_backup_finish(backup_);
  backup_ = nullptr;
  if (dest_db_ != nullptr)
    sqlite3_close_v2(dest_db_);
  dest_db_ = nullptr;
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
  finished_ = true;
}

result<bool> online_backup::step(int pages) {
  if (finished_ || backup_ == nullptr)
    return error{errc::internal, "backup to " + dest_.string()
                                   + " is already finished"};
  if (done_)
    return true;
  if (source_->in_transaction())
    return error{errc::busy, "cannot copy " + source_->path().string()
                               + " inside a transaction"};
  auto rc = sqlite3_backup_step(backup_, pages < 0 ? -1 : pages);
  ++steps_;
  remaining_ = sqlite3_backup_remaining(backup_);
  total_ = sqlite3_backup_pagecount(backup_);
  if (rc == SQLITE_DONE) {
    done_ = true;
    return true;
  }
  if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
    return false;
  std::string text = "backup of " + source_->path().string() + " to "
                     + temp_.string() + " failed: " + sqlite3_errstr(rc);
  abandon();
  return error{sqlite::map_error(rc), std::move(text)};
}

std::int64_t online_backup::pages_done() const noexcept {
  return total_ < 0 ? 0 : total_ - remaining_;
}

std::int64_t online_backup::page_count() const noexcept {
  return total_ < 0 ? 0 : total_;
}

result<void> online_backup::close() {
  if (!done_ || finished_)
    return error{errc::internal, "backup to " + dest_.string()
                                   + " is not complete"};
  auto rc = sqlite3_backup_finish(backup_);
  backup_ = nullptr;
  if (rc != SQLITE_OK) {
    std::string text = "backup to " + temp_.string()
                       + " failed: " + sqlite3_errmsg(dest_db_);
    abandon();
    return error{sqlite::map_error(rc), std::move(text)};
  }
  rc = sqlite3_close_v2(dest_db_);
  dest_db_ = nullptr;
  if (rc != SQLITE_OK) {
    abandon();
    return error{sqlite::map_error(rc),
                 "cannot close " + temp_.string() + ": " + sqlite3_errstr(rc)};
  }
  finished_ = true;  // the temporary file is the caller's now
  return {};
}

result<std::uint64_t> online_backup::finish() {
  MANTISSA_TRY(close());
  return finish_copy(temp_, dest_);
}

result<std::uint64_t> finish_copy(const std::filesystem::path& temp,
                                  const std::filesystem::path& dest) {
  std::error_code ec;
  if (auto r = sync_file(temp); !r) {
    std::filesystem::remove(temp, ec);
    return std::move(r).error_value();
  }
  auto bytes = std::filesystem::file_size(temp, ec);
  if (!ec)
    std::filesystem::rename(temp, dest, ec);
  if (ec) {
    std::string text = "cannot rename " + temp.string() + ": " + ec.message();
    std::filesystem::remove(temp, ec);
    return error{errc::io_error, std::move(text)};
  }
  MANTISSA_TRY(sync_directory(dest.parent_path()));
  return static_cast<std::uint64_t>(bytes);
}

} // namespace mantissa::store
