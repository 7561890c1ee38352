#include "actors/data_dir.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace mantissa::actors {

store::result<std::unique_ptr<data_dir_lock>>
data_dir_lock::acquire(const std::filesystem::path& data_dir,
                       std::string_view holder) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec)
    return store::error{store::errc::io_error,
                        "cannot create data directory " + data_dir.string()
                          + ": " + ec.message()};
  auto path = data_dir / "node.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return store::error{errno == EACCES || errno == EROFS
                          ? store::errc::read_only
                          : store::errc::io_error,
                        "cannot open " + path.string() + ": "
                          + std::strerror(errno)};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[256] = {};
    auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    std::string who = n > 0 ? std::string{buf, static_cast<std::size_t>(n)}
                            : std::string{"another process"};
    while (!who.empty() && (who.back() == '\n' || who.back() == '\0'))
      who.pop_back();
    return store::error{store::errc::busy,
                        data_dir.string() + " is in use by " + who};
  }
  std::string me = std::string{holder} + " (pid " + std::to_string(::getpid())
                   + ")\n";
  if (::ftruncate(fd, 0) == 0) {
    auto written = ::pwrite(fd, me.data(), me.size(), 0);
    (void) written;
  }
  return std::unique_ptr<data_dir_lock>{new data_dir_lock(fd)};
}

data_dir_lock::~data_dir_lock() {
  if (::ftruncate(fd_, 0) != 0) {
    // Nothing to do: the lock goes with the descriptor anyway.
  }
  ::close(fd_);
}

} // namespace mantissa::actors
