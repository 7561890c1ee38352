#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/response_promise.hpp>

#include "actors/handlers.hpp"
#include "actors/internal/store_actor/due_alarm.hpp"
#include "store/sharing.hpp"

namespace mantissa::actors::internal::store_parts {

/// Reliable messages and plain requests between stores
/// (docs/interstore.md): the outbox's progress, the deliveries in flight,
/// the acknowledgements, and the requesting handlers waiting for answers.
/// Used only by the owning store actor.
///
/// Invariants:
/// - messages up to `durable_seq` are durably queued and may be sent;
///   `durable_seq <= queued_seq` (the last seq seen committed).
/// - one delivery per target at a time: `in_flight` names the targets
///   whose delivery has not been answered.
/// - `acks` are answers handled in the open batch; they move to
///   `safe_acked` (what is durably handled per target, sent to the target
///   so that it can forget its records) once their commit is durable.
/// - `asks` holds each requesting handler's promise until its answer or
///   its failure; tokens come from `last_ask` and are never reused.
struct messaging_state {
  std::int64_t durable_seq = 0;
  std::int64_t queued_seq = 0; // last seq seen committed
  std::set<std::string> in_flight;
  // Requesting handlers waiting for the answer to a plain request.
  struct pending_ask {
    caf::response_promise rp;
    request_continuation then;
    int steps = 0;
  };
  std::map<std::uint64_t, pending_ask> asks;
  // What share checks of messages found, while the store's sharing
  // version stays `share_version` (messages come in batches of one sender
  // and share).
  std::map<std::pair<std::string, std::string>,
           std::optional<store::shared_item>>
    message_shares;
  std::uint64_t share_version = UINT64_MAX;
  std::uint64_t last_ask = 0;
  bool pumped = false; // the outbox was looked at since the store opened
  std::vector<std::pair<std::string, std::int64_t>> acks;
  std::unordered_map<std::string, std::int64_t> safe_acked;
  due_alarm outbox_alarm; // the pending outbox_atom for the next attempt
  std::int64_t outbox_counted = 0; // this store's part of outbox_depth
};

} // namespace mantissa::actors::internal::store_parts
