#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace mantissa::test {

/// Result of running a program to completion.
struct run_result {
  int exit_code = -1;    ///< exit status, or 128 + signal number
  std::string out;       ///< everything written to stdout
  std::string err;       ///< everything written to stderr
};

/// Runs `argv` (`argv[0]`: a path, or a name looked up in PATH) with `input`
/// on stdin, waits at most `timeout` (then kills it
/// and fails the test), and returns its exit code and output.
run_result run(const std::vector<std::string>& argv,
               const std::string& input = {},
               std::chrono::milliseconds timeout = std::chrono::seconds(60),
               const std::vector<std::string>& extra_env = {});

/// A child process running in the background, its stdout and stderr read
/// through pipes. The destructor kills it (SIGKILL) if it still runs, so a
/// failing test never leaves processes behind.
class child {
 public:
  explicit child(const std::vector<std::string>& argv,
                 const std::vector<std::string>& extra_env = {});
  ~child();
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Reads stdout until a line containing `needle` arrives; returns that
  /// line, or nothing when the child exits or `timeout` passes first.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);

  /// Sends `sig` to the child.
  void signal(int sig) const;

  /// Waits for the child to exit; returns its exit code (128 + signal for a
  /// signal), or nothing if it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  /// Everything read from stdout / stderr so far (drains what is pending).
  std::string out();
  std::string err();

 private:
  void pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::size_t out_scanned_ = 0;
  std::optional<int> status_;
};

} // namespace mantissa::test
