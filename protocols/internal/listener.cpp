#include "protocols/internal/listener.hpp"

#include <algorithm>
#include <exception>

#include <boost/asio/post.hpp>

namespace mantissa::protocols::internal {

namespace {

namespace net = boost::asio;
using error_code = boost::system::error_code;

/// Pause before accepting again after an accept error such as EMFILE, so the
/// listener does not spin.
constexpr std::chrono::milliseconds accept_retry_delay{50};

} // namespace

listener::listener(listener_options opts, log_fn log, factory make)
  : opts_(std::move(opts)), log_(log), make_(std::move(make)) {}

bool listener::start(std::string& err) {
  auto where = opts_.host + ":" + std::to_string(opts_.port) + ": ";
  if (state_ != state::idle) {
    err = where + "server was already started";
    return false;
  }
  error_code ec;
  tcp::resolver resolver{ioc_};
  auto results = resolver.resolve(
    opts_.host, std::to_string(opts_.port),
    tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    err = where + (ec ? ec.message() : std::string("no address"));
    return false;
  }
  auto endpoint = results.begin()->endpoint();
  auto fail = [&] {
    err = where + ec.message();
    error_code ignored;
    acceptor_.close(ignored);
    return false;
  };
  if (acceptor_.open(endpoint.protocol(), ec); ec)
    return fail();
  if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail();
  if (acceptor_.bind(endpoint, ec); ec)
    return fail();
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec)
    return fail();
  bound_port_ = acceptor_.local_endpoint(ec).port();
  if (ec)
    return fail();

  state_ = state::running;
  work_.emplace(ioc_.get_executor());
  net::post(accept_strand_, [this] { do_accept(); });
  auto n = std::max(1u, opts_.threads);
  threads_.reserve(n);
  for (unsigned i = 0; i < n; ++i)
    threads_.emplace_back([this] { run_thread(); });
  return true;
}

/// Runs the io_context until it stops; an exception that escapes a handler
/// is logged and the thread goes on serving.
void listener::run_thread() {
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      log_(std::string("uncaught exception in I/O thread: ") + e.what());
    } catch (...) {
      log_("uncaught exception in I/O thread");
    }
  }
}

std::size_t listener::connections() const {
  std::lock_guard<std::mutex> guard{count_mutex_};
  return open_connections_;
}

void listener::forget(std::uint64_t id) {
  std::lock_guard<std::mutex> guard{registry_mutex_};
  registry_.erase(id);
}

void listener::connection_closed() {
  {
    std::lock_guard<std::mutex> guard{count_mutex_};
    --open_connections_;
  }
  count_cv_.notify_all();
}

void listener::do_accept() {
  acceptor_.async_accept(net::make_strand(ioc_),
                         [this](error_code ec, tcp::socket socket) {
                           on_accept(ec, std::move(socket));
                         });
}

void listener::on_accept(error_code ec, tcp::socket socket) {
  if (!acceptor_.is_open() || ec == net::error::operation_aborted)
    return;
  if (ec) {
    log_("accept: " + ec.message());
    accept_retry_.expires_after(accept_retry_delay);
    accept_retry_.async_wait([this](error_code wait_ec) {
      if (!wait_ec && acceptor_.is_open())
        do_accept();
    });
    return;
  }
  // Beyond max_connections a connection is still accepted (so the client is
  // not left in the backlog) but only gets the protocol's refusal and is
  // closed; such connections count towards the limit while they are being
  // answered.
  bool reject;
  {
    std::lock_guard<std::mutex> guard{count_mutex_};
    reject = open_connections_ >= opts_.max_connections;
    ++open_connections_;
  }
  std::uint64_t id;
  {
    std::lock_guard<std::mutex> guard{registry_mutex_};
    id = next_id_++;
  }
  auto c = make_(std::move(socket), id);
  {
    std::lock_guard<std::mutex> guard{registry_mutex_};
    registry_.emplace(id, c);
  }
  c->start(reject);
  do_accept();
}

std::vector<std::shared_ptr<connection>> listener::snapshot() {
  std::vector<std::shared_ptr<connection>> result;
  std::lock_guard<std::mutex> guard{registry_mutex_};
  result.reserve(registry_.size());
  for (auto& [id, weak] : registry_)
    if (auto c = weak.lock())
      result.push_back(std::move(c));
  return result;
}

void listener::stop() {
  if (state_ != state::running) {
    state_ = state::stopped;
    return;
  }
  state_ = state::stopped;
  stopping_.store(true);

  net::post(accept_strand_, [this] {
    error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
  });
  for (auto& c : snapshot()) {
    auto& ex = c->executor();
    net::post(ex, [c] { c->begin_shutdown(); });
  }
  {
    std::unique_lock<std::mutex> lock{count_mutex_};
    count_cv_.wait_for(lock, opts_.shutdown_grace,
                       [this] { return open_connections_ == 0; });
  }

  // Grace is over: whatever is still open is cut off.
  work_.reset();
  ioc_.stop();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  {
    std::lock_guard<std::mutex> guard{gate_->mutex};
    gate_->open = false;
  }
  error_code ignored;
  acceptor_.close(ignored);
  // The Asio threads are gone, so strand-only members may be touched here.
  for (auto& c : snapshot())
    c->hard_close();
}

} // namespace mantissa::protocols::internal
