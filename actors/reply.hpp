#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "wire/error_code.hpp"

namespace mantissa::actors {

/// The answer to a request sent to a store through the node: JSON text, or
/// an error code with a human-readable message.
struct reply {
  bool ok = false;
  std::string body;  ///< JSON when ok
  error_code code = error_code::internal;
  std::string message;  ///< when not ok
};

/// Completes a request. Runs on one of the node's actor threads: do not
/// block in it (post to your own thread instead).
using reply_handler = std::function<void(reply)>;
/// Progress of a long operation: (done, total).
using progress_handler = std::function<void(std::uint64_t, std::uint64_t)>;

/// Runs `f` with a handler and blocks until it is called; returns what it
/// was called with. For tools and start-up code, never on an actor thread.
[[nodiscard]] reply wait_for(const std::function<void(reply_handler)>& f);

} // namespace mantissa::actors
