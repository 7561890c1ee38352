#pragma once

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

/// Every handler a node knows, by name (`offering.operation`).
///
/// Thread rule: filled before the node starts, then only read.
class handler_registry {
 public:
  /// Adds a handler; a second one with the same name is `already_exists`.
  [[nodiscard]] store::result<void> add(std::string name, store_handler h);
  /// The handler named `name`, or nullptr.
  [[nodiscard]] const store_handler* find(std::string_view name) const;

  /// Makes items of `type` runnable by the scheduler; a second runnable
  /// for the same type, or one without `run`, is refused.
  [[nodiscard]] store::result<void> add_runnable(std::string type,
                                                 runnable_type r);
  /// The runnable of items of `type`, or nullptr.
  [[nodiscard]] const runnable_type*
  find_runnable(std::string_view type) const;

 private:
  std::map<std::string, store_handler, std::less<>> handlers_;
  std::map<std::string, runnable_type, std::less<>> runnables_;
};

} // namespace mantissa::actors
