#pragma once

// Reading the text of SMTP commands: case, white space, paths and their
// parameters, base64 (used by the session's command handlers).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mantissa::smtp::internal {

[[nodiscard]] char lower(char c) noexcept;

[[nodiscard]] std::string to_lower(std::string_view s);

/// ASCII case-insensitive equality.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

[[nodiscard]] bool istarts_with(std::string_view s,
                                std::string_view prefix) noexcept;

/// Without leading and trailing spaces and tabs.
[[nodiscard]] std::string_view trim(std::string_view s) noexcept;

/// Printable ASCII without space.
[[nodiscard]] bool is_graphic(char c) noexcept;

/// What a client sent, shown in a log line: printable ASCII, at most 80
/// bytes, other bytes as \xNN.
[[nodiscard]] std::string printable(std::string_view s);

/// A domain: dot-separated labels of letters, digits and '-', or an
/// address literal in brackets.
[[nodiscard]] bool valid_domain(std::string_view d) noexcept;

/// The parts of `FROM:<path> params` / `TO:<path> params`.
struct path_arg {
  bool ok = false;
  std::string path; ///< without brackets and source route; may be empty
  std::string params;
};

/// Parses `<keyword>:<path> [params]`; tolerates a space after the colon
/// and before the bracket, as many clients send it.
[[nodiscard]] path_arg parse_path(std::string_view arg,
                                  std::string_view keyword);

/// Splits `local@domain` at the last '@' and checks both parts.
[[nodiscard]] bool split_mailbox(std::string_view path,
                                 std::string_view& local,
                                 std::string_view& domain);

/// The space-separated parameters after a path.
[[nodiscard]] std::vector<std::string_view>
split_params(std::string_view params);

/// Strict base64 (padding required); nullopt when malformed.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view s);

} // namespace mantissa::smtp::internal
