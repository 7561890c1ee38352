#include "protocols/http/api.hpp"

#include <nlohmann/json.hpp>

#include "protocols/http/api_util.hpp"
#include "protocols/http/routes.hpp"

namespace mantissa::http {


handler make_api_handler(const api_context& ctx) {
  return [&ctx](request req, responder reply) {
    auto& n = *ctx.node;
    auto path = path_of(req.target);
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
    if (handle_json_api(ctx, req, reply) || handle_websharing(ctx, req, reply))
      return;
    reply(error_response(404, "not_found",
                         "no route for " + std::string{path}));
  };
}

} // namespace mantissa::http
