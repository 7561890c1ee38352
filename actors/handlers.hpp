#pragma once

#include <functional>
#include <map>
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

/// Every handler a node knows, by name (`offering.operation`).
///
/// Thread rule: filled before the node starts, then only read.
class handler_registry {
 public:
  /// Adds a handler; a second one with the same name is `already_exists`.
  [[nodiscard]] store::result<void> add(std::string name, store_handler h);
  /// The handler named `name`, or nullptr.
  [[nodiscard]] const store_handler* find(std::string_view name) const;

 private:
  std::map<std::string, store_handler, std::less<>> handlers_;
};

} // namespace mantissa::actors
