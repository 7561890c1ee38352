#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/handlers.hpp"
#include "store/error.hpp"
#include "store/store.hpp"

/// Reliable interstore messages (docs/interstore.md): what handlers and
/// scheduled items call to send one, and the handlers clients use.
namespace mantissa::actors {

/// Queues a reliable message from `s` to the store `target` ("site",
/// "user@domain" or an offering name), for the item it shares as
/// `share_id` ("" = its default share), in the transaction in progress: it
/// is sent once that transaction is durable, and nothing is sent if it
/// rolls back. Returns the message's id (increasing per sending store).
/// `invalid_name` for a malformed target or type.
[[nodiscard]] store::result<std::int64_t>
send_message(store::store& s, const std::string& target,
             const std::string& share_id, const std::string& type,
             const nlohmann::json& payload);

/// Adds `mantissa.send` `{target, share?, type, payload}` → `{"id": N}`
/// (queues a message from the store it runs in), `mantissa.ask` (the same
/// as a plain request, answered `{"value": V}` or `{"error": {code,
/// message}}`) and `mantissa.outbox` `{limit?}` →
/// `{"messages":[{id, target, share, type, answered}]}`.
[[nodiscard]] store::result<void>
register_message_handlers(handler_registry& handlers);

} // namespace mantissa::actors
