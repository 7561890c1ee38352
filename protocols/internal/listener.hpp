#pragma once

// The listener shared by the HTTP and SMTP front ends. Asio is needed here
// (the listener hands accepted sockets to the protocol), so this header is
// internal: only the servers' .cpp files include it, never a public header.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

namespace mantissa::protocols::internal {

/// Cleared by `listener::stop` once the Asio threads are gone. Whoever posts
/// to a connection from outside its strand (an HTTP responder, an SMTP
/// backend's callback) does so only while holding `mutex` and seeing `open`,
/// so nothing is posted to an io_context that is being destroyed.
struct gate {
  std::mutex mutex;
  bool open = true; // guarded by mutex
};

/// What the listener needs of every connection, whatever its protocol.
///
/// A connection unregisters itself in its destructor (`listener::forget`)
/// and reports its socket's close once (`listener::connection_closed`).
class connection {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  virtual ~connection() = default;
  /// The connection's strand; immutable, so any thread may read it.
  [[nodiscard]] virtual const executor_type& executor() const noexcept = 0;
  /// Called once by the listener right after registering the connection,
  /// on the accept strand. `rejected`: the connection is beyond
  /// `max_connections` and only gets the protocol's refusal.
  virtual void start(bool rejected) = 0;
  /// Posted to the strand when `listener::stop` begins.
  virtual void begin_shutdown() = 0;
  /// Closes the socket now; on the strand, or after the threads are gone.
  virtual void hard_close() = 0;
};

/// What the protocols' settings say about listening.
struct listener_options {
  std::string host;
  std::uint16_t port = 0;
  unsigned threads = 1;
  std::size_t max_connections = 0;
  std::chrono::milliseconds shutdown_grace{0};
};

/// An acceptor, its Asio threads, the registry of live connections and the
/// drain on `stop`; each protocol supplies only its connections (`factory`)
/// and its log line writer.
///
/// What the two copies this replaces did alike, it does once; where they
/// differed, the difference is a parameter: HTTP logs its accept and thread
/// errors as warnings under "http", SMTP as info under "smtp" (`log`); SMTP
/// counts every accepted connection for /metrics (in its factory, which
/// runs for every accepted socket, as the count did). The TLS handshakes
/// are not shared: HTTPS shakes hands when the connection starts, SMTP on
/// STARTTLS in the middle of a session, with their own timeouts and log
/// lines, so each stays in its connection. So does the linger after the
/// last answer (reading and dropping what the client still sends): HTTPS
/// ends with close_notify, SMTP after STARTTLS drops the bytes undecrypted.
///
/// Thread rule: `start`, `stop` and `port` are called by the owner from one
/// thread; `stopping`, `connections`, `forget` and `connection_closed` from
/// any thread. The io_context is the last member, so connections still
/// owned by pending handlers are destroyed (and unregister) first.
class listener {
 public:
  using tcp = boost::asio::ip::tcp;
  /// Writes one log line of the protocol.
  using log_fn = void (*)(std::string_view);
  /// Makes the connection for an accepted socket (on the accept strand).
  /// `id` is what the connection passes to `forget`.
  using factory
    = std::function<std::shared_ptr<connection>(tcp::socket, std::uint64_t)>;

  listener(listener_options opts, log_fn log, factory make);
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// Binds and starts the threads. On failure returns false and sets `err`
  /// ("HOST:PORT: " and the reason, or "server was already started").
  [[nodiscard]] bool start(std::string& err);

  /// The bound port (useful after binding port 0).
  [[nodiscard]] std::uint16_t port() const noexcept { return bound_port_; }

  /// Open connections now, counting those being refused.
  [[nodiscard]] std::size_t connections() const;

  /// Set once `stop` began; connections read it on their strands.
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(); }

  /// The gate completions post through (see `gate`).
  [[nodiscard]] const std::shared_ptr<gate>& exit_gate() const noexcept {
    return gate_;
  }

  /// Removes connection `id` from the registry (its destructor).
  void forget(std::uint64_t id);

  /// Called by a connection when its socket closes.
  void connection_closed();

  /// Stops accepting, tells every connection to shut down, waits for them
  /// for at most `shutdown_grace`, then stops the threads, closes the gate
  /// and closes what is left. Does nothing unless running.
  void stop();

 private:
  void run_thread();
  void do_accept();
  void on_accept(boost::system::error_code ec, tcp::socket socket);
  /// Connections still registered, as strong references. Taken under
  /// `registry_mutex_` and released by the caller outside it (a
  /// connection's destructor takes the same mutex).
  std::vector<std::shared_ptr<connection>> snapshot();

  listener_options opts_;
  log_fn log_;
  factory make_;
  std::shared_ptr<gate> gate_ = std::make_shared<gate>();
  std::atomic<bool> stopping_{false};

  std::mutex registry_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<connection>> registry_;
  std::uint64_t next_id_ = 0; // guarded by registry_mutex_

  mutable std::mutex count_mutex_;
  std::condition_variable count_cv_;
  std::size_t open_connections_ = 0; // guarded by count_mutex_

  // Declared after the registry: connections still owned by pending
  // handlers are destroyed with the io_context and unregister themselves.
  boost::asio::io_context ioc_;
  std::optional<
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
    work_;
  boost::asio::strand<boost::asio::io_context::executor_type> accept_strand_{
    boost::asio::make_strand(ioc_)};
  tcp::acceptor acceptor_{accept_strand_};
  boost::asio::steady_timer accept_retry_{accept_strand_};
  std::vector<std::thread> threads_;
  std::uint16_t bound_port_ = 0;
  enum class state { idle, running, stopped } state_ = state::idle;
};

} // namespace mantissa::protocols::internal
