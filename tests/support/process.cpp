#include "tests/support/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace mantissa::test {

namespace {

using clock = std::chrono::steady_clock;

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

pid_t spawn(const std::vector<std::string>& argv,
            const std::vector<std::string>& extra_env, int in_fd, int out_fd,
            int err_fd) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e)
    env_store.emplace_back(*e);
  for (auto& e : extra_env)
    env_store.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_store)
    env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  auto pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    // A test that aborts (a sanitizer report, a crash) cannot run the
    // destructors that kill its children: the kernel does it then.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    // A name without a slash is looked up in PATH.
    ::execvpe(args[0], args.data(), env.data());
    ::_exit(127);
  }
  return pid;
}

int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

// Reads what is available on `fd` into `buf`; returns false at EOF.
bool drain(int fd, std::string& buf) {
  char tmp[4096];
  for (;;) {
    auto n = ::read(fd, tmp, sizeof(tmp));
    if (n > 0) {
      buf.append(tmp, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0)
      return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

} // namespace

run_result run(const std::vector<std::string>& argv, const std::string& input,
               std::chrono::milliseconds timeout,
               const std::vector<std::string>& extra_env) {
  int in[2], out[2], err[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0 || ::pipe(err) != 0)
    throw std::runtime_error("pipe failed");
  auto pid = spawn(argv, extra_env, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Small inputs fit the pipe buffer; larger ones are not needed by tests.
  if (!input.empty()) {
    auto written = ::write(in[1], input.data(), input.size());
    (void) written;
  }
  ::close(in[1]);
  set_nonblocking(out[0]);
  set_nonblocking(err[0]);
  run_result res;
  bool out_open = true, err_open = true;
  auto deadline = clock::now() + timeout;
  while (out_open || err_open) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    ::poll(fds, 2, static_cast<int>(left.count()));
    if (out_open)
      out_open = drain(out[0], res.out);
    if (err_open)
      err_open = drain(err[0], res.err);
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  res.exit_code = decode_status(status);
  return res;
}

child::child(const std::vector<std::string>& argv,
             const std::vector<std::string>& extra_env) {
  int out[2], err[2];
  if (::pipe(out) != 0 || ::pipe(err) != 0)
    throw std::runtime_error("pipe failed");
  int devnull = ::open("/dev/null", O_RDONLY);
  pid_ = spawn(argv, extra_env, devnull, out[1], err[1]);
  ::close(devnull);
  ::close(out[1]);
  ::close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  set_nonblocking(out_fd_);
  set_nonblocking(err_fd_);
}

child::~child() {
  if (!status_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0)
    ::close(out_fd_);
  if (err_fd_ >= 0)
    ::close(err_fd_);
}

void child::pump(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (out_fd_ >= 0 && !drain(out_fd_, out_)) {
    ::close(out_fd_);
    out_fd_ = -1;
  }
  if (err_fd_ >= 0 && !drain(err_fd_, err_)) {
    ::close(err_fd_);
    err_fd_ = -1;
  }
}

std::optional<std::string>
child::wait_for_line(const std::string& needle,
                     std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  for (;;) {
    for (;;) {
      auto eol = out_.find('\n', out_scanned_);
      if (eol == std::string::npos)
        break;
      auto line = out_.substr(out_scanned_, eol - out_scanned_);
      out_scanned_ = eol + 1;
      if (line.find(needle) != std::string::npos)
        return line;
    }
    if (out_fd_ < 0 || clock::now() >= deadline)
      return std::nullopt;
    pump(std::chrono::milliseconds(20));
  }
}

void child::signal(int sig) const {
  if (!status_)
    ::kill(pid_, sig);
}

std::optional<int> child::wait(std::chrono::milliseconds timeout) {
  if (status_)
    return status_;
  auto deadline = clock::now() + timeout;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = decode_status(status);
      return status_;
    }
    if (clock::now() >= deadline)
      return std::nullopt;
    pump(std::chrono::milliseconds(10));
  }
}

std::string child::out() {
  if (out_fd_ >= 0 || err_fd_ >= 0)
    pump(std::chrono::milliseconds(0));
  return out_;
}

std::string child::err() {
  if (out_fd_ >= 0 || err_fd_ >= 0)
    pump(std::chrono::milliseconds(0));
  return err_;
}

} // namespace mantissa::test
