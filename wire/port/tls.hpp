#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <openssl/ssl.h>

#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/rw_state.hpp>

#include "wire/network_tls.hpp"

/// TLS for the node's network port, driven by CAF's I/O loop: the contexts
/// (mutual TLS against the site's CA) and the stream policy that reads and
/// writes through OpenSSL, or plain TCP when there is no TLS.
/// Internal to the port: included by its `.cpp` files only.
namespace mantissa::actors::port {

struct ssl_ctx_free {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct ssl_free {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using ssl_ctx_ptr = std::shared_ptr<SSL_CTX>;
using ssl_ptr = std::unique_ptr<SSL, ssl_free>;

/// Which end of a connection a context is for.
enum class tls_side { server, client };

/// A context for mutual TLS with the files of `tls`: this side presents its
/// certificate and requires one signed by the CA from the peer (TLS 1.2 or
/// later). A client also requires the server's certificate to be a node's
/// (extended key usage serverAuth), so a client certificate cannot pose as
/// a node. Null with a message in `err` when a file is unusable.
[[nodiscard]] ssl_ctx_ptr make_tls_context(const network_tls& tls,
                                           tls_side side, std::string& err);

/// OpenSSL's pending errors as one line (and clears them).
[[nodiscard]] std::string ssl_errors();

/// What the peer's verified certificate says.
struct peer_certificate {
  std::string name;   ///< its subject's common name
  bool node = false;  ///< a node's certificate (extended key usage serverAuth)
};

/// The peer's certificate after a completed handshake, when it was
/// verified against the CA; nullopt otherwise.
[[nodiscard]] std::optional<peer_certificate> verified_peer(SSL* ssl);

/// The stream policy of CAF's `stream_impl` for a port connection: plain
/// TCP without an SSL object, otherwise TLS through it. A server-side
/// policy runs the handshake on the first reads. Move-only; owns its SSL.
class port_policy {
 public:
  using native_socket = caf::io::network::native_socket;
  using rw_state = caf::io::network::rw_state;

  /// Plain TCP.
  port_policy() = default;
  /// TLS through `ssl` (already bound to the socket); `accepting`: the
  /// server's handshake is still to be run.
  port_policy(ssl_ptr ssl, bool accepting);

  port_policy(port_policy&&) noexcept = default;
  port_policy& operator=(port_policy&&) noexcept = default;

  rw_state read_some(std::size_t& result, native_socket fd, void* buf,
                     std::size_t len);
  rw_state write_some(std::size_t& result, native_socket fd, const void* buf,
                      std::size_t len);
  bool must_read_more(native_socket fd, std::size_t threshold);

  /// The SSL object (null for plain TCP).
  [[nodiscard]] SSL* ssl() const noexcept { return ssl_.get(); }
  /// True while the server's handshake has not completed.
  [[nodiscard]] bool accepting() const noexcept { return accepting_; }
  /// Bytes OpenSSL has decrypted and not handed out yet.
  [[nodiscard]] std::size_t pending() const noexcept;

 private:
  /// Runs the server handshake; false when it failed, `done` when finished.
  rw_state step_handshake();
  /// The TLS half of `read_some` and `write_some`: runs the server's
  /// handshake first, then moves up to `len` bytes with `io(n)` (SSL_read
  /// or SSL_write for at most n bytes).
  template <class Io>
  rw_state transfer(std::size_t& result, std::size_t len, Io io);

  ssl_ptr ssl_;
  bool accepting_ = false;
};

} // namespace mantissa::actors::port
