// The JSON API's handlers: POST /api/stores/{address}/handlers/{name}
// runs a store handler with the caller's role (docs/http-api.md,
// "Handlers"); the store actor decides who may (docs/offerings.md, "Who
// may run a handler").

#include <optional>
#include <string>

#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http::json_api {

std::optional<json> handler_body(const request& req, response& err) {
  auto first = req.body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return json();
  return parse_json(req.body, "the request body", err);
}

void on_handler(call& c) {
  const auto& name = c.seg[3];
  auto params = parse_query(query_of(c.req.target));
  if (!params)
    return c.done(bad_request("invalid_query",
                              "the query string has a malformed %-escape"));
  std::string share;
  for (auto& [key, value] : *params) {
    if (key != "share")
      return c.done(bad_request("invalid_query",
                                "unknown query parameter '" + key.substr(0, 64)
                                  + "' (known: share)"));
    if (value.empty())
      return c.done(bad_request("invalid_query", "the share id is empty"));
    share = value;
  }
  response err;
  auto args = handler_body(c.req, err);
  if (!args)
    return c.done(std::move(err));
  auto text = args->is_null() ? std::string{} : dump(*args);
  if (share.empty())
    return c.node.run(c.caller, c.address(), name, text, relay(c.done));
  c.node.run_shared(c.caller, c.address(), name, text, share, relay(c.done));
}

} // namespace mantissa::http::json_api
