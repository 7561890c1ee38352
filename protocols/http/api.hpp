#pragma once

#include "actors/node.hpp"
#include "protocols/http/server.hpp"

namespace mantissa::http {

/// Builds the request handler of a node's HTTP front end: routes requests to
/// the node's actors and answers with JSON. The node must outlive the
/// handler. Routes are documented in docs/http-api.md.
[[nodiscard]] handler make_api_handler(actors::node& n);

/// A JSON error response: `{"error":{"code":code,"message":message}}`.
[[nodiscard]] response error_response(int status, std::string_view code,
                                      std::string_view message);

} // namespace mantissa::http
