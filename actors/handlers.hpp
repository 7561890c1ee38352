#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/protocol.hpp"
#include "store/error.hpp"
#include "store/store.hpp"

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
/// error (`code` is one of actors/error_code.hpp's names, e.g.
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

/// Every handler a node knows, by name (`offering.operation`).
///
/// Thread rule: filled before the node starts, then only read.
class handler_registry {
 public:
  /// Adds a handler; a second one with the same name is `already_exists`.
  [[nodiscard]] store::result<void> add(std::string name, store_handler h);
  /// The handler named `name`, or nullptr.
  [[nodiscard]] const store_handler* find(std::string_view name) const;
  /// Adds a handler that may make plain requests to other stores; names
  /// are shared with `add`.
  [[nodiscard]] store::result<void> add_requesting(std::string name,
                                                   requesting_handler h);
  /// The requesting handler named `name`, or nullptr.
  [[nodiscard]] const requesting_handler*
  find_requesting(std::string_view name) const;

  /// Adds a handler that takes a payload. It may share its name with a
  /// plain handler (the message's shape picks one).
  [[nodiscard]] store::result<void> add_payload(std::string name,
                                                payload_handler h);
  /// The payload handler named `name`, or nullptr.
  [[nodiscard]] const payload_handler*
  find_payload(std::string_view name) const;

  /// Makes items of `type` runnable by the scheduler; a second runnable
  /// for the same type, or one without `run`, is refused.
  [[nodiscard]] store::result<void> add_runnable(std::string type,
                                                 runnable_type r);
  /// The runnable of items of `type`, or nullptr.
  [[nodiscard]] const runnable_type*
  find_runnable(std::string_view type) const;

  /// Registers what messages of `type` do; a second registration of the
  /// same type is refused.
  [[nodiscard]] store::result<void> add_message_type(std::string type,
                                                     message_type m);
  /// The handling of messages of `type`, or nullptr.
  [[nodiscard]] const message_type*
  find_message_type(std::string_view type) const;

 private:
  std::map<std::string, store_handler, std::less<>> handlers_;
  std::map<std::string, requesting_handler, std::less<>> requesting_;
  std::map<std::string, payload_handler, std::less<>> payload_;
  std::map<std::string, runnable_type, std::less<>> runnables_;
  std::map<std::string, message_type, std::less<>> message_types_;
};

} // namespace mantissa::actors
