#pragma once

#include <cstddef>
#include <string_view>

/// The files of protocols/http/web/ (the admin and notes pages), built into
/// the program: cmake/embed_files.cmake turns them into byte arrays at
/// build time (docs/web.md). No Beast or CAF here.
namespace mantissa::http {

/// One built-in file.
struct web_asset {
  std::string_view path; ///< relative to web/, e.g. "admin/index.html"
  std::string_view body; ///< the file's bytes; static storage
};

/// Every built-in file, sorted by path (generated).
extern const web_asset web_asset_table[];
extern const std::size_t web_asset_count;

/// The built-in file at `path` (relative to web/), or nullptr.
[[nodiscard]] const web_asset* find_web_asset(std::string_view path) noexcept;

} // namespace mantissa::http
