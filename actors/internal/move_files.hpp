#pragma once

#include <filesystem>
#include <string>

#include <caf/expected.hpp>

/// File steps shared by the mover and the receiver of store moves
/// (actors/internal/move.cpp, move_receiver.cpp).
namespace mantissa::actors::internal::move_detail {

/// `p` with `suffix` appended to its file name.
[[nodiscard]] std::filesystem::path with_suffix(const std::filesystem::path& p,
                                                const char* suffix);

/// Logs `line` under "move".
void log(const std::string& line);

/// Writes `text` to `path` and makes it durable (file and directory).
/// Returns the error as text, empty on success.
[[nodiscard]] std::string write_durably(const std::filesystem::path& path,
                                        const std::string& text);

/// Removes `p`; "not there" is no error. Returns the error as text.
[[nodiscard]] std::string remove_file(const std::filesystem::path& p);

/// The file of a user store named by `address` (canonical form in
/// `canonical`); invalid_value for a store that is not a user's.
[[nodiscard]] caf::expected<std::filesystem::path>
user_store_path(const std::filesystem::path& data_dir,
                const std::string& address, std::string& canonical);

} // namespace mantissa::actors::internal::move_detail
