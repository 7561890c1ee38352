#include "actors/network_tls.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include "actors/port/tls.hpp"

namespace mantissa::actors {

namespace {

// Where `configure_network_tls` records the files in the configuration.
constexpr const char* cert_key = "mantissa.tls-certificate";
constexpr const char* key_key = "mantissa.tls-private-key";
constexpr const char* ca_key = "mantissa.tls-ca-file";
constexpr const char* pass_key = "mantissa.tls-passphrase";

} // namespace

bool configure_network_tls(caf::actor_system_config& cfg,
                           const network_tls& tls, std::string& err) {
  // Both contexts, as every connection will make them: a file that does
  // not fit fails here rather than on the first connection.
  if (!port::make_tls_context(tls, port::tls_side::server, err)
      || !port::make_tls_context(tls, port::tls_side::client, err))
    return false;
  cfg.set(cert_key, tls.certificate.string());
  cfg.set(key_key, tls.private_key.string());
  cfg.set(ca_key, tls.ca_file.string());
  cfg.set(pass_key, tls.passphrase);
  return true;
}

network_tls network_tls_of(const caf::actor_system& sys) {
  auto& c = sys.config();
  network_tls tls;
  tls.certificate = caf::get_or(c, cert_key, std::string{});
  tls.private_key = caf::get_or(c, key_key, std::string{});
  tls.ca_file = caf::get_or(c, ca_key, std::string{});
  tls.passphrase = caf::get_or(c, pass_key, std::string{});
  return tls;
}

bool uses_network_tls(const caf::actor_system& sys) {
  return network_tls_of(sys).enabled();
}

} // namespace mantissa::actors
