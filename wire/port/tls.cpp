#include "wire/port/tls.hpp"

#include <algorithm>
#include <climits>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <caf/policy/tcp.hpp>

namespace mantissa::actors::port {

namespace {

int passphrase_cb(char* buf, int size, int, void* user) {
  auto* p = static_cast<const std::string*>(user);
  if (size <= 0)
    return 0;
  auto n = std::min<std::size_t>(p->size(), static_cast<std::size_t>(size - 1));
  p->copy(buf, n);
  buf[n] = '\0';
  return static_cast<int>(n);
}

struct store_ctx_free {
  void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};

bool is_node_certificate(X509* cert) {
  // X509_get_extended_key_usage computes the cached extensions first.
  return (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0
         && (X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) != 0;
}

/// A client accepts only a node's certificate from the server.
int verify_server(int ok, X509_STORE_CTX* ctx) {
  if (ok != 1)
    return ok;
  if (X509_STORE_CTX_get_error_depth(ctx) != 0)
    return ok;
  auto* cert = X509_STORE_CTX_get_current_cert(ctx);
  if (cert == nullptr || !is_node_certificate(cert)) {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_INVALID_PURPOSE);
    return 0;
  }
  return 1;
}

} // namespace

std::string ssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? std::string{"unknown OpenSSL error"} : out;
}

ssl_ctx_ptr make_tls_context(const network_tls& tls, tls_side side,
                             std::string& err) {
  if (tls.certificate.empty() || tls.private_key.empty()
      || tls.ca_file.empty()) {
    err = "TLS on the network port needs a certificate, its private key and "
          "the site's CA file (all three)";
    return nullptr;
  }
  ERR_clear_error();
  ssl_ctx_ptr ctx{SSL_CTX_new(side == tls_side::server ? TLS_server_method()
                                                       : TLS_client_method()),
                  ssl_ctx_free{}};
  if (!ctx) {
    err = "cannot create a TLS context: " + ssl_errors();
    return nullptr;
  }
  auto* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  auto cert = tls.certificate.string();
  auto key = tls.private_key.string();
  auto ca = tls.ca_file.string();
  if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1) {
    err = "cannot load the certificate " + cert + ": " + ssl_errors();
    return nullptr;
  }
  std::string pass = tls.passphrase;
  SSL_CTX_set_default_passwd_cb(c, passphrase_cb);
  SSL_CTX_set_default_passwd_cb_userdata(c, &pass);
  bool key_ok
    = SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) == 1;
  // The passphrase lives on this stack frame only.
  SSL_CTX_set_default_passwd_cb(c, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(c, nullptr);
  if (!key_ok) {
    err = "cannot load the private key " + key + ": " + ssl_errors();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    err = "the private key " + key + " does not belong to the certificate "
          + cert;
    return nullptr;
  }
  if (SSL_CTX_load_verify_locations(c, ca.c_str(), nullptr) != 1) {
    err = "cannot load the CA file " + ca + ": " + ssl_errors();
    return nullptr;
  }
  // The certificate must be one the peers will accept.
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> vctx{X509_STORE_CTX_new()};
  X509* leaf = SSL_CTX_get0_certificate(c);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(c, &chain);
  if (!vctx || leaf == nullptr
      || X509_STORE_CTX_init(vctx.get(), SSL_CTX_get_cert_store(c), leaf,
                             chain)
           != 1) {
    err = "cannot verify the certificate " + cert + ": " + ssl_errors();
    return nullptr;
  }
  if (X509_verify_cert(vctx.get()) != 1) {
    err = "the certificate " + cert + " is not signed by the CA in " + ca
          + ": "
          + X509_verify_cert_error_string(
            X509_STORE_CTX_get_error(vctx.get()));
    return nullptr;
  }
  if (side == tls_side::server && !is_node_certificate(leaf)) {
    err = "the certificate " + cert
          + " is not a node's (issue one with `mantissa cert issue NAME "
            "--node`)";
    return nullptr;
  }
  if (side == tls_side::server)
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  else
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verify_server);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE
                        | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One handshake per connection; no resumption state kept.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  return ctx;
}

std::optional<peer_certificate> verified_peer(SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK)
    return std::nullopt;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr)
    return std::nullopt;
  peer_certificate out;
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
                                cn, sizeof cn)
      > 0)
    out.name = cn;
  out.node = is_node_certificate(cert);
  return out;
}

// -- port_policy --------------------------------------------------------------

port_policy::port_policy(ssl_ptr ssl, bool accepting)
  : ssl_(std::move(ssl)), accepting_(accepting) {
}

std::size_t port_policy::pending() const noexcept {
  if (!ssl_)
    return 0;
  auto n = SSL_pending(ssl_.get());
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

port_policy::rw_state port_policy::step_handshake() {
  auto res = SSL_accept(ssl_.get());
  if (res == 1) {
    accepting_ = false;
    return rw_state::success;
  }
  switch (SSL_get_error(ssl_.get(), res)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return rw_state::indeterminate;
    default:
      ERR_clear_error();
      return rw_state::failure;
  }
}

template <class Io>
port_policy::rw_state port_policy::transfer(std::size_t& result,
                                            std::size_t len, Io io) {
  result = 0;
  if (accepting_) {
    auto st = step_handshake();
    if (st == rw_state::failure)
      return st;
    if (accepting_)
      return rw_state::success;  // wait for the peer's next flight
  }
  if (len == 0)
    return rw_state::indeterminate;
  auto n = io(static_cast<int>(std::min<std::size_t>(len, INT_MAX)));
  if (n > 0) {
    result = static_cast<std::size_t>(n);
    return rw_state::success;
  }
  switch (SSL_get_error(ssl_.get(), n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return rw_state::success;  // nothing yet; poll again
    default:
      // Closed by the peer (close_notify or EOF) or broken.
      ERR_clear_error();
      return rw_state::failure;
  }
}

port_policy::rw_state port_policy::read_some(std::size_t& result,
                                             native_socket fd, void* buf,
                                             std::size_t len) {
  if (!ssl_)
    return caf::policy::tcp::read_some(result, fd, buf, len);
  return transfer(result, len,
                  [&](int n) { return SSL_read(ssl_.get(), buf, n); });
}

port_policy::rw_state port_policy::write_some(std::size_t& result,
                                              native_socket fd,
                                              const void* buf,
                                              std::size_t len) {
  if (!ssl_)
    return caf::policy::tcp::write_some(result, fd, buf, len);
  return transfer(result, len,
                  [&](int n) { return SSL_write(ssl_.get(), buf, n); });
}

bool port_policy::must_read_more(native_socket, std::size_t threshold) {
  auto n = pending();
  return n > 0 && n >= threshold;
}

} // namespace mantissa::actors::port
