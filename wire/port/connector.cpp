#include "wire/port/connector.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>

#include <nlohmann/json.hpp>

#include "wire/errors.hpp"
#include "wire/port/scribe.hpp"
#include "wire/port/tls.hpp"

namespace mantissa::actors::port {

namespace {

using clock_type = std::chrono::steady_clock;

/// A socket that closes itself unless released.
struct socket_guard {
  int fd = -1;
  ~socket_guard() {
    if (fd >= 0)
      ::close(fd);
  }
  int release() {
    auto x = fd;
    fd = -1;
    return x;
  }
};

caf::error unavailable(const std::string& where, const std::string& why) {
  return make_error(error_code::store_unavailable,
                    "cannot reach the node at " + where + ": " + why);
}

int remaining_ms(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - clock_type::now())
                .count();
  return left > 0 ? static_cast<int>(left) : 0;
}

void set_timeouts(int fd, int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/// Connects to the first address of `host` that answers, within the
/// deadline. The socket is blocking on return.
caf::expected<int> open_tcp(const std::string& host, std::uint16_t port,
                            clock_type::time_point deadline,
                            const std::string& where) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return unavailable(where, ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list{res,
                                                            ::freeaddrinfo};
  std::string last = "no address";
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    socket_guard s{::socket(ai->ai_family,
                            ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                            ai->ai_protocol)};
    if (s.fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    if (::connect(s.fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = std::strerror(errno);
        continue;
      }
      pollfd p{s.fd, POLLOUT, 0};
      int n = ::poll(&p, 1, remaining_ms(deadline));
      if (n <= 0) {
        last = n == 0 ? "timed out" : std::strerror(errno);
        continue;
      }
      int soerr = 0;
      socklen_t len = sizeof soerr;
      ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
      if (soerr != 0) {
        last = std::strerror(soerr);
        continue;
      }
    }
    int flags = 1;
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
    // Blocking, with the deadline as timeouts, for the login.
    int fl = ::fcntl(s.fd, F_GETFL, 0);
    ::fcntl(s.fd, F_SETFL, fl & ~O_NONBLOCK);
    set_timeouts(s.fd, std::max(1, remaining_ms(deadline)));
    return s.release();
  }
  return unavailable(where, last);
}

/// Writes all of `data` through TLS or the socket.
bool write_all(int fd, SSL* ssl, const char* data, std::size_t n) {
  while (n > 0) {
    long k = ssl != nullptr ? SSL_write(ssl, data, static_cast<int>(n))
                            : ::send(fd, data, n, MSG_NOSIGNAL);
    if (k <= 0) {
      if (ssl == nullptr && k < 0 && errno == EINTR)
        continue;
      return false;
    }
    data += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

/// Reads exactly `n` bytes (no more: what follows belongs to CAF).
bool read_exactly(int fd, SSL* ssl, char* out, std::size_t n) {
  while (n > 0) {
    long k = ssl != nullptr ? SSL_read(ssl, out, static_cast<int>(n))
                            : ::recv(fd, out, n, 0);
    if (k <= 0) {
      if (ssl == nullptr && k < 0 && errno == EINTR)
        continue;
      return false;
    }
    out += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

struct dialed {
  int fd = -1;
  ssl_ptr ssl;
  std::string role;
  std::string capability;
};

/// Connects, runs TLS when configured, and logs in. Blocks.
caf::expected<dialed> dial(caf::actor_system& sys, const std::string& host,
                           std::uint16_t port, const login_request& req,
                           std::chrono::milliseconds timeout) {
  auto where = host + ":" + std::to_string(port);
  auto deadline = clock_type::now() + timeout;
  auto bytes = encode_request(req);
  if (!bytes)
    return make_error(error_code::invalid_value,
                      "the user name or the secret is too long");
  auto tcp = open_tcp(host, port, deadline, where);
  if (!tcp)
    return std::move(tcp.error());
  socket_guard sock{*tcp};
  ssl_ptr ssl;
  if (uses_network_tls(sys)) {
    std::string err;
    auto ctx = make_tls_context(network_tls_of(sys), tls_side::client, err);
    if (!ctx)
      return make_error(error_code::invalid_value, err);
    ssl.reset(SSL_new(ctx.get()));
    if (!ssl || SSL_set_fd(ssl.get(), sock.fd) != 1)
      return unavailable(where, "cannot set up TLS: " + ssl_errors());
    if (SSL_connect(ssl.get()) != 1) {
      auto why = ssl_errors();
      auto vr = SSL_get_verify_result(ssl.get());
      if (vr != X509_V_OK)
        why = std::string{"its certificate was refused: "}
              + X509_verify_cert_error_string(vr);
      return unavailable(where, "TLS handshake failed: " + why);
    }
  }
  if (!write_all(sock.fd, ssl.get(), bytes->data(), bytes->size()))
    return unavailable(where, "the connection closed during the login");
  char head[answer_head_size];
  if (!read_exactly(sock.fd, ssl.get(), head, sizeof head))
    return unavailable(where,
                       remaining_ms(deadline) == 0
                         ? "no answer to the login in time"
                         : "the connection closed during the login (is it a "
                           "Mantissa node's port, and does it want TLS?)");
  auto n = answer_body_size(head);
  if (!n)
    return unavailable(where, "it does not speak Mantissa's port protocol");
  std::string body(*n, '\0');
  if (*n > 0 && !read_exactly(sock.fd, ssl.get(), body.data(), *n))
    return unavailable(where, "the connection closed during the login");
  auto answer = decode_answer(head, body);
  if (!answer)
    return unavailable(where, "it does not speak Mantissa's port protocol");
  if (answer->status != 0) {
    auto code = static_cast<error_code>(answer->status);
    if (answer->status > static_cast<std::uint8_t>(error_code::bad_sender))
      code = error_code::internal;
    return make_error(code, std::move(answer->body));
  }
  auto j = nlohmann::json::parse(answer->body, nullptr, false);
  if (!j.is_object() || !j.contains("capability") || !j.contains("role"))
    return unavailable(where, "it sent a malformed login answer");
  dialed out;
  out.role = j.value("role", std::string{});
  out.capability = j.value("capability", std::string{});
  set_timeouts(sock.fd, 0);
  out.ssl = std::move(ssl);
  out.fd = sock.release();
  return out;
}

// (`unused`: CAF 0.17 dereferences a null pointer when a spawned function
// takes no argument besides its actor.)
caf::behavior dialer(caf::event_based_actor* self, bool /* unused */) {
  return {
    [self](dial_atom, const std::string& host, std::uint16_t port,
           std::uint8_t kind, const std::string& user,
           const std::string& secret,
           std::uint32_t timeout_ms) -> caf::result<caf::actor, std::string,
                                                     std::string> {
      // One dial per dialer.
      auto done = [self] { self->quit(); };
      std::chrono::milliseconds timeout{timeout_ms};
      login_request req{static_cast<login_kind>(kind), user, secret};
      auto d = dial(self->system(), host, port, req, timeout);
      if (!d) {
        done();
        return std::move(d.error());
      }
      auto& mm = self->system().middleman();
      auto& mpx
        = static_cast<caf::io::network::default_multiplexer&>(mm.backend());
      port_policy policy;
      if (d->ssl)
        policy = port_policy{std::move(d->ssl), false};
      caf::io::scribe_ptr scribe
        = caf::make_counted<port_scribe>(mpx, d->fd, std::move(policy));
      auto broker = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
      auto rp = self->make_response_promise<caf::actor, std::string,
                                            std::string>();
      auto where = host + ":" + std::to_string(port);
      self
        ->request(broker, timeout, caf::connect_atom::value, std::move(scribe),
                  port)
        .then(
          [rp, done, where, role = std::move(d->role),
           cap = std::move(d->capability)](caf::node_id&,
                                           caf::strong_actor_ptr& session,
                                           std::set<std::string>&) mutable {
            if (!session)
              rp.deliver(unavailable(where, "it named no session"));
            else
              rp.deliver(caf::actor_cast<caf::actor>(std::move(session)),
                         std::move(role), std::move(cap));
            done();
          },
          [rp, done, where](caf::error& err) mutable {
            rp.deliver(unavailable(where, "CAF's handshake failed: "
                                            + to_string(err)));
            done();
          });
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_dialer(caf::actor_system& sys) {
  return sys.spawn<caf::detached + caf::hidden>(dialer, true);
}

} // namespace mantissa::actors::port
