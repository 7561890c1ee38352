#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/handler_types.hpp"
#include "wire/protocol.hpp"
#include "store/error.hpp"
#include "store/store.hpp"

namespace mantissa::actors {

/// Every handler a node knows, by name (`offering.operation`).
///
/// Thread rule: filled before the node starts, then only read.
class handler_registry {
 public:
  /// Adds a handler; a second one with the same name is `already_exists`.
  /// `interface` empty: only the store's owner may run it; else also a
  /// caller who acts through a share granting `interface` (docs/offerings.md,
  /// "Who may run a handler").
  [[nodiscard]] store::result<void> add(std::string name, store_handler h,
                                        std::string interface = {});
  /// The share interface that lets non-owners run handler `name`
  /// (plain or requesting); empty when only the owner may.
  [[nodiscard]] std::string_view interface_of(std::string_view name) const;
  /// The handler named `name`, or nullptr.
  [[nodiscard]] const store_handler* find(std::string_view name) const;
  /// Adds a handler that may make plain requests to other stores; names
  /// are shared with `add`.
  [[nodiscard]] store::result<void> add_requesting(std::string name,
                                                   requesting_handler h,
                                                   std::string interface = {});
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
  std::map<std::string, std::string, std::less<>> interfaces_;
};

} // namespace mantissa::actors
