#include "actors/internal/wal_sync.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "actors/internal/failpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace mantissa::actors::internal {

namespace {

/// Whether a failpoint scoped by `scope` ("" for every WAL) applies to
/// the WAL at `path`.
bool applies(const std::string& scope, const std::string& path) {
  return scope.empty() || path.find(scope) != std::string::npos;
}

/// The delay `wal.sync_delay_ms` asks of the WAL at `path`, 0 for none. A
/// value that is not `N` or `N:TEXT` with 0 < N <= 60000 is reported on
/// stderr (once) and ignored.
long sync_delay_ms(const std::string& path) {
  auto v = failpoint_value("wal.sync_delay_ms");
  if (!v)
    return 0;
  auto colon = v->find(':');
  auto digits = v->substr(0, colon);
  auto scope = colon == std::string::npos ? std::string{} : v->substr(colon + 1);
  long ms = 0;
  bool ok = !digits.empty() && digits.size() <= 5
            && digits.find_first_not_of("0123456789") == std::string::npos;
  if (ok)
    ms = std::stol(digits);
  if (!ok || ms <= 0 || ms > 60000) {
    static std::atomic<bool> told{false};
    if (!told.exchange(true))
      std::fprintf(stderr,
                   "mantissa: failpoint wal.sync_delay_ms: bad value '%s' "
                   "(expected N or N:TEXT, 0 < N <= 60000), ignored\n",
                   v->c_str());
    return 0;
  }
  return applies(scope, path) ? ms : 0;
}

} // namespace

wal_failpoint_counts& wal_failpoints() {
  static wal_failpoint_counts counts;
  return counts;
}

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
  return std::shared_ptr<wal_file>{new wal_file{fd, dir_fd, path}};
}

wal_file::~wal_file() {
  ::close(fd_);
  if (dir_fd_ >= 0)
    ::close(dir_fd_);
}

int wal_file::sync() {
  std::lock_guard<std::mutex> guard{mutex_};
  // Counts a delayed sync as done when sync() returns, whatever it returns.
  struct delay_done {
    bool delayed = false;
    ~delay_done() {
      if (delayed)
        wal_failpoints().delays_done.fetch_add(1);
    }
  } done;
  if (auto ms = sync_delay_ms(path_); ms > 0) {
    done.delayed = true;
    wal_failpoints().delays_started.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  if (auto scope = failpoint_value("wal.sync_fail");
      scope && applies(*scope, path_)) {
    wal_failpoints().failures.fetch_add(1);
    return EIO;
  }
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
