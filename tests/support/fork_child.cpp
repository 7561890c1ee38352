#include "tests/support/fork_child.hpp"

#include <catch2/catch.hpp>

#include <csignal>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mantissa::test {

forked_child::read_end
forked_child::read_lines(const std::function<bool(const std::string&)>& line,
                         std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  for (;;) {
    std::size_t pos;
    while ((pos = buffer.find('\n')) != std::string::npos) {
      auto got = buffer.substr(0, pos);
      buffer.erase(0, pos + 1);
      if (line(got))
        return read_end::stopped;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return read_end::timed_out;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      return read_end::closed;
    buffer.append(buf, static_cast<std::size_t>(n));
  }
}

int forked_child::reap() {
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fd);
  return status;
}

int forked_child::kill() {
  ::kill(pid, SIGKILL);
  return reap();
}

forked_child fork_child(const std::function<void(int fd)>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    body(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  return {pid, fds[0], {}};
}

} // namespace mantissa::test
