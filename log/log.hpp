#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

/// The node's log: one line per event on stderr, in one of two formats
/// (docs/operations.md, "Logs"):
///
/// - `text` (the default): `mantissa: COMPONENT: MESSAGE key=value ...`,
///   values with spaces or quotes in double quotes (logfmt's quoting);
///   warnings and errors carry `level=warn` / `level=error`.
/// - `json`: one JSON object a line, `{"ts":"2026-12-04T22:10:00.123Z",
///   "level":"info","component":"cluster","msg":"...", ...fields}`.
///
/// Fields name what a line is about (`store`, `node`, `request_id`, ...).
/// Never log passwords, tokens, cookies or message bodies: callers pass
/// only what is safe. Thread-safe: a line is written with one call.
namespace mantissa::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };
enum class format { text, json };

/// Sets the format and the lowest level written; call before the threads
/// that log start (a node's start).
void configure(format f, level lowest);

/// Parses "text"/"json" and "debug"/"info"/"warn"/"error"; false for
/// anything else.
[[nodiscard]] bool parse_format(std::string_view text, format& out);
[[nodiscard]] bool parse_level(std::string_view text, level& out);

/// Whether lines of `lv` are written (cheap: one relaxed load).
[[nodiscard]] bool enabled(level lv) noexcept;

struct field {
  std::string_view key;
  std::string_view value;
};

/// Writes one line, if `lv` is enabled. Empty field values are left out.
void write(level lv, std::string_view component, std::string_view message,
           std::initializer_list<field> fields = {});

inline void debug(std::string_view component, std::string_view message,
                  std::initializer_list<field> fields = {}) {
  if (enabled(level::debug))
    write(level::debug, component, message, fields);
}
inline void info(std::string_view component, std::string_view message,
                 std::initializer_list<field> fields = {}) {
  write(level::info, component, message, fields);
}
inline void warn(std::string_view component, std::string_view message,
                 std::initializer_list<field> fields = {}) {
  write(level::warn, component, message, fields);
}
inline void error(std::string_view component, std::string_view message,
                  std::initializer_list<field> fields = {}) {
  write(level::error, component, message, fields);
}

/// A fresh request id: 16 lower-case hex digits.
[[nodiscard]] std::string new_request_id();

/// A client's request id, if it is safe to carry and log: 1 to 64 of
/// `A-Z a-z 0-9 . _ -`; empty otherwise.
[[nodiscard]] std::string checked_request_id(std::string_view text);

} // namespace mantissa::log
