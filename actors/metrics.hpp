#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// Metrics in the Prometheus text format (`GET /metrics`, docs/
/// operations.md "Metrics"). Counters and histograms are relaxed atomics:
/// recording takes no lock and no allocation, so the hot paths (a request,
/// a commit) pay a few uncontended atomic increments.
namespace mantissa::actors {

/// A histogram with fixed bucket bounds (at most 16), in the unit the
/// bounds are given in.
class histogram {
 public:
  explicit histogram(std::initializer_list<double> bounds);

  void observe(double v) noexcept;

  [[nodiscard]] const std::vector<double>& bounds() const noexcept {
    return bounds_;
  }
  /// Cumulative counts per bound (Prometheus `le`), then the total.
  [[nodiscard]] std::vector<std::uint64_t> cumulative() const;
  [[nodiscard]] double sum() const noexcept;

 private:
  std::vector<double> bounds_;
  std::array<std::atomic<std::uint64_t>, 17> counts_{};
  /// The sum in millionths of the unit, to keep it an integer atomic.
  std::atomic<std::int64_t> sum_micros_{0};
};

/// Builds the exposition text: `# HELP`/`# TYPE` once per metric name, then
/// its samples. Label values are escaped.
class prometheus_text {
 public:
  using labels = std::vector<std::pair<std::string, std::string>>;

  /// Declares a metric (`type`: counter, gauge, histogram).
  void family(std::string_view name, std::string_view type,
              std::string_view help);
  void sample(std::string_view name, const labels& ls, double value);
  /// A family of one unlabelled sample (`family` and `sample` in one).
  void single(std::string_view name, std::string_view type,
              std::string_view help, double value);
  /// The `_bucket`, `_sum` and `_count` samples of `h`.
  void samples(std::string_view name, const labels& ls, const histogram& h);

  [[nodiscard]] const std::string& text() const noexcept { return out_; }

 private:
  std::string out_;
};

} // namespace mantissa::actors
