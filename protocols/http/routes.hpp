#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/node.hpp"
#include "actors/rate_limiter.hpp"
#include "protocols/http/server.hpp"

namespace mantissa::offerings {
class offering_registry;
} // namespace mantissa::offerings

/// The route groups of the HTTP front end. `make_api_handler` (api.cpp)
/// tries them in turn; each returns false when the request is not one of
/// its routes (and then has not touched the responder).
namespace mantissa::http {

/// What the routes need; owned by the caller of `make_api_handler`, outlives
/// the server.
/// Who may read `GET /metrics` (the site setting `http.metrics_access`).
enum class metrics_access {
  /// Clients on this host that did not come through a proxy: a loopback
  /// client address and no X-Forwarded-For, Forwarded or X-Real-IP.
  loopback,
  /// `Authorization: Bearer` with the setting `http.metrics_token`.
  token,
  /// A session of a member of group:admin.
  admins,
};

/// How free signups (`POST /api/signup` without a ticket) are limited per
/// client address: 3 answered, then refused (429) until an hour after the
/// client's last signup (docs/accounts.md, "Signup").
inline actors::auth_options signup_rate_options() {
  actors::auth_options o;
  o.free_failures = 3;
  o.forget_after = std::chrono::hours(1);
  return o;
}

struct api_context {
  actors::node* node = nullptr;
  /// The offerings the node runs (views, static files, routes); may be null.
  const offerings::offering_registry* offerings = nullptr;
  /// Domains served by the host form `http://{localpart}.{domain}/{share}`
  /// (lower case), from the site setting `site.domain`.
  std::vector<std::string> domains;
  /// Whether clients reach the node over TLS even when a request itself
  /// came in plain (a TLS-terminating proxy in front): cookies get
  /// `Secure`. Requests that came over the server's own TLS
  /// (`request::secure`) get it anyway.
  bool tls = false;
  /// More series for `GET /metrics` (the SMTP server's); may be empty.
  /// Set before the server starts.
  std::function<void(actors::prometheus_text&)> extra_metrics;
  /// One log line per answered request (method, path, status, time,
  /// request id, peer; `mantissa start --access-log`).
  bool access_log = false;
  metrics_access metrics = metrics_access::loopback;
  std::string metrics_token;  ///< for metrics_access::token
  /// Counts free signups per client address (thread-safe).
  std::shared_ptr<actors::rate_limiter> signup_limiter
    = std::make_shared<actors::rate_limiter>(signup_rate_options());
};

class http_metrics;

/// `/api/...`: login, logout, me, items, shares, admin (api_json.cpp).
/// `http` (may be null) is what `GET /api/admin/stats` reports of the
/// front end's requests.
bool handle_json_api(const api_context& ctx, const http_metrics* http,
                     request& req, responder& reply);

/// `/admin`, `/notes` and `/assets/…`: the web pages built into the
/// program (pages.cpp, docs/web.md); a file they do not have is `no_route`.
bool handle_pages(request& req, responder& reply);

/// The security headers of the built-in pages (Content-Security-Policy
/// without inline scripts, nosniff, no framing, no referrer), added to
/// `r`; HTML routes of offerings get them too (pages.cpp).
void add_page_headers(response& r);

/// `/apps/{offering}/…`: the offerings' routes, run in store actors
/// (app_routes.cpp, docs/offerings.md "Routes").
bool handle_app_routes(const api_context& ctx, request& req,
                       responder& reply);

/// `/users/{localpart}/{share_id}`, the host form, `/{offering}/{share_id}`
/// (an app store's share) and `/static/{offering}/…` (websharing.cpp).
bool handle_websharing(const api_context& ctx, request& req,
                       responder& reply);

/// A built-in file (pages.cpp) as an answer with `status`, with the
/// pages' security headers.
[[nodiscard]] response built_in_file(std::string_view path, int status = 200);

/// `/`: the landing page (home.cpp, docs/web.md). Tried after websharing,
/// whose host form answers `/` on a user's host.
bool handle_home(request& req, responder& reply);

/// `GET /api/site`: the site's name and installed offerings, public
/// (home.cpp, docs/http-api.md).
void serve_site(const api_context& ctx, const request& req,
                const responder& reply);

/// Runs `offerings::site_info_handler` in the site store as the system
/// (home.cpp): what the public `GET /api/site` and app-store websharing
/// know of the installed offerings.
void ask_site_info(const api_context& ctx, const request& req,
                   actors::reply_handler done);

/// The answer for a path no route takes: a small HTML page linking to `/`
/// when the client prefers HTML (`prefers_html`), else the JSON 404.
[[nodiscard]] response no_route(const request& req);

} // namespace mantissa::http
