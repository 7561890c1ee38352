#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "actors/auth_options.hpp"

namespace mantissa::actors {

/// Counts failures per key (an account, a client address) and says how long
/// the next attempt must wait. Thread-safe.
class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit rate_limiter(const auth_options& opts,
                        std::size_t max_entries = 100'000);

  /// How long an attempt for `key` made at `now` waits before it is checked.
  [[nodiscard]] std::chrono::milliseconds delay(const std::string& key,
                                                clock::time_point now);
  /// The same with its own number of failures answered at full speed.
  [[nodiscard]] std::chrono::milliseconds
  delay(const std::string& key, clock::time_point now, int free_failures);
  void failure(const std::string& key, clock::time_point now);
  /// A success forgets the key's failures.
  void success(const std::string& key);
  [[nodiscard]] std::size_t size() const;

 private:
  struct entry {
    int failures = 0;
    clock::time_point last;
  };
  void sweep(clock::time_point now);

  auth_options opts_;
  std::size_t max_entries_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace mantissa::actors
