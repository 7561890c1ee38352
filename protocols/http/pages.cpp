// The web pages built into the program (docs/web.md):
//
//   GET /admin, /admin/{file}    the site administration page
//   GET /notes, /notes/{file}    the notes offering's page for users
//   GET /mail, /mail/{file}      the mail offering's page for users
//   GET /signup, /signup/{file}  the signup page (docs/accounts.md)
//   GET /assets/{file}           what the pages share (and the landing
//                                page's script and style)
//   GET /                        the landing page (home.cpp)
//
// The files are static: served to anyone. Everything a page shows comes
// from the JSON API, which checks who is asking (the admin routes in the
// site store actor).

#include <algorithm>
#include <string>
#include <string_view>

#include "protocols/http/api_util.hpp"
#include "protocols/http/routes.hpp"
#include "protocols/http/web_assets.hpp"

namespace mantissa::http {

const web_asset* find_web_asset(std::string_view path) noexcept {
  const auto* end = web_asset_table + web_asset_count;
  const auto* i = std::lower_bound(
    web_asset_table, end, path,
    [](const web_asset& a, std::string_view p) { return a.path < p; });
  return i != end && i->path == path ? i : nullptr;
}

namespace {

/// The pages run only their own scripts and talk only to this origin; no
/// other site may frame them.
constexpr const char* pages_csp
  = "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

std::string_view extension(std::string_view path) {
  auto slash = path.rfind('/');
  auto dot = path.rfind('.');
  if (dot == std::string_view::npos
      || (slash != std::string_view::npos && dot < slash))
    return {};
  return path.substr(dot + 1);
}

/// The built-in files are lower case and only HTML, CSS and JavaScript, for
/// which the shared table (api_util.hpp) answers as this file's own did.
const char* content_type(std::string_view path) {
  return content_type_for_extension(extension(path));
}

/// The built-in file a request path names: "/admin" and "/admin/" are
/// "admin/index.html", "/admin/x.js" is "admin/x.js"; "" when the path is
/// not one of the pages' prefixes.
std::string asset_path(std::string_view path) {
  for (std::string_view prefix :
       {"/admin", "/notes", "/mail", "/assets", "/signup"}) {
    if (path.substr(0, prefix.size()) != prefix)
      continue;
    auto rest = path.substr(prefix.size());
    if (!rest.empty() && rest.front() != '/')
      continue; // "/adminx" is not ours
    std::string out{prefix.substr(1)};
    if (rest.empty() || rest == "/")
      return out + "/index.html";
    return out + std::string{rest};
  }
  return {};
}

} // namespace

void add_page_headers(response& r) {
  r.headers.insert(r.headers.end(),
                   {{"Content-Security-Policy", pages_csp},
                    {"X-Content-Type-Options", "nosniff"},
                    {"X-Frame-Options", "DENY"},
                    {"Referrer-Policy", "no-referrer"}});
}

response built_in_file(std::string_view path, int status) {
  const auto* asset = find_web_asset(path);
  if (asset == nullptr) // a file missing from mantissa_web_files
    return error_response(500, "internal", "a built-in file is missing");
  response r;
  r.status = status;
  r.content_type = content_type(asset->path);
  r.body = std::string{asset->body};
  add_page_headers(r);
  // Revalidate on every load: a new build serves new files.
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

bool handle_pages(request& req, responder& reply) {
  auto file = asset_path(path_of(req.target));
  if (file.empty())
    return false;
  if (req.method != "GET" && req.method != "HEAD") {
    auto res = error_response(405, "method_not_allowed", "use GET");
    res.headers.emplace_back("Allow", "GET, HEAD");
    reply(std::move(res));
    return true;
  }
  // Exact names only: nothing is decoded or joined to a directory, so no
  // request can reach anything but the table's files.
  if (find_web_asset(file) == nullptr) {
    reply(no_route(req));
    return true;
  }
  reply(built_in_file(file));
  return true;
}

} // namespace mantissa::http
