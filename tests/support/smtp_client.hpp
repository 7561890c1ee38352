#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mantissa::test {

/// One SMTP reply: its code and its lines (without the code and CRLF).
struct smtp_reply {
  int code = 0;
  std::vector<std::string> lines;
  /// Every line joined with '\n' (for messages in failed checks).
  [[nodiscard]] std::string text() const;
};

/// A blocking SMTP client connection to 127.0.0.1 on raw sockets, for
/// tests and benchmarks. Socket errors and timeouts throw
/// std::runtime_error; a connection the server closed gives no reply.
class smtp_connection {
 public:
  explicit smtp_connection(std::uint16_t port, std::chrono::milliseconds timeout
                                               = std::chrono::seconds(30));
  ~smtp_connection();
  smtp_connection(const smtp_connection&) = delete;
  smtp_connection& operator=(const smtp_connection&) = delete;

  /// Sends raw bytes.
  void send(const std::string& bytes);
  /// Reads one (possibly multi-line) reply; nothing once the server closed.
  std::optional<smtp_reply> read_reply();
  /// Sends `line` + CRLF and reads the reply.
  std::optional<smtp_reply> command(const std::string& line);
  /// The reply's code, or 0 when the connection was closed.
  int code(const std::string& line);
  /// DATA, the dot-stuffed `message` (CRLF line ends expected) and the
  /// final dot: the code of the reply after the dot (0: closed).
  int data(const std::string& message);
  /// True when the server closed the connection within `wait`.
  bool closed_by_peer(std::chrono::milliseconds wait);
  /// Closes at once (a client that goes away).
  void abort();

 private:
  bool fill();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buf_;
};

/// `message` dot-stuffed for DATA, with the terminating ".\r\n".
[[nodiscard]] std::string dot_stuff(const std::string& message);

} // namespace mantissa::test
