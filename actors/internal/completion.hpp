#pragma once

#include <memory>
#include <utility>

#include <caf/allowed_unsafe_message_type.hpp>

#include "actors/node.hpp"

namespace mantissa::actors::internal {

/// A completion travelling inside a local message to the node's bridge
/// (which is also the router of interstore messages). Never crosses the
/// network.
struct completion {
  std::shared_ptr<reply_handler> fn;
  void operator()(reply r) const { (*fn)(std::move(r)); }
};

} // namespace mantissa::actors::internal

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mantissa::actors::internal::completion)
