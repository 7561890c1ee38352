// The JSON API under /api/ (docs/http-api.md): login, logout, me, items,
// shares, groups, the default share and account administration.
//
// This file only establishes who is asking and translates HTTP into the
// node's store messages; every access decision is taken by the store actors
// (docs/security.md). Each request is answered exactly once: synchronously
// for bad input, otherwise from the node's reply handler (an actor thread)
// or the authenticator's callback (one of its threads), which the server
// allows (server.hpp).
//
// The routes are in groups, one file each (api_json_accounts.cpp,
// api_json_items.cpp, api_json_shares.cpp, api_json_admin.cpp); this file
// matches the path to a route, checks what every route needs (a valid
// token, the CSRF header) and dispatches.

#include <atomic>
#include <cctype>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http {

namespace json_api {

namespace {

/// The header a browser page must add to cookie-authenticated writes.
constexpr std::string_view csrf_header = "x-requested-with";

// -- routes -------------------------------------------------------------------

enum class route {
  login,
  logout,
  me,
  items,           // stores/{address}/items/{type}
  item,            // stores/{address}/items/{type}/{id}
  shares,          // stores/{address}/shares
  share,           // stores/{address}/shares/{share_id}
  members,         // stores/{address}/groups/{group}/members
  member,          // stores/{address}/groups/{group}/members/{member}
  default_share,   // stores/{address}/default-share
  mail_raw,        // stores/{address}/mail/{id}/raw
  handler,         // stores/{address}/handlers/{name}
  admin_users,     // admin/users
  admin_user,      // admin/users/{address}/{disable|enable|password}
  admin_fanout,    // admin/fanout
  admin_overview,  // admin/overview
  admin_stats,     // admin/stats
  admin_stores,    // admin/stores
  admin_offerings, // admin/offerings
  admin_store,     // admin/stores/{address}/{move|backup}
  admin_offering,  // admin/offerings/{name}/{install|uninstall}
  admin_products,  // admin/products
  admin_user_products, // admin/users/{address}/products[/{product}]
  signup,          // signup
  signup_tickets,  // signups/{id}/tickets
  admin_signups,   // admin/signups
  admin_signup,    // admin/signups/{id}/close
};

struct matched {
  route id;
  std::string_view allow; // the methods the path accepts, for 405
};

/// Matches the segments after "api".
std::optional<matched> match(const std::vector<std::string>& s) {
  auto n = s.size();
  if (n == 1 && s[0] == "login")
    return matched{route::login, "POST"};
  if (n == 1 && s[0] == "logout")
    return matched{route::logout, "POST"};
  if (n == 1 && s[0] == "me")
    return matched{route::me, "GET, HEAD"};
  if (n == 1 && s[0] == "signup")
    return matched{route::signup, "GET, HEAD, POST"};
  if (n == 3 && s[0] == "signups" && !s[1].empty() && s[2] == "tickets")
    return matched{route::signup_tickets, "POST"};
  if (n == 2 && s[0] == "admin" && s[1] == "signups")
    return matched{route::admin_signups, "GET, HEAD, POST"};
  if (n == 4 && s[0] == "admin" && s[1] == "signups" && !s[2].empty()
      && s[3] == "close")
    return matched{route::admin_signup, "POST"};
  if (n == 2 && s[0] == "admin" && s[1] == "users")
    return matched{route::admin_users, "GET, HEAD, POST"};
  if (n == 2 && s[0] == "admin" && s[1] == "fanout")
    return matched{route::admin_fanout, "POST"};
  if (n == 2 && s[0] == "admin" && s[1] == "overview")
    return matched{route::admin_overview, "GET, HEAD"};
  if (n == 2 && s[0] == "admin" && s[1] == "stats")
    return matched{route::admin_stats, "GET, HEAD"};
  if (n == 2 && s[0] == "admin" && s[1] == "stores")
    return matched{route::admin_stores, "GET, HEAD"};
  if (n == 2 && s[0] == "admin" && s[1] == "offerings")
    return matched{route::admin_offerings, "GET, HEAD"};
  if (n == 4 && s[0] == "admin" && s[1] == "stores" && !s[2].empty()
      && (s[3] == "move" || s[3] == "backup"))
    return matched{route::admin_store, "POST"};
  if (n == 4 && s[0] == "admin" && s[1] == "users" && !s[2].empty()
      && (s[3] == "disable" || s[3] == "enable" || s[3] == "password"))
    return matched{route::admin_user, "POST"};
  if (n == 4 && s[0] == "admin" && s[1] == "offerings" && !s[2].empty()
      && (s[3] == "install" || s[3] == "uninstall"))
    return matched{route::admin_offering, "POST"};
  if (n == 2 && s[0] == "admin" && s[1] == "products")
    return matched{route::admin_products, "POST"};
  if (n == 4 && s[0] == "admin" && s[1] == "users" && !s[2].empty()
      && s[3] == "products")
    return matched{route::admin_user_products, "POST"};
  if (n == 5 && s[0] == "admin" && s[1] == "users" && !s[2].empty()
      && s[3] == "products" && !s[4].empty())
    return matched{route::admin_user_products, "DELETE"};
  if (n < 3 || s[0] != "stores" || s[1].empty())
    return std::nullopt;
  if (s[2] == "items" && n == 4 && !s[3].empty())
    return matched{route::items, "GET, HEAD, POST"};
  if (s[2] == "items" && n == 5 && !s[3].empty())
    return matched{route::item, "GET, HEAD, PATCH, DELETE"};
  if (s[2] == "shares" && n == 3)
    return matched{route::shares, "GET, HEAD, POST"};
  if (s[2] == "shares" && n == 4 && !s[3].empty())
    return matched{route::share, "DELETE"};
  if (s[2] == "groups" && n == 5 && !s[3].empty() && s[4] == "members")
    return matched{route::members, "POST"};
  if (s[2] == "groups" && n == 6 && !s[3].empty() && s[4] == "members"
      && !s[5].empty())
    return matched{route::member, "DELETE"};
  if (s[2] == "default-share" && n == 3)
    return matched{route::default_share, "PUT"};
  if (s[2] == "mail" && n == 5 && !s[3].empty() && s[4] == "raw")
    return matched{route::mail_raw, "GET, HEAD"};
  if (s[2] == "handlers" && n == 4 && !s[3].empty())
    return matched{route::handler, "POST"};
  return std::nullopt;
}

bool allows(std::string_view allow, std::string_view method) {
  while (!allow.empty()) {
    auto comma = allow.find(", ");
    if (allow.substr(0, comma) == method)
      return true;
    if (comma == std::string_view::npos)
      break;
    allow.remove_prefix(comma + 2);
  }
  return false;
}

bool is_write(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH"
         || method == "DELETE";
}

bool is_admin_route(route r) {
  switch (r) {
    case route::admin_users:
    case route::admin_user:
    case route::admin_fanout:
    case route::admin_overview:
    case route::admin_stats:
    case route::admin_stores:
    case route::admin_offerings:
    case route::admin_store:
    case route::admin_offering:
    case route::admin_products:
    case route::admin_user_products:
    case route::admin_signups:
    case route::admin_signup:
      return true;
    default:
      return false;
  }
}

// -- dispatch -----------------------------------------------------------------

/// Wraps the server's responder: answers once (later calls are ignored, so
/// the catch-all below can always answer) and adds the API's headers.
responder api_responder(responder inner) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  return [inner = std::move(inner), answered](response r) {
    if (answered->exchange(true))
      return;
    r.headers.emplace_back("Cache-Control", "no-store");
    if (r.status == 401)
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"mantissa\"");
    inner(std::move(r));
  };
}

/// Whether the request carried its token in the session cookie (and not
/// in an Authorization header).
bool token_in_cookie(const request& req) {
  auto authz = req.header_value("authorization");
  std::string scheme{authz.substr(0, 7)};
  for (auto& ch : scheme)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  bool bearer = authz.size() > 7 && scheme == "bearer ";
  return !bearer && !cookie_value(req, session_cookie).empty();
}

/// Finds the route of `req` at `path` and sets `seg` to the segments after
/// "api"; otherwise answers 400 (malformed path), 404 (no such route) or
/// 405 (with `Allow`) through `done` and returns nullopt.
std::optional<matched> find_route(const request& req, std::string_view path,
                                  std::vector<std::string>& seg,
                                  const responder& done) {
  auto split = split_path(path);
  if (!split) {
    done(bad_request("invalid_path",
                     "the path has a malformed %-escape or a "
                     "forbidden segment"));
    return std::nullopt;
  }
  split->erase(split->begin()); // "api"
  if (split->size() > 1 && split->back().empty())
    split->pop_back(); // a trailing slash
  auto m = match(*split);
  if (!m) {
    done(error_response(404, "not_found",
                        "no API route " + std::string{path}));
    return std::nullopt;
  }
  std::string method = req.method == "HEAD" ? "GET" : req.method;
  if (!allows(m->allow, method)) {
    auto res
      = error_response(405, "method_not_allowed",
                       req.method + " is not allowed on " + std::string{path}
                         + " (allowed: " + std::string{m->allow} + ")");
    res.headers.emplace_back("Allow", std::string{m->allow});
    done(std::move(res));
    return std::nullopt;
  }
  seg = std::move(*split);
  return m;
}

/// Whether `c` may go on to route `id`; otherwise it was answered: 401 for
/// a token that is no longer valid, 403 for a write that needs the CSRF
/// header and lacks it.
bool may_proceed(call& c, route id) {
  bool login = id == route::login || id == route::signup;
  return session_and_csrf_ok(c, login, login || id == route::logout);
}

} // namespace

bool session_and_csrf_ok(call& c, bool login, bool stale_ok) {
  // A token that is no longer valid is an error, not an anonymous request:
  // the client must log in again. Logging in or out works regardless.
  if (c.who.bad_token && !stale_ok) {
    auto res = error_response(401, "unauthorized",
                              "the session has expired or was logged out; "
                              "log in again");
    if (token_in_cookie(c.req))
      res.headers.emplace_back(
        "Set-Cookie", session_cookie_header({}, c.ctx.tls || c.req.secure));
    c.done(std::move(res));
    return false;
  }
  // CSRF: a browser attaches the cookie to requests any site makes, but it
  // sends a custom header cross-site only after a CORS preflight, which
  // this server never grants. So cookie-authenticated writes, and logins
  // from browsers (they carry Origin), must carry X-Requested-With.
  bool needs_header
    = is_write(c.method)
      && (c.who.via_cookie
          || (login && !c.req.header_value("origin").empty()));
  if (needs_header && c.req.header_value(csrf_header).empty()) {
    c.done(error_response(
      403, "csrf",
      "a write authenticated by the session cookie needs the header "
      "'X-Requested-With: mantissa' (it keeps other sites from writing as "
      "you); or use 'Authorization: Bearer TOKEN'"));
    return false;
  }
  return true;
}

namespace {

/// The administration routes run the site store's handlers with the
/// caller's role; the store refuses a non-admin as for a handler that does
/// not exist. Those routes answer that as every refusal of the API:
/// `no_such_item`, "not found" (docs/http-api.md, "Errors").
responder refusal_as_not_found(responder inner) {
  return [inner = std::move(inner)](response r) {
    if (r.status == 404
        && r.body.find("\"no_such_handler\"") != std::string::npos)
      r = error_response(404, "no_such_item", "not found");
    inner(std::move(r));
  };
}

/// Hands `c` to the handler of route `id`.
void dispatch(call& c, route id) {
  switch (id) {
    case route::login:
      return on_login(c);
    case route::logout:
      return on_logout(c);
    case route::me:
      return on_me(c);
    case route::items:
      return on_items(c);
    case route::item:
      return on_item(c);
    case route::shares:
      return on_shares(c);
    case route::share:
      return on_share(c);
    case route::members:
      return on_members(c);
    case route::member:
      return on_member(c);
    case route::default_share:
      return on_default_share(c);
    case route::mail_raw:
      return on_mail_raw(c);
    case route::handler:
      return on_handler(c);
    case route::admin_users:
      return on_admin_users(c);
    case route::admin_fanout:
      return on_admin_fanout(c);
    case route::admin_user:
      return on_admin_user(c);
    case route::admin_overview:
      return on_admin_overview(c);
    case route::admin_stats:
      return on_admin_stats(c);
    case route::admin_stores:
      return on_admin_stores(c);
    case route::admin_offerings:
      return on_admin_offerings(c);
    case route::admin_store:
      return on_admin_store(c);
    case route::admin_offering:
    case route::admin_products:
    case route::admin_user_products:
      return on_admin_online(c);
    case route::signup:
      return on_signup(c);
    case route::signup_tickets:
      return on_signup_tickets(c);
    case route::admin_signups:
      return on_admin_signups(c);
    case route::admin_signup:
      return on_admin_signup(c);
  }
}

void serve(const api_context& ctx, const http_metrics* http, request& req,
           responder done) {
  auto path = path_of(req.target);
  std::vector<std::string> seg;
  auto m = find_route(req, path, seg, done);
  if (!m)
    return;
  std::string method = req.method == "HEAD" ? "GET" : req.method;
  auto& n = *ctx.node;
  call c{ctx,
         http,
         n,
         req,
         method,
         std::move(seg),
         identify(req, n.auth()),
         {},
         std::move(done)};
  c.caller = caller_for(c.who, req);
  if (!may_proceed(c, m->id))
    return;
  if (is_admin_route(m->id))
    c.done = admin_logged(refusal_as_not_found(std::move(c.done)),
                          c.who.role(), req.method, std::string{path},
                          req.remote_address);
  dispatch(c, m->id);
}

} // namespace

} // namespace json_api

bool handle_json_api(const api_context& ctx, const http_metrics* http,
                     request& req, responder& reply) {
  auto path = path_of(req.target);
  if (path != "/api" && path.substr(0, 5) != "/api/")
    return false;
  auto done = json_api::api_responder(reply);
  try {
    json_api::serve(ctx, http, req, done);
  } catch (const std::exception& e) {
    done(error_response(500, "internal",
                        std::string{"the request failed: "} + e.what()));
  }
  return true;
}

} // namespace mantissa::http
