#pragma once

#include <functional>
#include <memory>
#include <string>

#include "protocols/smtp/session.hpp"
#include "store/error.hpp"

namespace mantissa::actors {
class node;
class handler_registry;
} // namespace mantissa::actors

namespace mantissa::smtp {

/// What the SMTP server asks of the node: where mail for an address goes,
/// who a client is, and storing a message. Each completion is called
/// exactly once, from any thread; it must not block.
class backend {
 public:
  virtual ~backend() = default;

  /// Whether `address` (lower case, in a local domain) is a mailbox:
  /// an enabled account with a mail-delivery powerup in its store.
  virtual void check_recipient(const std::string& address,
                               std::function<void(recipient_status)> done)
    = 0;
  /// Checks a password; `client` is the peer's IP address (for the
  /// slowing down of repeated failures).
  virtual void
  authenticate(const std::string& username, const std::string& password,
               const std::string& client, std::function<void(auth_status)> done)
    = 0;
  /// Stores `message` in the store of every recipient; `ok` only after
  /// every store committed it durably.
  virtual void deliver(delivery message,
                       std::function<void(delivery_status)> done)
    = 0;
};

/// The backend of a running node: recipients are looked up in the site
/// store (`smtp.recipient`, see `register_handlers`) and their stores'
/// mail-delivery powerups (`offerings::mail_delivery_interface`);
/// passwords go to `node::auth`; messages to the mail offering's deliver
/// handler (`offerings::mail::deliver_handler`) of each recipient's store
/// (one call per store, deduplicated there by `delivery_id`), run as
/// `system`.
/// `n` must outlive the backend and be started before it is used.
[[nodiscard]] std::unique_ptr<backend> make_node_backend(actors::node& n);

/// Adds `smtp.recipient` (site store, system role only):
/// `{"address": A}` -> `{"store": S}` where S is the address of the
/// enabled account reached by the login method A, or "" (unknown or
/// disabled, with `"reason"`). Call before the node starts.
[[nodiscard]] store::result<void>
register_handlers(actors::handler_registry& handlers);

} // namespace mantissa::smtp
