#include "cli/progress.hpp"

#include <cstdio>
#include <string>
#include <utility>

#include <unistd.h>

namespace mantissa::cli {

progress_meter::progress_meter(std::string what, std::string unit)
  : what_(std::move(what)),
    unit_(std::move(unit)),
    tty_(::isatty(STDERR_FILENO) == 1),
    start_(clock::now()) {
}

void progress_meter::update(std::uint64_t done, std::uint64_t total,
                            std::uint64_t bytes) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    bytes_ = bytes;
    has_bytes_ = true;
  }
  update(done, total);
}

void progress_meter::update(std::uint64_t done, std::uint64_t total) {
  std::lock_guard<std::mutex> guard{mutex_};
  done_ = done;
  total_ = total;
  auto now = clock::now();
  auto every = tty_ ? std::chrono::duration_cast<clock::duration>(tty_interval)
                    : std::chrono::duration_cast<clock::duration>(quiet_interval);
  if (now - last_ < every)
    return;
  last_ = now;
  draw(false);
}

void progress_meter::finish() {
  std::lock_guard<std::mutex> guard{mutex_};
  draw(true);
}

void progress_meter::draw(bool final) {
  double secs = std::chrono::duration<double>(clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
  char line[256];
  int pct = total_ > 0 ? static_cast<int>(100 * done_ / total_) : 0;
  if (final)
    std::snprintf(line, sizeof line, "%s: %llu/%llu %s in %.1f s (%.0f/s)",
                  what_.c_str(), static_cast<unsigned long long>(done_),
                  static_cast<unsigned long long>(total_), unit_.c_str(), secs,
                  rate);
  else if (rate > 0 && total_ >= done_)
    std::snprintf(line, sizeof line,
                  "%s: %llu/%llu %s (%d%%), %.0f/s, ETA %.0f s", what_.c_str(),
                  static_cast<unsigned long long>(done_),
                  static_cast<unsigned long long>(total_), unit_.c_str(), pct,
                  rate, static_cast<double>(total_ - done_) / rate);
  else
    std::snprintf(line, sizeof line, "%s: %llu/%llu %s", what_.c_str(),
                  static_cast<unsigned long long>(done_),
                  static_cast<unsigned long long>(total_), unit_.c_str());
  std::string text = line;
  if (has_bytes_) {
    char more[96];
    double mib = static_cast<double>(bytes_) / (1024.0 * 1024.0);
    std::snprintf(more, sizeof more, ", %.1f MiB (%.1f MiB/s)", mib,
                  secs > 0 ? mib / secs : 0.0);
    text += more;
  }
  if (tty_)
    std::fprintf(stderr, "\r%-78s%s", text.c_str(), final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

} // namespace mantissa::cli
