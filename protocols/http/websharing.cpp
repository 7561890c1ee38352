// Websharing: public pages of shared items, and offerings' static files.
//
//   GET /users/{localpart}/{share_id}   an item shared by {localpart}@{domain}
//   GET /users/{localpart}[/]           that user's default share
//   GET /{share_id} with Host: {localpart}.{domain}   the same, host form
//   GET /{offering}/{share_id}          an item shared from an installed
//                                       offering's app store (any other host)
//   GET /static/{offering}/{path...}    a file of the offering's static_dir
//
// Who may see a share is decided by the store actor (`get_share` with the
// caller's role); this file only picks the store, asks, and renders the
// answer as HTML (or JSON when the client prefers it). What the caller may
// not see is a 404, exactly like what does not exist.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "offerings/offering.hpp"
#include "protocols/http/api_util.hpp"
#include "protocols/http/routes.hpp"
#include "store/sharing.hpp"

namespace mantissa::http {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

/// Largest static file served; larger ones are answered 404.
constexpr std::uintmax_t max_static_file = std::uintmax_t{16} * 1024 * 1024;

constexpr const char* html_type = "text/html; charset=utf-8";
/// Pages render stored data: no scripts, no external anything, inline style
/// only, and no other site may frame them (clickjacking).
constexpr const char* page_csp
  = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

constexpr const char* page_style
  = "body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem "
    "auto;padding:0 1rem;color:#222}dt{font-weight:600}dd{margin:0 0 .5rem "
    "1rem;white-space:pre-wrap}footer{margin-top:2rem;color:#777;font-size:"
    ".85rem}";

/// True when the client prefers JSON to HTML: `application/json` ranks
/// strictly higher than `text/html` in its Accept header (a browser's
/// `*/*` ties, and gets HTML).
bool wants_json(const request& req) {
  auto accept = req.header_value("accept");
  if (accept.empty())
    return false;
  return accept_q(accept, "application", "json")
         > accept_q(accept, "text", "html");
}

// -- pages -------------------------------------------------------------------

/// A complete HTML page around `main_html` (already escaped markup).
response html_page(int status, std::string_view title,
                   std::string_view main_html, std::string_view footer = {}) {
  response r;
  r.status = status;
  r.content_type = html_type;
  r.headers = {{"Content-Security-Policy", page_csp},
               {"X-Content-Type-Options", "nosniff"},
               {"X-Frame-Options", "DENY"},
               {"Referrer-Policy", "no-referrer"}};
  r.body.reserve(main_html.size() + 512);
  r.body += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, "
            "initial-scale=1\"><title>";
  r.body += html_escape(title);
  r.body += "</title><style>";
  r.body += page_style;
  r.body += "</style></head><body><main>";
  r.body += main_html;
  r.body += "</main>";
  if (!footer.empty()) {
    r.body += "<footer>";
    r.body += html_escape(footer);
    r.body += "</footer>";
  }
  r.body += "</body></html>\n";
  return r;
}

/// An error as a page or as JSON, whichever the client prefers.
response error_page(int status, std::string_view code, std::string_view message,
                    bool as_json) {
  if (as_json)
    return error_response(status, code, message);
  auto heading = status == 404   ? "Not found"
                 : status == 400 ? "Bad request"
                 : status == 405 ? "Method not allowed"
                 : status >= 500 ? "Unavailable"
                                 : "Error";
  std::string main = "<h1>";
  main += heading;
  main += "</h1><p>";
  main += html_escape(message);
  main += "</p>";
  return html_page(status, heading, main);
}

response not_found(bool as_json) {
  return error_page(404, "not_found", "nothing is shared here", as_json);
}

/// Marks a share's answer as depending on who asks and how.
void add_share_headers(response& r) {
  r.headers.emplace_back("Vary", "Accept, Authorization, Cookie");
  r.headers.emplace_back("Cache-Control", "private, no-cache");
}

/// A value as text for the generic view.
std::string display(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// The view for items whose type has none: the type as heading, then every
/// attribute's name and value.
std::string generic_view(const json& item) {
  std::string out = "<article class=\"item\"><h1>";
  out += html_escape(display(item.value("type", json{"item"})));
  out += "</h1><dl>";
  for (auto& [name, value] : item.items()) {
    if (name == "type")
      continue;
    out += "<dt>";
    out += html_escape(name);
    out += "</dt><dd>";
    out += html_escape(display(value));
    out += "</dd>";
  }
  out += "</dl></article>";
  return out;
}

/// The page of a share answered by the store (`{"share_id","interfaces",
/// "item"}`), rendered by the offering's view of the item's type if some
/// offering has one.
response share_page(const api_context& ctx, const std::string& address,
                    const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("item")
      || !j["item"].is_object())
    return error_page(500, "internal", "unreadable share", false);
  auto& item = j["item"];
  auto type = item.value("type", std::string{});
  std::string main;
  if (ctx.offerings != nullptr)
    if (auto* view = ctx.offerings->find_html_view(type)) {
      try {
        main = (*view)(item);
      } catch (...) {
        main.clear(); // a broken view falls back to the generic one
      }
    }
  if (main.empty())
    main = generic_view(item);
  auto title = item.contains("title") && item["title"].is_string()
                   && !item["title"].get_ref<const std::string&>().empty()
                 ? item["title"].get<std::string>()
                 : type;
  auto r = html_page(200, title, main, "Shared by " + address);
  add_share_headers(r);
  return r;
}

// -- shares ------------------------------------------------------------------

/// One share lookup in flight: tries the user's store under each candidate
/// domain in turn until one exists, then answers. Owned by the node's
/// reply handlers; `ctx` outlives the server and so this.
struct share_lookup {
  const api_context* ctx;
  actors::caller who;
  std::string share_id;
  std::vector<std::string> addresses; ///< `localpart@domain`, in order
  std::size_t next = 0;
  bool as_json = false;
  responder reply;

  static void run(std::shared_ptr<share_lookup> self) {
    const auto& address = self->addresses[self->next++];
    self->ctx->node->get_share(self->who, address, self->share_id,
                               [self, address](actors::reply r) mutable {
                                 done(std::move(self), address, std::move(r));
                               });
  }

  static void done(std::shared_ptr<share_lookup> self,
                   const std::string& address, actors::reply r) {
    auto& reply = self->reply;
    if (!r.ok && r.code == actors::error_code::no_such_store
        && self->next < self->addresses.size()) {
      run(std::move(self));
      return;
    }
    if (!r.ok) {
      auto status = status_for(r.code);
      // A malformed address or share id is a page that does not exist.
      if (status == 404 || status == 400)
        reply(not_found(self->as_json));
      else
        reply(error_page(status, actors::to_string(r.code),
                         "the share cannot be read now", self->as_json));
      return;
    }
    if (self->as_json) {
      auto res = json_response(200, std::move(r.body));
      add_share_headers(res);
      reply(std::move(res));
      return;
    }
    // An app store on the seed is shown by its offering's name.
    reply(share_page(*self->ctx, address.substr(0, address.find(':')),
                     r.body));
  }
};

/// Who visits a share page: a public page, so a token that is not valid
/// (expired, revoked) reads as anonymous rather than as an error.
actors::caller visitor(const api_context& ctx, const request& req) {
  auto who = identify(req, ctx.node->auth());
  if (who.bad_token)
    who = identity{};
  return caller_for(who, req);
}

/// Looks the share up in the first of `addresses` that has a store.
void start_lookup(const api_context& ctx, actors::caller who, responder reply,
                  std::vector<std::string> addresses, std::string share_id,
                  bool as_json) {
  if (addresses.empty()) {
    reply(not_found(as_json));
    return;
  }
  auto lookup = std::make_shared<share_lookup>();
  lookup->ctx = &ctx;
  lookup->who = std::move(who);
  lookup->addresses = std::move(addresses);
  lookup->share_id = std::move(share_id);
  lookup->as_json = as_json;
  lookup->reply = std::move(reply);
  share_lookup::run(std::move(lookup));
}

/// Answers the share `share_id` ("" = default share) of `localpart` in the
/// first of `domains` where that user has a store.
void serve_share(const api_context& ctx, const request& req, responder reply,
                 const std::string& localpart, std::string share_id,
                 const std::vector<std::string>& domains, bool as_json) {
  if (!share_id.empty() && !store::validate_share_id(share_id)) {
    reply(not_found(as_json));
    return;
  }
  std::vector<std::string> addresses;
  for (auto& d : domains) {
    auto text = localpart;
    text += '@';
    text += d;
    if (auto addr = actors::parse_address(text))
      addresses.push_back(actors::to_string(*addr));
  }
  start_lookup(ctx, visitor(ctx, req), std::move(reply), std::move(addresses),
               std::move(share_id), as_json);
}

/// Answers the share `share_id` of the app store of `offering`, when that
/// offering is installed (the site store says so); an offering that is not
/// installed is the same 404 as a share that does not exist.
void serve_app_share(const api_context& ctx, const request& req,
                     responder reply, const std::string& offering,
                     std::string share_id, bool as_json) {
  auto addr = actors::parse_address(offering);
  if (!addr || !addr->is_offering() || !store::validate_share_id(share_id)) {
    reply(not_found(as_json));
    return;
  }
  ask_site_info(
    ctx, req,
    [&ctx, who = visitor(ctx, req), reply = std::move(reply),
     name = actors::to_string(*addr), share_id = std::move(share_id),
     as_json](actors::reply r) mutable {
      auto info = r.ok ? json::parse(r.body, nullptr, false) : json{};
      bool installed = false;
      if (info.is_object() && info.contains("offerings")
          && info["offerings"].is_array())
        for (auto& o : info["offerings"])
          installed = installed || o.value("name", std::string{}) == name;
      if (!r.ok && status_for(r.code) != 404) {
        reply(error_page(status_for(r.code), actors::to_string(r.code),
                         "the share cannot be read now", as_json));
        return;
      }
      if (!installed) {
        reply(not_found(as_json));
        return;
      }
      start_lookup(ctx, std::move(who), std::move(reply),
                   {app_store_address(*ctx.node, name)}, std::move(share_id),
                   as_json);
    });
}

/// The host name of a request: the Host header in lower case, without its
/// port or a trailing dot.
std::string host_name(const request& req) {
  auto h = trim_blanks(req.header_value("host"));
  if (!h.empty() && h.front() == '[') // an IPv6 literal: never a host form
    return lower_ascii(h.substr(0, h.find(']') + 1));
  h = h.substr(0, h.find(':'));
  if (!h.empty() && h.back() == '.')
    h.remove_suffix(1);
  return lower_ascii(h);
}

/// For a host `{localpart}.{domain}` with a served domain and a localpart
/// other than `www`: the localpart and the domain. Empty otherwise.
std::pair<std::string, std::string> host_form(const api_context& ctx,
                                              const std::string& host) {
  for (auto& domain : ctx.domains) {
    auto d = lower_ascii(domain);
    if (d.empty() || host.size() <= d.size() + 1
        || host.compare(host.size() - d.size(), d.size(), d) != 0
        || host[host.size() - d.size() - 1] != '.')
      continue;
    auto local = host.substr(0, host.size() - d.size() - 1);
    if (local == "www")
      return {};
    return {std::move(local), std::move(d)};
  }
  return {};
}

// -- static files ------------------------------------------------------------

std::string content_type_for(const fs::path& file) {
  auto ext = file.extension().string(); // "" or ".html"
  return content_type_for_extension(std::string_view{ext}.substr(
    ext.empty() ? 0 : 1));
}

/// True when `p` is `root` or below it (both canonical).
bool is_within(const fs::path& root, const fs::path& p) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

/// Reads a regular file of at most `max_static_file` bytes; false for
/// anything else (missing, a directory, a FIFO, too large, an I/O error).
bool read_small_file(const fs::path& file, std::string& out) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
            && static_cast<std::uintmax_t>(st.st_size) <= max_static_file;
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < out.size()) {
      auto n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break; // an error, or the file shrank: serve what is there
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
  }
  ::close(fd);
  return ok;
}

/// `segs` is the decoded path {"static", offering, part...}. Serves the
/// file only when its canonical path (symbolic links resolved) is inside
/// the offering's canonical static_dir; everything else is a 404.
///
/// The file is read inline on the server's I/O thread: static files are
/// small (capped at 16 MiB) and usually in the page cache, and handing the
/// read to another thread would need a pool the front end does not have.
response static_file(const api_context& ctx,
                     const std::vector<std::string>& segs) {
  auto missing
    = [] { return error_response(404, "not_found", "no such file"); };
  if (segs.size() < 3 || ctx.offerings == nullptr)
    return missing();
  auto* o = ctx.offerings->find(segs[1]);
  if (o == nullptr || o->static_dir.empty())
    return missing();
  std::error_code ec;
  auto root = fs::canonical(o->static_dir, ec);
  if (ec)
    return missing();
  auto file = root;
  for (std::size_t i = 2; i < segs.size(); ++i) {
    // split_path already refused '/', NUL, "." and ".."; empty segments
    // and hidden files are not served either.
    if (segs[i].empty() || segs[i].front() == '.')
      return missing();
    file /= segs[i];
  }
  auto real = fs::weakly_canonical(file, ec);
  if (ec || !is_within(root, real) || real == root)
    return missing();
  response r;
  if (!read_small_file(real, r.body))
    return missing();
  r.content_type = content_type_for(real);
  r.headers = {{"X-Content-Type-Options", "nosniff"},
               {"Content-Security-Policy", "frame-ancestors 'none'"},
               {"X-Frame-Options", "DENY"},
               {"Cache-Control", "public, max-age=300"}};
  return r;
}

} // namespace

bool handle_websharing(const api_context& ctx, request& req, responder& reply) {
  auto path = path_of(req.target);
  bool users = path == "/users" || path.starts_with("/users/");
  bool statics = path == "/static" || path.starts_with("/static/");
  std::pair<std::string, std::string> host;
  bool app = false;
  if (!users && !statics) {
    host = host_form(ctx, host_name(req));
    // On any other host (the bare domain, www, an address), a path of
    // two segments is an app store's share; anything else is not ours.
    app = host.first.empty() && app_share_path(path);
    if (host.first.empty() && !app)
      return false;
  }
  bool as_json = wants_json(req);
  if (req.method != "GET" && req.method != "HEAD") {
    auto res = error_page(405, "method_not_allowed", "use GET", as_json);
    res.headers.emplace_back("Allow", "GET, HEAD");
    reply(std::move(res));
    return true;
  }
  auto segs = split_path(path);
  if (!segs) {
    reply(error_page(400, "bad_request", "malformed path", as_json));
    return true;
  }
  if (statics) {
    reply(static_file(ctx, *segs));
    return true;
  }
  if (users) {
    // {"users", localpart} or {"users", localpart, share_id-or-""}
    if (segs->size() < 2 || segs->size() > 3 || (*segs)[1].empty()) {
      reply(not_found(as_json));
      return true;
    }
    auto share_id = segs->size() == 3 ? (*segs)[2] : std::string{};
    serve_share(ctx, req, std::move(reply), (*segs)[1], std::move(share_id),
                ctx.domains, as_json);
    return true;
  }
  if (app) { // {offering, share_id}
    serve_app_share(ctx, req, std::move(reply), (*segs)[0], (*segs)[1],
                    as_json);
    return true;
  }
  // Host form: "/" is the default share, "/{share_id}" a share.
  if (segs->size() != 1) {
    reply(not_found(as_json));
    return true;
  }
  serve_share(ctx, req, std::move(reply), host.first, (*segs)[0], {host.second},
              as_json);
  return true;
}

} // namespace mantissa::http
