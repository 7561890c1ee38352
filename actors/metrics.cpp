#include "actors/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mantissa::actors {

histogram::histogram(std::initializer_list<double> bounds) : bounds_(bounds) {
  if (bounds_.size() > counts_.size() - 1)
    bounds_.resize(counts_.size() - 1);
  std::sort(bounds_.begin(), bounds_.end());
}

void histogram::observe(double v) noexcept {
  auto i = static_cast<std::size_t>(
    std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::int64_t>(std::llround(v * 1e6)),
                        std::memory_order_relaxed);
}

std::vector<std::uint64_t> histogram::cumulative() const {
  std::vector<std::uint64_t> out;
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    out.push_back(acc);
  }
  return out;
}

double histogram::sum() const noexcept {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

namespace {

std::string number(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void put_labels(std::string& out, const prometheus_text::labels& ls) {
  if (ls.empty())
    return;
  out += '{';
  bool first = true;
  for (auto& [k, v] : ls) {
    if (!first)
      out += ',';
    first = false;
    out += k;
    out += "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"')
        out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
}

} // namespace

void prometheus_text::family(std::string_view name, std::string_view type,
                             std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void prometheus_text::sample(std::string_view name, const labels& ls,
                             double value) {
  out_ += name;
  put_labels(out_, ls);
  out_ += ' ';
  out_ += number(value);
  out_ += '\n';
}

void prometheus_text::single(std::string_view name, std::string_view type,
                             std::string_view help, double value) {
  family(name, type, help);
  sample(name, {}, value);
}

void prometheus_text::samples(std::string_view name, const labels& ls,
                              const histogram& h) {
  auto counts = h.cumulative();
  auto& bounds = h.bounds();
  std::string bucket{name};
  bucket += "_bucket";
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    auto with = ls;
    with.emplace_back("le", i < bounds.size() ? number(bounds[i]) : "+Inf");
    sample(bucket, with, static_cast<double>(counts[i]));
  }
  sample(std::string{name} + "_sum", ls, h.sum());
  sample(std::string{name} + "_count", ls, static_cast<double>(counts.back()));
}

} // namespace mantissa::actors
