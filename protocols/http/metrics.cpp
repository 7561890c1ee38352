#include "protocols/http/metrics.hpp"

#include <string>

#include "protocols/http/api_util.hpp"

namespace mantissa::http {

const char* to_string(route_label r) noexcept {
  switch (r) {
    case route_label::healthz: return "healthz";
    case route_label::metrics: return "metrics";
    case route_label::login: return "login";
    case route_label::logout: return "logout";
    case route_label::me: return "me";
    case route_label::items: return "items";
    case route_label::item: return "item";
    case route_label::sharing: return "sharing";
    case route_label::admin: return "admin";
    case route_label::api_other: return "api_other";
    case route_label::websharing: return "websharing";
    case route_label::other:
    case route_label::count_: break;
  }
  return "other";
}

route_label classify(std::string_view path) noexcept {
  if (path == "/healthz")
    return route_label::healthz;
  if (path == "/metrics")
    return route_label::metrics;
  if (path.substr(0, 7) == "/users/" || path.substr(0, 8) == "/static/"
      || app_share_path(path))
    return route_label::websharing;
  if (path != "/api" && path.substr(0, 5) != "/api/")
    return route_label::other;
  auto rest = path.substr(path.size() > 5 ? 5 : path.size());
  if (rest == "login")
    return route_label::login;
  if (rest == "logout")
    return route_label::logout;
  if (rest == "me")
    return route_label::me;
  if (rest.substr(0, 6) == "admin/")
    return route_label::admin;
  if (rest.substr(0, 7) == "stores/") {
    // stores/{address}/{what}/...
    auto a = rest.find('/', 7);
    if (a == std::string_view::npos)
      return route_label::api_other;
    auto what = rest.substr(a + 1);
    if (what.substr(0, 6) == "items/") {
      auto slashes = 0;
      for (char c : what.substr(6))
        slashes += c == '/' ? 1 : 0;
      return slashes == 0 ? route_label::items : route_label::item;
    }
    return route_label::sharing;
  }
  return route_label::api_other;
}

http_metrics::http_metrics() {
  for (auto& h : latency_)
    h = std::make_unique<actors::histogram>(std::initializer_list<double>{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
      10});
}

void http_metrics::record(route_label route, int status,
                          std::chrono::steady_clock::duration took) noexcept {
  auto r = static_cast<std::size_t>(route);
  if (r >= routes)
    r = static_cast<std::size_t>(route_label::other);
  if (status >= 100 && status < 600)
    counts_[r][static_cast<std::size_t>(status - 100)].fetch_add(
      1, std::memory_order_relaxed);
  latency_[r]->observe(std::chrono::duration<double>(took).count());
}

void http_metrics::write(actors::prometheus_text& out) const {
  out.family("mantissa_http_requests_total", "counter",
             "HTTP requests answered, by route group and status code");
  for (std::size_t r = 0; r < routes; ++r)
    for (std::size_t s = 0; s < 500; ++s)
      if (auto n = counts_[r][s].load(std::memory_order_relaxed); n > 0)
        out.sample("mantissa_http_requests_total",
                   {{"route", to_string(static_cast<route_label>(r))},
                    {"status", std::to_string(s + 100)}},
                   static_cast<double>(n));
  out.family("mantissa_http_request_seconds", "histogram",
             "Time from a request's arrival to its answer, by route group");
  for (std::size_t r = 0; r < routes; ++r)
    if (latency_[r]->cumulative().back() > 0)
      out.samples("mantissa_http_request_seconds",
                  {{"route", to_string(static_cast<route_label>(r))}},
                  *latency_[r]);
}

http_metrics::totals http_metrics::sum() const noexcept {
  totals t;
  for (std::size_t r = 0; r < routes; ++r)
    for (std::size_t s = 0; s < 500; ++s) {
      auto n = counts_[r][s].load(std::memory_order_relaxed);
      t.requests += n;
      if (s + 100 >= 500)
        t.server_errors += n;
      else if (s + 100 >= 400)
        t.client_errors += n;
    }
  return t;
}

} // namespace mantissa::http
