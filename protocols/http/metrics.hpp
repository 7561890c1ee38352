#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "actors/metrics.hpp"

/// The HTTP front end's metrics: requests by route and status, latency by
/// route (protocols/http/api.cpp records them; `GET /metrics` renders them
/// with the node's, docs/operations.md "Metrics").
namespace mantissa::http {

/// The route groups requests are counted under (a fixed set: labels never
/// carry user input).
enum class route_label : std::uint8_t {
  healthz,
  metrics,
  login,
  logout,
  me,
  items,   ///< /api/stores/{address}/items/{type}
  item,    ///< /api/stores/{address}/items/{type}/{id}
  sharing, ///< /api/stores/{address}/shares..., groups, default-share
  admin,   ///< /api/admin/...
  api_other,
  websharing, ///< /users/..., /{offering}/{share_id}, /static/...
  other,
  count_   ///< not a label
};

[[nodiscard]] const char* to_string(route_label r) noexcept;

/// The group of a request path (without the query).
[[nodiscard]] route_label classify(std::string_view path) noexcept;

class http_metrics {
 public:
  http_metrics();

  void record(route_label route, int status,
              std::chrono::steady_clock::duration took) noexcept;

  /// Requests answered so far, over every route.
  struct totals {
    std::uint64_t requests = 0;
    std::uint64_t client_errors = 0; ///< status 400-499
    std::uint64_t server_errors = 0; ///< status 500-599
  };
  /// Sums the counters (relaxed loads: a consistent enough snapshot for a
  /// chart, not an atomic one).
  [[nodiscard]] totals sum() const noexcept;

  /// Appends the series `mantissa_http_requests_total{route,status}` and
  /// `mantissa_http_request_seconds{route}`.
  void write(actors::prometheus_text& out) const;

 private:
  static constexpr std::size_t routes = static_cast<std::size_t>(route_label::count_);
  /// Status codes 100..599 by their index (status - 100).
  std::array<std::array<std::atomic<std::uint64_t>, 500>, routes> counts_{};
  std::array<std::unique_ptr<actors::histogram>, routes> latency_;
};

} // namespace mantissa::http
