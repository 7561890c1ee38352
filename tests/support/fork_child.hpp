#pragma once

// A copy of this test process forked to run a node (or anything) that the
// test can kill -9: the child reports through a pipe, line by line. Fork
// before any thread exists in this process (the child gets only the
// forking thread).

#include <chrono>
#include <functional>
#include <string>

#include <sys/types.h>

namespace mantissa::test {

/// The parent's side of a forked child: its pid and the read end of the
/// pipe the child writes to.
struct forked_child {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;  ///< read but not yet split into lines

  /// How read_lines ended.
  enum class read_end { stopped, closed, timed_out };

  /// Hands each complete line (without '\n') to `line` until it returns
  /// true (stopped), the pipe closes (closed) or `limit` passes.
  read_end read_lines(const std::function<bool(const std::string&)>& line,
                      std::chrono::milliseconds limit);

  /// Waits for the child to end and closes the pipe; returns the status
  /// waitpid gave.
  int reap();

  /// SIGKILL, then reap().
  int kill();
};

/// Forks: the child runs `body` with the write end of a fresh pipe and
/// ends with _exit(0) should `body` return; the parent gets the child.
forked_child fork_child(const std::function<void(int fd)>& body);

} // namespace mantissa::test
