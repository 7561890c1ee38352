#include "protocols/http/api.hpp"

#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

#include "actors/metrics.hpp"
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
/// membership when the node is in one. Served to loopback clients only
/// (a scraper on the same host, or a proxy in front that decides).
void serve_metrics(const api_context& ctx, const http_metrics& http,
                   const request& req, const responder& reply) {
  if (!from_loopback(req)) {
    reply(error_response(404, "not_found", "no route for /metrics"));
    return;
  }
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
    responder reply = [inner = std::move(inner), metrics, route,
                       started = std::chrono::steady_clock::now()](response r) {
      metrics->record(route, r.status, std::chrono::steady_clock::now() - started);
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
    if (handle_json_api(ctx, metrics.get(), req, reply)
        || handle_pages(req, reply) || handle_websharing(ctx, req, reply))
      return;
    reply(error_response(404, "not_found",
                         "no route for " + std::string{path}));
  };
}

} // namespace mantissa::http
