#include "protocols/http/api.hpp"

#include <nlohmann/json.hpp>

namespace mantissa::http {

namespace {

/// The path part of a request target (before `?`).
std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

} // namespace

response error_response(int status, std::string_view code,
                        std::string_view message) {
  nlohmann::json j{{"error", {{"code", code}, {"message", message}}}};
  return response{status, "application/json", {}, j.dump()};
}

handler make_api_handler(actors::node& n) {
  return [&n](request req, responder reply) {
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
    reply(error_response(404, "not_found",
                         "no route for " + std::string{path}));
  };
}

} // namespace mantissa::http
