#include "actors/port/door.hpp"

#include <future>
#include <mutex>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/node_id.hpp>

#include "actors/port/door_conn.hpp"
#include "actors/port/door_state.hpp"

namespace mantissa::actors::port {

namespace net = caf::io::network;

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
