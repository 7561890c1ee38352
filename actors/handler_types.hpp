#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "store/error.hpp"
#include "store/item.hpp"
#include "wire/caller.hpp"

/// What an offering hands a node to run inside its store actors: the
/// handler, runnable and message-handling function types. Included by the
/// offering API (offerings/offering.hpp) and so by plugins: it names a
/// store only by reference and pulls in neither CAF nor SQLite; a handler's
/// body includes store/store.hpp for the store's operations.
namespace mantissa::store {
class store;
} // namespace mantissa::store

namespace mantissa::actors {

/// A named operation that runs inside a store actor, on the store it owns,
/// in the actor's current transaction (its effect is durable when the reply
/// arrives). Offerings register handlers; clients invoke them with
/// `(run_atom, caller, name, args json)`.
using store_handler = std::function<store::result<nlohmann::json>(
  store::store& s, const nlohmann::json& args, const caller& who)>;

/// A handler that also takes bytes sent beside its JSON arguments
/// (`(run_atom, caller, name, args, shared_bytes)`): large values such as
/// a mail message do not travel inside JSON. The payload lives until the
/// handler returns.
using payload_handler = std::function<store::result<nlohmann::json>(
  store::store& s, const nlohmann::json& args, std::string_view payload,
  const caller& who)>;

/// What a scheduled item does when its time comes (store/scheduler.hpp):
/// runs inside the store actor in a savepoint of its own and returns when
/// to run again, or nullopt when it is done. `now` is the time of the run.
using runnable = std::function<
  store::result<std::optional<store::timestamp>>(
    store::store& s, const store::item_ref& item, store::timestamp now)>;

/// Handles a failed run after the run's writes were undone, in a savepoint
/// of its own: returns when to run again, or nullopt to drop the event.
using run_error_handler = std::function<std::optional<store::timestamp>(
  store::store& s, const store::item_ref& item, const store::error& err)>;

/// The scheduling behaviour of an item type. `on_error` may be empty: a
/// failed run is then logged and its event dropped.
struct runnable_type {
  runnable run;
  run_error_handler on_error;
};

/// A reliable message as its receiver sees it (docs/interstore.md).
struct incoming_message {
  std::string sender;      ///< the sending store's address
  std::string sender_role; ///< the role the share was checked for
  std::int64_t id = 0;     ///< per sender, increasing in sending order
  std::string type;
  std::string share_id;
  store::item_ref item;    ///< the shared item that receives it
  nlohmann::json payload;
};

/// A reliable message as its sender sees it when the answer comes back.
struct outgoing_message {
  std::int64_t id = 0;
  std::string target;
  std::string share_id;
  std::string type;
  nlohmann::json payload;
};

/// The answer to a reliable message: the receiver's value, or a final
/// error (`code` is one of wire/error_code.hpp's names, e.g.
/// "no_such_user", "no_such_share", "handler_failed", "bad_sender").
struct message_answer {
  bool ok = false;
  nlohmann::json value;
  std::string code;
  std::string message;
};

/// Processes a message in the receiving store, in a savepoint of the
/// receiver's transaction together with the record that it was processed:
/// its value is the answer; an error (or exception) undoes its writes and
/// answers `handler_failed`.
using message_receiver = std::function<store::result<nlohmann::json>(
  store::store& s, const incoming_message& m)>;

/// Handles the answer in the sending store, once, in a savepoint of its
/// own; the outbox row goes with it. An error undoes its writes and keeps
/// the answer, to run the consequence again later.
using message_consequence = std::function<store::result<void>(
  store::store& s, const outgoing_message& m, const message_answer& a)>;

/// What a node does with messages of one type. Either part may be empty on
/// a node that only sends (no `receive`: `handler_failed`) or only
/// receives (no `consequence`: the answer is dropped).
struct message_type {
  message_receiver receive;
  message_consequence consequence;
};

/// A plain (volatile) interstore request: the message `type` with
/// `payload`, for the item `target` shares as `share_id`, processed by the
/// target's receiver for that type like a reliable message but at most
/// once and without a record: if the answer is lost on the way, the
/// sender gets a timeout and cannot know whether it was processed.
struct plain_request {
  std::string target;   ///< "site", "user@domain" or an offering name
  std::string share_id; ///< "" = the target's default share
  std::string type;
  nlohmann::json payload;
};

struct handler_step;

/// Runs in the requesting store, in a savepoint of its own, when the
/// answer to a plain request comes (a final error or a timeout is an
/// answer too, with `ok` false and `code` "timeout", "no_such_user", …).
using request_continuation = std::function<store::result<handler_step>(
  store::store& s, const message_answer& a)>;

/// What a requesting handler returns: its reply, or a plain request to
/// another store and what to do with the answer. The writes of each step
/// commit before the next runs; the client gets the last step's reply,
/// or the first error (earlier steps' writes stay).
struct handler_step {
  nlohmann::json value;
  std::optional<plain_request> request;
  request_continuation then;

  /// The handler's reply.
  static handler_step reply(nlohmann::json v) {
    handler_step s;
    s.value = std::move(v);
    return s;
  }
  /// Asks `r` and continues with `then` when the answer comes.
  static handler_step ask(plain_request r, request_continuation then) {
    handler_step s;
    s.request = std::move(r);
    s.then = std::move(then);
    return s;
  }
};

/// A handler that may ask other stores before it replies (see
/// `handler_step`); invoked exactly like a `store_handler`.
using requesting_handler = std::function<store::result<handler_step>(
  store::store& s, const nlohmann::json& args, const caller& who)>;

} // namespace mantissa::actors
