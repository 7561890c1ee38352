#pragma once

#include <memory>
#include <string>

// Only a declaration here: <boost/asio/ssl.hpp> stays in .cpp files.
namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

/// TLS for the network front ends (HTTP, SMTP's STARTTLS): one server
/// context built from a certificate chain and a private key in PEM files.
namespace mantissa::tls {

/// Where the certificate and key come from. Both empty: no TLS.
struct files {
  std::string certificate; ///< PEM: the server certificate, then its chain
  std::string private_key; ///< PEM: the key of that certificate

  [[nodiscard]] bool enabled() const noexcept {
    return !certificate.empty() || !private_key.empty();
  }
};

/// A server context for TLS 1.2 and 1.3 only (no SSLv2/3, TLS 1.0/1.1,
/// compression or renegotiation), with the chain and key of `f`, the key
/// checked against the certificate. On failure returns null and sets `err`
/// to a message naming the file and the problem (missing file, not PEM,
/// key does not match the certificate, only one of the two given).
[[nodiscard]] std::shared_ptr<boost::asio::ssl::context>
make_server_context(const files& f, std::string& err);

} // namespace mantissa::tls
