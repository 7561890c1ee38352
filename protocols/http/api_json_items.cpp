// The JSON API's items: listing, creating, reading, changing and removing
// items of a store, and a mail message's raw bytes.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocols/http/internal/api_json.hpp"
#include "store/item.hpp"

namespace mantissa::http::json_api {

// -- items --------------------------------------------------------------------

namespace {

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

} // namespace

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

namespace {

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

} // namespace

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

} // namespace mantissa::http::json_api
