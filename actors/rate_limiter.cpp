#include "actors/rate_limiter.hpp"

#include <algorithm>
#include <vector>

namespace mantissa::actors {

rate_limiter::rate_limiter(const auth_options& opts, std::size_t max_entries)
  : opts_(opts), max_entries_(std::max<std::size_t>(1, max_entries)) {
}

std::chrono::milliseconds rate_limiter::delay(const std::string& key,
                                              clock::time_point now) {
  return delay(key, now, opts_.free_failures);
}

std::chrono::milliseconds rate_limiter::delay(const std::string& key,
                                              clock::time_point now,
                                              int free_failures) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key);
  if (i == entries_.end())
    return std::chrono::milliseconds::zero();
  if (now - i->second.last > opts_.forget_after) {
    entries_.erase(i);
    return std::chrono::milliseconds::zero();
  }
  auto over = i->second.failures - free_failures;
  if (over < 0)
    return std::chrono::milliseconds::zero();
  auto d = opts_.base_delay;
  for (int k = 0; k < over && d < opts_.max_delay; ++k)
    d *= 2;
  return std::min(d, opts_.max_delay);
}

void rate_limiter::failure(const std::string& key, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (entries_.size() >= max_entries_ && entries_.count(key) == 0)
    sweep(now);
  auto& e = entries_[key];
  if (e.failures > 0 && now - e.last > opts_.forget_after)
    e.failures = 0;
  ++e.failures;
  e.last = now;
}

void rate_limiter::success(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.erase(key);
}

std::size_t rate_limiter::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.size();
}

void rate_limiter::sweep(clock::time_point now) {
  for (auto i = entries_.begin(); i != entries_.end();) {
    if (now - i->second.last > opts_.forget_after)
      i = entries_.erase(i);
    else
      ++i;
  }
  // Still full: forget the oldest half rather than grow without bound.
  if (entries_.size() >= max_entries_) {
    std::vector<clock::time_point> times;
    times.reserve(entries_.size());
    for (auto& [k, e] : entries_)
      times.push_back(e.last);
    auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
    std::nth_element(times.begin(), mid, times.end());
    auto cutoff = *mid;
    for (auto i = entries_.begin(); i != entries_.end();) {
      if (i->second.last <= cutoff)
        i = entries_.erase(i);
      else
        ++i;
    }
  }
}

} // namespace mantissa::actors
