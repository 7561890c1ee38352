#include "actors/port/door_conn.hpp"

#include <set>
#include <utility>

#include <sys/socket.h>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <nlohmann/json.hpp>

#include "log/log.hpp"

namespace mantissa::actors::port {

namespace net = caf::io::network;
using caf::io::receive_policy;

namespace {

constexpr std::size_t drop_chunk = 64 * 1024;

const char* principal_name(principal_kind k) {
  switch (k) {
    case principal_kind::user:
      return "user";
    case principal_kind::system:
      return "system";
    case principal_kind::node:
      return "node";
  }
  return "user";
}

} // namespace

door_conn::door_conn(net::default_multiplexer& mx, native_socket fd,
                     port_policy policy, std::shared_ptr<door_state> st,
                     std::uint64_t id, std::string peer)
  : port_scribe(mx, fd, std::move(policy)),
    st_(std::move(st)),
    id_(id),
    peer_(std::move(peer)),
    deadline_(steady::now() + st_->opts.login_deadline) {
}

door_conn::~door_conn() {
  notify_closed();
}

void door_conn::start() {
  stream_.configure_read(receive_policy::exactly(request_head_size));
  launch();
}

bool door_conn::expired(steady::time_point now) const {
  switch (stage_) {
    case stage::head:
    case stage::body:
    case stage::closing:
      return now >= deadline_;
    case stage::basp:
      return guard_ && guard_->dead_end() && now >= deadline_;
    default:
      return false;
  }
}

void door_conn::configure_read(receive_policy::config) {
  // The broker asks for headers and payloads; the guard decides what is
  // read. Its first request means the connection is attached (the stream
  // reads a header next already).
  if (stage_ == stage::attaching)
    stage_ = stage::basp;
}

void door_conn::remove_from_loop() {
  port_scribe::remove_from_loop();
  notify_closed();
}

bool door_conn::consume(caf::execution_unit* ctx, const void* buf,
                        std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  switch (stage_) {
    case stage::head:
      return on_head(p);
    case stage::body:
      return on_body(p, n);
    case stage::basp:
      return on_basp(ctx, p, n);
    default:
      // Nothing may arrive while the login is checked or answered.
      kill("early_data");
      return false;
  }
}

void door_conn::on_login(login_outcome o) {
  if (stage_ != stage::checking) {
    // The connection went away while the login was checked.
    if (o.ok && o.session)
      caf::anon_send(o.session, connection_gone{});
    return;
  }
  if (!o.ok) {
    st_->login_failed();
    auto bytes = encode_answer(static_cast<std::uint8_t>(o.code), o.message);
    stage_ = stage::closing;
    deadline_ = steady::now() + std::chrono::seconds(2);
    stream_.write(bytes.data(), bytes.size());
    stream_.flush(this);
    stream_.graceful_shutdown();
    return;
  }
  nlohmann::json body{{"role", o.role},
                      {"capability", o.capability},
                      {"principal", principal_name(o.who)}};
  auto bytes = encode_answer(0, body.dump());
  // Not flushed here: the broker appends its handshake and flushes both.
  stream_.write(bytes.data(), bytes.size());
  auto st = st_;
  auto id = id_;
  guard_.emplace(
    st->this_node, o.who, st->opts.limits,
    [st, id](const std::string& node) { return st->claim(id, node); },
    [st](std::uint64_t aid) { return st->classify(aid); });
  stage_ = stage::attaching;
  was_pending_ = false;
  st_->logged_in(id_, peer_, o.session);
  caf::anon_send(st_->broker, caf::publish_atom::value,
                 caf::io::scribe_ptr{this}, std::uint16_t{0},
                 caf::actor_cast<caf::strong_actor_ptr>(o.session),
                 std::set<std::string>{});
}

void door_conn::kill(const char* why) {
  if (stage_ == stage::dead)
    return;
  stage_ = stage::dead;
  st_->count_close(why);
  log::debug("port", "closing a connection",
             {{"peer", peer_}, {"reason", why}});
  ::shutdown(fd(), SHUT_RDWR);
  if (!detached())
    io_failure(&mpx(), net::operation::read);
  else
    remove_from_loop();
}

void door_conn::read_exactly(std::size_t n) {
  stream_.configure_read(receive_policy::exactly(n));
}

bool door_conn::on_head(const char* p) {
  auto n = request_body_size(p);
  if (!n) {
    st_->count(&door_stats::malformed);
    kill("malformed");
    return false;
  }
  head_.assign(p, p + request_head_size);
  stage_ = stage::body;
  read_exactly(*n);
  return true;
}

bool door_conn::on_body(const char* p, std::size_t n) {
  auto req = decode_request(head_.data(), std::string_view{p, n});
  if (!req) {
    st_->count(&door_stats::malformed);
    kill("malformed");
    return false;
  }
  login_attempt attempt;
  attempt.request = std::move(*req);
  attempt.peer = peer_;
  if (auto cert = verified_peer(ssl_)) {
    attempt.cert_name = cert->name;
    attempt.cert_node = cert->node;
  }
  stage_ = stage::checking;
  // What the stream reads next is the client's first BASP header (a
  // setting made outside `consume` only applies after the next read);
  // anything arriving before the answer is a protocol error.
  read_exactly(basp_header_size);
  door_conn_ptr self{this};
  auto* mx = &mpx();
  if (!st_->login) {
    on_login({false, error_code::busy, "the node is shutting down"});
    return true;
  }
  // (Posted: the answer may come at once, from inside this call.)
  st_->login(std::move(attempt), [self, mx](login_outcome o) {
    mx->post([self, o = std::move(o)]() mutable {
      self->on_login(std::move(o));
    });
  });
  return true;
}

bool door_conn::feed(caf::execution_unit* ctx, std::size_t n) {
  return caf::io::scribe::consume(ctx, rd_buf().data(), n);
}

bool door_conn::feed_copy(caf::execution_unit* ctx, const std::vector<char>& data) {
  rd_buf().assign(data.begin(), data.end());
  return feed(ctx, data.size());
}

bool door_conn::on_basp(caf::execution_unit* ctx, const char* p, std::size_t n) {
  switch (rd_) {
    case rd::header: {
      auto v = guard_->on_header(p);
      auto len = guard_->payload_size();

      switch (v) {
        case verdict::pass:
          if (!feed(ctx, n))
            return false;
          if (len > 0) {
            rd_ = rd::pass;
            read_exactly(len);
          } else {
            read_exactly(basp_header_size);
          }
          return true;
        case verdict::inspect:
          head_.assign(p, p + n);
          if (len == 0)
            return after_inspect(ctx, {});
          rd_ = rd::inspect;
          read_exactly(len);
          return true;
        case verdict::drop:
          dropped(guard_->reason());
          return skip(len);
        case verdict::close:
          kill(guard_->reason());
          return false;
      }
      return false;
    }
    case rd::pass:
      rd_ = rd::header;
      read_exactly(basp_header_size);
      if (guard_->defuse(rd_buf().data(), n))
        dropped(guard_->reason());
      return feed(ctx, n);
    case rd::inspect:
      return after_inspect(ctx, std::vector<char>(p, p + n));
    case rd::drop:
      return skip(drop_left_ - std::min<std::uint64_t>(drop_left_, n));
  }
  return false;
}

bool door_conn::skip(std::uint64_t left) {
  drop_left_ = left;
  if (left == 0) {
    rd_ = rd::header;
    read_exactly(basp_header_size);
  } else {
    rd_ = rd::drop;
    stream_.configure_read(receive_policy::at_most(
      static_cast<std::size_t>(std::min<std::uint64_t>(left, drop_chunk))));
  }
  return true;
}

bool door_conn::after_inspect(caf::execution_unit* ctx,
                              const std::vector<char>& payload) {
  auto v = guard_->on_payload(std::string_view{payload.data(),
                                               payload.size()});
  rd_ = rd::header;
  read_exactly(basp_header_size);
  switch (v) {
    case verdict::pass:
      if (!feed_copy(ctx, head_))
        return false;
      return payload.empty() || feed_copy(ctx, payload);
    case verdict::drop:
      dropped(guard_->reason());
      if (guard_->dead_end()) {
        deadline_ = steady::now() + st_->opts.dead_end_deadline;
        st_->dead_end(id_, guard_->claimed(), door_conn_ptr{this});
      }
      return true;
    case verdict::inspect:
    case verdict::close:
      break;
  }
  kill(guard_->reason());
  return false;
}

void door_conn::dropped(const char* why) {
  st_->count_drop(why);
  if (logged_drops_ < max_logged_drops)
    log::debug("port", "dropped a message", {{"peer", peer_}, {"reason", why}});
  else if (logged_drops_ == max_logged_drops)
    log::debug("port", "dropping more messages (not logged)",
               {{"peer", peer_}});
  if (logged_drops_ <= max_logged_drops)
    ++logged_drops_;
}

void door_conn::notify_closed() {
  if (notified_)
    return;
  notified_ = true;
  st_->closed(id_, peer_, guard_ ? guard_->node() : std::string{},
              was_pending_);
}

} // namespace mantissa::actors::port
