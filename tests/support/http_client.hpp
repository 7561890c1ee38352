#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mantissa::test {

/// A parsed HTTP response.
struct http_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// First header named `name` (case-insensitive), or "".
  [[nodiscard]] std::string header(const std::string& name) const;
};

/// A blocking HTTP/1.1 client connection to 127.0.0.1 on raw sockets, for
/// tests. Every call fails the test on a socket error or timeout.
class http_connection {
 public:
  /// `source`: the local address to connect from (e.g. "127.0.0.2", to be
  /// another client of the server); empty for the system's choice.
  explicit http_connection(std::uint16_t port,
                           std::chrono::milliseconds timeout
                           = std::chrono::seconds(10),
                           const std::string& source = {});
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends raw bytes.
  void send(const std::string& bytes);

  /// Reads one response (Content-Length framed, or until close); nothing if
  /// the server closed the connection before a complete response.
  std::optional<http_response> read_response();

  /// Sends a request and reads its response.
  std::optional<http_response>
  request(const std::string& method, const std::string& target,
          const std::string& body = {},
          const std::vector<std::pair<std::string, std::string>>& headers = {});

  /// True when the server has closed the connection (reads EOF within
  /// `wait`).
  bool closed_by_peer(std::chrono::milliseconds wait);

  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  bool fill();  // reads more bytes into buf_; false on EOF

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buf_;
};

/// One request on a fresh connection.
std::optional<http_response>
http_request(std::uint16_t port, const std::string& method,
             const std::string& target, const std::string& body = {},
             const std::vector<std::pair<std::string, std::string>>& headers = {});

} // namespace mantissa::test
