#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "protocols/smtp/backend.hpp"
#include "protocols/smtp/session.hpp"

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace mantissa::actors {
class prometheus_text;
} // namespace mantissa::actors

namespace mantissa::smtp {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 25; ///< 0 picks a free port (see `server::port`)
  unsigned threads = 2;    ///< Asio threads serving connections
  /// Identity, domains and limits of every session.
  session_options session;
  /// Offered with STARTTLS when set (protocols/tls/context.hpp).
  std::shared_ptr<boost::asio::ssl::context> tls;
  /// Waiting for the next command (RFC 5321 §4.5.3.2.7: 5 minutes).
  std::chrono::milliseconds command_timeout{5 * 60 * 1000};
  /// Waiting for more message data after 354 (§4.5.3.2.5: 3 minutes).
  std::chrono::milliseconds data_timeout{3 * 60 * 1000};
  /// Writing a reply, or the TLS handshake.
  std::chrono::milliseconds write_timeout{5 * 60 * 1000};
  /// Connections beyond this many get 421 and are closed.
  std::size_t max_connections = 1000;
  /// Bytes of message data all sessions may hold at once (452 beyond;
  /// `data_budget`), unless `session.budget` is set.
  std::size_t data_budget = std::size_t{256} << 20;
  /// On `stop`, how long deliveries in flight may take to be answered.
  std::chrono::milliseconds shutdown_grace{5'000};
};

/// An SMTP server on Boost.Asio: one `session` per connection on its own
/// strand; requests of a session go to the backend and their answers are
/// posted back to the strand, so no Asio thread ever waits for a store.
///
/// Thread rule: `start`, `port` and `stop` are called by the owner from one
/// thread. The backend must outlive the server.
class server {
 public:
  server(server_options opts, backend& b);
  ~server(); ///< stops the server if running
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts serving. On failure returns false and sets `err`.
  [[nodiscard]] bool start(std::string& err);

  /// The bound port (useful after binding port 0).
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// Open connections now.
  [[nodiscard]] std::size_t connections() const;

  /// Appends `mantissa_smtp_sessions_total`, `mantissa_smtp_connections`
  /// and `mantissa_smtp_deliveries_total{result}` to `out`. Any thread.
  void write_metrics(actors::prometheus_text& out) const;

  /// Stops accepting, tells every session to close (421; a delivery in
  /// flight is answered first, for at most `shutdown_grace`), then closes
  /// what is left and joins the threads.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace mantissa::smtp
