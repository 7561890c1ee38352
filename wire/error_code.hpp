#pragma once

#include <cstdint>

namespace mantissa::actors {

/// Errors of the actor layer: what a store actor, the node or a client can
/// answer instead of a reply. Sent over the wire as a `caf::error` of
/// category `mantissa` whose context holds a human-readable message.
enum class error_code : std::uint8_t {
  no_such_item = 1,   ///< the item does not exist (or is not visible)
  no_such_type,       ///< no item type of that name is declared
  no_such_store,      ///< no store has that address
  no_such_handler,    ///< no handler of that name is registered
  invalid_query,      ///< malformed query or JSON
  invalid_value,      ///< a value does not fit its attribute
  invalid_name,       ///< a malformed address, type or attribute name
  forbidden,          ///< the caller's role may not do this
  disallowed,         ///< a delete refused by a `disallow` reference
  in_use,             ///< still needed by something else
  already_exists,     ///< creating something that exists
  store_unavailable,  ///< the store cannot be reached or opened right now
  version_too_new,    ///< the store was written by a newer Mantissa
  no_upgrade_path,    ///< old items with no upgrader
  io_error,           ///< the disk failed
  timeout,            ///< no answer in time
  internal,           ///< a bug
  unauthorized,       ///< bad credentials, or no valid session
  busy,               ///< too much work queued; try again later
  // Final answers to reliable messages (docs/interstore.md):
  no_such_user,       ///< the target store does not exist
  no_such_share,      ///< the target has no such share for the sender
  handler_failed,     ///< the receiver's handler failed (rolled back)
  bad_sender,         ///< the message does not say who sent it truthfully
};

/// The name of an error code, e.g. "no_such_item".
[[nodiscard]] const char* to_string(error_code code) noexcept;

} // namespace mantissa::actors
