#pragma once

#include <filesystem>
#include <string>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace mantissa::actors {

/// Mutual TLS on a node's network port (`--listen`), through CAF's OpenSSL
/// module. A node configured with these files accepts and opens only TLS
/// connections whose peer presents a certificate signed by `ca_file`: other
/// nodes, custom actors and `mantissa ... --connect` commands all need one
/// (docs/cluster.md shows how to make them with `openssl`). Without them
/// the port speaks plain BASP, which authenticates nothing: keep it on
/// loopback or a private network.
struct network_tls {
  std::filesystem::path certificate; ///< this side's PEM certificate chain
  std::filesystem::path private_key; ///< its PEM private key
  std::filesystem::path ca_file;     ///< the cluster CA's PEM certificate(s)
  std::string passphrase;            ///< of an encrypted private key, or ""

  /// True when any file is named (then all three must be).
  [[nodiscard]] bool enabled() const noexcept {
    return !certificate.empty() || !private_key.empty() || !ca_file.empty();
  }
};

/// Checks the files of `tls` (all three named and readable, the key
/// belongs to the certificate, the certificate is signed by the CA) and
/// loads CAF's OpenSSL module into `cfg` with them. Call it after the
/// middleman is loaded and before the actor system is made from `cfg`.
/// Returns false with a message in `err` when a file is unusable; `cfg`
/// is then unchanged. (CAF's module would otherwise fail on the first
/// connection, inside its network thread.)
[[nodiscard]] bool configure_network_tls(caf::actor_system_config& cfg,
                                         const network_tls& tls,
                                         std::string& err);

/// True when `sys` was made from a config prepared by
/// `configure_network_tls`: its connections must go through CAF's OpenSSL
/// module.
[[nodiscard]] bool uses_network_tls(const caf::actor_system& sys);

} // namespace mantissa::actors
