#pragma once

#include "actors/node.hpp"
#include "protocols/http/routes.hpp"
#include "protocols/http/server.hpp"

namespace mantissa::http {

/// Builds the request handler of a node's HTTP front end: routes requests to
/// the node's actors and answers with JSON (or HTML for websharing). `ctx`
/// must outlive the handler. Routes are documented in docs/http-api.md.
[[nodiscard]] handler make_api_handler(const api_context& ctx);

/// (error_response and the other shared pieces: api_util.hpp)

} // namespace mantissa::http
