#include "tests/support/http_client.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mantissa::test {

std::string http_response::header(const std::string& name) const {
  for (auto& [k, v] : headers)
    if (::strcasecmp(k.c_str(), name.c_str()) == 0)
      return v;
  return {};
}

http_connection::http_connection(std::uint16_t port,
                                 std::chrono::milliseconds timeout,
                                 const std::string& source)
  : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error("socket failed");
  if (!source.empty()) {
    // Another loopback source address (127.0.0.2, ...): another client.
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1
        || ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      auto msg = "bind to " + source + ": " + std::strerror(errno);
      ::close(fd_);
      fd_ = -1;
      throw std::runtime_error(msg);
    }
  }
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

http_connection::~http_connection() {
  if (fd_ >= 0)
    ::close(fd_);
}

void http_connection::send(const std::string& bytes) {
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

bool http_connection::fill() {
  pollfd p{fd_, POLLIN, 0};
  auto r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
  if (r == 0)
    throw std::runtime_error("timed out waiting for the server");
  char tmp[16384];
  auto n = ::recv(fd_, tmp, sizeof(tmp), 0);
  if (n <= 0)
    return false;
  buf_.append(tmp, static_cast<std::size_t>(n));
  return true;
}

std::optional<http_response> http_connection::read_response() {
  std::size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (!fill())
      return std::nullopt;
  http_response res;
  auto head = buf_.substr(0, head_end);
  auto line_end = head.find("\r\n");
  auto status_line = head.substr(0, line_end);
  auto sp = status_line.find(' ');
  if (sp == std::string::npos)
    return std::nullopt;
  res.status = std::atoi(status_line.c_str() + sp + 1);
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string::npos)
      end = head.size();
    auto line = head.substr(pos, end - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ')
        v.erase(0, 1);
      res.headers.emplace_back(line.substr(0, colon), v);
    }
    pos = end + 2;
  }
  buf_.erase(0, head_end + 4);
  auto cl = res.header("Content-Length");
  if (!cl.empty()) {
    auto len = static_cast<std::size_t>(std::stoull(cl));
    while (buf_.size() < len)
      if (!fill())
        return std::nullopt;
    res.body = buf_.substr(0, len);
    buf_.erase(0, len);
  } else {
    while (fill()) {
    }
    res.body = std::move(buf_);
    buf_.clear();
  }
  return res;
}

std::optional<http_response> http_connection::request(
  const std::string& method, const std::string& target, const std::string& body,
  const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (auto& [k, v] : headers)
    req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT"
      || method == "PATCH")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  req += body;
  send(req);
  return read_response();
}

bool http_connection::closed_by_peer(std::chrono::milliseconds wait) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0)
    return false;
  char tmp[4096];
  auto n = ::recv(fd_, tmp, sizeof(tmp), MSG_PEEK);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

std::optional<http_response>
http_request(std::uint16_t port, const std::string& method,
             const std::string& target, const std::string& body,
             const std::vector<std::pair<std::string, std::string>>& headers) {
  http_connection c{port};
  return c.request(method, target, body, headers);
}

} // namespace mantissa::test
