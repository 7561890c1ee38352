#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/scribe.hpp>

#include "wire/port/tls.hpp"

/// A CAF scribe (one connection of a broker) over plain TCP or TLS, with
/// the same behaviour as CAF's own `scribe_impl`. The node's door and the
/// client's connector build on it. Internal to the port.
///
/// Thread rule: like every CAF servant, used on the network (multiplexer)
/// thread only, after construction.
namespace mantissa::actors::port {

class port_scribe : public caf::io::scribe {
 public:
  using native_socket = caf::io::network::native_socket;

  port_scribe(caf::io::network::default_multiplexer& mx, native_socket fd,
              port_policy policy);

  void configure_read(caf::io::receive_policy::config config) override;
  void ack_writes(bool enable) override;
  std::vector<char>& wr_buf() override;
  std::vector<char>& rd_buf() override;
  void graceful_shutdown() override;
  void flush() override;
  std::string addr() const override;
  uint16_t port() const override;
  void add_to_loop() override;
  void remove_from_loop() override;

  /// Starts reading (once). Data OpenSSL decrypted before the stream took
  /// over (a client reads its login answer itself) is read at once.
  void launch();

  [[nodiscard]] caf::io::network::default_multiplexer& mpx() noexcept {
    return stream_.backend();
  }
  [[nodiscard]] native_socket fd() const noexcept { return stream_.fd(); }

 protected:
  /// The connection's SSL (owned by the stream's policy), or null.
  SSL* ssl_ = nullptr;
  caf::io::network::stream_impl<port_policy> stream_;
  bool launched_ = false;
};

} // namespace mantissa::actors::port
