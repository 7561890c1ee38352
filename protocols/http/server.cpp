#include "protocols/http/server.hpp"

#include "log/log.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

// Transport of the HTTP front end, modelled on Beast's advanced server: a
// listener plus one session per connection. Everything a session does runs on
// its own strand; only `server::impl`'s counters, registry and `gate` are
// touched from several threads, and each of those says what guards it.

namespace mantissa::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

using message = bhttp::response<bhttp::string_body>;

/// How long a connection that is being closed after a final response keeps
/// reading (and discarding) what the client still sends. Closing a socket with
/// unread input makes the kernel send a reset, which can destroy the response
/// (e.g. a 413) before the client reads it.
constexpr std::chrono::milliseconds linger_timeout{1'000};

/// Pause before accepting again after an accept error such as EMFILE, so the
/// listener does not spin.
constexpr std::chrono::milliseconds accept_retry_delay{50};

void log_error(std::string_view what) {
  mantissa::log::warn("http", what);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y))
      return false;
  }
  return true;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

/// `{"error":{"code":...,"message":...}}` with the given status.
response error_response(int status, std::string_view code,
                        std::string_view text) {
  response r;
  r.status = status;
  r.body = "{\"error\":{\"code\":";
  append_json_string(r.body, code);
  r.body += ",\"message\":";
  append_json_string(r.body, text);
  r.body += "}}";
  return r;
}

bool has_crlf(std::string_view s) noexcept {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

/// Headers the transport owns; a handler's values for them are ignored.
bool is_managed_header(std::string_view name) noexcept {
  return iequals(name, "Content-Length") || iequals(name, "Connection")
         || iequals(name, "Transfer-Encoding");
}

/// Turns a handler's response into a wire message. Invalid statuses become a
/// 500; header fields containing CR or LF are dropped (no header injection).
/// `keep_alive` is applied later, when the write order is known.
message to_message(response r, unsigned version, bool head) {
  if (r.status < 200 || r.status > 599) {
    log_error("handler returned invalid status " + std::to_string(r.status));
    r = error_response(500, "internal", "invalid response status");
  }
  message msg;
  msg.version(version);
  msg.result(static_cast<unsigned>(r.status));
  bool has_server = false;
  for (auto& [name, value] : r.headers) {
    if (name.empty() || has_crlf(name) || has_crlf(value)) {
      log_error("dropped a response header containing CR/LF");
      continue;
    }
    if (is_managed_header(name))
      continue;
    has_server = has_server || iequals(name, "Server");
    msg.insert(name, value);
  }
  if (!has_server)
    msg.set(bhttp::field::server, "mantissa");
  // Every answer is what its Content-Type says (no sniffing a JSON answer
  // into a page), and none may be framed by another site unless its
  // handler said otherwise.
  if (msg.find("X-Content-Type-Options") == msg.end())
    msg.set("X-Content-Type-Options", "nosniff");
  if (msg.find("X-Frame-Options") == msg.end()
      && msg.find("Content-Security-Policy") == msg.end())
    msg.set("X-Frame-Options", "DENY");
  if (!r.content_type.empty() && !has_crlf(r.content_type))
    msg.set(bhttp::field::content_type, r.content_type);
  if (r.status == 204 || r.status == 304)
    r.body.clear();
  auto size = r.body.size();
  msg.body() = std::move(r.body);
  msg.prepare_payload();
  if (head) {
    msg.body().clear();
    msg.content_length(size);
  }
  return msg;
}

/// Cleared by `server::stop` once the Asio threads are gone. A responder only
/// posts to a session while holding `mutex` and seeing `open`, so nothing is
/// posted to an io_context that is being destroyed.
struct gate {
  std::mutex mutex;
  bool open = true; // guarded by mutex
};

} // namespace

std::string_view request::header_value(std::string_view name) const {
  for (auto& [key, value] : headers)
    if (iequals(key, name))
      return value;
  return {};
}

namespace {

/// What the server needs of every connection, whatever its stream.
class session_base {
 public:
  using executor_type = tcp::socket::executor_type;
  virtual ~session_base() = default;
  /// The session's strand; immutable, so any thread may read it.
  [[nodiscard]] virtual const executor_type& executor() const noexcept = 0;
  virtual void begin_shutdown() = 0;
  virtual void hard_close() = 0;
};

/// Everything the listener and its sessions share. Sessions keep a reference;
/// the io_context is a member, so no session outlives it.
struct core {
  core(server_options o, handler h)
    : opts(std::move(o)), on_request(std::move(h)) {
    if (opts.max_pipelined == 0)
      opts.max_pipelined = 1;
  }

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  /// Sessions still registered, as strong references. Taken under
  /// `registry_mutex` and released by the caller outside it (a session's
  /// destructor takes the same mutex).
  std::vector<std::shared_ptr<session_base>> snapshot();

  /// Called by a session when its socket closes.
  void connection_closed();

  server_options opts;
  handler on_request;
  std::shared_ptr<gate> gate_ = std::make_shared<gate>();

  /// Set once by `stop`; sessions read it on their strands.
  std::atomic<bool> stopping{false};

  std::mutex registry_mutex;
  std::unordered_map<std::uint64_t, std::weak_ptr<session_base>> registry;
  std::uint64_t next_id = 0; // guarded by registry_mutex

  std::mutex count_mutex;
  std::condition_variable count_cv;
  std::size_t open_connections = 0; // guarded by count_mutex

  // Declared after the registry: sessions still owned by pending handlers are
  // destroyed with the io_context and unregister themselves.
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  net::strand<net::io_context::executor_type> accept_strand{
    net::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  net::steady_timer accept_retry{accept_strand};
  std::vector<std::thread> threads;
  std::uint16_t bound_port = 0;
  enum class state { idle, running, stopped } state_ = state::idle;
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
class session : public session_base,
                public std::enable_shared_from_this<session<Stream>> {
  static constexpr bool tls = !std::is_same_v<Stream, tcp::socket>;

 public:
  session(Stream stream, core& owner, std::uint64_t id)
    : stream_(std::move(stream)), strand_(lowest().get_executor()), impl_(owner),
      id_(id), idle_timer_(strand_), read_timer_(strand_),
      write_timer_(strand_), linger_timer_(strand_) {}

  ~session() {
    std::lock_guard<std::mutex> guard{impl_.registry_mutex};
    impl_.registry.erase(id_);
  }

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  [[nodiscard]] const executor_type& executor() const noexcept override {
    return strand_;
  }
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

  /// Starts serving. Runs on any thread; the work moves to the strand.
  void start() {
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
    impl_.connection_closed();
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
    if (impl_.stopping.load()) {
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

    if (impl_.stopping.load()) {
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
    std::shared_ptr<gate> gate_;
    std::uint64_t seq;
    std::atomic<bool> done{false};

    completion(std::weak_ptr<session> t, std::shared_ptr<gate> g,
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
      = std::make_shared<completion>(this->weak_from_this(), impl_.gate_, seq);
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
    bool draining = stop_reading_ || impl_.stopping.load();
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
    if (queue_.empty() && impl_.stopping.load()) {
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
  std::shared_ptr<session_base> self_;
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

// -- core ---------------------------------------------------------------------

void core::do_accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [this](beast::error_code ec, tcp::socket socket) {
                          on_accept(ec, std::move(socket));
                        });
}

void core::on_accept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor.is_open() || ec == net::error::operation_aborted)
    return;
  if (ec) {
    log_error("accept: " + ec.message());
    accept_retry.expires_after(accept_retry_delay);
    accept_retry.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor.is_open())
        do_accept();
    });
    return;
  }
  // Beyond max_connections a connection is still accepted (so the client is
  // not left in the backlog) but only gets a 503 and is closed; such
  // connections count towards the limit while they are being answered.
  bool reject;
  {
    std::lock_guard<std::mutex> guard{count_mutex};
    reject = open_connections >= opts.max_connections;
    ++open_connections;
  }
  auto run = [&](auto s) {
    {
      std::lock_guard<std::mutex> guard{registry_mutex};
      registry.emplace(s->id(), s);
    }
    if (reject)
      s->start_rejected();
    else
      s->start();
  };
  std::uint64_t id;
  {
    std::lock_guard<std::mutex> guard{registry_mutex};
    id = next_id++;
  }
  if (opts.tls)
    run(std::make_shared<session<net::ssl::stream<tcp::socket>>>(
      net::ssl::stream<tcp::socket>(std::move(socket), *opts.tls), *this,
      id));
  else
    run(std::make_shared<session<tcp::socket>>(std::move(socket), *this, id));
  do_accept();
}

std::vector<std::shared_ptr<session_base>> core::snapshot() {
  std::vector<std::shared_ptr<session_base>> result;
  std::lock_guard<std::mutex> guard{registry_mutex};
  result.reserve(registry.size());
  for (auto& [id, weak] : registry)
    if (auto s = weak.lock())
      result.push_back(std::move(s));
  return result;
}

void core::connection_closed() {
  {
    std::lock_guard<std::mutex> guard{count_mutex};
    --open_connections;
  }
  count_cv.notify_all();
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
  auto& d = *impl_;
  auto where = d.opts.host + ":" + std::to_string(d.opts.port) + ": ";
  if (d.state_ != core::state::idle) {
    err = where + "server was already started";
    return false;
  }
  beast::error_code ec;
  tcp::resolver resolver{d.ioc};
  auto results = resolver.resolve(
    d.opts.host, std::to_string(d.opts.port),
    tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    err = where + (ec ? ec.message() : std::string("no address"));
    return false;
  }
  auto endpoint = results.begin()->endpoint();
  auto fail = [&] {
    err = where + ec.message();
    beast::error_code ignored;
    d.acceptor.close(ignored);
    return false;
  };
  if (d.acceptor.open(endpoint.protocol(), ec); ec)
    return fail();
  if (d.acceptor.set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail();
  if (d.acceptor.bind(endpoint, ec); ec)
    return fail();
  if (d.acceptor.listen(net::socket_base::max_listen_connections, ec); ec)
    return fail();
  d.bound_port = d.acceptor.local_endpoint(ec).port();
  if (ec)
    return fail();

  d.state_ = core::state::running;
  d.work.emplace(d.ioc.get_executor());
  net::post(d.accept_strand, [&d] { d.do_accept(); });
  auto n = std::max(1u, d.opts.threads);
  d.threads.reserve(n);
  for (unsigned i = 0; i < n; ++i)
    d.threads.emplace_back([&d] {
      for (;;) {
        try {
          d.ioc.run();
          return;
        } catch (const std::exception& e) {
          log_error(std::string("uncaught exception in I/O thread: ")
                    + e.what());
        } catch (...) {
          log_error("uncaught exception in I/O thread");
        }
      }
    });
  return true;
}

std::uint16_t server::port() const noexcept {
  return impl_->bound_port;
}

void server::stop() {
  auto& d = *impl_;
  if (d.state_ != core::state::running) {
    d.state_ = core::state::stopped;
    return;
  }
  d.state_ = core::state::stopped;
  d.stopping.store(true);

  net::post(d.accept_strand, [&d] {
    beast::error_code ignored;
    d.acceptor.close(ignored);
    d.accept_retry.cancel();
  });
  for (auto& s : d.snapshot()) {
    auto& ex = s->executor();
    net::post(ex, [s] { s->begin_shutdown(); });
  }

  {
    std::unique_lock<std::mutex> lock{d.count_mutex};
    d.count_cv.wait_for(lock, d.opts.shutdown_grace,
                        [&d] { return d.open_connections == 0; });
  }

  // Grace is over: whatever is still open is cut off.
  d.work.reset();
  d.ioc.stop();
  for (auto& t : d.threads)
    t.join();
  d.threads.clear();
  {
    std::lock_guard<std::mutex> guard{d.gate_->mutex};
    d.gate_->open = false;
  }
  beast::error_code ignored;
  d.acceptor.close(ignored);
  // The Asio threads are gone, so strand-only members may be touched here.
  for (auto& s : d.snapshot())
    s->hard_close();
}

} // namespace mantissa::http
