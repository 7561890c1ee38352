#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "offerings/offering.hpp"
#include "store/typed.hpp"

/// The built-in `mail` offering: messages delivered into a user store
/// through its mail-delivery powerup (`mail.inbox`, product `mail`). The
/// SMTP front end (M7) delivers with the `mail.deliver` handler; see
/// docs/offerings.md.
namespace mantissa::offerings::mail {

/// One delivered message (`mail.message`). `raw` holds the message exactly
/// as received; the header fields are parsed from it for display and
/// search. `delivery_id` is the deliverer's id of this delivery: a second
/// delivery with the same id is the same message.
struct message {
  store::item_id id = 0;
  std::string sender; ///< envelope sender (may be empty: a bounce)
  nlohmann::json recipients = nlohmann::json::array(); ///< envelope
  std::string subject;
  std::string from_header;
  std::string to_header;
  std::string message_id;
  std::string date_header;
  store::timestamp received;
  std::int64_t size = 0; ///< bytes of `raw`
  store::blob raw;
  bool read = false;
  std::string delivery_id;
};

/// A piece of the raw bytes of a message larger than `raw_chunk_size`
/// (`mail.raw_chunk`): such a message keeps `raw` empty and its bytes in
/// chunks `seq` 0, 1, ... of `raw_chunk_size` bytes (the last shorter),
/// deleted with it. No value, message or JSON string ever holds a whole
/// large message.
struct raw_chunk {
  store::item_id id = 0;
  std::optional<store::reference> message;
  std::int64_t seq = 0;
  store::blob data;
};

/// Bytes per chunk of a message's raw bytes; messages up to this size keep
/// them inline in `raw`.
inline constexpr std::size_t raw_chunk_size = std::size_t{1} << 20;

/// The mail-delivery powerup (`mail.inbox`), installed under
/// `mail_delivery`: a store without one refuses deliveries.
struct inbox {
  store::item_id id = 0;
  std::string name = "inbox";
};

/// The name of the handler that stores a delivered message (registered
/// plain and with a payload): what the SMTP front end runs in each
/// recipient's store, which has the delivery powerup under
/// `mail_delivery_interface`.
inline constexpr std::string_view deliver_handler = "mail.deliver";

/// Longest accepted delivery id, in bytes.
inline constexpr std::size_t max_delivery_id_size = 256;
/// Longest header value kept (longer ones are cut at a character
/// boundary), in bytes.
inline constexpr std::size_t max_header_size = 8192;

[[nodiscard]] const store::item_type<message>& message_item_type();
[[nodiscard]] const store::item_type<inbox>& inbox_item_type();
[[nodiscard]] const store::item_type<raw_chunk>& raw_chunk_item_type();

/// `mail.deliver` with the message's bytes beside its arguments (a payload
/// handler, `actors::handler_registry::add_payload`): args
/// `{"delivery_id","sender","recipients"}`; answers as `mail.deliver`.
/// The SMTP front end delivers this way (the bytes are shared by every
/// local recipient store, and stored once per store in chunks).
[[nodiscard]] store::result<nlohmann::json>
deliver_payload(store::store& s, const nlohmann::json& args,
                std::string_view raw, const actors::caller& who);

/// Reads `length` bytes of message `id`'s raw bytes from `offset` (both
/// clamped to the message) into `out`; returns the message's size.
[[nodiscard]] store::result<std::int64_t>
read_raw(store::store& s, store::item_id id, std::int64_t offset,
         std::int64_t length, std::string& out);

/// The header fields `mail.deliver` keeps.
struct headers {
  std::string subject;
  std::string from;
  std::string to;
  std::string date;
  std::string message_id;
};

/// Parses the RFC 5322 header block of `raw` (up to the first empty line;
/// lines end in CRLF or LF): header names match case-insensitively, the
/// first occurrence of a field wins, continuation lines are unfolded (the
/// line break removed, the white space kept) and values trimmed. Lines
/// without a colon are skipped. Values are made valid UTF-8 (invalid
/// bytes and NUL become U+FFFD) and cut to `max_header_size`; encoded
/// words (RFC 2047) are kept as they are. Never fails.
[[nodiscard]] headers parse_headers(std::string_view raw);

/// The offering: types `mail.message` and `mail.inbox`, installable
/// powerup `inbox` (the delivery powerup), product `mail`, handlers
/// `mail.deliver`, `mail.list`, `mail.get`, `mail.mark_read`, share
/// interfaces `read`, `write`, `delete` on `mail.message`.
[[nodiscard]] offering make_offering();

} // namespace mantissa::offerings::mail
