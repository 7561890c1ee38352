// The front door of the site (docs/web.md):
//
//   GET /           the landing page (web/home/index.html, built in)
//   GET /api/site   its data: the site's name and installed offerings
//   anything else   no route: an HTML page for browsers, JSON for clients
//
// The landing page is static, like the other built-in pages; what it shows
// comes from `GET /api/site`, `GET /api/signup` and `GET /api/me`.

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "offerings/setup.hpp"
#include "protocols/http/api_util.hpp"
#include "protocols/http/routes.hpp"
#include "protocols/http/web_assets.hpp"
#include "wire/protocol.hpp"

namespace mantissa::http {

namespace {

using nlohmann::json;

/// The page of an installed offering, or null (contract 7 of M15): a
/// built-in page of the offering's name (`/notes`, and `/mail` once the
/// mail page is built in). An offering's own `GET /` route answering HTML
/// (served at `/apps/{name}/`) is the other kind of page; it is added here
/// when routes can say that they answer HTML.
json offering_page(const offerings::offering_registry* known,
                   const std::string& name) {
  // An offering's own page: a `GET /` route answering HTML.
  if (known != nullptr)
    if (auto page = known->page_of(name); !page.empty())
      return page;
  // Only a reserved name is a page prefix of pages.cpp (an offering named
  // "home" must not get the landing page's own file as its page).
  if (offerings::is_reserved_path_segment(name)
      && find_web_asset(name + "/index.html") != nullptr)
    return "/" + name;
  return nullptr;
}

response method_not_allowed(std::string_view path) {
  auto res = error_response(405, "method_not_allowed",
                            "use GET for " + std::string{path});
  res.headers.emplace_back("Allow", "GET, HEAD");
  return res;
}

} // namespace

void ask_site_info(const api_context& ctx, const request& req,
                   actors::reply_handler done) {
  actors::caller system{actors::system_role,
                        std::string{req.header_value("x-request-id").substr(0, 64)}};
  ctx.node->run(system, site_address(*ctx.node),
                std::string{offerings::site_info_handler}, "{}",
                std::move(done));
}

void serve_site(const api_context& ctx, const request& req,
                const responder& reply) {
  if (req.method != "GET" && req.method != "HEAD")
    return reply(method_not_allowed("/api/site"));
  ask_site_info(ctx, req, [reply, known = ctx.offerings](actors::reply r) {
    auto j = r.ok ? json::parse(r.body, nullptr, false) : json{};
    if (!r.ok || !j.is_object() || !j.contains("offerings")
        || !j["offerings"].is_array()) {
      auto res = r.ok ? error_response(500, "internal", "unreadable site info")
                      : error_from(r);
      res.headers.emplace_back("Cache-Control", "no-store");
      return reply(std::move(res));
    }
    for (auto& o : j["offerings"])
      o["page"] = offering_page(known, o.value("name", std::string{}));
    auto res = json_response(200, j.dump());
    res.headers.emplace_back("Cache-Control", "no-store");
    reply(std::move(res));
  });
}

bool handle_home(request& req, responder& reply) {
  if (path_of(req.target) != "/")
    return false;
  if (req.method != "GET" && req.method != "HEAD")
    reply(method_not_allowed("/"));
  else
    reply(built_in_file("home/index.html"));
  return true;
}

response no_route(const request& req) {
  if (prefers_html(req))
    return built_in_file("home/not-found.html", 404);
  return error_response(404, "not_found",
                        "no route for " + std::string{path_of(req.target)});
}

} // namespace mantissa::http
