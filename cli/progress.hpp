#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

/// Progress of a long operation on the terminal (stderr): items done of a
/// total, the rate and the time left. On a terminal one line is redrawn in
/// place; otherwise (a log, a pipe) a line is written at most every
/// `quiet_interval`. Thread-safe: updates may come from actor threads.
namespace mantissa::cli {

class progress_meter {
 public:
  /// `what` names the operation ("fanout"), `unit` the items ("stores").
  progress_meter(std::string what, std::string unit);

  /// Records `done` of `total` and redraws when due.
  void update(std::uint64_t done, std::uint64_t total);
  /// The same with the bytes handled so far (shown with their rate).
  void update(std::uint64_t done, std::uint64_t total, std::uint64_t bytes);
  /// Draws the last state and ends the line.
  void finish();

 private:
  void draw(bool final);

  using clock = std::chrono::steady_clock;
  std::mutex mutex_;
  std::string what_;
  std::string unit_;
  bool tty_ = false;
  bool drawn_ = false;
  clock::time_point start_;
  clock::time_point last_{};
  std::uint64_t done_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t bytes_ = 0;
  bool has_bytes_ = false;
  static constexpr std::chrono::milliseconds tty_interval{200};
  static constexpr std::chrono::seconds quiet_interval{2};
};

} // namespace mantissa::cli
