#include "protocols/http/server.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "protocols/http/internal/wire.hpp"
#include "protocols/internal/listener.hpp"

// Transport of the HTTP front end, modelled on Beast's advanced server: the
// shared listener (protocols/internal/listener.hpp) plus one session per
// connection. Everything a session does runs on its own strand; only the
// listener's counters, registry and gate are touched from several threads,
// and the listener says what guards each.

namespace mantissa::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using protocols::internal::listener;
using wire::error_response;
using wire::log_error;
using wire::message;
using wire::to_message;

/// How long a connection that is being closed after a final response keeps
/// reading (and discarding) what the client still sends. Closing a socket with
/// unread input makes the kernel send a reset, which can destroy the response
/// (e.g. a 413) before the client reads it.
constexpr std::chrono::milliseconds linger_timeout{1'000};

/// Everything the listener and the sessions share. Sessions keep a
/// reference; the listener (with the io_context) is the last member, so no
/// session outlives the rest.
struct core {
  core(server_options o, handler h);

  /// The session for an accepted socket: over TLS when `opts.tls` is set.
  std::shared_ptr<protocols::internal::connection>
  make_connection(tcp::socket socket, std::uint64_t id);

  server_options opts;
  handler on_request;
  listener listening;
};

/// One connection. All members are used only on the session's strand (the
/// socket's executor), except `strand_`, `id_` and `impl_`, which are
/// immutable.
///
/// Lifetime: the session pins itself (`self_`) from `start` until
/// `hard_close`, so it survives while a handler holds its responder and no
/// socket operation is pending. Responders hold only a weak reference.
///
/// `Stream` is a `tcp::socket`, or an `ssl::stream` over one for HTTPS: then
/// the TLS handshake comes first (under `handshake_timeout`), and a closing
/// connection sends close_notify instead of discarding input.
template <class Stream>
class session : public protocols::internal::connection,
                public std::enable_shared_from_this<session<Stream>> {
  static constexpr bool tls = !std::is_same_v<Stream, tcp::socket>;

 public:
  session(Stream stream, core& owner, std::uint64_t id)
    : stream_(std::move(stream)), strand_(lowest().get_executor()), impl_(owner),
      id_(id), idle_timer_(strand_), read_timer_(strand_),
      write_timer_(strand_), linger_timer_(strand_) {}

  ~session() {
    impl_.listening.forget(id_);
  }

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  [[nodiscard]] const executor_type& executor() const noexcept override {
    return strand_;
  }
  /// Runs on any thread; the work moves to the strand.
  void start(bool rejected) override {
    if (rejected)
      start_rejected();
    else
      start_serving();
  }

  /// Starts serving.
  void start_serving() {
    net::post(strand_, [self = this->shared_from_this()] {
      if (!self->pin())
        return;
      beast::error_code ec;
      auto ep = self->lowest().remote_endpoint(ec);
      if (!ec)
        self->remote_address_ = ep.address().to_string();
      if constexpr (tls)
        self->do_handshake();
      else
        self->do_read();
    });
  }

  /// Answers 503 and closes; used beyond `max_connections`.
  void start_rejected() {
    net::post(strand_, [self = this->shared_from_this()] {
      if (!self->pin())
        return;
      if constexpr (tls) {
        // No HTTP before a handshake, and no handshake work under overload.
        log_error("too many connections: closed a TLS connection unanswered");
        self->hard_close();
        return;
      }
      self->stop_reading_ = true;
      self->push_ready(
        error_response(503, "service_unavailable", "too many connections"), 11,
        false);
      self->do_write();
    });
  }

  /// Called on the strand when `server::stop` begins: no new requests are
  /// served, responses still owed are written, then the connection closes.
  void begin_shutdown() override {
    if (state_ != conn_state::open)
      return;
    if (queue_.empty() && !writing_)
      hard_close();
  }

  /// Closes the socket now, dropping unsent responses. Must run on the strand,
  /// or after the Asio threads have been joined.
  void hard_close() override {
    if (state_ == conn_state::closed)
      return;
    state_ = conn_state::closed;
    idle_timer_.cancel();
    read_timer_.cancel();
    write_timer_.cancel();
    linger_timer_.cancel();
    beast::error_code ec;
    lowest().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close(ec);
    queue_.clear();
    impl_.listening.connection_closed();
    self_.reset();
  }

  /// Delivers the response for request `seq`. Runs on the strand.
  void on_response(std::uint64_t seq, response r) {
    if (state_ != conn_state::open || seq < first_seq_)
      return;
    auto index = seq - first_seq_;
    if (index >= queue_.size())
      return;
    auto& s = queue_[index];
    if (s.ready)
      return;
    s.msg = to_message(std::move(r), s.version, s.head);
    s.ready = true;
    do_write();
  }

 private:
  /// A response owed to the client, in request order.
  struct slot {
    unsigned version = 11;
    bool keep_alive = true;
    bool head = false;
    bool ready = false;
    message msg;
  };

  enum class conn_state { open, lingering, closed };

  /// Takes the self-reference, unless the session was closed before it ran
  /// or the server started stopping (a session accepted during `stop` may
  /// have missed its `begin_shutdown`). Returns whether to go on.
  bool pin() {
    if (state_ != conn_state::open)
      return false;
    self_ = this->shared_from_this();
    if (impl_.listening.stopping()) {
      hard_close();
      return false;
    }
    return true;
  }

  /// The TCP socket under the stream.
  tcp::socket& lowest() noexcept {
    if constexpr (tls)
      return stream_.next_layer();
    else
      return stream_;
  }

  // -- TLS handshake ------------------------------------------------------------

  void do_handshake() {
    read_pending_ = true;
    ++read_gen_;
    read_timer_.expires_after(impl_.opts.handshake_timeout);
    read_timer_.async_wait(
      [self = this->shared_from_this(), gen = read_gen_](beast::error_code ec) {
        if (!ec && gen == self->read_gen_ && self->read_pending_) {
          log_error("TLS handshake from " + self->remote_address_
                    + " timed out");
          self->hard_close();
        }
      });
    stream_.async_handshake(
      net::ssl::stream_base::server,
      [self = this->shared_from_this()](beast::error_code ec) {
        self->on_handshake(ec);
      });
  }

  void on_handshake(beast::error_code ec) {
    read_pending_ = false;
    ++read_gen_;
    read_timer_.cancel();
    if (state_ != conn_state::open)
      return;
    if (ec) {
      log_error("TLS handshake from " + remote_address_
                + " failed: " + ec.message());
      hard_close();
      return;
    }
    do_read();
  }

  // -- reading ----------------------------------------------------------------

  [[nodiscard]] bool may_read() const noexcept {
    return state_ == conn_state::open && !stop_reading_ && !read_pending_
           && queue_.size() < impl_.opts.max_pipelined;
  }

  void do_read() {
    if (!may_read())
      return;
    parser_.emplace();
    auto hl = std::min<std::size_t>(impl_.opts.header_limit,
                                    std::numeric_limits<std::uint32_t>::max());
    parser_->header_limit(static_cast<std::uint32_t>(hl));
    parser_->body_limit(impl_.opts.body_limit);
    if (buffer_.size() > 0) {
      do_read_request();
      return;
    }
    // Wait for the first byte of the next request under the idle timeout.
    waiting_first_byte_ = true;
    read_pending_ = true;
    arm_idle_timer();
    stream_.async_read_some(
      buffer_.prepare(4096),
      [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
        self->on_first_bytes(ec, n);
      });
  }

  void on_first_bytes(beast::error_code ec, std::size_t n) {
    read_pending_ = false;
    waiting_first_byte_ = false;
    idle_timer_.cancel();
    if (state_ == conn_state::lingering) {
      continue_linger(ec);
      return;
    }
    if (state_ == conn_state::closed)
      return;
    if (ec) {
      client_done_sending();
      return;
    }
    buffer_.commit(n);
    do_read_request();
  }

  void do_read_request() {
    read_pending_ = true;
    ++read_gen_;
    read_timer_.expires_after(impl_.opts.read_timeout);
    read_timer_.async_wait(
      [self = this->shared_from_this(), gen = read_gen_](beast::error_code ec) {
        if (!ec)
          self->on_read_timeout(gen);
      });
    bhttp::async_read(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_read(ec);
      });
  }

  void on_read(beast::error_code ec) {
    read_pending_ = false;
    ++read_gen_;
    read_timer_.cancel();
    if (state_ == conn_state::lingering) {
      continue_linger(ec);
      return;
    }
    if (state_ == conn_state::closed || stop_reading_)
      return;
    if (ec) {
      on_read_error(ec);
      return;
    }
    auto req = parser_->release();
    parser_.reset();
    bool keep_alive = req.keep_alive();
    bool head = req.method() == bhttp::verb::head;
    unsigned version = req.version();
    if (!keep_alive)
      stop_reading_ = true;

    if (impl_.listening.stopping()) {
      stop_reading_ = true;
      push_ready(
        error_response(503, "service_unavailable", "server is shutting down"),
        version, false);
      do_write();
      return;
    }

    request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.version = static_cast<int>(version);
    r.headers.reserve(static_cast<std::size_t>(
      std::distance(req.base().begin(), req.base().end())));
    for (auto& field : req.base())
      r.headers.emplace_back(std::string(field.name_string()),
                             std::string(field.value()));
    r.body = std::move(req.body());
    r.peer_address = remote_address_;
    r.forwarded = !r.header_value("x-forwarded-for").empty()
                  || !r.header_value("forwarded").empty()
                  || !r.header_value("x-real-ip").empty();
    r.remote_address = impl_.opts.proxies.empty()
                         ? remote_address_
                         : impl_.opts.proxies.client_of(
                             remote_address_, r.header_value("x-forwarded-for"));
    r.secure = tls;

    auto seq = first_seq_ + queue_.size();
    queue_.push_back(slot{version, keep_alive, head, false, {}});
    invoke_handler(std::move(r), seq);
    do_read();
  }

  /// Maps a failed read to a final error response, or closes.
  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream
        || ec == bhttp::error::partial_message) {
      // The client stopped sending (possibly mid-request, which is dropped).
      client_done_sending();
      return;
    }
    std::optional<response> answer;
    if (ec == bhttp::error::body_limit)
      answer = error_response(413, "payload_too_large",
                              "request body exceeds the limit");
    else if (ec == bhttp::error::header_limit)
      answer = error_response(431, "header_too_large",
                              "request header exceeds the limit");
    else if (ec.category()
             == bhttp::make_error_code(bhttp::error::bad_method).category())
      answer = error_response(400, "bad_request", "malformed HTTP request");
    if (!answer) {
      // Network error (reset, abort): nobody left to answer.
      hard_close();
      return;
    }
    stop_reading_ = true;
    push_ready(std::move(*answer), 11, false);
    do_write();
  }

  /// The client closed its sending side between requests: write what is
  /// still owed, then close.
  void client_done_sending() {
    stop_reading_ = true;
    if (queue_.empty() && !writing_)
      hard_close();
  }

  void on_read_timeout(std::uint64_t gen) {
    if (gen != read_gen_ || !read_pending_ || state_ != conn_state::open)
      return;
    // The request started but did not complete in time (slow client). The
    // pending read stays outstanding until the socket closes; its result is
    // ignored. The 408 is written after any responses still owed.
    stop_reading_ = true;
    push_ready(
      error_response(408, "request_timeout", "request not received in time"),
      11, false);
    do_write();
  }

  void arm_idle_timer() {
    if (!waiting_first_byte_ || !queue_.empty() || writing_)
      return;
    ++idle_gen_;
    idle_timer_.expires_after(impl_.opts.idle_timeout);
    idle_timer_.async_wait(
      [self = this->shared_from_this(), gen = idle_gen_](beast::error_code ec) {
        if (ec || gen != self->idle_gen_ || !self->waiting_first_byte_
            || !self->queue_.empty() || self->writing_)
          return;
        self->hard_close();
      });
  }

  // -- handler ----------------------------------------------------------------

  /// Shared by all copies of one responder. Completes the request at most
  /// once; if the last copy is destroyed unused, the client gets a 500.
  struct completion {
    std::weak_ptr<session> target;
    std::shared_ptr<protocols::internal::gate> gate_;
    std::uint64_t seq;
    std::atomic<bool> done{false};

    completion(std::weak_ptr<session> t, std::shared_ptr<protocols::internal::gate> g,
               std::uint64_t s)
      : target(std::move(t)), gate_(std::move(g)), seq(s) {}

    completion(const completion&) = delete;
    completion& operator=(const completion&) = delete;

    ~completion() {
      if (done.load())
        return;
      try {
        complete(error_response(500, "internal",
                                "request was dropped without a response"));
      } catch (...) {
        log_error("could not answer a dropped request");
      }
    }

    /// Thread-safe; any call after the first is ignored.
    void complete(response r) {
      if (done.exchange(true))
        return;
      std::lock_guard<std::mutex> guard{gate_->mutex};
      if (!gate_->open)
        return;
      if (auto conn = target.lock()) {
        auto& ex = conn->executor();
        net::post(ex,
                  [c = std::move(conn), n = seq, res = std::move(r)]() mutable {
                    c->on_response(n, std::move(res));
                  });
      }
    }
  };

  void invoke_handler(request r, std::uint64_t seq) {
    auto state
      = std::make_shared<completion>(this->weak_from_this(), impl_.listening.exit_gate(), seq);
    responder respond
      = [state](response res) { state->complete(std::move(res)); };
    try {
      impl_.on_request(std::move(r), std::move(respond));
    } catch (const std::exception& e) {
      log_error(std::string("handler threw: ") + e.what());
      state->complete(error_response(500, "internal", "internal error"));
    } catch (...) {
      log_error("handler threw a non-standard exception");
      state->complete(error_response(500, "internal", "internal error"));
    }
  }

  // -- writing ----------------------------------------------------------------

  /// Queues a response that needs no handler (errors, 503).
  void push_ready(response r, unsigned version, bool keep_alive) {
    slot s;
    s.version = version;
    s.keep_alive = keep_alive;
    s.msg = to_message(std::move(r), version, false);
    s.ready = true;
    queue_.push_back(std::move(s));
  }

  /// True when the connection closes once the front response is written.
  [[nodiscard]] bool closes_after_front() const {
    auto& s = queue_.front();
    if (!s.keep_alive)
      return true;
    bool draining = stop_reading_ || impl_.listening.stopping();
    return draining && queue_.size() == 1;
  }

  void do_write() {
    if (writing_ || state_ != conn_state::open || queue_.empty()
        || !queue_.front().ready)
      return;
    writing_ = true;
    auto& s = queue_.front();
    s.msg.keep_alive(!closes_after_front());
    ++write_gen_;
    write_timer_.expires_after(impl_.opts.write_timeout);
    write_timer_.async_wait(
      [self = this->shared_from_this(), gen = write_gen_](beast::error_code ec) {
        if (!ec && gen == self->write_gen_ && self->writing_)
          self->hard_close();
      });
    bhttp::async_write(
      stream_, s.msg,
      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_write(ec);
      });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    ++write_gen_;
    write_timer_.cancel();
    if (state_ != conn_state::open)
      return;
    if (ec) {
      hard_close();
      return;
    }
    bool close = !queue_.front().msg.keep_alive();
    queue_.pop_front();
    ++first_seq_;
    if (close) {
      start_linger();
      return;
    }
    if (queue_.empty() && impl_.listening.stopping()) {
      hard_close();
      return;
    }
    if (queue_.empty() && stop_reading_) {
      // E.g. the client's end of stream was read while this write was in
      // flight, so the response went out as keep-alive.
      start_linger();
      return;
    }
    do_read();
    arm_idle_timer();
    do_write();
  }

  // -- closing ----------------------------------------------------------------

  /// After the final response: stop sending, discard input until the client
  /// closes or `linger_timeout` passes, then close.
  void start_linger() {
    state_ = conn_state::lingering;
    idle_timer_.cancel();
    read_timer_.cancel();
    linger_timer_.expires_after(linger_timeout);
    linger_timer_.async_wait(
      [self = this->shared_from_this()](beast::error_code ec) {
        if (!ec)
          self->hard_close();
      });
    beast::error_code ignored;
    if constexpr (tls) {
      if (read_pending_) {
        // A read is in flight (it ends when the client closes, or at the
        // linger timeout): no close_notify alongside it.
        lowest().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      read_pending_ = true;
      stream_.async_shutdown(
        [self = this->shared_from_this()](beast::error_code) {
          self->read_pending_ = false;
          self->hard_close();
        });
      return;
    }
    lowest().shutdown(tcp::socket::shutdown_send, ignored);
    if (!read_pending_)
      do_drain();
  }

  void continue_linger(beast::error_code ec) {
    if (ec || tls)
      hard_close();
    else
      do_drain();
  }

  void do_drain() {
    read_pending_ = true;
    stream_.async_read_some(
      net::buffer(drain_buf_),
      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
        self->read_pending_ = false;
        if (self->state_ == conn_state::lingering)
          self->continue_linger(ec);
      });
  }

  Stream stream_;
  const executor_type strand_;
  core& impl_;
  const std::uint64_t id_;
  std::shared_ptr<protocols::internal::connection> self_;
  std::string remote_address_;

  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::deque<slot> queue_;
  std::uint64_t first_seq_ = 0; ///< sequence number of queue_.front()

  net::steady_timer idle_timer_;
  net::steady_timer read_timer_;
  net::steady_timer write_timer_;
  net::steady_timer linger_timer_;
  std::uint64_t idle_gen_ = 0;
  std::uint64_t read_gen_ = 0;
  std::uint64_t write_gen_ = 0;

  conn_state state_ = conn_state::open;
  bool read_pending_ = false;
  bool waiting_first_byte_ = false;
  bool writing_ = false;
  bool stop_reading_ = false; ///< no further requests on this connection
  char drain_buf_[4096];
};

core::core(server_options o, handler h)
  : opts(std::move(o)), on_request(std::move(h)),
    listening({opts.host, opts.port, opts.threads, opts.max_connections,
               opts.shutdown_grace},
              log_error, [this](tcp::socket socket, std::uint64_t id) {
                return make_connection(std::move(socket), id);
              }) {
  if (opts.max_pipelined == 0)
    opts.max_pipelined = 1;
}

std::shared_ptr<protocols::internal::connection>
core::make_connection(tcp::socket socket, std::uint64_t id) {
  if (opts.tls)
    return std::make_shared<session<net::ssl::stream<tcp::socket>>>(
      net::ssl::stream<tcp::socket>(std::move(socket), *opts.tls), *this, id);
  return std::make_shared<session<tcp::socket>>(std::move(socket), *this, id);
}

} // namespace

struct server::impl : core {
  using core::core;
};

// -- server -------------------------------------------------------------------

server::server(server_options opts, handler h)
  : impl_(std::make_unique<impl>(std::move(opts), std::move(h))) {}

server::~server() {
  stop();
}

bool server::start(std::string& err) {
  return impl_->listening.start(err);
}

std::uint16_t server::port() const noexcept {
  return impl_->listening.port();
}

void server::stop() {
  impl_->listening.stop();
}

} // namespace mantissa::http
