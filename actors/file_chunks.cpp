#include "actors/file_chunks.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

namespace mantissa::actors {

namespace fs = std::filesystem;
using store::errc;
using store::error;

store::result<std::string> read_file_chunk(int fd, std::uint64_t offset,
                                           std::size_t n,
                                           const fs::path& name) {
  std::string buf(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    auto r = ::pread(fd, buf.data() + got, n - got,
                     static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return error{errc::io_error,
                   "cannot read " + name.string() + ": "
                     + (r == 0 ? std::string{"it is shorter than it was"}
                               : std::string{std::strerror(errno)})};
    got += static_cast<std::size_t>(r);
  }
  return buf;
}

std::string hex_of(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

struct chunk_sink::impl {
  fs::path path;
  int fd = -1;
  std::uint64_t expected = 0;
  std::uint64_t received = 0;
  std::string sha256;
  crypto_hash_sha256_state hash{};
  ~impl() {
    if (fd >= 0)
      ::close(fd);
  }
};

chunk_sink::chunk_sink(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
chunk_sink::~chunk_sink() = default;

store::result<std::unique_ptr<chunk_sink>>
chunk_sink::create(const fs::path& path, std::uint64_t bytes,
                   std::string sha256) {
  if (sodium_init() < 0)
    return error{errc::internal, "libsodium cannot be initialised"};
  auto p = std::make_unique<impl>();
  p->path = path;
  p->expected = bytes;
  p->sha256 = std::move(sha256);
  p->fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (p->fd < 0)
    return error{errc::io_error,
                 "cannot create " + path.string() + ": " + std::strerror(errno)};
  crypto_hash_sha256_init(&p->hash);
  return std::unique_ptr<chunk_sink>{new chunk_sink(std::move(p))};
}

store::result<void> chunk_sink::append(std::string_view data) {
  auto& d = *impl_;
  if (d.fd < 0)
    return error{errc::invalid_value, d.path.string() + ": no transfer open"};
  if (d.received + data.size() > d.expected)
    return error{errc::invalid_value,
                 d.path.string() + ": more bytes than announced ("
                   + std::to_string(d.expected) + ")"};
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::write(d.fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return error{errc::io_error, "cannot write " + d.path.string() + ": "
                                     + std::strerror(errno)};
    off += static_cast<std::size_t>(n);
  }
  crypto_hash_sha256_update(
    &d.hash, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  d.received += data.size();
  return {};
}

store::result<void> chunk_sink::finish() {
  auto& d = *impl_;
  if (d.fd < 0)
    return error{errc::invalid_value, d.path.string() + ": no transfer open"};
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&d.hash, digest);
  auto hex = hex_of(digest, sizeof digest);
  if (d.received != d.expected)
    return error{errc::corrupt, d.path.string() + ": received "
                                  + std::to_string(d.received) + " of "
                                  + std::to_string(d.expected) + " bytes"};
  if (hex != d.sha256)
    return error{errc::corrupt, d.path.string() + ": its SHA-256 is " + hex
                                  + ", not " + d.sha256 + " as announced"};
  if (::fdatasync(d.fd) != 0)
    return error{errc::io_error, "cannot sync " + d.path.string() + ": "
                                   + std::strerror(errno)};
  ::close(d.fd);
  d.fd = -1;
  return {};
}

std::uint64_t chunk_sink::received() const noexcept {
  return impl_->received;
}
std::uint64_t chunk_sink::expected() const noexcept {
  return impl_->expected;
}
const fs::path& chunk_sink::path() const noexcept {
  return impl_->path;
}

} // namespace mantissa::actors
