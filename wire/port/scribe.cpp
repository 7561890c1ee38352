#include "wire/port/scribe.hpp"

#include <utility>

namespace mantissa::actors::port {

namespace net = caf::io::network;

port_scribe::port_scribe(net::default_multiplexer& mx, native_socket fd,
                         port_policy policy)
  : caf::io::scribe(net::conn_hdl_from_socket(fd)),
    ssl_(policy.ssl()),
    stream_(mx, fd, std::move(policy)) {
}

void port_scribe::configure_read(caf::io::receive_policy::config config) {
  stream_.configure_read(config);
  if (!launched_)
    launch();
}

void port_scribe::ack_writes(bool enable) {
  stream_.ack_writes(enable);
}

std::vector<char>& port_scribe::wr_buf() {
  return stream_.wr_buf();
}

std::vector<char>& port_scribe::rd_buf() {
  return stream_.rd_buf();
}

void port_scribe::graceful_shutdown() {
  stream_.graceful_shutdown();
  detach(&stream_.backend(), false);
}

void port_scribe::flush() {
  stream_.flush(this);
}

std::string port_scribe::addr() const {
  auto x = net::remote_addr_of_fd(stream_.fd());
  return x ? *x : std::string{};
}

uint16_t port_scribe::port() const {
  auto x = net::remote_port_of_fd(stream_.fd());
  return x ? *x : 0;
}

void port_scribe::add_to_loop() {
  stream_.activate(this);
}

void port_scribe::remove_from_loop() {
  stream_.passivate();
}

void port_scribe::launch() {
  if (launched_)
    return;
  launched_ = true;
  stream_.start(this);
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) {
    // Bytes already decrypted wake no poll: read them now.
    caf::intrusive_ptr<port_scribe> self{this};
    mpx().post([self] {
      if (!self->detached())
        self->stream_.handle_event(net::operation::read);
    });
  }
}

} // namespace mantissa::actors::port
