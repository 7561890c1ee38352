#include "tests/support/smtp_client.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mantissa::test {

std::string smtp_reply::text() const {
  std::string out = std::to_string(code);
  for (auto& l : lines)
    out += (out.size() > 3 ? "\n" : " ") + l;
  return out;
}

smtp_connection::smtp_connection(std::uint16_t port,
                                 std::chrono::milliseconds timeout)
  : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto msg = std::string{"connect to 127.0.0.1:"} + std::to_string(port)
               + ": " + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(msg);
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

smtp_connection::~smtp_connection() {
  if (fd_ >= 0)
    ::close(fd_);
}

void smtp_connection::abort() {
  if (fd_ < 0)
    return;
  linger l{1, 0}; // reset, as a client that dies
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd_);
  fd_ = -1;
}

void smtp_connection::send(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error(std::string{"send: "} + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
}

bool smtp_connection::fill() {
  pollfd p{fd_, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
  } while (r < 0 && errno == EINTR);
  if (r == 0)
    throw std::runtime_error("timeout waiting for an SMTP reply");
  char chunk[16384];
  ssize_t n;
  do {
    n = ::recv(fd_, chunk, sizeof chunk, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0)
    return false; // closed (or reset)
  buf_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<smtp_reply> smtp_connection::read_reply() {
  smtp_reply reply;
  for (;;) {
    auto end = buf_.find("\r\n");
    while (end == std::string::npos) {
      if (!fill())
        return std::nullopt;
      end = buf_.find("\r\n");
    }
    auto line = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    if (line.size() < 3)
      throw std::runtime_error("not an SMTP reply: " + line);
    reply.code = std::stoi(line.substr(0, 3));
    reply.lines.push_back(line.size() > 4 ? line.substr(4) : std::string{});
    if (line.size() == 3 || line[3] == ' ')
      return reply;
  }
}

std::optional<smtp_reply> smtp_connection::command(const std::string& line) {
  send(line + "\r\n");
  return read_reply();
}

int smtp_connection::code(const std::string& line) {
  auto r = command(line);
  return r ? r->code : 0;
}

int smtp_connection::data(const std::string& message) {
  auto go = command("DATA");
  if (!go || go->code != 354)
    return go ? go->code : 0;
  send(dot_stuff(message));
  auto r = read_reply();
  return r ? r->code : 0;
}

bool smtp_connection::closed_by_peer(std::chrono::milliseconds wait) {
  auto saved = timeout_;
  timeout_ = wait;
  bool closed = false;
  try {
    while (fill()) {
    }
    closed = true;
  } catch (const std::runtime_error&) {
    closed = false;
  }
  timeout_ = saved;
  return closed;
}

std::string dot_stuff(const std::string& message) {
  std::string out;
  out.reserve(message.size() + 16);
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.')
      out.push_back('.');
    out.push_back(c);
    line_start = c == '\n';
  }
  if (!out.empty() && out.back() != '\n')
    out += "\r\n";
  out += ".\r\n";
  return out;
}

} // namespace mantissa::test
