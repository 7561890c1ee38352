#include "actors/network_tls.hpp"

#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/openssl/manager.hpp>

namespace mantissa::actors {

namespace {

/// OpenSSL's pending errors as one line (and clears them).
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

int passphrase_cb(char* buf, int size, int, void* user) {
  auto* p = static_cast<const std::string*>(user);
  if (size <= 0)
    return 0;
  auto n = std::min<std::size_t>(p->size(), static_cast<std::size_t>(size - 1));
  p->copy(buf, n);
  buf[n] = '\0';
  return static_cast<int>(n);
}

struct ctx_free {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct store_ctx_free {
  void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};

/// What CAF's OpenSSL module will do with the files on each connection,
/// once, here: load the chain, the key, the CA, and verify the chain.
bool check_files(const network_tls& tls, std::string& err) {
  if (tls.certificate.empty() || tls.private_key.empty() || tls.ca_file.empty()) {
    err = "TLS between nodes needs a certificate, its private key and the "
          "cluster CA file (all three)";
    return false;
  }
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, ctx_free> ctx{SSL_CTX_new(TLS_method())};
  if (!ctx) {
    err = "cannot create a TLS context: " + ssl_errors();
    return false;
  }
  auto cert = tls.certificate.string();
  auto key = tls.private_key.string();
  auto ca = tls.ca_file.string();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    err = "cannot load the certificate " + cert + ": " + ssl_errors();
    return false;
  }
  std::string pass = tls.passphrase;
  SSL_CTX_set_default_passwd_cb(ctx.get(), passphrase_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &pass);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM)
      != 1) {
    err = "cannot load the private key " + key + ": " + ssl_errors();
    return false;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    err = "the private key " + key + " does not belong to the certificate "
          + cert;
    return false;
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1) {
    err = "cannot load the CA file " + ca + ": " + ssl_errors();
    return false;
  }
  // The certificate must be one the other nodes will accept.
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> vctx{X509_STORE_CTX_new()};
  X509* leaf = SSL_CTX_get0_certificate(ctx.get());
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx.get(), &chain);
  if (!vctx || leaf == nullptr
      || X509_STORE_CTX_init(vctx.get(), SSL_CTX_get_cert_store(ctx.get()),
                             leaf, chain)
           != 1) {
    err = "cannot verify the certificate " + cert + ": " + ssl_errors();
    return false;
  }
  if (X509_verify_cert(vctx.get()) != 1) {
    err = "the certificate " + cert + " is not signed by the CA in " + ca
          + ": "
          + X509_verify_cert_error_string(
            X509_STORE_CTX_get_error(vctx.get()));
    return false;
  }
  return true;
}

} // namespace

bool configure_network_tls(caf::actor_system_config& cfg,
                           const network_tls& tls, std::string& err) {
  if (!check_files(tls, err))
    return false;
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = tls.certificate.string();
  cfg.openssl_key = tls.private_key.string();
  cfg.openssl_cafile = tls.ca_file.string();
  cfg.openssl_passphrase = tls.passphrase;
  return true;
}

bool uses_network_tls(const caf::actor_system& sys) {
  return sys.has_openssl_manager();
}

} // namespace mantissa::actors
