#include "protocols/http/api_util.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

#include "offerings/offering.hpp"

namespace mantissa::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i]))
        != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

} // namespace

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

std::optional<std::string> url_decode(std::string_view text,
                                      bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0')
      return std::nullopt;
    out += c;
  }
  return out;
}

std::optional<std::map<std::string, std::string>>
parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{}
                                          : query.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto name = url_decode(pair.substr(0, eq), true);
    auto value = url_decode(
      eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
      true);
    if (!name || !value)
      return std::nullopt;
    out[std::move(*name)] = std::move(*value);
  }
  return out;
}

std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty() || path.front() != '/')
    return std::nullopt;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    auto seg = url_decode(path.substr(0, slash));
    if (!seg || seg->find('/') != std::string::npos || *seg == "."
        || *seg == "..")
      return std::nullopt;
    out.push_back(std::move(*seg));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string cookie_value(const request& req, std::string_view name) {
  for (auto& [k, v] : req.headers) {
    if (!iequals(k, "cookie"))
      continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      auto part = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{}
                                            : rest.substr(semi + 1);
      while (!part.empty() && part.front() == ' ')
        part.remove_prefix(1);
      auto eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name)
        return std::string{part.substr(eq + 1)};
    }
  }
  return {};
}

std::string identity::role() const {
  return session ? session->role : std::string{actors::anonymous_role};
}

identity identify(const request& req, actors::authenticator& auth) {
  identity out;
  auto authz = req.header_value("authorization");
  if (authz.size() > 7 && iequals(authz.substr(0, 7), "bearer ")) {
    out.token = std::string{authz.substr(7)};
  } else {
    out.token = cookie_value(req, session_cookie);
    out.via_cookie = !out.token.empty();
  }
  if (out.token.empty())
    return out;
  out.session = auth.validate(out.token);
  out.bad_token = !out.session;
  if (!out.session)
    out.via_cookie = false;
  return out;
}

actors::caller caller_for(const identity& who, const request& req) {
  auto id = req.header_value("x-request-id");
  return actors::caller{who.role(), std::string{id.substr(0, 64)}};
}

std::string site_address(const actors::node& n) {
  return n.in_cluster() ? "site:seed" : "site";
}

std::string app_store_address(const actors::node& n, std::string_view name) {
  return n.in_cluster() ? std::string{name} + ":seed" : std::string{name};
}

int status_for(actors::error_code code) {
  using actors::error_code;
  switch (code) {
    case error_code::no_such_item:
    case error_code::no_such_type:
    case error_code::no_such_store:
    case error_code::no_such_handler:
    case error_code::forbidden: return 404;
    case error_code::invalid_query:
    case error_code::invalid_value:
    case error_code::invalid_name: return 400;
    case error_code::unauthorized: return 401;
    case error_code::disallowed:
    case error_code::in_use:
    case error_code::already_exists: return 409;
    case error_code::store_unavailable:
    case error_code::busy: return 503;
    case error_code::timeout: return 504;
    default: return 500;
  }
}

response error_from(const actors::reply& r) {
  auto status = status_for(r.code);
  // Forbidden reads as not found: the caller learns nothing it may not see.
  auto code = r.code == actors::error_code::forbidden
                ? actors::error_code::no_such_item
                : r.code;
  auto message = r.code == actors::error_code::forbidden ? std::string{"not found"}
                                                         : r.message;
  return error_response(status, actors::to_string(code), message);
}

response error_response(int status, std::string_view code,
                        std::string_view message) {
  nlohmann::json j{{"error", {{"code", code}, {"message", message}}}};
  response res{status, "application/json", {},
               j.dump(-1, ' ', false,
                      nlohmann::json::error_handler_t::replace)};
  // 503 is temporary (a store on a node that is down, a node stopping):
  // tell clients when to try again (docs/http-api.md).
  if (status == 503)
    res.headers.push_back({"Retry-After", std::to_string(retry_after_seconds)});
  return res;
}

response json_response(int status, std::string body) {
  return response{status, "application/json", {}, std::move(body)};
}

std::string lower_ascii(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

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
    auto media = lower_ascii(trim_blanks(range.substr(0, semi)));
    double q = 1;
    while (semi != std::string_view::npos) {
      range.remove_prefix(semi + 1);
      semi = range.find(';');
      auto param = trim_blanks(range.substr(0, semi));
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

bool prefers_html(const request& req) {
  auto accept = req.header_value("accept");
  return accept_q(accept, "text", "html")
         > accept_q(accept, "application", "json");
}

bool app_share_path(std::string_view path) {
  if (path.size() < 4 || path.front() != '/')
    return false;
  auto slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()
      || path.find('/', slash + 1) != std::string_view::npos)
    return false;
  return !offerings::is_reserved_path_segment(path.substr(1, slash - 1));
}

// One escaping rule for the whole process: offerings' HTML views use the
// same function (offerings/offering.hpp).
const char* content_type_for_extension(std::string_view ext) {
  if (iequals(ext, "html") || iequals(ext, "htm"))
    return "text/html; charset=utf-8";
  if (iequals(ext, "css"))
    return "text/css; charset=utf-8";
  if (iequals(ext, "js") || iequals(ext, "mjs"))
    return "text/javascript; charset=utf-8";
  if (iequals(ext, "json"))
    return "application/json";
  if (iequals(ext, "png"))
    return "image/png";
  if (iequals(ext, "svg"))
    return "image/svg+xml";
  if (iequals(ext, "txt"))
    return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

std::string html_escape(std::string_view text) {
  return offerings::html_escape(text);
}

} // namespace mantissa::http
