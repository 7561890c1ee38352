#pragma once

#include <functional>

#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/response_promise.hpp>

namespace mantissa::actors::internal::store_parts {

/// A reply held back until the batch it read from or wrote to is durable.
struct held_reply {
  caf::response_promise promise;
  caf::message reply;
  /// Instead of a reply: runs once the commit is durable (not on failure).
  std::function<void()> then;

  void release() {
    if (then)
      then();
    else
      promise.deliver(std::move(reply));
  }
  void fail(const caf::error& err) {
    if (!then)
      promise.deliver(err);
  }
};

} // namespace mantissa::actors::internal::store_parts
