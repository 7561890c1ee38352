#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "protocols/http/proxies.hpp"

#include "protocols/tls/context.hpp"

namespace mantissa::http {

/// One header field.
using header = std::pair<std::string, std::string>;

/// A parsed HTTP request, detached from the socket: plain strings only, so
/// it can be handed to another thread or an actor.
struct request {
  std::string method;        ///< "GET", "POST", ...
  std::string target;        ///< request-target as sent, e.g. "/a/b?x=1"
  int version = 11;          ///< 10 or 11
  std::vector<header> headers;
  std::string body;
  /// The client's IP, for logs and rate limits: the peer's, or, when the
  /// peer is a trusted proxy (`server_options::proxies`), the client it
  /// names in `X-Forwarded-For`.
  std::string remote_address;
  std::string peer_address;  ///< the IP at the other end of the socket
  /// The request carries `X-Forwarded-For`, `Forwarded` or `X-Real-IP`:
  /// it passed a proxy (whether or not one this server trusts).
  bool forwarded = false;
  bool secure = false;         ///< came over TLS

  /// The value of the first header named `name` (case-insensitive), or "".
  [[nodiscard]] std::string_view header_value(std::string_view name) const;
};

/// A response to send. `content_type` defaults to JSON.
struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<header> headers;
  std::string body;
};

/// Completes one request. May be called from any thread, exactly once; the
/// server posts the write to the connection's strand.
using responder = std::function<void(response)>;

/// Handles one request. Called on the connection's strand; must not block:
/// hand long work elsewhere and call the responder when done.
using handler = std::function<void(request, responder)>;

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0 picks a free port (see `server::port`)
  unsigned threads = 2;       ///< Asio threads serving connections
  std::size_t header_limit = 16 * 1024;
  std::size_t body_limit = 1024 * 1024;
  std::chrono::milliseconds read_timeout{30'000};   ///< per request, headers+body
  std::chrono::milliseconds idle_timeout{60'000};   ///< keep-alive wait
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds shutdown_grace{5'000};  ///< for in-flight requests
  std::size_t max_connections = 10'000;
  std::size_t max_pipelined = 16;  ///< unanswered requests per connection
  /// HTTPS when set (tls::make_server_context): every connection starts
  /// with a TLS handshake, which must complete within `handshake_timeout`.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::chrono::milliseconds handshake_timeout{10'000};
  /// Proxies whose `X-Forwarded-For` names the client (none by default).
  trusted_proxies proxies;
};

/// An HTTP/1.1 server (keep-alive, pipelining, limits, timeouts).
///
/// Thread rule: `start`, `port` and `stop` are called by the owner from one
/// thread; the handler runs on the server's own threads.
class server {
 public:
  server(server_options opts, handler h);
  ~server();  ///< stops the server if running
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts serving. On failure returns false and sets `err`
  /// (e.g. "127.0.0.1:80: Permission denied").
  [[nodiscard]] bool start(std::string& err);

  /// The bound port (useful after binding port 0).
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// Stops accepting, lets in-flight requests finish for at most
  /// `shutdown_grace`, closes every connection and joins the threads.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace mantissa::http
