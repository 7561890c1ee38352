#include "protocols/smtp/server.hpp"

#include "log/log.hpp"

#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "actors/metrics.hpp"
#include "protocols/internal/listener.hpp"

// Transport of the SMTP front end: the shared listener
// (protocols/internal/listener.hpp) plus one connection per client,
// everything a connection does on its own strand. The protocol itself is
// `session` (pure); a connection only moves bytes, runs timers and hands
// the session's requests to the backend.

namespace mantissa::smtp {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using protocols::internal::gate;
using protocols::internal::listener;

/// How long a connection that is closing keeps reading (and discarding)
/// what the client still sends, so that the final reply is not destroyed
/// by a reset.
constexpr std::chrono::milliseconds linger_timeout{1'000};

void log_line(std::string_view what) {
  mantissa::log::info("smtp", what);
}

struct core {
  core(server_options o, backend& b);

  /// The connection for an accepted socket; counts it for /metrics.
  std::shared_ptr<protocols::internal::connection>
  make_connection(tcp::socket socket, std::uint64_t id);

  server_options opts;
  backend& back;
  /// For /metrics; shared with delivery callbacks that may outlive a
  /// connection.
  struct counts {
    std::atomic<std::uint64_t> sessions{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failed{0};
  };
  std::shared_ptr<counts> metrics = std::make_shared<counts>();
  /// Last: its io_context goes first, with the connections it still owns.
  listener listening;
};


/// One client. Every member is used only on the connection's strand,
/// except the immutable `strand_`, `id_` and `core_`.
///
/// Lifetime: the connection pins itself (`self_`) from `start` until
/// `hard_close`, so it lives while the backend works on one of its
/// requests; completions hold only a weak reference.
class connection : public protocols::internal::connection,
                   public std::enable_shared_from_this<connection> {
 public:

  connection(tcp::socket socket, core& owner, std::uint64_t id, peer_info peer)
    : socket_(std::move(socket)), strand_(socket_.get_executor()), core_(owner),
      id_(id), session_(owner.opts.session, peer), peer_(std::move(peer)),
      read_timer_(strand_), write_timer_(strand_), linger_timer_(strand_) {}

  ~connection() {
    core_.listening.forget(id_);
  }

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  [[nodiscard]] const executor_type& executor() const noexcept override {
    return strand_;
  }

  void start(bool rejected) override {
    net::post(strand_, [self = shared_from_this(), rejected] {
      if (self->closed_)
        return;
      self->self_ = self;
      if (rejected || self->core_.listening.stopping()) {
        self->out_ = rejected
                       ? "421 4.3.2 Too many connections, try again later\r\n"
                       : "421 4.3.2 Service shutting down\r\n";
        if (rejected)
          log_line(self->peer_.address + ": 421 too many connections");
        self->final_ = true;
        self->do_write();
        return;
      }
      self->session_.start();
      self->pump();
    });
  }

  /// On the strand: the server is stopping.
  void begin_shutdown() override {
    if (closed_ || final_)
      return;
    session_.shutting_down();
    pump();
  }

  /// Closes the socket now. On the strand, or after the threads are gone.
  void hard_close() override {
    if (closed_)
      return;
    closed_ = true;
    read_timer_.cancel();
    write_timer_.cancel();
    linger_timer_.cancel();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    core_.listening.connection_closed();
    self_.reset();
  }

 private:
  // -- the session's pump -------------------------------------------------

  /// Moves the session along: writes its output, closes when it is done,
  /// hands its request to the backend, or reads more input.
  void pump() {
    if (closed_ || lingering_)
      return;
    for (auto& line : session_.take_log())
      log_line(line);
    if (writing_ || handshaking_)
      return;
    auto out = session_.take_output();
    if (!out.empty()) {
      out_ = std::move(out);
      do_write();
      return;
    }
    if (session_.closed()) {
      start_linger();
      return;
    }
    if (auto* r = session_.pending()) {
      if (!requesting_)
        start_request(*r);
      return;
    }
    if (session_.wants_input() && !reading_)
      do_read();
  }

  // -- reading ------------------------------------------------------------

  template<class Handler>
  void async_read_some(Handler&& h) {
    auto buf = net::buffer(read_buf_);
    if (tls_)
      tls_->async_read_some(buf, std::forward<Handler>(h));
    else
      socket_.async_read_some(buf, std::forward<Handler>(h));
  }

  template<class Handler>
  void async_write_all(Handler&& h) {
    auto buf = net::buffer(out_);
    if (tls_)
      net::async_write(*tls_, buf, std::forward<Handler>(h));
    else
      net::async_write(socket_, buf, std::forward<Handler>(h));
  }

  void do_read() {
    reading_ = true;
    ++read_gen_;
    read_timer_.expires_after(session_.in_data() ? core_.opts.data_timeout
                                                 : core_.opts.command_timeout);
    read_timer_.async_wait(
      [self = shared_from_this(), gen = read_gen_](error_code ec) {
        if (ec || gen != self->read_gen_ || !self->reading_ || self->closed_)
          return;
        self->session_.timed_out();
        self->pump();
      });
    async_read_some([self = shared_from_this()](error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(error_code ec, std::size_t n) {
    reading_ = false;
    ++read_gen_;
    read_timer_.cancel();
    if (lingering_) {
      continue_linger(ec);
      return;
    }
    if (closed_)
      return;
    if (ec) {
      if (session_.in_data())
        log_line(peer_.address
                 + ": connection lost during DATA; nothing stored");
      hard_close();
      return;
    }
    if (session_.closed()) {
      pump();
      return;
    }
    session_.receive(std::string_view{read_buf_.data(), n});
    pump();
  }

  // -- writing ------------------------------------------------------------

  void do_write() {
    writing_ = true;
    ++write_gen_;
    write_timer_.expires_after(core_.opts.write_timeout);
    write_timer_.async_wait(
      [self = shared_from_this(), gen = write_gen_](error_code ec) {
        if (!ec && gen == self->write_gen_ && self->writing_)
          self->hard_close();
      });
    async_write_all([self = shared_from_this()](error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(error_code ec) {
    writing_ = false;
    ++write_gen_;
    write_timer_.cancel();
    if (closed_)
      return;
    if (ec) {
      hard_close();
      return;
    }
    out_.clear();
    if (final_) {
      start_linger();
      return;
    }
    pump();
  }

  // -- requests -----------------------------------------------------------

  /// Runs `f(conn)` on the connection's strand if it still exists and the
  /// server is not gone. Callable from any thread.
  template<class F>
  static void post_back(const std::weak_ptr<connection>& weak,
                        const std::shared_ptr<gate>& g, F f) {
    std::lock_guard<std::mutex> guard{g->mutex};
    if (!g->open)
      return;
    if (auto c = weak.lock()) {
      auto& ex = c->executor();
      net::post(ex, [c = std::move(c), f = std::move(f)]() mutable {
        c->requesting_ = false;
        if (!c->closed_)
          f(*c);
      });
    }
  }

  void start_request(request& r) {
    requesting_ = true;
    std::weak_ptr<connection> weak = shared_from_this();
    auto g = core_.listening.exit_gate();
    switch (r.kind) {
      case request_kind::check_recipient:
        call_backend([&] {
          core_.back.check_recipient(r.address, [weak, g](recipient_status s) {
            post_back(weak, g, [s = std::move(s)](connection& c) {
              c.session_.recipient_checked(s);
              c.pump();
            });
          });
        });
        break;
      case request_kind::authenticate:
        call_backend([&] {
          core_.back.authenticate(
            r.username, r.password, peer_.address, [weak, g](auth_status s) {
              post_back(weak, g, [s = std::move(s)](connection& c) {
                c.session_.authenticated(s);
                c.pump();
              });
            });
        });
        r.password.assign(r.password.size(), '\0');
        break;
      case request_kind::deliver:
        call_backend([&] {
          core_.back.deliver(
            std::move(r.message),
            [weak, g, m = core_.metrics](delivery_status s) {
              (s.ok ? m->delivered : m->failed)
                .fetch_add(1, std::memory_order_relaxed);
              post_back(weak, g, [s = std::move(s)](connection& c) {
                c.session_.delivered(s);
                c.pump();
              });
            });
        });
        break;
      case request_kind::start_tls:
        requesting_ = false;
        start_handshake();
        break;
      case request_kind::none:
        requesting_ = false;
        break;
    }
  }

  /// Calls the backend; an exception is answered like a failed request.
  template<class F>
  void call_backend(F f) {
    try {
      f();
    } catch (const std::exception& e) {
      log_line(std::string("backend threw: ") + e.what());
      fail_request();
    } catch (...) {
      log_line("backend threw a non-standard exception");
      fail_request();
    }
  }

  void fail_request() {
    requesting_ = false;
    auto* r = session_.pending();
    if (r == nullptr)
      return;
    switch (r->kind) {
      case request_kind::check_recipient:
        session_.recipient_checked({recipient_status::result::unavailable, {}});
        break;
      case request_kind::authenticate:
        session_.authenticated({auth_status::result::unavailable, {}});
        break;
      case request_kind::deliver:
        session_.delivered({false, "backend failed"});
        break;
      default:
        break;
    }
    net::post(strand_, [self = shared_from_this()] { self->pump(); });
  }

  void start_handshake() {
    if (!core_.opts.tls) {
      hard_close();
      return;
    }
    tls_
      = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *core_.opts.tls);
    handshaking_ = true;
    ++write_gen_;
    write_timer_.expires_after(core_.opts.write_timeout);
    write_timer_.async_wait(
      [self = shared_from_this(), gen = write_gen_](error_code ec) {
        if (!ec && gen == self->write_gen_ && self->handshaking_) {
          log_line(self->peer_.address + ": TLS handshake timed out");
          self->hard_close();
        }
      });
    tls_->async_handshake(
      ssl::stream_base::server, [self = shared_from_this()](error_code ec) {
        self->handshaking_ = false;
        ++self->write_gen_;
        self->write_timer_.cancel();
        if (self->closed_)
          return;
        if (ec) {
          log_line(self->peer_.address
                   + ": TLS handshake failed: " + ec.message());
          self->hard_close();
          return;
        }
        self->session_.tls_started();
        self->pump();
      });
  }

  // -- closing ------------------------------------------------------------

  void start_linger() {
    if (lingering_ || closed_)
      return;
    lingering_ = true;
    read_timer_.cancel();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    linger_timer_.expires_after(linger_timeout);
    linger_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec)
        self->hard_close();
    });
    if (!reading_)
      do_drain();
  }

  void continue_linger(error_code ec) {
    if (ec)
      hard_close();
    else
      do_drain();
  }

  void do_drain() {
    reading_ = true;
    // Plain socket reads: after a TLS session the bytes are discarded
    // undecrypted.
    socket_.async_read_some(
      net::buffer(read_buf_),
      [self = shared_from_this()](error_code ec, std::size_t) {
        self->reading_ = false;
        if (self->lingering_ && !self->closed_)
          self->continue_linger(ec);
      });
  }

  tcp::socket socket_;
  const executor_type strand_;
  core& core_;
  const std::uint64_t id_;
  session session_;
  peer_info peer_;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
  std::shared_ptr<connection> self_;

  std::array<char, std::size_t{16} * 1024> read_buf_{};
  std::string out_;

  net::steady_timer read_timer_;
  net::steady_timer write_timer_;
  net::steady_timer linger_timer_;
  std::uint64_t read_gen_ = 0;
  std::uint64_t write_gen_ = 0;

  bool reading_ = false;
  bool writing_ = false;
  bool handshaking_ = false;
  bool requesting_ = false;
  bool lingering_ = false;
  bool final_ = false; ///< close after the write in flight
  bool closed_ = false;
};

// -- core ---------------------------------------------------------------------

core::core(server_options o, backend& b)
  : opts(std::move(o)), back(b),
    listening({opts.host, opts.port, opts.threads, opts.max_connections,
               opts.shutdown_grace},
              log_line, [this](tcp::socket socket, std::uint64_t id) {
                return make_connection(std::move(socket), id);
              }) {
  opts.session.tls_available = opts.tls != nullptr;
  if (!opts.session.budget)
    opts.session.budget = std::make_shared<data_budget>(opts.data_budget);
}

std::shared_ptr<protocols::internal::connection>
core::make_connection(tcp::socket socket, std::uint64_t id) {
  // Every accepted connection counts, refused ones too (the listener has
  // already weighed it against max_connections).
  metrics->sessions.fetch_add(1, std::memory_order_relaxed);
  peer_info peer;
  error_code pec;
  auto ep = socket.remote_endpoint(pec);
  if (!pec) {
    auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
      a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    peer.address = a.to_string();
    peer.loopback = a.is_loopback();
  } else {
    peer.address = "unknown";
  }
  return std::make_shared<connection>(std::move(socket), *this, id, peer);
}

} // namespace

struct server::impl : core {
  using core::core;
};

server::server(server_options opts, backend& b)
  : impl_(std::make_unique<impl>(std::move(opts), b)) {}

server::~server() {
  stop();
}

bool server::start(std::string& err) {
  return impl_->listening.start(err);
}

std::uint16_t server::port() const noexcept {
  return impl_->listening.port();
}

std::size_t server::connections() const {
  return impl_->listening.connections();
}


void server::write_metrics(actors::prometheus_text& out) const {
  auto& m = *impl_->metrics;
  out.single("mantissa_smtp_sessions_total", "counter",
             "SMTP connections accepted",
             static_cast<double>(m.sessions.load(std::memory_order_relaxed)));
  out.single("mantissa_smtp_connections", "gauge",
             "SMTP connections open now",
             static_cast<double>(connections()));
  out.family("mantissa_smtp_deliveries_total", "counter",
             "Messages handed to the stores: accepted (ok) or refused");
  out.sample("mantissa_smtp_deliveries_total", {{"result", "ok"}},
             static_cast<double>(m.delivered.load(std::memory_order_relaxed)));
  out.sample("mantissa_smtp_deliveries_total", {{"result", "failed"}},
             static_cast<double>(m.failed.load(std::memory_order_relaxed)));
  if (auto& b = impl_->opts.session.budget) {
    out.single("mantissa_smtp_data_bytes", "gauge",
               "Bytes of message data the sessions hold now (their budget "
               "shares)",
               static_cast<double>(b->used()));
    out.single("mantissa_smtp_data_budget_bytes", "gauge",
               "The most message data the sessions may hold at once",
               static_cast<double>(b->limit()));
  }
}

void server::stop() {
  impl_->listening.stop();
}

} // namespace mantissa::smtp
