// The offerings' routes (docs/offerings.md, "Routes"):
//
//   {METHOD} /apps/{offering}{pattern}
//
// This file matches the path to a route of the offering, checks the
// session as the JSON API does (a stale token, the CSRF header), builds
// the handler's arguments from the path parameters, the query and the
// JSON body, and runs the route's handler in the store the route names
// with the caller's role. Whether the caller may run it is decided by the
// store actor (`named_handler::interface`), as for every handler.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "offerings/internal/routes.hpp"
#include "offerings/offering.hpp"
#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http {

namespace {

using json_api::json;

/// The route of `o` that `segs` and `method` name, with its parameters;
/// otherwise answers 404 or 405 and returns nullptr.
const offerings::route*
find_app_route(const offerings::offering& o,
               const std::vector<std::string>& segs, const std::string& method,
               std::map<std::string, std::string>& params,
               const responder& reply) {
  std::string allow;
  for (auto& r : o.routes) {
    auto p = offerings::internal::match_route(r, segs);
    if (!p)
      continue;
    if (r.method == method) {
      params = std::move(*p);
      return &r;
    }
    allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (allow.empty()) {
    reply(error_response(404, "not_found",
                         "offering " + o.name + " has no such route"));
    return nullptr;
  }
  auto res = error_response(405, "method_not_allowed",
                            method + " is not allowed here (allowed: " + allow
                              + ")");
  res.headers.emplace_back("Allow", allow);
  reply(std::move(res));
  return nullptr;
}

/// The handler's answer as the route answers it: its JSON, or (HTML
/// routes) the JSON string it returned as a page.
response route_answer(const offerings::route& r, actors::reply rep) {
  if (!rep.ok)
    return error_from(rep);
  if (!r.html)
    return json_response(200, std::move(rep.body));
  auto page = json::parse(rep.body, nullptr, false);
  if (!page.is_string())
    return error_response(500, "internal",
                          "the route's handler " + r.handler
                            + " answered no HTML (a JSON string)");
  response res{200, "text/html; charset=utf-8", {},
               page.get<std::string>()};
  add_page_headers(res);
  return res;
}

/// Runs route `r` for call `c` with `params`.
void run_route(json_api::call& c, const offerings::offering& o,
               const offerings::route& r,
               const std::map<std::string, std::string>& params) {
  auto query = parse_query(query_of(c.req.target));
  if (!query)
    return c.done(error_response(400, "invalid_query",
                                 "the query string has a malformed %-escape"));
  response err;
  auto body = json_api::handler_body(c.req, err);
  if (!body)
    return c.done(std::move(err));
  std::string address;
  switch (r.where) {
    case offerings::route_store::caller:
      if (!c.who.session)
        return c.done(error_response(401, "unauthorized",
                                     "log in to use this route"));
      address = c.who.session->address;
      break;
    case offerings::route_store::param:
      address = params.at(r.store);
      break;
    case offerings::route_store::app:
      address = app_store_address(c.node, o.name);
      break;
  }
  std::string share = r.share;
  if (share.size() > 2 && share.front() == '{' && share.back() == '}')
    share = params.at(share.substr(1, share.size() - 2));
  json args{{"params", params}, {"query", *query}, {"body", std::move(*body)}};
  auto done = [done = c.done, &r](actors::reply rep) {
    done(route_answer(r, std::move(rep)));
  };
  auto text = json_api::dump(args);
  if (share.empty())
    return c.node.run(c.caller, address, r.handler, text, std::move(done));
  c.node.run_shared(c.caller, address, r.handler, text, share,
                    std::move(done));
}

} // namespace

bool handle_app_routes(const api_context& ctx, request& req,
                       responder& reply) {
  auto path = path_of(req.target);
  if (path != "/apps" && path.substr(0, 6) != "/apps/")
    return false;
  responder done = [reply](response r) {
    r.headers.emplace_back("Cache-Control", "no-store");
    reply(std::move(r));
  };
  auto segs = split_path(path);
  if (!segs) {
    done(error_response(400, "invalid_path",
                        "the path has a malformed %-escape or a forbidden "
                        "segment"));
    return true;
  }
  segs->erase(segs->begin()); // "apps"
  if (!segs->empty() && segs->back().empty())
    segs->pop_back(); // a trailing slash: /apps/x/ is the route "/"
  const auto* o = ctx.offerings != nullptr && !segs->empty()
                    ? ctx.offerings->find(segs->front())
                    : nullptr;
  if (o == nullptr) {
    done(error_response(404, "not_found", "no such offering"));
    return true;
  }
  std::vector<std::string> rest(segs->begin() + 1, segs->end());
  std::string method = req.method == "HEAD" ? "GET" : req.method;
  std::map<std::string, std::string> params;
  const auto* r = find_app_route(*o, rest, method, params, done);
  if (r == nullptr)
    return true;
  auto& n = *ctx.node;
  json_api::call c{ctx,   nullptr, n,  req, method, {}, identify(req, n.auth()),
                   {},    done};
  c.caller = caller_for(c.who, req);
  if (json_api::session_and_csrf_ok(c, false, false))
    run_route(c, *o, *r, params);
  return true;
}

} // namespace mantissa::http
