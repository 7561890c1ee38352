// The JSON API's sharing: a store's shares, its groups' members and its
// default share.

#include <string>
#include <utility>

#include "actors/accounts.hpp"
#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http::json_api {

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

namespace {

/// `editors` or `group:editors` -> `group:editors`.
std::string group_role(const std::string& name) {
  return name.rfind("group:", 0) == 0 ? name : "group:" + name;
}

} // namespace

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

} // namespace mantissa::http::json_api
