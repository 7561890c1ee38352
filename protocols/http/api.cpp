#include "protocols/http/api.hpp"

#include <cctype>
#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "actors/auth.hpp"
#include "actors/metrics.hpp"
#include "actors/node.hpp"
#include "log/log.hpp"
#include "protocols/http/api_util.hpp"
#include "protocols/http/metrics.hpp"
#include "protocols/http/routes.hpp"

namespace mantissa::http {

namespace {

bool from_loopback(const request& req) {
  auto& a = req.remote_address;
  return a == "127.0.0.1" || a == "::1" || a.rfind("127.", 0) == 0
         || a.rfind("::ffff:127.", 0) == 0;
}

/// GET /metrics: the front end's and the node's metrics, and the cluster's
/// membership when the node is in one. Who may read them is the setting
/// `http.metrics_access` (`metrics_access`); everyone else gets the answer
/// for a route that does not exist.
void write_metrics(const api_context& ctx, const http_metrics& http,
                   const request& req, const responder& reply);

void serve_metrics(const api_context& ctx, const http_metrics& http,
                   const request& req, const responder& reply) {
  auto refuse = [&reply] {
    reply(error_response(404, "not_found", "no route for /metrics"));
  };
  switch (ctx.metrics) {
    case metrics_access::loopback:
      // A proxy on this host makes every client look local: a request that
      // passed one is not local, whatever its address.
      if (!from_loopback(req) || req.forwarded)
        return refuse();
      break;
    case metrics_access::token: {
      auto authz = req.header_value("authorization");
      auto& want = ctx.metrics_token;
      std::string scheme{authz.substr(0, 7)};
      for (auto& ch : scheme)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      bool ok = authz.size() == 7 + want.size() && !want.empty()
                && scheme == "bearer "
                && sodium_memcmp(authz.data() + 7, want.data(), want.size())
                     == 0;
      if (!ok)
        return refuse();
      break;
    }
    case metrics_access::admins: {
      auto who = identify(req, ctx.node->auth());
      if (!who.session)
        return refuse();
      ctx.node->run(caller_for(who, req),
                    ctx.node->in_cluster() ? "site:seed" : "site",
                    "mantissa.check_admin", "{}",
                    [&ctx, &http, req, reply](actors::reply r) {
                      if (!r.ok) {
                        reply(error_response(404, "not_found",
                                             "no route for /metrics"));
                        return;
                      }
                      write_metrics(ctx, http, req, reply);
                    });
      return;
    }
  }
  write_metrics(ctx, http, req, reply);
}

void write_metrics(const api_context& ctx, const http_metrics& http,
                   const request& req, const responder& reply) {
  if (req.method != "GET" && req.method != "HEAD") {
    auto res = error_response(405, "method_not_allowed", "use GET for /metrics");
    res.headers.emplace_back("Allow", "GET, HEAD");
    reply(std::move(res));
    return;
  }
  auto out = std::make_shared<actors::prometheus_text>();
  http.write(*out);
  ctx.node->write_metrics(*out);
  if (ctx.extra_metrics)
    ctx.extra_metrics(*out);
  auto finish = [reply, out] {
    reply(response{200, "text/plain; version=0.0.4; charset=utf-8", {},
                   out->text()});
  };
  if (!ctx.node->in_cluster()) {
    finish();
    return;
  }
  ctx.node->cluster_command("status", "{}", [out, finish](actors::reply r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    out->family("mantissa_cluster_node_up", "gauge",
                "1 for a cluster member that is up, 0 for one that is down, "
                "as this node knows it");
    if (r.ok && j.contains("nodes") && j["nodes"].is_array())
      for (auto& n : j["nodes"])
        out->sample("mantissa_cluster_node_up",
                    {{"node", n.value("name", std::string{})}},
                    n.value("state", std::string{}) == "up" ? 1 : 0);
    finish();
  });
}

} // namespace

handler make_api_handler(const api_context& ctx) {
  auto metrics = std::make_shared<http_metrics>();
  return [&ctx, metrics](request req, responder inner) {
    auto& n = *ctx.node;
    auto path = path_of(req.target);
    // Every answer is counted under its route group, with its latency.
    auto route = classify(path);
    // The request id: the client's X-Request-Id when it is safe to log,
    // else a fresh one. It goes into the caller of every store message
    // (api_util.cpp, caller_for), so the store actors' log lines on any
    // node carry it, and back to the client.
    auto rid = log::checked_request_id(req.header_value("x-request-id"));
    if (rid.empty())
      rid = log::new_request_id();
    std::erase_if(req.headers, [](const header& h) {
      if (h.first.size() != 12)
        return false;
      for (std::size_t i = 0; i < 12; ++i)
        if (std::tolower(static_cast<unsigned char>(h.first[i]))
            != "x-request-id"[i])
          return false;
      return true;
    });
    req.headers.emplace_back("X-Request-Id", rid);
    // Websharing paths name shares, which grant access: the access log
    // shows their route group instead.
    std::string shown = route == route_label::websharing
                          ? std::string{"("} + to_string(route) + ")"
                          : std::string{path.substr(0, 256)};
    responder reply = [inner = std::move(inner), metrics, route, rid,
                       log_access = ctx.access_log,
                       what = req.method + " " + shown, peer = req.remote_address,
                       started = std::chrono::steady_clock::now()](response r) {
      auto took = std::chrono::steady_clock::now() - started;
      metrics->record(route, r.status, took);
      r.headers.emplace_back("X-Request-Id", rid);
      if (log_access) {
        auto ms = std::to_string(
          std::chrono::duration<double, std::milli>(took).count());
        log::info("http", what,
                  {{"status", std::to_string(r.status)},
                   {"ms", ms},
                   {"request_id", rid},
                   {"peer", peer}});
      }
      inner(std::move(r));
    };
    if (path == "/healthz") {
      if (req.method != "GET" && req.method != "HEAD") {
        auto res = error_response(405, "method_not_allowed",
                                  "use GET for /healthz");
        res.headers.emplace_back("Allow", "GET, HEAD");
        reply(std::move(res));
        return;
      }
      nlohmann::json j{{"status", "ok"}, {"node", n.options().name}};
      reply(response{200, "application/json", {}, j.dump()});
      return;
    }
    if (path == "/metrics") {
      serve_metrics(ctx, *metrics, req, reply);
      return;
    }
    if (path == "/api/site") {
      serve_site(ctx, req, reply);
      return;
    }
    if (handle_json_api(ctx, metrics.get(), req, reply)
        || handle_pages(req, reply) || handle_websharing(ctx, req, reply)
        || handle_home(req, reply))
      return;
    reply(no_route(req));
  };
}

} // namespace mantissa::http
