#include "protocols/tls/context.hpp"

#include <filesystem>
#include <system_error>

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace mantissa::tls {

namespace {

namespace ssl = boost::asio::ssl;

/// The OpenSSL error behind `ec` as text.
std::string openssl_reason(const boost::system::error_code& ec) {
  auto text = ec.message();
  return text.empty() ? std::string{"unknown TLS error"} : text;
}

bool readable_file(const std::string& path, const char* what,
                   std::string& err) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    err = std::string{what} + " " + path + ": no such file";
    return false;
  }
  if (!std::filesystem::is_regular_file(st)) {
    err = std::string{what} + " " + path + ": not a regular file";
    return false;
  }
  return true;
}

} // namespace

std::shared_ptr<ssl::context> make_server_context(const files& f,
                                                  std::string& err) {
  if (f.certificate.empty() || f.private_key.empty()) {
    err = f.certificate.empty()
            ? "a TLS private key was given without a certificate"
            : "a TLS certificate was given without its private key";
    return nullptr;
  }
  if (!readable_file(f.certificate, "TLS certificate", err)
      || !readable_file(f.private_key, "TLS private key", err))
    return nullptr;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                   | ssl::context::no_sslv3 | ssl::context::no_tlsv1
                   | ssl::context::no_tlsv1_1 | ssl::context::no_compression
                   | ssl::context::single_dh_use);
  auto* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION
                                | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(f.certificate, ec);
  if (ec) {
    err = "TLS certificate " + f.certificate
          + ": cannot load a PEM certificate chain (" + openssl_reason(ec)
          + ")";
    return nullptr;
  }
  ctx->use_private_key_file(f.private_key, ssl::context::pem, ec);
  if (ec) {
    err = "TLS private key " + f.private_key
          + ": cannot load a PEM private key (" + openssl_reason(ec) + ")";
    return nullptr;
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    err = "TLS private key " + f.private_key
          + " does not match the certificate " + f.certificate;
    return nullptr;
  }
  return ctx;
}

} // namespace mantissa::tls
