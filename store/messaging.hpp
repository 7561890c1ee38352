#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"
#include "store/store.hpp"
#include "store/value.hpp"

/// The rows behind reliable interstore messages (docs/interstore.md): the
/// sender's outbox, the per-target delivery state and the receiver's record
/// of what it processed. Queuing is a write of the sender's transaction, so
/// a rolled-back sender sends nothing; the record commits with the
/// handler's effect, so a message is processed once. Delivery itself is the
/// node's work (actors/internal/store_actor/).
///
/// Thread rule: as `store` — only the owner of the store calls these.
namespace mantissa::store {

/// A message waiting in the outbox. `seq` grows per sender store and is
/// never reused; it is the message's id towards the target.
struct outgoing {
  std::int64_t seq = 0;
  std::string target;   ///< the target store's address
  std::string share_id; ///< the share of the target that receives it
  std::string type;     ///< message type (names the handlers)
  std::string payload;  ///< JSON text
  timestamp queued;
  /// The answer (JSON text), kept when the consequence failed.
  std::optional<std::string> answer;
};

/// The largest payload a message may carry (JSON text).
inline constexpr std::size_t max_payload_size = 1024 * 1024;

/// Queues a message in the transaction in progress (or one of its own).
/// `payload` must be JSON text of at most `max_payload_size` bytes (else
/// `invalid_value`); `type` and `target` must not be empty.
[[nodiscard]] result<std::int64_t>
queue_message(store& s, std::string_view target, std::string_view share_id,
              std::string_view type, std::string_view payload, timestamp now);

/// Messages to `target` not yet answered, oldest first, with `seq` at most
/// `max_seq`, at most `limit`.
[[nodiscard]] result<std::vector<outgoing>>
unanswered(store& s, std::string_view target, std::int64_t max_seq,
           std::size_t limit);

/// How many messages of the outbox wait for their answer.
[[nodiscard]] result<std::int64_t> unanswered_count(store& s);

/// Whether any message to `target` is unanswered.
[[nodiscard]] result<bool> has_unanswered(store& s, std::string_view target);

/// The outbox, oldest first, at most `limit` rows (answered ones too).
[[nodiscard]] result<std::vector<outgoing>> outbox(store& s,
                                                   std::size_t limit);

/// One outbox row, or nullopt when it is gone (its answer was handled).
[[nodiscard]] result<std::optional<outgoing>> find_outgoing(store& s,
                                                            std::int64_t seq);

/// Removes a row whose answer was handled.
[[nodiscard]] result<void> remove_outgoing(store& s, std::int64_t seq);

/// Keeps `answer` on the row (its consequence failed) to retry at `retry`.
[[nodiscard]] result<void> keep_answer(store& s, std::int64_t seq,
                                       std::string_view answer,
                                       timestamp retry);

/// Rows with a kept answer whose retry time is at most `now`.
[[nodiscard]] result<std::vector<outgoing>> answers_due(store& s,
                                                        timestamp now,
                                                        std::size_t limit);

/// The delivery state of one target.
struct target_state {
  std::string target;
  std::optional<timestamp> next_attempt; ///< nullopt: nothing to deliver
  std::int64_t attempts = 0; ///< transport failures in a row
  std::int64_t acked = 0;    ///< answers up to this seq are handled
};

/// Every target with something to deliver (next_attempt set).
[[nodiscard]] result<std::vector<target_state>> active_targets(store& s);
/// The state of `target` (a fresh one when it has none).
[[nodiscard]] result<target_state> get_target(store& s,
                                              std::string_view target);
/// Writes the state of one target.
[[nodiscard]] result<void> put_target(store& s, const target_state& t);

/// The highest seq ever queued (0: none).
[[nodiscard]] result<std::int64_t> last_queued(store& s);

/// When the node must wake this store for its outbox (a delivery attempt
/// or a consequence retry); nullopt: never.
[[nodiscard]] result<std::optional<timestamp>> outbox_due(store& s);

// -- the receiver's record -----------------------------------------------------

/// The answer recorded for (sender, seq), if the message was processed.
[[nodiscard]] result<std::optional<std::string>>
find_received(store& s, std::string_view sender, std::int64_t seq);

/// Records the answer to (sender, seq).
[[nodiscard]] result<void> record_received(store& s, std::string_view sender,
                                           std::int64_t seq,
                                           std::string_view answer);

/// Drops the records of `sender` up to `seq`: the sender has handled
/// their answers and will not ask again. Returns how many went.
[[nodiscard]] result<std::int64_t>
forget_received(store& s, std::string_view sender, std::int64_t seq);

/// Records kept for `sender` (for tests and statistics).
[[nodiscard]] result<std::int64_t> received_count(store& s,
                                                  std::string_view sender);

} // namespace mantissa::store
