#pragma once

#include <memory>
#include <utility>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/typed_response_promise.hpp>

#include "wire/errors.hpp"
#include "actors/reply.hpp"

namespace mantissa::actors::internal {

/// A completion travelling inside a local message to the node's bridge
/// (which is also the router of interstore messages). Never crosses the
/// network.
struct completion {
  std::shared_ptr<reply_handler> fn;
  void operator()(reply r) const { (*fn)(std::move(r)); }
};

/// A completion that answers `rp` with the reply (its JSON, or its error).
/// Invoke it only in the context of the actor that made `rp`.
inline completion to_promise(caf::typed_response_promise<std::string> rp) {
  return completion{std::make_shared<reply_handler>([rp](reply r) mutable {
    if (r.ok)
      rp.deliver(std::move(r.body));
    else
      rp.deliver(make_error(r.code, std::move(r.message)));
  })};
}

} // namespace mantissa::actors::internal

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mantissa::actors::internal::completion)
