// The JSON API under /api/ (docs/http-api.md): login, logout, me, items,
// shares, groups, the default share and account administration.
//
// This file only establishes who is asking and translates HTTP into the
// node's store messages; every access decision is taken by the store actors
// (docs/security.md). Each request is answered exactly once: synchronously
// for bad input, otherwise from the node's reply handler (an actor thread)
// or the authenticator's callback (one of its threads), which the server
// allows (server.hpp).

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "actors/node.hpp"
#include "log/log.hpp"
#include "protocols/http/api_util.hpp"
#include "protocols/http/metrics.hpp"
#include "protocols/http/routes.hpp"
#include "store/item.hpp"

namespace mantissa::http {

namespace {

using nlohmann::json;

/// JSON documents read from requests may nest at most this deep; the store
/// allows 32 levels in a condition, items need far fewer.
constexpr int max_json_depth = 64;

/// The header a browser page must add to cookie-authenticated writes.
constexpr std::string_view csrf_header = "x-requested-with";

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
                                         response& err, bool optional = false) {
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
  admin_users,     // admin/users
  admin_user,      // admin/users/{address}/{disable|enable|password}
  admin_fanout,    // admin/fanout
  admin_overview,  // admin/overview
  admin_stats,     // admin/stats
  admin_stores,    // admin/stores
  admin_offerings, // admin/offerings
  admin_store,     // admin/stores/{address}/{move|backup}
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

/// One request being served: what every route needs.
struct call {
  const api_context& ctx;
  const http_metrics* http; // may be null
  actors::node& node;
  const request& req;
  std::string method; // HEAD is served as GET (the server drops the body)
  std::vector<std::string> seg; // after "api"
  identity who;
  actors::caller caller;
  responder done; // answers once; adds the API's headers

  const std::string& address() const { return seg[1]; }
};

/// Completes a store request: the reply body as it is with `status`, or the
/// mapped error.
actors::reply_handler relay(responder done, int status = 200) {
  return [done = std::move(done), status](actors::reply r) {
    if (!r.ok)
      done(error_from(r));
    else
      done(json_response(status, std::move(r.body)));
  };
}

// -- session routes -----------------------------------------------------------

void on_login(call& c) {
  response err;
  auto body = body_object(c.req, err);
  if (!body || !only_members(*body, {"username", "password"}, err))
    return c.done(std::move(err));
  auto user = string_member(*body, "username", err);
  auto password = user ? string_member(*body, "password", err) : std::nullopt;
  if (!user || !password)
    return c.done(std::move(err));
  // `system` logs in on the node's port only (actors/auth.hpp): here it is
  // an unknown user, in any letter case.
  c.node.auth().login(
    std::move(*user), std::move(*password), c.req.remote_address,
    [done = c.done, tls = c.ctx.tls || c.req.secure](actors::login_result r) {
      if (!r.ok) {
        done(error_response(status_for(r.code), actors::to_string(r.code),
                            r.message));
        return;
      }
      auto res = json_reply(
        200,
        {{"token", r.token}, {"address", r.who.address}, {"role", r.who.role}});
      res.headers.emplace_back("Set-Cookie",
                               session_cookie_header(r.token, tls));
      done(std::move(res));
    });
}

void on_logout(call& c) {
  // Idempotent: an unknown or expired token is simply gone already.
  if (c.who.session)
    c.node.auth().logout(c.who.token);
  auto res = json_reply(200, {{"ok", true}});
  res.headers.emplace_back(
    "Set-Cookie", session_cookie_header({}, c.ctx.tls || c.req.secure));
  c.done(std::move(res));
}

void on_me(call& c) {
  if (!c.who.session)
    return c.done(error_response(401, "unauthorized", "not logged in"));
  c.done(json_reply(
    200, {{"address", c.who.session->address}, {"role", c.who.session->role}}));
}

// -- items --------------------------------------------------------------------

/// GET .../items/{type}?where=&sort=&limit=&offset=
void on_list_items(call& c, const std::string& type) {
  auto params = parse_query(query_of(c.req.target));
  if (!params)
    return c.done(bad_request("invalid_query",
                              "the query string has a malformed %-escape"));
  json q{{"type", type}};
  response err;
  for (auto& [name, value] : *params) {
    if ((name == "where" || name == "sort") && value.empty())
      continue;
    if (name == "where") {
      auto w = parse_json(value, "the parameter 'where'", err);
      if (!w)
        return c.done(std::move(err));
      q["where"] = std::move(*w);
    } else if (name == "sort") {
      auto first = value.find_first_not_of(' ');
      if (first != std::string::npos
          && (value[first] == '[' || value[first] == '{'
              || value[first] == '"')) {
        auto s = parse_json(value, "the parameter 'sort'", err);
        if (!s)
          return c.done(std::move(err));
        q["sort"] = std::move(*s);
        continue;
      }
      json keys = json::array();
      std::string_view rest = value;
      while (true) {
        auto comma = rest.find(',');
        auto key = rest.substr(0, comma);
        while (!key.empty() && key.front() == ' ')
          key.remove_prefix(1);
        while (!key.empty() && key.back() == ' ')
          key.remove_suffix(1);
        if (key.empty())
          return c.done(bad_request(
            "invalid_query", "the parameter 'sort' has an empty key; use "
                             "attr,-attr (descending) or JSON"));
        keys.push_back(std::string{key});
        if (comma == std::string_view::npos)
          break;
        rest.remove_prefix(comma + 1);
      }
      q["sort"] = std::move(keys);
    } else if (name == "limit" || name == "offset") {
      auto v = parse_count(value);
      if (!v)
        return c.done(
          bad_request("invalid_query", "the parameter '" + name
                                         + "' must be a non-negative integer"));
      q[name] = *v;
    } else {
      return c.done(bad_request("invalid_query",
                                "unknown query parameter '" + name.substr(0, 64)
                                  + "' (known: where, sort, limit, offset)"));
    }
  }
  c.node.query(c.caller, c.address(), dump(q), relay(c.done));
}

void on_items(call& c) {
  const auto& type = c.seg[3];
  if (internal_type(type))
    return c.done(no_such_type(type));
  if (c.method == "GET")
    return on_list_items(c, type);
  // POST: create.
  response err;
  auto body = body_object(c.req, err);
  if (!body)
    return c.done(std::move(err));
  auto base = "/api/stores/" + encode_segment(c.address()) + "/items/"
              + encode_segment(type) + "/";
  c.node.put(c.caller, c.address(), type, dump(*body),
             [done = c.done, base = std::move(base)](actors::reply r) {
               if (!r.ok)
                 return done(error_from(r));
               auto res = json_response(201, std::move(r.body));
               auto item = json::parse(res.body, nullptr, false);
               if (item.is_object() && item.contains("id")
                   && item["id"].is_number_integer())
                 res.headers.emplace_back(
                   "Location",
                   base + std::to_string(item["id"].get<std::int64_t>()));
               done(std::move(res));
             });
}

void on_item(call& c) {
  const auto& type = c.seg[3];
  if (internal_type(type))
    return c.done(no_such_type(type));
  auto id = parse_id(c.seg[4]);
  if (!id)
    return c.done(
      bad_request("invalid_value", "an item id is a positive integer, got '"
                                     + c.seg[4].substr(0, 64) + "'"));
  if (c.method == "GET")
    return c.node.get(c.caller, c.address(), type, *id, relay(c.done));
  if (c.method == "DELETE")
    return c.node.remove(c.caller, c.address(), type, *id, relay(c.done));
  // PATCH: the attributes to change.
  response err;
  auto body = body_object(c.req, err);
  if (!body)
    return c.done(std::move(err));
  c.node.update(c.caller, c.address(), type, *id, dump(*body), relay(c.done));
}

// -- a mail message's raw bytes -----------------------------------------------

/// A byte range asked for with `Range: bytes=...` (one range only).
struct byte_range {
  std::int64_t first = 0;
  std::int64_t last = -1;  // inclusive; -1: to the end
  std::int64_t suffix = -1;  // bytes=-N: the last N bytes
};

/// Parses `bytes=A-B`, `bytes=A-` or `bytes=-N`; anything else (several
/// ranges, other units) is ignored and the whole message is sent.
std::optional<byte_range> parse_range(std::string_view h) {
  if (h.substr(0, 6) != "bytes=" || h.find(',') != std::string_view::npos)
    return std::nullopt;
  auto spec = h.substr(6);
  auto dash = spec.find('-');
  if (dash == std::string_view::npos)
    return std::nullopt;
  auto num = [](std::string_view t) -> std::optional<std::int64_t> {
    if (t.empty() || t.size() > 18
        || t.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    return std::stoll(std::string{t});
  };
  byte_range r;
  if (dash == 0) {
    auto n = num(spec.substr(1));
    if (!n)
      return std::nullopt;
    r.suffix = *n;
    return r;
  }
  auto a = num(spec.substr(0, dash));
  if (!a)
    return std::nullopt;
  r.first = *a;
  if (dash + 1 < spec.size()) {
    auto b = num(spec.substr(dash + 1));
    if (!b || *b < *a)
      return std::nullopt;
    r.last = *b;
  }
  return r;
}

/// Reads [from, to) of message `id` with `mail.raw`, 1 MiB per request,
/// into `out`, then calls `k` (or answers the error).
void read_raw_range(actors::node& n, actors::caller who, std::string address,
                    std::int64_t id, std::int64_t from, std::int64_t to,
                    std::shared_ptr<std::string> out,
                    std::function<void()> k, responder done) {
  if (from >= to)
    return k();
  constexpr std::int64_t step = std::int64_t{1} << 20;
  auto len = std::min(step, to - from);
  auto args = json{{"id", id}, {"offset", from}, {"length", len}}.dump();
  n.run(who, address, "mail.raw", args,
        [&n, who, address, id, from, to, out, k = std::move(k),
         done](actors::reply r) mutable {
          if (!r.ok)
            return done(error_from(r));
          auto j = json::parse(r.body, nullptr, false);
          auto bytes = j.is_object() && j.contains("data")
                         ? store::base64_decode(j["data"].get<std::string>())
                         : store::result<std::string>{store::error{
                             store::errc::internal, "malformed mail.raw"}};
          if (!bytes || bytes->empty())
            return done(error_response(500, "internal",
                                       "mail.raw answered no bytes"));
          out->append(*bytes);
          read_raw_range(n, who, address, id,
                         from + static_cast<std::int64_t>(bytes->size()), to,
                         out, std::move(k), done);
        });
}

/// GET /api/stores/{address}/mail/{id}/raw: the message exactly as it was
/// received (`message/rfc822`), whole or one `Range` of it (206), read from
/// the store 1 MiB at a time. Owner only (the `mail.raw` handler).
void on_mail_raw(call& c) {
  auto id = parse_id(c.seg[3]);
  if (!id)
    return c.done(
      bad_request("invalid_value", "a message id is a positive integer, got '"
                                     + c.seg[3].substr(0, 64) + "'"));
  auto range = parse_range(c.req.header_value("range"));
  auto& n = c.node;
  auto who = c.caller;
  auto address = c.address();
  auto done = c.done;
  auto probe = json{{"id", *id}, {"offset", 0}, {"length", 0}}.dump();
  n.run(who, address, "mail.raw", probe,
        [&n, who, address, id = *id, range, done](actors::reply r) {
          if (!r.ok)
            return done(error_from(r));
          auto j = json::parse(r.body, nullptr, false);
          auto size = j.is_object() ? j.value("size", std::int64_t{0})
                                    : std::int64_t{0};
          std::int64_t from = 0;
          std::int64_t to = size;
          bool partial = false;
          if (range) {
            partial = true;
            if (range->suffix >= 0) {
              from = std::max<std::int64_t>(0, size - range->suffix);
            } else {
              from = range->first;
              if (range->last >= 0)
                to = std::min(size, range->last + 1);
            }
            if (from >= size || from >= to) {
              response res = error_response(416, "range_not_satisfiable",
                                            "the message has "
                                              + std::to_string(size)
                                              + " bytes");
              res.headers.emplace_back("Content-Range",
                                       "bytes */" + std::to_string(size));
              return done(std::move(res));
            }
          }
          auto out = std::make_shared<std::string>();
          out->reserve(static_cast<std::size_t>(to - from));
          read_raw_range(
            n, who, address, id, from, to, out,
            [out, partial, from, to, size, done] {
              response res{partial ? 206 : 200, "message/rfc822", {},
                           std::move(*out)};
              res.headers.emplace_back("Accept-Ranges", "bytes");
              if (partial)
                res.headers.emplace_back(
                  "Content-Range", "bytes " + std::to_string(from) + "-"
                                     + std::to_string(to - 1) + "/"
                                     + std::to_string(size));
              done(std::move(res));
            },
            done);
        });
}

// -- sharing ------------------------------------------------------------------

void on_shares(call& c) {
  if (c.method == "GET")
    return c.node.shares(
      c.caller, c.address(), 0, [done = c.done](actors::reply r) {
        if (!r.ok)
          return done(error_from(r));
        done(json_response(200, "{\"shares\":" + r.body + "}"));
      });
  // POST: share one item.
  response err;
  auto body = body_object(c.req, err);
  if (!body
      || !only_members(*body,
                       {"type", "item", "role", "interfaces", "share_id"}, err))
    return c.done(std::move(err));
  auto type = string_member(*body, "type", err);
  auto role = type ? string_member(*body, "role", err) : std::nullopt;
  auto share_id
    = role ? string_member(*body, "share_id", err, true) : std::nullopt;
  if (!share_id)
    return c.done(std::move(err));
  if (internal_type(*type))
    return c.done(no_such_type(*type));
  auto item = body->find("item");
  if (item == body->end() || !item->is_number_integer()
      || item->get<std::int64_t>() <= 0)
    return c.done(bad_request("invalid_value",
                              "the member 'item' must be a positive integer"));
  json interfaces = json::array({"read"});
  if (auto i = body->find("interfaces"); i != body->end()) {
    bool ok = i->is_array() && !i->empty();
    if (ok)
      for (auto& name : *i)
        ok = ok && name.is_string();
    if (!ok)
      return c.done(bad_request("invalid_value",
                                "the member 'interfaces' must be a non-empty "
                                "array of interface names, e.g. [\"read\"]"));
    interfaces = *i;
  }
  // The web address of a share of a user store (websharing.cpp serves it).
  std::string url_base;
  if (auto a = actors::parse_address(c.address()); a && !a->is_offering())
    url_base = "/users/" + a->localpart + "/";
  c.node.share(
    c.caller, c.address(), *type, item->get<std::int64_t>(), *role,
    dump(interfaces), *share_id,
    [done = c.done, url_base = std::move(url_base)](actors::reply r) {
      if (!r.ok)
        return done(error_from(r));
      auto j = json::parse(r.body, nullptr, false);
      if (!j.is_object() || !j.contains("share_id")
          || !j["share_id"].is_string())
        return done(
          error_response(500, "internal", "malformed reply to a share"));
      if (!url_base.empty())
        j["url"] = url_base + j["share_id"].get<std::string>();
      done(json_reply(201, j));
    });
}

void on_share(call& c) {
  auto params = parse_query(query_of(c.req.target));
  if (!params)
    return c.done(bad_request("invalid_query",
                              "the query string has a malformed %-escape"));
  std::string role;
  for (auto& [name, value] : *params) {
    if (name != "role")
      return c.done(bad_request("invalid_query", "unknown query parameter '"
                                                   + name.substr(0, 64)
                                                   + "' (known: role)"));
    role = value;
  }
  c.node.unshare(c.caller, c.address(), c.seg[3], role, relay(c.done));
}

/// `editors` or `group:editors` -> `group:editors`.
std::string group_role(const std::string& name) {
  return name.rfind("group:", 0) == 0 ? name : "group:" + name;
}

void on_members(call& c) {
  response err;
  auto body = body_object(c.req, err);
  if (!body || !only_members(*body, {"member"}, err))
    return c.done(std::move(err));
  auto member = string_member(*body, "member", err);
  if (!member)
    return c.done(std::move(err));
  c.node.member(c.caller, c.address(), *member, group_role(c.seg[3]), true,
                relay(c.done));
}

void on_member(call& c) {
  c.node.member(c.caller, c.address(), c.seg[5], group_role(c.seg[3]), false,
                relay(c.done));
}

void on_default_share(call& c) {
  response err;
  auto body = body_object(c.req, err);
  if (!body || !only_members(*body, {"share_id"}, err))
    return c.done(std::move(err));
  auto share_id = string_member(*body, "share_id", err);
  if (!share_id)
    return c.done(std::move(err));
  c.node.set_default_share(c.caller, c.address(), *share_id, relay(c.done));
}

// -- administration -----------------------------------------------------------

/// After the site store created an account: creates the user's store and
/// writes its copy of the account there (as the node; the site store
/// already decided that the caller may add accounts).
void prepare_user_store(actors::node& n, responder done, json acct) {
  auto address = acct.value("address", std::string{});
  auto created = acct.value("created", std::int64_t{0});
  auto failed = [done, address](const actors::reply& r) {
    done(error_response(500, actors::to_string(r.code),
                        "account " + address
                          + " was created, but its store could not be "
                            "prepared: "
                          + r.message));
  };
  n.create_store(address, [&n, done, acct = std::move(acct), address, created,
                           failed](actors::reply r) mutable {
    if (!r.ok)
      return failed(r);
    actors::caller node_caller{actors::system_role, "http-admin"};
    n.run(node_caller, address, "mantissa.write_account_copy", dump(acct),
          [done, address, created, failed](actors::reply copied) {
            if (!copied.ok)
              return failed(copied);
            done(json_reply(201, {{"address", address},
                                  {"created", created},
                                  {"disabled", false}}));
          });
  });
}

void on_admin_users(call& c) {
  if (c.method == "GET")
    return c.node.run(c.caller, "site", "mantissa.list_accounts", "{}",
                      [done = c.done](actors::reply r) {
                        if (!r.ok)
                          return done(error_from(r));
                        done(json_response(200, "{\"users\":" + r.body + "}"));
                      });
  response err;
  auto body = body_object(c.req, err);
  if (!body || !only_members(*body, {"username", "password"}, err))
    return c.done(std::move(err));
  auto user = string_member(*body, "username", err);
  auto password = user ? string_member(*body, "password", err) : std::nullopt;
  if (!user || !password)
    return c.done(std::move(err));
  if (c.node.in_cluster()) {
    // The seed's site store holds the accounts and places the new store on
    // a node (docs/cluster.md): it checks that the caller administers the
    // site, then the cluster adds the account as the system.
    auto args = dump(json{{"username", *user}, {"password", *password}});
    return c.node.run(
      c.caller, "site:seed", "mantissa.check_admin", "{}",
      [&n = c.node, args, done = c.done](actors::reply r) {
        if (!r.ok)
          return done(error_from(r));
        n.cluster_command("add_user", args, [done](actors::reply added) {
          if (!added.ok)
            return done(error_from(added));
          auto out = json::parse(added.body, nullptr, false);
          if (!out.is_object())
            return done(error_response(500, "internal",
                                       "malformed reply to add_user"));
          out["disabled"] = false;
          done(json_reply(201, std::move(out)));
        });
      });
  }
  // The site store checks that the caller administers it (owner-only
  // handler) before anything else happens.
  c.node.run(c.caller, "site", "mantissa.add_account",
             dump(json{{"username", *user}, {"password", *password}}),
             [&n = c.node, done = c.done](actors::reply r) {
               if (!r.ok)
                 return done(error_from(r));
               auto acct = json::parse(r.body, nullptr, false);
               if (!acct.is_object() || !acct.contains("address"))
                 return done(error_response(500, "internal",
                                            "malformed reply to add_account"));
               prepare_user_store(n, done, std::move(acct));
             });
}

/// POST /api/admin/fanout: a fan-out over every user store (docs/
/// operations.md). The site store (the seed's in a cluster) checks that
/// the caller administers the site; the node then runs it as the system.
void on_admin_fanout(call& c) {
  response err;
  auto body = body_object(c.req, err);
  if (!body)
    return c.done(std::move(err));
  auto site = c.node.in_cluster() ? "site:seed" : "site";
  c.node.run(c.caller, site, "mantissa.check_admin", "{}",
             [&n = c.node, spec = dump(*body), done = c.done](actors::reply r) {
               if (!r.ok)
                 return done(error_from(r));
               n.fanout(spec, {}, [done](actors::reply out) {
                 if (!out.ok)
                   return done(error_from(out));
                 done(json_response(200, std::move(out.body)));
               });
             });
}

// -- administration: accounts, the node, stores, offerings --------------------

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
      return true;
    default:
      return false;
  }
}

/// Text from a request made safe for one log line: printable ASCII only,
/// at most 200 bytes.
std::string loggable(std::string_view text) {
  std::string out;
  for (char ch : text.substr(0, 200)) {
    auto u = static_cast<unsigned char>(ch);
    out += u >= 0x20 && u < 0x7f ? ch : '?';
  }
  return out;
}

/// Logs every administrative write and every refused or failed
/// administrative request as one line on stderr (who, what, the status
/// and the error's message; never a body, so never a password).
responder admin_logged(responder inner, std::string who, std::string method,
                       std::string path, std::string client) {
  return
    [inner = std::move(inner), who = std::move(who), method = std::move(method),
     path = std::move(path), client = std::move(client)](response r) {
      bool read = method == "GET" || method == "HEAD";
      if (!read || r.status >= 400) {
        std::string error;
        if (r.status >= 400) {
          auto j = json::parse(r.body, nullptr, false);
          if (j.is_object() && j.contains("error") && j["error"].is_object())
            error = loggable(j["error"].value("code", "")) + ": "
                    + loggable(j["error"].value("message", ""));
        }
        log::write(r.status >= 400 ? log::level::warn : log::level::info,
                   "admin", method + " " + loggable(path),
                   {{"by", loggable(who)},
                    {"peer", loggable(client)},
                    {"status", std::to_string(r.status)},
                    {"error", error}});
      }
      inner(std::move(r));
    };
}

/// Where the accounts are: this node's site store, or the seed's in a
/// cluster (docs/cluster.md).
const char* accounts_site(const call& c) {
  return c.node.in_cluster() ? "site:seed" : "site";
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

/// POST /api/admin/users/{address}/disable, /enable, /password: the site
/// store's handlers `mantissa.set_disabled` / `mantissa.set_password`
/// change the account (refusing non-admins), then the node writes the
/// user store's copy and, for a disable or a new password, ends the
/// account's sessions on this node.
void on_admin_user(call& c) {
  const auto& target = c.seg[2];
  const auto& action = c.seg[3];
  auto addr = actors::parse_address(target);
  if (!addr)
    return c.done(bad_request("invalid_name", addr.error_value().message));
  if (addr->is_offering())
    return c.done(bad_request("invalid_name",
                              "'" + target.substr(0, 64)
                                + "' is an offering, not an account address "
                                  "user@domain"));
  auto address = actors::to_string(*addr);
  json args{{"address", address}};
  std::string handler;
  response err;
  if (action == "password") {
    auto body = body_object(c.req, err);
    if (!body || !only_members(*body, {"password"}, err))
      return c.done(std::move(err));
    auto password = string_member(*body, "password", err);
    if (!password)
      return c.done(std::move(err));
    if (password->empty())
      return c.done(bad_request("invalid_value",
                                "the member 'password' must not be empty"));
    args["password"] = std::move(*password);
    handler = "mantissa.set_password";
  } else {
    // No body, or an empty object.
    if (!c.req.body.empty()) {
      auto body = body_object(c.req, err);
      if (!body || !only_members(*body, {}, err))
        return c.done(std::move(err));
    }
    args["disabled"] = action == "disable";
    handler = "mantissa.set_disabled";
  }
  c.node.run(
    c.caller, accounts_site(c), handler, dump(args),
    [&n = c.node, done = c.done, action, address](actors::reply r) {
      if (!r.ok)
        return done(error_from(r));
      auto acct = json::parse(r.body, nullptr, false);
      if (!acct.is_object() || !acct.contains("disabled")
          || !acct["disabled"].is_boolean())
        return done(
          error_response(500, "internal", "malformed reply to " + action));
      bool disabled = acct["disabled"].get<bool>();
      actors::caller node_caller{actors::system_role, "http-admin"};
      n.run(node_caller, address, "mantissa.write_account_copy", dump(acct),
            [&n, done, action, address, disabled](actors::reply copied) {
              if (!copied.ok)
                return done(error_response(
                  500, actors::to_string(copied.code),
                  "account " + address + ": " + action
                    + " done in the site store, but the copy in its store "
                      "could not be written: "
                    + copied.message));
              if (action == "enable")
                return done(json_reply(200, {{"address", address},
                                             {"disabled", disabled},
                                             {"sessions_ended", 0}}));
              // A disabled account, or one whose password was reset, must
              // log in again (with the new password): its sessions end now,
              // on every node of the cluster and on the port.
              n.end_sessions(address, [done, address,
                                       disabled](actors::reply ended) {
                auto e = json::parse(ended.body, nullptr, false);
                json out{{"address", address},
                         {"disabled", disabled},
                         {"sessions_ended",
                          e.is_object() ? e.value("ended", 0) : 0}};
                if (!ended.ok)
                  out["warning"] = "sessions on other nodes may not have "
                                   "ended: " + ended.message;
                else if (e.is_object() && e.contains("unreached")
                         && !e["unreached"].empty())
                  out["unreached"] = e["unreached"];
                done(json_reply(200, out));
              });
            });
    });
}

/// GET /api/admin/overview: the node, the cluster's members (as this node
/// knows them) and how many stores this node's data directory holds.
void on_admin_overview(call& c) {
  as_admin(c, [&n = c.node, done = c.done] {
    auto out = std::make_shared<json>(
      json{{"node", n.options().name}, {"cluster", n.in_cluster()}});
    n.list_stores([&n, done, out](actors::reply r) {
      auto listed = json::parse(r.body, nullptr, false);
      if (r.ok && listed.is_object() && listed.contains("stores")
          && listed["stores"].is_array()) {
        std::int64_t users = 0;
        std::int64_t apps = 0;
        for (auto& s : listed["stores"]) {
          auto name = s.is_string() ? s.get<std::string>() : std::string{};
          if (name.find('@') != std::string::npos)
            ++users;
          else if (name != "site")
            ++apps;
        }
        (*out)["stores"] = {
          {"total", listed["stores"].size()}, {"user", users}, {"app", apps}};
      } else {
        (*out)["stores"] = {{"error", r.ok ? "malformed" : r.message}};
      }
      if (!n.in_cluster()) {
        (*out)["members"] = json::array(
          {{{"name", n.options().name}, {"state", "up"}, {"self", true}}});
        return done(json_reply(200, *out));
      }
      n.cluster_command("status", "{}", [done, out](actors::reply st) {
        auto j = json::parse(st.body, nullptr, false);
        if (st.ok && j.is_object() && j.contains("nodes")
            && j["nodes"].is_array())
          (*out)["members"] = j["nodes"];
        else
          (*out)["members_error"] = st.ok ? "malformed status" : st.message;
        done(json_reply(200, *out));
      });
    });
  });
}

/// GET /api/admin/stats: the node's counters (open stores, activations,
/// commits, ...), the front end's request totals and the time, for the
/// admin page's charts.
void on_admin_stats(call& c) {
  // Read now: the metrics belong to the handler, which may be gone when
  // the node's answer arrives.
  http_metrics::totals totals;
  if (c.http != nullptr)
    totals = c.http->sum();
  as_admin(c, [&n = c.node, done = c.done, totals] {
    n.stats([done, totals](actors::reply r) {
      if (!r.ok)
        return done(error_from(r));
      auto j = json::parse(r.body, nullptr, false);
      if (!j.is_object())
        return done(error_response(500, "internal", "malformed node stats"));
      j["http_requests"] = totals.requests;
      j["http_client_errors"] = totals.client_errors;
      j["http_server_errors"] = totals.server_errors;
      j["time_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
      done(json_reply(200, j));
    });
  });
}

/// At most this many store addresses in one answer of GET
/// /api/admin/stores (the total is always given).
constexpr std::size_t max_listed_stores = 1000;

/// GET /api/admin/stores: the store files of this node's data directory.
void on_admin_stores(call& c) {
  as_admin(c, [&n = c.node, done = c.done] {
    n.list_stores([done](actors::reply r) {
      if (!r.ok)
        return done(error_from(r));
      auto j = json::parse(r.body, nullptr, false);
      if (!j.is_object() || !j.contains("stores") || !j["stores"].is_array())
        return done(error_response(500, "internal", "malformed store list"));
      auto& all = j["stores"];
      auto total = all.size();
      json listed = json::array();
      for (std::size_t i = 0; i < total && i < max_listed_stores; ++i)
        listed.push_back(all[i]);
      done(json_reply(200, {{"node", j.value("node", "")},
                            {"total", total},
                            {"truncated", total > max_listed_stores},
                            {"stores", std::move(listed)}}));
    });
  });
}

/// POST /api/admin/stores/{address}/move `{"to":NODE}`: the store moves
/// (docs/operations.md, "Moving a store"), run by the node that holds it;
/// the answer is the move's. POST /api/admin/stores/{address}/backup: a
/// snapshot of a store of this node into `<data>/backups/manual/`.
void on_admin_store(call& c) {
  std::string address = "site";
  if (c.seg[2] != "site") {
    auto addr = actors::parse_address(c.seg[2]);
    if (!addr)
      return c.done(bad_request("invalid_name", addr.error_value().message));
    address = actors::to_string(*addr);
  } else if (c.seg[3] == "move") {
    return c.done(bad_request("invalid_value", "the site store does not move"));
  }
  if (c.seg[3] == "move") {
    response err;
    auto body = body_object(c.req, err);
    if (!body)
      return c.done(std::move(err));
    auto it = body->find("to");
    if (it == body->end() || !it->is_string() || it->get<std::string>().empty())
      return c.done(bad_request("invalid_value", "to: the node to move it to"));
    auto to = it->get<std::string>();
    as_admin(c, [&n = c.node, done = c.done, address, to] {
      if (!n.in_cluster())
        return done(bad_request("invalid_value",
                                "this node is not part of a cluster"));
      n.cluster_command("move", dump(json{{"address", address}, {"to", to}}),
                        relay(done));
    });
    return;
  }
  as_admin(c, [&n = c.node, done = c.done, address] {
    auto stamp = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    auto dest = n.options().data_dir / "backups" / "manual"
                / (address + "-" + std::to_string(stamp) + ".sqlite");
    n.backup_store(address, std::filesystem::absolute(dest), relay(done));
  });
}

/// GET /api/admin/offerings: the site store's `mantissa.list_offerings`
/// (owner-only: the site store refuses non-admins).
void on_admin_offerings(call& c) {
  c.node.run(c.caller, "site", "mantissa.list_offerings", "{}", relay(c.done));
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

void serve(const api_context& ctx, const http_metrics* http, request& req,
           responder done) {
  auto path = path_of(req.target);
  auto seg = split_path(path);
  if (!seg)
    return done(bad_request("invalid_path",
                            "the path has a malformed %-escape or a "
                            "forbidden segment"));
  seg->erase(seg->begin()); // "api"
  if (seg->size() > 1 && seg->back().empty())
    seg->pop_back(); // a trailing slash
  auto m = match(*seg);
  if (!m)
    return done(
      error_response(404, "not_found", "no API route " + std::string{path}));
  std::string method = req.method == "HEAD" ? "GET" : req.method;
  if (!allows(m->allow, method)) {
    auto res
      = error_response(405, "method_not_allowed",
                       req.method + " is not allowed on " + std::string{path}
                         + " (allowed: " + std::string{m->allow} + ")");
    res.headers.emplace_back("Allow", std::string{m->allow});
    return done(std::move(res));
  }
  auto& n = *ctx.node;
  call c{ctx,
         http,
         n,
         req,
         method,
         std::move(*seg),
         identify(req, n.auth()),
         {},
         std::move(done)};
  c.caller = caller_for(c.who, req);
  // A token that is no longer valid is an error, not an anonymous request:
  // the client must log in again. Logging in or out works regardless.
  if (c.who.bad_token && m->id != route::login && m->id != route::logout) {
    auto res = error_response(401, "unauthorized",
                              "the session has expired or was logged out; "
                              "log in again");
    if (token_in_cookie(req))
      res.headers.emplace_back("Set-Cookie",
                               session_cookie_header({}, ctx.tls || req.secure));
    return c.done(std::move(res));
  }
  // CSRF: a browser attaches the cookie to requests any site makes, but it
  // sends a custom header cross-site only after a CORS preflight, which
  // this server never grants. So cookie-authenticated writes, and logins
  // from browsers (they carry Origin), must carry X-Requested-With.
  bool needs_header
    = is_write(method)
      && (c.who.via_cookie
          || (m->id == route::login && !req.header_value("origin").empty()));
  if (needs_header && req.header_value(csrf_header).empty())
    return c.done(error_response(
      403, "csrf",
      "a write authenticated by the session cookie needs the header "
      "'X-Requested-With: mantissa' (it keeps other sites from writing as "
      "you); or use 'Authorization: Bearer TOKEN'"));
  if (is_admin_route(m->id))
    c.done = admin_logged(std::move(c.done), c.who.role(), req.method,
                          std::string{path}, req.remote_address);
  switch (m->id) {
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
  }
}

} // namespace

bool handle_json_api(const api_context& ctx, const http_metrics* http,
                     request& req, responder& reply) {
  auto path = path_of(req.target);
  if (path != "/api" && path.substr(0, 5) != "/api/")
    return false;
  auto done = api_responder(reply);
  try {
    serve(ctx, http, req, done);
  } catch (const std::exception& e) {
    done(error_response(500, "internal",
                        std::string{"the request failed: "} + e.what()));
  }
  return true;
}

} // namespace mantissa::http
