#include "actors/internal/wal_sync.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace mantissa::actors::internal {

std::shared_ptr<wal_file> wal_file::open(const std::filesystem::path& database,
                                         std::string& err) {
  auto path = database.string() + "-wal";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = "cannot open " + path + " to sync it: " + std::strerror(errno);
    return nullptr;
  }
  auto dir = database.parent_path();
  if (dir.empty())
    dir = ".";
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    err = "cannot open directory " + dir.string() + " to sync it: "
          + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::shared_ptr<wal_file>{new wal_file{fd, dir_fd}};
}

wal_file::~wal_file() {
  ::close(fd_);
  if (dir_fd_ >= 0)
    ::close(dir_fd_);
}

int wal_file::sync() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (::fdatasync(fd_) != 0)
    return errno;
  if (dir_fd_ >= 0) {
    if (::fsync(dir_fd_) != 0)
      return errno;
    ::close(dir_fd_);
    dir_fd_ = -1;
  }
  return 0;
}

sync_pool::sync_pool(unsigned threads) {
  if (threads == 0)
    threads = 1;
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i)
    threads_.emplace_back([this] { run(); });
}

sync_pool::~sync_pool() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_)
    t.join();
}

void sync_pool::submit(std::shared_ptr<wal_file> file,
                       std::function<void(int)> done) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    jobs_.push_back({std::move(file), std::move(done)});
  }
  ready_.notify_one();
}

void sync_pool::run() {
  for (;;) {
    job j;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty())
        return;  // stopping, and nothing left to do
      j = std::move(jobs_.front());
      jobs_.pop_front();
    }
    auto rc = j.file->sync();
    j.done(rc);
  }
}

} // namespace mantissa::actors::internal
