#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "store/error.hpp"

/// A file shipped in chunks with its SHA-256: the pieces store moves
/// (actors/internal/move.hpp) and streamed backups (cli/backup.cpp,
/// actors/internal/backup_stream.hpp) share.
///
/// Thread rule: a `chunk_sink` is used by one thread (or actor) at a time.
namespace mantissa::actors {

/// The size of one chunk on the wire.
inline constexpr std::size_t file_chunk_bytes = std::size_t{1} << 20;

/// Reads exactly `n` bytes at `offset` of the open file `fd` (`name` is for
/// messages). A file shorter than that, or a read error, is `io_error`.
[[nodiscard]] store::result<std::string>
read_file_chunk(int fd, std::uint64_t offset, std::size_t n,
                const std::filesystem::path& name);

/// Lower-case hex of `n` bytes.
[[nodiscard]] std::string hex_of(const unsigned char* p, std::size_t n);

/// Writes a file from its chunks, in order, hashing them on the way, and
/// checks at the end that it got the announced size and SHA-256.
/// Nothing is removed on failure: the owner decides (a copy that failed
/// its check must never be put where a good one is expected).
class chunk_sink {
 public:
  /// Creates (truncates) `path` for `bytes` bytes whose SHA-256 is `sha256`
  /// (lower-case hex). Its directory must exist.
  [[nodiscard]] static store::result<std::unique_ptr<chunk_sink>>
  create(const std::filesystem::path& path, std::uint64_t bytes,
         std::string sha256);
  ~chunk_sink();  ///< closes the file (leaves it where it is)
  chunk_sink(const chunk_sink&) = delete;
  chunk_sink& operator=(const chunk_sink&) = delete;

  /// Appends the next chunk. More bytes than announced is `invalid_value`,
  /// a write error `io_error`.
  [[nodiscard]] store::result<void> append(std::string_view data);
  /// Checks the size and the SHA-256 (`corrupt`, naming both digests, on
  /// a mismatch), then syncs the file's data and closes it.
  [[nodiscard]] store::result<void> finish();

  [[nodiscard]] std::uint64_t received() const noexcept;
  [[nodiscard]] std::uint64_t expected() const noexcept;
  [[nodiscard]] const std::filesystem::path& path() const noexcept;

 private:
  struct impl;
  explicit chunk_sink(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace mantissa::actors
