// The JSON API's administration of the node: fan-outs, the overview and
// statistics, the stores (list, move, backup) and the offerings; and the
// log line every administrative request leaves.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "log/log.hpp"
#include "protocols/http/metrics.hpp"

#include "actors/accounts.hpp"
#include "offerings/online.hpp"
#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http::json_api {

namespace {

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

/// At most this many store addresses in one answer of GET
/// /api/admin/stores (the total is always given).
constexpr std::size_t max_listed_stores = 1000;

} // namespace

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

/// Online administration (offerings/online.hpp; docs/http-api.md,
/// "Administration"), each route one operation run as the caller:
/// - POST /api/admin/offerings/{name}/install|uninstall
/// - POST /api/admin/products `{"name","powerups":[...]}` (201)
/// - POST /api/admin/users/{address}/products `{"product"}` (give)
/// - DELETE /api/admin/users/{address}/products/{product} (take)
void on_admin_online(call& c) {
  std::string op;
  json args = json::object();
  int status = 200;
  if (c.seg[1] == "offerings") {
    op = c.seg[3];
    args["name"] = c.seg[2];
  } else if (c.method == "DELETE") {
    op = "take";
    args = {{"address", c.seg[2]}, {"product", c.seg[4]}};
  } else {
    response err;
    auto body = body_object(c.req, err);
    if (!body)
      return c.done(std::move(err));
    args = std::move(*body);
    if (c.seg[1] == "products") {
      op = "create_product";
      status = 201;
    } else {
      op = "give";
      args["address"] = c.seg[2];
    }
  }
  offerings::run_admin(offerings::access_of(c.node), c.caller, op, args,
                       relay(c.done, status));
}

} // namespace mantissa::http::json_api
