#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "store/error.hpp"

namespace mantissa::actors {

/// Exclusive use of a data directory by one process: a running node, or an
/// offline administration command. Held as an `flock` on
/// `<data>/node.lock`, released when the object dies or the process exits
/// (even by `kill -9`), so a crashed node never leaves a stale lock.
class data_dir_lock {
 public:
  /// Takes the lock, creating the directory and lock file when missing.
  /// When another process holds it, fails with `errc::busy` and a message
  /// naming that process (its pid and what it is, e.g. "a running node").
  [[nodiscard]] static store::result<std::unique_ptr<data_dir_lock>>
  acquire(const std::filesystem::path& data_dir, std::string_view holder);

  ~data_dir_lock();
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

 private:
  explicit data_dir_lock(int fd) : fd_(fd) {}
  int fd_;
};

} // namespace mantissa::actors
