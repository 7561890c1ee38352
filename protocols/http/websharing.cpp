// Websharing: public pages of shared items, and offerings' static files.
//
//   GET /users/{localpart}/{share_id}   an item shared by {localpart}@{domain}
//   GET /users/{localpart}[/]           that user's default share
//   GET /{share_id} with Host: {localpart}.{domain}   the same, host form
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
#include <charconv>
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

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// -- content negotiation -----------------------------------------------------

/// The q-value the Accept header gives `type/subtype`: that of the most
/// specific matching range (exact, then `type/*`, then `*/*`); 0 when none
/// matches.
double accept_q(std::string_view accept, std::string_view type,
                std::string_view subtype) {
  int best = 0; // specificity of the best match so far
  double q_best = 0;
  while (!accept.empty()) {
    auto comma = accept.find(',');
    auto range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view{}
                                             : accept.substr(comma + 1);
    auto semi = range.find(';');
    auto media = lower(trim(range.substr(0, semi)));
    double q = 1;
    while (semi != std::string_view::npos) {
      range.remove_prefix(semi + 1);
      semi = range.find(';');
      auto param = trim(range.substr(0, semi));
      if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q')
          && param[1] == '=') {
        auto v = param.substr(2);
        double parsed = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
        if (ec == std::errc{} && end == v.data() + v.size())
          q = std::clamp(parsed, 0.0, 1.0);
      }
    }
    auto slash = media.find('/');
    if (slash == std::string::npos)
      continue;
    auto t = std::string_view{media}.substr(0, slash);
    auto s = std::string_view{media}.substr(slash + 1);
    int spec = 0;
    if (t == type && s == subtype)
      spec = 3;
    else if (t == type && s == "*")
      spec = 2;
    else if (t == "*" && s == "*")
      spec = 1;
    if (spec > best) {
      best = spec;
      q_best = q;
    }
  }
  return q_best;
}

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
    reply(share_page(*self->ctx, address, r.body));
  }
};

/// Answers the share `share_id` ("" = default share) of `localpart` in the
/// first of `domains` where that user has a store.
void serve_share(const api_context& ctx, const request& req, responder reply,
                 const std::string& localpart, std::string share_id,
                 const std::vector<std::string>& domains, bool as_json) {
  if (!share_id.empty() && !store::validate_share_id(share_id)) {
    reply(not_found(as_json));
    return;
  }
  auto lookup = std::make_shared<share_lookup>();
  for (auto& d : domains) {
    auto text = localpart;
    text += '@';
    text += d;
    if (auto addr = actors::parse_address(text))
      lookup->addresses.push_back(actors::to_string(*addr));
  }
  if (lookup->addresses.empty()) {
    reply(not_found(as_json));
    return;
  }
  // A public page: a token that is not valid (expired, revoked) reads as
  // anonymous rather than as an error.
  auto who = identify(req, ctx.node->auth());
  if (who.bad_token)
    who = identity{};
  lookup->ctx = &ctx;
  lookup->who = caller_for(who, req);
  lookup->share_id = std::move(share_id);
  lookup->as_json = as_json;
  lookup->reply = std::move(reply);
  share_lookup::run(std::move(lookup));
}

/// The host name of a request: the Host header in lower case, without its
/// port or a trailing dot.
std::string host_name(const request& req) {
  auto h = trim(req.header_value("host"));
  if (!h.empty() && h.front() == '[') // an IPv6 literal: never a host form
    return lower(h.substr(0, h.find(']') + 1));
  h = h.substr(0, h.find(':'));
  if (!h.empty() && h.back() == '.')
    h.remove_suffix(1);
  return lower(h);
}

/// For a host `{localpart}.{domain}` with a served domain and a localpart
/// other than `www`: the localpart and the domain. Empty otherwise.
std::pair<std::string, std::string> host_form(const api_context& ctx,
                                              const std::string& host) {
  for (auto& domain : ctx.domains) {
    auto d = lower(domain);
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
  if (!users && !statics) {
    host = host_form(ctx, host_name(req));
    if (host.first.empty())
      return false; // the bare domain, www, or another host: not ours
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
