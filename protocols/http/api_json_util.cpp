// Reading JSON input and shaping JSON replies for the routes of the JSON
// API (internal/api_json.hpp).

#include <string>
#include <utility>

#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http::json_api {

namespace {

/// JSON documents read from requests may nest at most this deep; the store
/// allows 32 levels in a condition, items need far fewer.
constexpr int max_json_depth = 64;

} // namespace

/// Serializes without throwing: invalid UTF-8 becomes U+FFFD.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

response json_reply(int status, const json& j) {
  return json_response(status, dump(j));
}

response bad_request(std::string_view code, std::string_view message) {
  return error_response(400, code, message);
}

/// Parses JSON text from a request (a body or a query parameter). On
/// failure sets `err` to a 400 naming `what` and the position.
std::optional<json> parse_json(std::string_view text, std::string_view what,
                               response& err) {
  bool too_deep = false;
  json::parser_callback_t depth_check
    = [&too_deep](int depth, json::parse_event_t, json&) {
        if (depth > max_json_depth)
          too_deep = true;
        return !too_deep; // stop building once it is too deep
      };
  try {
    auto j = json::parse(text.begin(), text.end(), depth_check);
    if (too_deep) {
      err = bad_request("invalid_json",
                        std::string{what} + " nests deeper than "
                          + std::to_string(max_json_depth) + " levels");
      return std::nullopt;
    }
    return j;
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1,
    // column 7: ...": keep the part from "parse error".
    std::string_view detail = e.what();
    if (auto at = detail.find("parse error"); at != std::string_view::npos)
      detail.remove_prefix(at);
    err = bad_request("invalid_json",
                      std::string{what} + " is not valid JSON (byte "
                        + std::to_string(e.byte) + "): " + std::string{detail});
    return std::nullopt;
  }
}

/// The request body as a JSON object, or nullopt with `err` set.
std::optional<json> body_object(const request& req, response& err) {
  auto j = parse_json(req.body, "the request body", err);
  if (!j)
    return std::nullopt;
  if (!j->is_object()) {
    err
      = bad_request("invalid_value",
                    std::string{"the request body must be a JSON object, got "}
                      + j->type_name());
    return std::nullopt;
  }
  return j;
}

/// Fails with 400 when `obj` has a member not in `known`.
bool only_members(const json& obj,
                  std::initializer_list<std::string_view> known,
                  response& err) {
  for (auto& [key, value] : obj.items()) {
    bool ok = false;
    for (auto k : known)
      ok = ok || key == k;
    if (!ok) {
      std::string list;
      for (auto k : known)
        list += (list.empty() ? "" : ", ") + std::string{k};
      err = bad_request(
        "invalid_value",
        "unknown member '" + key.substr(0, 64) + "' ("
          + (list.empty() ? "this request takes none" : "expected: " + list)
          + ")");
      return false;
    }
  }
  return true;
}

/// The string member `key` of `obj`; when missing (and not `optional`) or
/// not a string, nullopt with `err` set.
std::optional<std::string> string_member(const json& obj, const char* key,
                                         response& err, bool optional) {
  auto i = obj.find(key);
  if (i == obj.end()) {
    if (optional)
      return std::string{};
    err = bad_request("invalid_value",
                      std::string{"the member '"} + key + "' is required");
    return std::nullopt;
  }
  if (!i->is_string()) {
    err = bad_request("invalid_value",
                      std::string{"the member '"} + key + "' must be a string");
    return std::nullopt;
  }
  return i->get<std::string>();
}

/// A non-negative decimal integer of at most 18 digits.
std::optional<std::int64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 18)
    return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

/// An item id from a path segment: a positive integer.
std::optional<std::int64_t> parse_id(std::string_view text) {
  auto v = parse_count(text);
  if (!v || *v == 0)
    return std::nullopt;
  return v;
}

/// Percent-encodes a path segment (unreserved characters and '@' stay).
std::string encode_segment(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
        || c == '~' || c == '@') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Item types named `mantissa.*` are the node's own records (accounts with
/// their password hashes, sessions, settings): the API neither serves nor
/// shares them, even to a store's owner.
bool internal_type(std::string_view type) {
  return type.substr(0, 9) == "mantissa.";
}

response no_such_type(std::string_view type) {
  return error_response(404, "no_such_type",
                        "no item type '" + std::string{type.substr(0, 128)}
                          + "' is served here");
}

/// The session cookie, set (`token` non-empty) or cleared.
std::string session_cookie_header(const std::string& token, bool tls) {
  std::string c{session_cookie};
  c += '=';
  c += token;
  c += "; HttpOnly; SameSite=Lax; Path=/";
  if (token.empty())
    c += "; Max-Age=0";
  if (tls)
    c += "; Secure";
  return c;
}

std::optional<credentials> read_credentials(const request& req,
                                            response& err) {
  auto body = body_object(req, err);
  if (!body || !only_members(*body, {"username", "password"}, err))
    return std::nullopt;
  auto user = string_member(*body, "username", err);
  auto password = user ? string_member(*body, "password", err) : std::nullopt;
  if (!user || !password)
    return std::nullopt;
  return credentials{std::move(*user), std::move(*password)};
}

/// Completes a store request: the reply body as it is with `status`, or the
/// mapped error.
actors::reply_handler relay(responder done, int status) {
  return [done = std::move(done), status](actors::reply r) {
    if (!r.ok)
      done(error_from(r));
    else
      done(json_response(status, std::move(r.body)));
  };
}

/// Where the accounts are: this node's site store, or the seed's in a
/// cluster (docs/cluster.md).
std::string accounts_site(const call& c) {
  return site_address(c.node);
}

/// Runs `next` once the site store has said that the caller administers
/// the site (`mantissa.check_admin`); everyone else gets its refusal, a
/// 404. `next` then acts as the node.
void as_admin(call& c, std::function<void()> next) {
  c.node.run(c.caller, accounts_site(c), "mantissa.check_admin", "{}",
             [done = c.done, next = std::move(next)](actors::reply r) {
               if (!r.ok)
                 return done(error_from(r));
               next();
             });
}

} // namespace mantissa::http::json_api
