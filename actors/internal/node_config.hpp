#pragma once

#include <string>

#include <caf/actor_system_config.hpp>

namespace mantissa::actors {
struct node_options;
} // namespace mantissa::actors

namespace mantissa::actors::internal {

/// The node's CAF configuration. It is never handed `argc/argv`, so CAF does
/// not read a `caf-application.ini` from the working directory: a node's
/// behaviour depends only on its command line and its site store.
class node_config : public caf::actor_system_config {
 public:
  explicit node_config(const node_options& opts);

  /// A setting of `caf_settings` that did not parse ("" if none).
  std::string bad_setting;
  /// Why the TLS files cannot be used ("" if they can or there are none).
  std::string tls_error;
};

} // namespace mantissa::actors::internal
