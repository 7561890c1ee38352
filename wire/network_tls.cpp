#include "wire/network_tls.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "wire/port/tls.hpp"

namespace mantissa::actors {

bool configure_network_tls(caf::actor_system_config& cfg,
                           const network_tls& tls, std::string& err,
                           tls_role role) {
  // The contexts every connection will make: a file that does not fit
  // fails here rather than on the first connection.
  if ((role == tls_role::node
       && !port::make_tls_context(tls, port::tls_side::server, err))
      || !port::make_tls_context(tls, port::tls_side::client, err))
    return false;
  // Kept in the fields CAF's configuration has for TLS (its OpenSSL module
  // is not loaded: the port runs TLS itself, wire/port/tls.hpp).
  cfg.openssl_certificate = tls.certificate.string();
  cfg.openssl_key = tls.private_key.string();
  cfg.openssl_cafile = tls.ca_file.string();
  cfg.openssl_passphrase = tls.passphrase;
  return true;
}

network_tls network_tls_of(const caf::actor_system& sys) {
  auto& c = sys.config();
  network_tls tls;
  tls.certificate = c.openssl_certificate;
  tls.private_key = c.openssl_key;
  tls.ca_file = c.openssl_cafile;
  tls.passphrase = c.openssl_passphrase;
  return tls;
}

bool uses_network_tls(const caf::actor_system& sys) {
  return network_tls_of(sys).enabled();
}

} // namespace mantissa::actors
