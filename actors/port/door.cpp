#include "actors/port/door.hpp"

#include <future>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <sys/socket.h>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/local_actor.hpp>
#include <caf/node_id.hpp>

#include <nlohmann/json.hpp>

#include "wire/port/scribe.hpp"
#include "log/log.hpp"

namespace mantissa::actors::port {

namespace net = caf::io::network;
using caf::io::receive_policy;
using steady = std::chrono::steady_clock;

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

class door_conn;
using door_conn_ptr = caf::intrusive_ptr<door_conn>;
class door_doorman;

// -- the door's shared state ---------------------------------------------------

class door_state : public std::enable_shared_from_this<door_state> {
 public:
  caf::actor_system* sys = nullptr;
  door_options opts;
  login_fn login;
  caf::actor broker;
  std::string this_node;  // serialized as BASP serializes it
  ssl_ctx_ptr tls;
  std::uint16_t port = 0;
  caf::intrusive_ptr<door_doorman> doorman;
  caf::actor sweeper;

  // -- edge actors (any thread) --

  mutable std::shared_mutex edge_mtx;
  std::unordered_set<std::uint64_t> edges;

  target_kind classify(std::uint64_t id) const {
    {
      std::shared_lock<std::shared_mutex> guard{edge_mtx};
      if (edges.count(id) > 0)
        return target_kind::edge;
    }
    return sys->registry().get(id) ? target_kind::internal : target_kind::none;
  }

  // -- connections (network thread; the mutex serves readers of stats) --

  mutable std::mutex mtx;
  bool closing = false;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, door_conn_ptr> pending;
  std::unordered_map<std::uint64_t, door_conn_ptr> dead_ends;
  std::unordered_map<std::string, std::size_t> pending_by_addr;
  std::unordered_map<std::string, std::size_t> all_by_addr;
  std::unordered_map<std::string, std::uint64_t> conn_of_node;
  std::unordered_map<std::uint64_t, std::vector<caf::actor_addr>>
    sessions_of_conn;
  std::unordered_map<std::string, std::vector<caf::actor_addr>>
    sessions_of_node;
  door_stats counters;

  /// Whether a new connection from `addr` may come in; counts it if so.
  bool admit(const std::string& addr) {
    std::lock_guard<std::mutex> guard{mtx};
    if (closing)
      return false;
    if (pending.size() >= opts.max_pending) {
      ++counters.refused_total;
      return false;
    }
    if (pending_by_addr[addr] >= opts.max_pending_per_address
        || all_by_addr[addr] >= opts.max_per_address) {
      ++counters.refused_address;
      return false;
    }
    ++pending_by_addr[addr];
    ++all_by_addr[addr];
    ++counters.accepted;
    return true;
  }

  void add_pending(std::uint64_t id, door_conn_ptr c) {
    std::lock_guard<std::mutex> guard{mtx};
    pending.emplace(id, std::move(c));
  }

  /// A login succeeded on connection `id` (from `addr`).
  void logged_in(std::uint64_t id, const std::string& addr,
                 const caf::actor& session) {
    std::lock_guard<std::mutex> guard{mtx};
    ++counters.login_ok;
    if (auto i = pending_by_addr.find(addr); i != pending_by_addr.end()
                                             && i->second > 0)
      --i->second;
    sessions_of_conn[id].push_back(session.address());
    // The connection stays referenced by its broker from now on; the
    // release is posted so that it never happens inside its own call.
    if (auto i = pending.find(id); i != pending.end()) {
      auto p = std::move(i->second);
      pending.erase(i);
      release(std::move(p));
    }
  }

  void login_failed() {
    std::lock_guard<std::mutex> guard{mtx};
    ++counters.login_failed;
  }

  void count_drop(const char* why) {
    std::lock_guard<std::mutex> guard{mtx};
    ++counters.dropped[why];
  }

  void count_close(const char* why) {
    std::lock_guard<std::mutex> guard{mtx};
    ++counters.closed[why];
  }

  void count(std::uint64_t door_stats::*field) {
    std::lock_guard<std::mutex> guard{mtx};
    ++(counters.*field);
  }

  /// The guard's claim: binds `node` to connection `id` unless another
  /// live connection holds it. Sessions made on the connection live as
  /// long as the binding.
  bool claim(std::uint64_t id, const std::string& node) {
    std::lock_guard<std::mutex> guard{mtx};
    auto [i, fresh] = conn_of_node.emplace(node, id);
    if (!fresh && i->second != id)
      return false;
    adopt_sessions(id, node);
    return true;
  }

  /// A dead end claimed `node`: its sessions are used through the
  /// connection that holds `node` and live as long as it.
  void dead_end(std::uint64_t id, const std::string& node,
                door_conn_ptr conn) {
    std::lock_guard<std::mutex> guard{mtx};
    if (conn_of_node.count(node) > 0)
      adopt_sessions(id, node);
    dead_ends.emplace(id, std::move(conn));
  }

  void adopt_sessions(std::uint64_t id, const std::string& node) {
    auto i = sessions_of_conn.find(id);
    if (i == sessions_of_conn.end())
      return;
    auto& dst = sessions_of_node[node];
    // Drop sessions that ended meanwhile (logouts) so the list stays small.
    std::vector<caf::actor_addr> live;
    for (auto& a : dst)
      if (caf::actor_cast<caf::actor>(a))
        live.push_back(a);
    dst.swap(live);
    dst.insert(dst.end(), i->second.begin(), i->second.end());
    sessions_of_conn.erase(i);
  }

  /// Connection `id` (from `addr`, holding `node`, logged in or not) is
  /// gone: every session that lived by it ends.
  void closed(std::uint64_t id, const std::string& addr,
              const std::string& node, bool was_pending) {
    std::vector<caf::actor_addr> ending;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (was_pending) {
        if (auto i = pending_by_addr.find(addr);
            i != pending_by_addr.end() && i->second > 0)
          --i->second;
      }
      if (auto i = all_by_addr.find(addr); i != all_by_addr.end()) {
        if (i->second > 0)
          --i->second;
        if (i->second == 0)
          all_by_addr.erase(i);
      }
      if (auto i = pending_by_addr.find(addr);
          i != pending_by_addr.end() && i->second == 0)
        pending_by_addr.erase(i);
      if (auto i = sessions_of_conn.find(id); i != sessions_of_conn.end()) {
        ending = std::move(i->second);
        sessions_of_conn.erase(i);
      }
      if (!node.empty()) {
        auto i = conn_of_node.find(node);
        if (i != conn_of_node.end() && i->second == id) {
          conn_of_node.erase(i);
          if (auto j = sessions_of_node.find(node);
              j != sessions_of_node.end()) {
            ending.insert(ending.end(), j->second.begin(), j->second.end());
            sessions_of_node.erase(j);
          }
        }
      }
      for (auto* m : {&pending, &dead_ends}) {
        if (auto i = m->find(id); i != m->end()) {
          auto p = std::move(i->second);
          m->erase(i);
          release(std::move(p));
        }
      }
    }
    for (auto& a : ending)
      if (auto s = caf::actor_cast<caf::actor>(a))
        caf::anon_send(s, connection_gone{});
  }

  /// Drops a reference later, on the network thread, outside any call of
  /// the connection itself.
  void release(door_conn_ptr p);

  /// Closes connections past their deadline (network thread).
  void sweep();

  door_stats snapshot() const {
    std::lock_guard<std::mutex> guard{mtx};
    auto out = counters;
    out.pending = pending.size();
    std::uint64_t all = 0;
    for (auto& [addr, n] : all_by_addr)
      all += n;
    out.open = all >= out.pending ? all - out.pending : 0;
    return out;
  }

  net::default_multiplexer& mpx() {
    return static_cast<net::default_multiplexer&>(
      sys->middleman().backend());
  }
};

// -- one connection ------------------------------------------------------------

class door_conn final : public port_scribe {
 public:
  door_conn(net::default_multiplexer& mx, native_socket fd,
            port_policy policy, std::shared_ptr<door_state> st,
            std::uint64_t id, std::string peer)
    : port_scribe(mx, fd, std::move(policy)),
      st_(std::move(st)),
      id_(id),
      peer_(std::move(peer)),
      deadline_(steady::now() + st_->opts.login_deadline) {
  }

  ~door_conn() override { notify_closed(); }

  void start() {
    stream_.configure_read(receive_policy::exactly(request_head_size));
    launch();
  }

  /// True when the login deadline passed before the login was read, or
  /// a refused connection did not go away.
  [[nodiscard]] bool expired(steady::time_point now) const {
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

  void configure_read(receive_policy::config) override {
    // The broker asks for headers and payloads; the guard decides what is
    // read. Its first request means the connection is attached (the stream
    // reads a header next already).
    if (stage_ == stage::attaching)
      stage_ = stage::basp;
  }

  void remove_from_loop() override {
    port_scribe::remove_from_loop();
    notify_closed();
  }

  bool consume(caf::execution_unit* ctx, const void* buf,
               std::size_t n) override {
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

  /// The node's answer to the login (network thread).
  void on_login(login_outcome o) {
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

  /// Ends the connection at once (network thread).
  void kill(const char* why) {
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

 private:
  enum class stage { head, body, checking, closing, attaching, basp, dead };
  enum class rd { header, pass, inspect, drop };

  void read_exactly(std::size_t n) {
    stream_.configure_read(receive_policy::exactly(n));
  }

  bool on_head(const char* p) {
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

  bool on_body(const char* p, std::size_t n) {
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

  /// Hands `n` bytes at the start of the read buffer to the broker.
  bool feed(caf::execution_unit* ctx, std::size_t n) {
    return caf::io::scribe::consume(ctx, rd_buf().data(), n);
  }

  /// Hands `data` to the broker as if just read.
  bool feed_copy(caf::execution_unit* ctx, const std::vector<char>& data) {
    rd_buf().assign(data.begin(), data.end());
    return feed(ctx, data.size());
  }

  bool on_basp(caf::execution_unit* ctx, const char* p, std::size_t n) {
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

  /// Discards the next `left` bytes, in small reads.
  bool skip(std::uint64_t left) {
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

  bool after_inspect(caf::execution_unit* ctx,
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

  /// Counts a dropped (or defused) message; logs the first few of a
  /// connection at debug level (a peer must not be able to flood the log).
  void dropped(const char* why) {
    st_->count_drop(why);
    if (logged_drops_ < max_logged_drops)
      log::debug("port", "dropped a message", {{"peer", peer_}, {"reason", why}});
    else if (logged_drops_ == max_logged_drops)
      log::debug("port", "dropping more messages (not logged)",
                 {{"peer", peer_}});
    if (logged_drops_ <= max_logged_drops)
      ++logged_drops_;
  }

  static constexpr int max_logged_drops = 10;

  void notify_closed() {
    if (notified_)
      return;
    notified_ = true;
    st_->closed(id_, peer_, guard_ ? guard_->node() : std::string{},
                was_pending_);
  }

  std::shared_ptr<door_state> st_;
  std::uint64_t id_;
  std::string peer_;
  steady::time_point deadline_;
  stage stage_ = stage::head;
  rd rd_ = rd::header;
  std::vector<char> head_;
  std::uint64_t drop_left_ = 0;
  std::optional<frame_guard> guard_;
  bool was_pending_ = true;
  bool notified_ = false;
  int logged_drops_ = 0;
};

void door_state::release(door_conn_ptr p) {
  mpx().post([p = std::move(p)]() mutable { p.reset(); });
}

void door_state::sweep() {
  auto now = steady::now();
  std::vector<door_conn_ptr> late;
  {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto* m : {&pending, &dead_ends})
      for (auto& [id, c] : *m)
        if (c->expired(now))
          late.push_back(c);
  }
  for (auto& c : late) {
    count(&door_stats::login_timeouts);
    c->kill("deadline");
  }
}

// -- the listening socket ------------------------------------------------------

class door_doorman final : public net::doorman_impl {
 public:
  door_doorman(net::default_multiplexer& mx, net::native_socket fd,
               std::weak_ptr<door_state> st)
    : net::doorman_impl(mx, fd), st_(std::move(st)) {
  }

  bool new_connection() override {
    auto fd = acceptor_.accepted_socket();
    acceptor_.accepted_socket() = net::invalid_native_socket;
    auto st = st_.lock();
    auto addr = net::remote_addr_of_fd(fd);
    auto peer = addr ? *addr : std::string{"?"};
    if (!st || !st->admit(peer)) {
      net::close_socket(fd);
      return true;
    }
    port_policy policy;
    if (st->tls) {
      ssl_ptr ssl{SSL_new(st->tls.get())};
      if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
        net::close_socket(fd);
        st->closed(0, peer, {}, true);
        return true;
      }
      SSL_set_accept_state(ssl.get());
      policy = port_policy{std::move(ssl), true};
    }
    std::uint64_t id;
    {
      std::lock_guard<std::mutex> guard{st->mtx};
      id = st->next_id++;
    }
    auto& mx = acceptor_.backend();
    auto conn = caf::make_counted<door_conn>(mx, fd, std::move(policy), st,
                                             id, peer);
    st->add_pending(id, conn);
    conn->start();
    return true;
  }

 private:
  std::weak_ptr<door_state> st_;
};

// -- door ----------------------------------------------------------------------

namespace {

using sweep_atom = caf::atom_constant<caf::atom("mp_sweep")>;

caf::behavior sweeper_fun(caf::event_based_actor* self,
                          std::weak_ptr<door_state> weak) {
  self->send(self, sweep_atom::value);
  return {
    [self, weak](sweep_atom) {
      auto st = weak.lock();
      if (!st) {
        self->quit();
        return;
      }
      st->mpx().post([weak] {
        if (auto s = weak.lock())
          s->sweep();
      });
      self->delayed_send(self, std::chrono::milliseconds(250),
                         sweep_atom::value);
    },
  };
}

std::string serialized_node(caf::actor_system& sys) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto nid = sys.node();
  if (auto err = sink(nid))
    return {};
  return std::string{buf.begin(), buf.end()};
}

} // namespace

door::door(std::shared_ptr<door_state> st) : st_(std::move(st)) {
}

door::~door() {
  close();
}

std::shared_ptr<door> door::make(caf::actor_system& sys, door_options opts,
                                 std::string& err) {
  auto st = std::make_shared<door_state>();
  st->sys = &sys;
  st->opts = std::move(opts);
  auto& mm = sys.middleman();
  st->broker = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  st->this_node = serialized_node(sys);
  if (st->this_node.empty()) {
    err = "cannot serialize this node's id";
    return nullptr;
  }
  if (st->opts.tls) {
    st->tls = make_tls_context(network_tls_of(sys), tls_side::server, err);
    if (!st->tls)
      return nullptr;
  }
  return std::shared_ptr<door>(new door(std::move(st)));
}

void door::set_login(login_fn login) {
  st_->login = std::move(login);
}

bool door::listen(std::string& err) {
  auto st = st_;
  auto fd = net::new_tcp_acceptor_impl(st->opts.port, st->opts.host.c_str(),
                                       true);
  if (!fd) {
    err = "cannot listen on " + st->opts.host + ":"
          + std::to_string(st->opts.port) + ": "
          + st->sys->render(fd.error());
    return false;
  }
  auto port = net::local_port_of_fd(*fd);
  st->port = port ? *port : st->opts.port;
  auto& mx = st->mpx();
  std::promise<void> started;
  std::weak_ptr<door_state> weak = st;
  mx.dispatch([&, fd = *fd] {
    st->doorman = caf::make_counted<door_doorman>(mx, fd, weak);
    st->doorman->launch();
    started.set_value();
  });
  started.get_future().wait();
  st->sweeper = st->sys->spawn(sweeper_fun, weak);
  return true;
}

std::uint16_t door::port() const noexcept {
  return st_->port;
}

void door::close() {
  auto st = st_;
  {
    std::lock_guard<std::mutex> guard{st->mtx};
    if (st->closing)
      return;
    st->closing = true;
  }
  if (st->sweeper)
    caf::anon_send_exit(st->sweeper, caf::exit_reason::user_shutdown);
  // The login check usually holds what holds the door (the node's session
  // settings): let go of it so that neither outlives the other. (It is
  // read on the network thread, so it goes there.)
  if (!st->doorman) {
    st->login = nullptr;
    return;  // never listened
  }
  std::promise<void> done;
  st->mpx().dispatch([&] {
    st->login = nullptr;
    if (st->doorman) {
      st->doorman->graceful_shutdown();
      st->doorman.reset();
    }
    std::vector<door_conn_ptr> all;
    {
      std::lock_guard<std::mutex> guard{st->mtx};
      for (auto* m : {&st->pending, &st->dead_ends})
        for (auto& [id, c] : *m)
          all.push_back(c);
    }
    for (auto& c : all)
      c->kill("shutdown");
    done.set_value();
  });
  done.get_future().wait();
}

void door::add_edge(std::uint64_t id) {
  std::unique_lock<std::shared_mutex> guard{st_->edge_mtx};
  st_->edges.insert(id);
}

void door::remove_edge(std::uint64_t id) {
  std::unique_lock<std::shared_mutex> guard{st_->edge_mtx};
  st_->edges.erase(id);
}

void door::count_unauthorized() {
  st_->count_drop("unauthorized");
}

door_stats door::stats() const {
  return st_->snapshot();
}

void make_edge(const std::shared_ptr<door>& d, const caf::actor& a) {
  if (!d || !a)
    return;
  auto id = a.id();
  d->add_edge(id);
  std::weak_ptr<door> weak = d;
  a->attach_functor([weak, id] {
    if (auto x = weak.lock())
      x->remove_edge(id);
  });
}

} // namespace mantissa::actors::port
