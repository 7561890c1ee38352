#include "log/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

namespace mantissa::log {

namespace {

std::atomic<int> lowest_level{static_cast<int>(level::info)};
std::atomic<int> chosen_format{static_cast<int>(format::text)};

const char* name_of(level lv) {
  switch (lv) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

void json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

/// logfmt: bare when it has no space, quote, equals sign or control
/// character; else quoted with JSON's escapes.
void text_value(std::string& out, std::string_view s) {
  bool bare = !s.empty();
  for (char c : s)
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20)
      bare = false;
  if (bare)
    out.append(s);
  else
    json_string(out, s);
}

void timestamp(std::string& out) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  out += buf;
}

} // namespace

void configure(format f, level lowest) {
  chosen_format.store(static_cast<int>(f), std::memory_order_relaxed);
  lowest_level.store(static_cast<int>(lowest), std::memory_order_relaxed);
}

bool parse_format(std::string_view text, format& out) {
  if (text == "text")
    out = format::text;
  else if (text == "json")
    out = format::json;
  else
    return false;
  return true;
}

bool parse_level(std::string_view text, level& out) {
  for (auto lv : {level::debug, level::info, level::warn, level::error})
    if (text == name_of(lv)) {
      out = lv;
      return true;
    }
  return false;
}

bool enabled(level lv) noexcept {
  return static_cast<int>(lv) >= lowest_level.load(std::memory_order_relaxed);
}

void write(level lv, std::string_view component, std::string_view message,
           std::initializer_list<field> fields) {
  if (!enabled(lv))
    return;
  std::string line;
  line.reserve(128);
  if (chosen_format.load(std::memory_order_relaxed)
      == static_cast<int>(format::json)) {
    line += "{\"ts\":\"";
    timestamp(line);
    line += "\",\"level\":\"";
    line += name_of(lv);
    line += "\",\"component\":";
    json_string(line, component);
    line += ",\"msg\":";
    json_string(line, message);
    for (auto& f : fields) {
      if (f.value.empty())
        continue;
      line.push_back(',');
      json_string(line, f.key);
      line.push_back(':');
      json_string(line, f.value);
    }
    line += "}\n";
  } else {
    line += "mantissa: ";
    line.append(component);
    line += ": ";
    line.append(message);
    if (lv == level::warn || lv == level::error) {
      line += " level=";
      line += name_of(lv);
    }
    for (auto& f : fields) {
      if (f.value.empty())
        continue;
      line.push_back(' ');
      line.append(f.key);
      line.push_back('=');
      text_value(line, f.value);
    }
    line.push_back('\n');
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string new_request_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  auto v = gen();
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = hex[v & 15];
    v >>= 4;
  }
  return out;
}

std::string checked_request_id(std::string_view text) {
  if (text.empty() || text.size() > 64)
    return {};
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return {};
  }
  return std::string{text};
}

} // namespace mantissa::log
