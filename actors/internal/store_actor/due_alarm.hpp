#pragma once

#include <cstdint>

namespace mantissa::actors::internal::store_parts {

/// The one pending self-message of the store actor for a due time (a tick
/// or an outbox look): armed again only for an earlier time. Used only by
/// the owning store actor.
class due_alarm {
 public:
  /// Records `due` (microseconds, -1: none) and tells whether a message
  /// must be sent for it: when nothing is armed or it is earlier.
  [[nodiscard]] bool arm(std::int64_t due) {
    if (due < 0 || (due_ >= 0 && due_ <= due))
      return false;
    due_ = due;
    return true;
  }
  /// The message came: nothing is armed.
  void fired() { due_ = -1; }
  /// The due time armed, -1 when none.
  [[nodiscard]] std::int64_t due() const { return due_; }

 private:
  std::int64_t due_ = -1;
};

} // namespace mantissa::actors::internal::store_parts
