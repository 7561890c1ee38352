#pragma once

// From a handler's `response` to the message Beast writes. Internal to the
// HTTP transport (server.cpp): it names Beast's message type, which the
// public headers keep out.

#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "protocols/http/server.hpp"

namespace mantissa::http::wire {

/// What the transport writes.
using message = boost::beast::http::response<boost::beast::http::string_body>;

/// Writes a transport problem as a warning under "http".
void log_error(std::string_view what);

/// ASCII case-insensitive equality.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

/// `{"error":{"code":...,"message":...}}` with the given status. Unlike
/// the API's `error_response` (api_util.hpp), a 503 carries no
/// `Retry-After`: these are the transport's own answers.
[[nodiscard]] response error_response(int status, std::string_view code,
                                      std::string_view text);

/// Turns a handler's response into a wire message. Invalid statuses become a
/// 500; header fields containing CR or LF are dropped (no header injection).
/// `keep_alive` is applied later, when the write order is known.
[[nodiscard]] message to_message(response r, unsigned version, bool head);

} // namespace mantissa::http::wire
