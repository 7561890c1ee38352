#pragma once

#include <filesystem>
#include <string>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace mantissa::actors {

/// Mutual TLS on a node's network port (`--listen`). A node configured with
/// these files accepts and opens only TLS connections whose peer presents a
/// certificate signed by `ca_file`: other nodes, custom actors and
/// `mantissa ... --connect` commands all need one (`mantissa cert issue`,
/// docs/cluster.md). The TLS handshake comes first on every connection,
/// before the login and before any byte of CAF's protocol
/// (docs/security.md, "The actor port"). A port on anything but a loopback
/// address speaks TLS unless started with `--insecure-listen`.
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

/// What a side of the port presents its certificate as.
enum class tls_role {
  node,    ///< serves the port (and connects to other nodes)
  client,  ///< only connects (custom actors, `--connect` commands)
};

/// Checks the files of `tls` (all three named and readable, the key
/// belongs to the certificate, the certificate is signed by the CA, and for
/// a node it is a node's certificate) and records them in `cfg`, so that
/// every connection the actor system made from it opens or accepts goes
/// through TLS with them. Call it before the actor system is made from
/// `cfg`. Returns false with a message in `err` when a file is unusable;
/// `cfg` is then unchanged.
[[nodiscard]] bool configure_network_tls(caf::actor_system_config& cfg,
                                         const network_tls& tls,
                                         std::string& err,
                                         tls_role role = tls_role::node);

/// True when `sys` was made from a config prepared by
/// `configure_network_tls`: its connections go through TLS.
[[nodiscard]] bool uses_network_tls(const caf::actor_system& sys);

/// The files recorded by `configure_network_tls` (none when it was not).
[[nodiscard]] network_tls network_tls_of(const caf::actor_system& sys);

} // namespace mantissa::actors
