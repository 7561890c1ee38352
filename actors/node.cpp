#include "actors/node.hpp"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <set>
#include <unordered_map>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/account_handlers.hpp"
#include "actors/accounts.hpp"
#include "actors/data_dir.hpp"
#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/backup_request.hpp"
#include "actors/internal/backup_schedule.hpp"
#include "actors/internal/backup_stream.hpp"
#include "actors/internal/cluster.hpp"
#include "actors/internal/fanout.hpp"
#include "actors/internal/gateway.hpp"
#include "actors/port/door.hpp"
#include "actors/internal/manager.hpp"
#include "actors/internal/move.hpp"
#include "actors/internal/completion.hpp"
#include "actors/internal/runtime.hpp"
#include "actors/internal/timer.hpp"
#include "actors/internal/wal_sync.hpp"
#include "actors/messaging.hpp"
#include "actors/metrics.hpp"
#include "wire/network_tuning.hpp"
#include "actors/scheduler.hpp"
#include "actors/site_config.hpp"
#include "log/log.hpp"
#include <nlohmann/json.hpp>

namespace mantissa::actors {

namespace {

/// Threads syncing WAL files for the node's stores (actors/internal/
/// wal_sync.hpp). Syncs of different stores overlap on the device; more
/// threads than this gained nothing on the disks measured.
constexpr unsigned sync_threads = 4;

} // namespace
} // namespace mantissa::actors

namespace mantissa::actors {

namespace {

using internal::call_atom;
using internal::completion;
using internal::call_atom_v;

using internal::shutdown_atom;

/// The node's CAF configuration. It is never handed `argc/argv`, so CAF does
/// not read a `caf-application.ini` from the working directory: a node's
/// behaviour depends only on its command line and its site store.
class node_config : public caf::actor_system_config {
 public:
  explicit node_config(const node_options& opts) {
    load<caf::io::middleman>();
    if (opts.listen && opts.tls.enabled()
        && !configure_network_tls(*this, opts.tls, tls_error))
      tls_error = "TLS on the network port: " + tls_error;
    add_message_type<caller>("mantissa.caller");
    add_message_type<shared_bytes>("mantissa.bytes");
    add_error_category(caf::atom("mantissa"),
                       [](std::uint8_t code, caf::atom_value,
                          const caf::message& ctx) {
                         std::string out = to_string(static_cast<error_code>(code));
                         if (ctx.match_elements<std::string>())
                           out += ": " + ctx.get_as<std::string>(0);
                         return out;
                       });
    auto threads = opts.scheduler_threads;
    if (threads == 0) {
      // Store actors block in SQLite (reads, fsync at commit). Work stealing
      // moves other actors off a blocked worker, and a few more workers than
      // cores keep replies flowing while some stores wait on the disk.
      threads = std::max(4u, 2 * std::thread::hardware_concurrency());
    }
    set("scheduler.max-threads", static_cast<size_t>(threads));
    set("logger.console", caf::atom("none"));
    // Detect dead or frozen peers (see docs/node.md).
    set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
    apply_latency_defaults(*this);
    for (auto& [key, text] : opts.caf_settings) {
      auto v = caf::config_value::parse(text);
      if (!v) {
        bad_setting = key + " = " + text;
        continue;
      }
      set(key, std::move(*v));
    }
  }

  /// A setting of `caf_settings` that did not parse ("" if none).
  std::string bad_setting;
  /// Why the TLS files cannot be used ("" if they can or there are none).
  std::string tls_error;
};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0')
    return "node";
  return buf;
}

reply to_reply(const caf::error& err) {
  return {false, {}, code_of(err), error_message(err)};
}

bool receiver_down(const caf::error& err) {
  return err.category() == caf::atom("system")
         && static_cast<caf::sec>(err.code()) == caf::sec::request_receiver_down;
}

// -- the bridge: non-actor code's way into the store actors --------------------

struct bridge_state {
  static inline const char* name = "mantissa.bridge";
  caf::actor manager;
  caf::timespan timeout{};
  /// Store actors by address; weak, so passivated actors are freed. A stale
  /// entry costs one bounced request and a new lookup.
  std::unordered_map<std::string, caf::actor_addr> cache;
  std::size_t inserts_since_sweep = 0;
  /// The node's cluster actor (invalid outside a cluster): it gets the
  /// requests for user stores that are not on this node.
  caf::actor cluster;
  bool seed = true;  ///< this node keeps the accounts (internal::accounts_address)
  std::filesystem::path data_dir;
  std::string node_name;
  caf::actor receiver;  ///< incoming store moves, spawned on first use
  std::set<caf::actor_addr> movers;  ///< moves from this node in progress
  internal::counters* stats = nullptr;
  caf::actor streamer;  ///< streamed backups, spawned on first use
};

using bridge_actor = caf::stateful_actor<bridge_state>;

void resolve_and_send(bridge_actor* self, std::string address, caf::message msg,
                      completion done, int retries, bool create,
                      bool remote = true);

/// Whether a request for `address` that found no store here goes to the
/// cluster.
bool routed_elsewhere(bridge_actor* self, const std::string& address,
                      const caf::error& err, bool remote) {
  return remote && self->state.cluster
         && internal::may_be_elsewhere(address, err);
}

/// A bounced request (the store passivated between lookup and request) was
/// not processed, so it is safe to send again; a store that keeps
/// passivating under churn gets a few more tries.
constexpr int max_retries = 8;

void send_to(bridge_actor* self, const caf::actor& store, std::string address,
             caf::message msg, completion done, int retries,
             bool remote = true) {
  self->request(store, self->state.timeout, msg)
    .then(
      [done](std::string& body) { done(reply{true, std::move(body), {}, {}}); },
      [self, address, msg, done, retries, remote,
       store_addr = store.address()](caf::error& err) mutable {
        if (retries > 0 && receiver_down(err)) {
          auto i = self->state.cache.find(address);
          if (i != self->state.cache.end() && i->second == store_addr)
            self->state.cache.erase(i);
          resolve_and_send(self, std::move(address), std::move(msg),
                           std::move(done), retries - 1, false, remote);
          return;
        }
        done(to_reply(err));
      });
}

void resolve_and_send(bridge_actor* self, std::string address, caf::message msg,
                      completion done, int retries, bool create, bool remote) {
  auto lookup = create ? caf::make_message(create_atom::value, address)
                       : caf::make_message(store_atom::value, address);
  self->request(self->state.manager, self->state.timeout, std::move(lookup))
    .then(
      [self, address, msg, done, retries, remote](caf::actor& store) mutable {
        auto& st = self->state;
        st.cache[address] = store.address();
        if (++st.inserts_since_sweep >= 4096) {
          st.inserts_since_sweep = 0;
          for (auto i = st.cache.begin(); i != st.cache.end();) {
            if (caf::actor_cast<caf::actor>(i->second) == nullptr)
              i = st.cache.erase(i);
            else
              ++i;
          }
        }
        send_to(self, store, std::move(address), std::move(msg),
                std::move(done), retries, remote);
      },
      [self, address, msg, done, remote](caf::error& err) {
        if (routed_elsewhere(self, address, err, remote)) {
          self->send(self->state.cluster, call_atom_v, address, msg, done);
          return;
        }
        done(to_reply(err));
      });
}


internal::move_env move_env_of(bridge_actor* self) {
  auto& st = self->state;
  internal::move_env env;
  env.manager = st.manager;
  env.cluster = st.cluster;
  env.data_dir = st.data_dir;
  env.node = st.node_name;
  env.timeout = std::max(st.timeout, caf::timespan{std::chrono::seconds(30)});
  env.stats = st.stats;
  return env;
}

const caf::actor& streamer_of(bridge_actor* self) {
  auto& st = self->state;
  if (!st.streamer) {
    st.streamer = internal::spawn_backup_streamer(self->system(), st.manager,
                                                  st.data_dir);
    self->link_to(st.streamer);
  }
  return st.streamer;
}

caf::behavior bridge(bridge_actor* self, caf::actor manager,
                     caf::timespan timeout, std::filesystem::path data_dir,
                     std::string node_name, internal::counters* stats) {
  self->state.stats = stats;
  self->state.manager = std::move(manager);
  self->state.timeout = timeout;
  self->state.data_dir = std::move(data_dir);
  self->state.node_name = std::move(node_name);
  // Movers and the receiver are linked to the bridge so that they stop
  // with it; their own ends (even a failure) must not stop the bridge.
  self->set_exit_handler([self](caf::exit_msg& m) {
    auto& st = self->state;
    if (st.receiver && m.source == st.receiver.address()) {
      st.receiver = nullptr;
      return;
    }
    if (st.movers.erase(m.source) > 0)
      return;
    if (st.streamer && m.source == st.streamer.address()) {
      st.streamer = nullptr;
      return;
    }
    if (m.reason)
      self->quit(m.reason);
  });
  return {
    // A replica for a store of this node (actors/internal/move.hpp).
    [self](replicate_atom atm, std::string& address, std::string& node,
           caf::actor& watcher) -> caf::result<caf::message> {
      auto mover = internal::spawn_mover(self->system(), move_env_of(self));
      self->link_to(mover);
      self->state.movers.insert(mover.address());
      return self->delegate(mover, atm, std::move(address), std::move(node),
                            std::move(watcher));
    },
    // Changes for a replica, from a store actor of this node.
    [self](internal::relay_atom atm, std::string& node, caf::message& msg,
           caf::timespan wait) -> caf::result<caf::message> {
      if (!self->state.cluster)
        return make_error(error_code::store_unavailable,
                          "this node is not part of a cluster");
      return self->delegate(self->state.cluster, atm, std::move(node),
                            std::move(msg), wait);
    },
    // A store move from this node (actors/internal/move.hpp).
    [self](move_atom atm, std::string& address, std::string& to,
           caf::actor& watcher) -> caf::result<caf::message> {
      auto mover = internal::spawn_mover(self->system(), move_env_of(self));
      self->link_to(mover);  // the node stopping stops its moves
      self->state.movers.insert(mover.address());
      return self->delegate(mover, atm, std::move(address), std::move(to),
                            std::move(watcher));
    },
    // A store move to this node.
    [self](incoming_atom atm, std::string& op, std::string& address,
           std::string& data) -> caf::result<caf::message> {
      auto& st = self->state;
      if (!st.receiver)
      {
        st.receiver = internal::spawn_receiver(self->system(), move_env_of(self));
        self->link_to(st.receiver);
      }
      return self->delegate(st.receiver, atm, std::move(op), std::move(address),
                            std::move(data));
    },
    // Streamed backups (actors/internal/backup_stream.hpp), from sessions.
    [self](bksnap_atom atm, std::string& address,
           caf::actor& owner) -> caf::result<caf::message> {
      return self->delegate(streamer_of(self), atm, std::move(address),
                            std::move(owner));
    },
    [self](bkchunk_atom atm, std::uint64_t id, std::uint64_t offset,
           caf::actor& owner) -> caf::result<caf::message> {
      return self->delegate(streamer_of(self), atm, id, offset,
                            std::move(owner));
    },
    [self](bkfree_atom atm, std::uint64_t id,
           caf::actor& owner) -> caf::result<caf::message> {
      return self->delegate(streamer_of(self), atm, id, std::move(owner));
    },
    // A fan-out (actors/internal/fanout.hpp): a coordinator answers it.
    [self](fanout_atom atm, std::string& spec,
           caf::actor& watcher) -> caf::result<caf::message> {
      auto& st = self->state;
      auto coord = internal::spawn_fanout(
        self->system(),
        internal::fanout_env{caf::actor_cast<caf::actor>(self), st.cluster,
                             st.data_dir});
      return self->delegate(coord, atm, std::move(spec), std::move(watcher));
    },
    [self](call_atom, std::string& address, caf::message& msg,
           completion& done) {
      auto& st = self->state;
      if (address == internal::accounts_address) {
        if (st.cluster && !st.seed) {
          self->send(st.cluster, call_atom_v, std::move(address), std::move(msg),
                     std::move(done));
          return;
        }
        address = internal::site_address;
      }
      if (auto i = st.cache.find(address); i != st.cache.end()) {
        if (auto store = caf::actor_cast<caf::actor>(i->second)) {
          send_to(self, store, std::move(address), std::move(msg),
                  std::move(done), max_retries);
          return;
        }
        st.cache.erase(i);
      }
      resolve_and_send(self, std::move(address), std::move(msg),
                       std::move(done), max_retries, false);
    },
    // From other nodes (through a system session) and the cluster actor:
    // a store of this node only.
    [self](route_atom, std::string& address,
           caf::message& msg) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      if (msg.match_elements<create_atom>()) {
        self->request(self->state.manager, self->state.timeout,
                      create_atom::value, address)
          .then([rp](caf::actor&) mutable { rp.deliver(std::string{"{\"ok\":true}"}); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      }
      if (msg.size() < 2 || !msg.match_element<caller>(1)) {
        rp.deliver(make_error(error_code::invalid_query,
                              "not a store message (the second element must "
                              "be a mantissa.caller)"));
        return rp;
      }
      // Answered in the bridge's context (send_to and resolve_and_send).
      resolve_and_send(self, std::move(address), std::move(msg),
                       internal::to_promise(rp),
                       max_retries, false, false);
      return rp;
    },
    [self](cluster_atom, caf::actor& cluster, bool seed) {
      self->state.cluster = std::move(cluster);
      self->state.seed = seed;
    },
    [self](create_atom, std::string& address, completion& done) {
      self->request(self->state.manager, self->state.timeout, create_atom::value,
                    address)
        .then(
          [done](caf::actor&) { done(reply{true, "{\"ok\":true}", {}, {}}); },
          [done](caf::error& err) { done(to_reply(err)); });
    },
    [self](stats_atom, completion& done) {
      self->request(self->state.manager, self->state.timeout, stats_atom::value)
        .then(
          [done](std::string& body) { done(reply{true, std::move(body), {}, {}}); },
          [done](caf::error& err) { done(to_reply(err)); });
    },
  };
}

} // namespace

struct node::impl {
  node_options opts;
  store::type_registry types;
  handler_registry handlers;
  internal::runtime rt;
  std::unique_ptr<node_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor manager;
  caf::actor timer;
  caf::actor bridge;
  std::shared_ptr<port::door> door;
  caf::actor port_anchor;  ///< sessions end when it exits
  caf::actor cluster;
  std::uint16_t port = 0;
  std::unique_ptr<data_dir_lock> lock;
  std::string node_key;
  std::unique_ptr<authenticator> auth;
  std::unique_ptr<internal::sync_pool> syncer;
  caf::actor backups;  ///< scheduled backups (when configured)
  internal::backup_status backup_status;

  void call(const std::string& address, caf::message msg, reply_handler done) {
    if (!bridge) {
      done(reply{false, {}, error_code::store_unavailable, "the node is not running"});
      return;
    }
    caf::anon_send(bridge, call_atom_v, address, std::move(msg),
                   completion{std::make_shared<reply_handler>(std::move(done))});
  }
};

node::node(node_options opts) : impl_(std::make_unique<impl>()) {
  if (opts.name.empty())
    opts.name = host_name();
  impl_->opts = std::move(opts);
}

node::~node() {
  stop();
}

store::type_registry& node::types() noexcept {
  return impl_->types;
}

handler_registry& node::handlers() noexcept {
  return impl_->handlers;
}

bool node::start(std::string& err) {
  auto& d = *impl_;
  std::error_code ec;
  std::filesystem::create_directories(d.opts.data_dir, ec);
  if (ec) {
    err = "cannot create data directory " + d.opts.data_dir.string() + ": "
          + ec.message();
    return false;
  }
  if (::access(d.opts.data_dir.c_str(), W_OK) != 0) {
    err = "data directory " + d.opts.data_dir.string() + " is not writable";
    return false;
  }
  auto lock = data_dir_lock::acquire(d.opts.data_dir, "a running node");
  if (!lock) {
    err = lock.error_value().message;
    return false;
  }
  d.lock = std::move(*lock);
  // Snapshots a streamed backup of an earlier run left (it died).
  if (auto e = internal::remove_stream_leftovers(d.opts.data_dir); !e.empty())
    log::warn("backup", "cannot remove a streamed backup's leftovers",
              {{"error", e}});
  // The node's own item types come first; a second registration (a node
  // restarted in the same process) is harmless.
  if (d.types.current("mantissa.account") == nullptr) {
    if (auto r = register_account_types(d.types); !r) {
      err = r.error_value().message;
      return false;
    }
    if (auto r = register_site_config_types(d.types); !r) {
      err = r.error_value().message;
      return false;
    }
    if (auto r = register_auth_types(d.types); !r) {
      err = r.error_value().message;
      return false;
    }
  }
  if (d.handlers.find("mantissa.login_lookup") == nullptr) {
    if (auto r = register_auth_handlers(d.handlers); !r) {
      err = r.error_value().message;
      return false;
    }
  }
  if (d.handlers.find("mantissa.add_account") == nullptr) {
    if (auto r = register_account_handlers(d.handlers, d.opts.data_dir); !r) {
      err = r.error_value().message;
      return false;
    }
  }
  if (d.handlers.find("mantissa.send") == nullptr) {
    if (auto r = register_message_handlers(d.handlers); !r) {
      err = r.error_value().message;
      return false;
    }
  }
  if (d.types.current("mantissa.placement") == nullptr) {
    if (auto r = internal::register_cluster_types(d.types); !r) {
      err = r.error_value().message;
      return false;
    }
  }
  if (d.handlers.find("mantissa.cluster_load") == nullptr) {
    if (auto r = internal::register_cluster_handlers(d.handlers); !r) {
      err = r.error_value().message;
      return false;
    }
  }
  if (d.handlers.find("mantissa.schedule") == nullptr) {
    if (auto r = register_scheduler_handlers(d.handlers); !r) {
      err = r.error_value().message;
      return false;
    }
  }
  d.node_key = load_node_key(d.opts.data_dir.string(), err);
  if (d.node_key.empty())
    return false;
  d.rt.data_dir = d.opts.data_dir;
  d.rt.node_name = d.opts.name;
  d.rt.clustered = d.opts.cluster;
  d.rt.types = &d.types;
  d.rt.handlers = &d.handlers;
  d.rt.idle_timeout = d.opts.idle_timeout;
  d.rt.max_open_stores = std::max<std::size_t>(1, d.opts.max_open_stores);
  d.rt.item_cache_size = d.opts.item_cache_size;
  d.rt.synchronous = d.opts.synchronous;
  if (d.opts.synchronous == store::sqlite::synchronous_mode::full) {
    d.syncer = std::make_unique<internal::sync_pool>(sync_threads);
    d.rt.syncer = d.syncer.get();
  }
  d.cfg = std::make_unique<node_config>(d.opts);
  if (!d.cfg->tls_error.empty() || !d.cfg->bad_setting.empty()) {
    err = !d.cfg->tls_error.empty()
            ? d.cfg->tls_error
            : "malformed CAF setting " + d.cfg->bad_setting;
    d.cfg.reset();
    d.syncer.reset();
    d.rt.syncer = nullptr;
    return false;
  }
  d.sys = std::make_unique<caf::actor_system>(*d.cfg);
  d.manager = internal::spawn_manager(*d.sys, d.rt);
  d.timer = internal::spawn_timer(*d.sys, d.rt, d.manager);
  d.rt.timer = d.timer;
  d.bridge = d.sys->spawn(bridge, d.manager,
                          caf::timespan{d.opts.request_timeout},
                          d.opts.data_dir, d.opts.name, &d.rt.stats);
  d.rt.router = d.bridge;
  d.rt.request_timeout = d.opts.request_timeout;
  d.rt.retry_min = d.opts.message_retry_min;
  d.rt.retry_max = d.opts.message_retry_max;
  d.rt.delivery_bytes = d.opts.message_delivery_bytes;
  // Make sure the site store exists.
  auto r = wait([&](reply_handler done) {
    create_store(internal::site_address, std::move(done));
  });
  if (!r.ok) {
    err = "cannot open the site store: " + r.message;
    stop();
    return false;
  }
  d.auth = std::make_unique<authenticator>(*this, d.opts.auth, d.node_key);
  if (!d.auth->load(err)) {
    stop();
    return false;
  }
  if (d.opts.backups.interval.count() > 0)
    d.backups = internal::spawn_backup_scheduler(
      *d.sys, d.manager, d.opts.data_dir, d.opts.name, d.opts.backups,
      d.backup_status);
  if (d.opts.listen) {
    port::door_options dopts;
    dopts.host = d.opts.listen_host;
    dopts.port = d.opts.listen_port;
    dopts.tls = uses_network_tls(*d.sys);
    dopts.max_pending = d.opts.port.max_pending;
    dopts.max_pending_per_address = d.opts.port.max_pending_per_address;
    dopts.max_per_address = d.opts.port.max_per_address;
    dopts.login_deadline = d.opts.port.login_timeout;
    dopts.limits.max_message = d.opts.port.max_message;
    d.door = port::door::make(*d.sys, dopts, err);
    if (!d.door) {
      err = "the network port: " + err;
      stop();
      return false;
    }
  }
  if (d.opts.cluster) {
    if (!d.opts.listen) {
      err = "a cluster node needs a network port (--listen)";
      stop();
      return false;
    }
    bool seed = d.opts.join_host.empty();
    auto key_path = d.opts.cluster_key_file.empty()
                      ? d.opts.data_dir / "cluster.key"
                      : d.opts.cluster_key_file;
    auto key = load_key_file(key_path.string(), seed, err);
    if (key.empty()) {
      if (!seed)
        err += " (a joining node needs a copy of the seed's cluster.key; "
               "see docs/cluster.md)";
      stop();
      return false;
    }
    d.auth->set_cluster_key(key);
    internal::cluster_config cc;
    cc.name = d.opts.name;
    cc.host = d.opts.advertise_host.empty() ? d.opts.listen_host
                                            : d.opts.advertise_host;
    cc.seed_host = d.opts.join_host;
    cc.seed_port = d.opts.join_port;
    cc.key = std::move(key);
    cc.data_dir = d.opts.data_dir;
    cc.heartbeat = d.opts.cluster_heartbeat;
    cc.down_after = d.opts.node_down_after;
    cc.failover_after = d.opts.failover_after;
    cc.door = d.door;
    cc.end_sessions = [auth = d.auth.get()](const std::string& address) {
      return auth->revoke(address);
    };
    cc.timeout = std::min(d.opts.request_timeout,
                          std::chrono::milliseconds{10'000});
    d.cluster = internal::spawn_cluster(*d.sys, std::move(cc), d.bridge);
    caf::anon_send(d.bridge, cluster_atom::value, d.cluster, seed);
    caf::anon_send(d.manager, cluster_atom::value, d.cluster);
  }
  if (d.opts.listen) {
    auto env = std::make_shared<internal::gateway_env>();
    env->manager = d.manager;
    env->bridge = d.bridge;
    env->cluster = d.cluster;
    env->auth = d.auth.get();
    env->timeout = caf::timespan{d.opts.request_timeout};
    env->node_name = d.opts.name;
    env->door = d.door;
    d.port_anchor = internal::spawn_port_anchor(*d.sys);
    env->anchor = d.port_anchor;
    d.door->set_login(internal::make_port_login(*d.sys, env));
    if (!d.door->listen(err)) {
      stop();
      return false;
    }
    d.port = d.door->port();
  }
  {
    // Where commands given only --data find this node (see node.hpp); a
    // file left by a node that died is replaced or removed here.
    std::error_code fec;
    auto file = endpoint_file(d.opts.data_dir);
    if (d.opts.listen) {
      auto host = d.opts.listen_host;
      if (host == "0.0.0.0" || host.empty())
        host = "127.0.0.1";
      else if (host == "::")
        host = "::1";
      if (host.find(':') != std::string::npos)
        host = "[" + host + "]";
      auto temp = file;
      temp += ".tmp";
      {
        std::ofstream out{temp, std::ios::trunc};
        out << host << ':' << d.port << '\n';
      }
      std::filesystem::rename(temp, file, fec);
    } else {
      std::filesystem::remove(file, fec);
    }
  }
  if (d.cluster)
    caf::anon_send(d.cluster, caf::publish_atom::value, d.port);
  // Stored sessions come back only for accounts that are still enabled and
  // have the same password (this needs the accounts: after joining).
  d.auth->verify_loaded();
  return true;
}

void node::stop() {
  auto& d = *impl_;
  if (!d.sys)
    return;
  if (d.auth)
    d.auth->shutdown();  // finishes logins in progress while stores run
  if (d.door)
    d.door->close();  // no new connections; those not logged in end
  if (d.port_anchor)
    caf::anon_send_exit(d.port_anchor, caf::exit_reason::user_shutdown);
  if (d.backups)
    caf::anon_send_exit(d.backups, caf::exit_reason::user_shutdown);
  d.backups = nullptr;
  if (d.manager) {
    // Close every store (committing open batches) before the system goes.
    caf::scoped_actor self{*d.sys};
    self->request(d.manager, std::chrono::seconds(30), shutdown_atom::value)
      .receive([](caf::ok_atom) {}, [](caf::error&) {});
    caf::anon_send_exit(d.manager, caf::exit_reason::user_shutdown);
  }
  if (d.cluster)
    caf::anon_send_exit(d.cluster, caf::exit_reason::user_shutdown);
  d.cluster = nullptr;
  if (d.timer)
    caf::anon_send_exit(d.timer, caf::exit_reason::user_shutdown);
  d.rt.timer = nullptr;
  d.timer = nullptr;
  if (d.bridge)
    caf::anon_send_exit(d.bridge, caf::exit_reason::user_shutdown);
  // Every store is closed (and synced): finish the syncs still queued while
  // the actors they answer can still be sent to.
  d.rt.syncer = nullptr;
  d.syncer.reset();
  d.port_anchor = nullptr;
  d.manager = nullptr;
  d.bridge = nullptr;
  d.door.reset();  // its connections keep what they need
  d.sys.reset();
  d.auth.reset();  // after the actors that point to it are gone
  d.cfg.reset();
  if (d.lock) {
    std::error_code ec;
    std::filesystem::remove(endpoint_file(d.opts.data_dir), ec);
  }
  d.lock.reset();
}

authenticator& node::auth() {
  return *impl_->auth;
}

const std::string& node::node_key() const noexcept {
  return impl_->node_key;
}

const node_options& node::options() const noexcept {
  return impl_->opts;
}

std::uint16_t node::listen_port() const noexcept {
  return impl_->port;
}

caf::actor_system& node::system() {
  return *impl_->sys;
}

const caf::actor& node::manager() const {
  return impl_->manager;
}

void node::get(const caller& who, const std::string& address,
               const std::string& type, std::int64_t id, reply_handler done) {
  impl_->call(address, caf::make_message(get_atom::value, who, type, id),
              std::move(done));
}

void node::put(const caller& who, const std::string& address,
               const std::string& type, const std::string& json,
               reply_handler done) {
  impl_->call(address, caf::make_message(put_atom::value, who, type, json),
              std::move(done));
}

void node::update(const caller& who, const std::string& address,
                  const std::string& type, std::int64_t id,
                  const std::string& json, reply_handler done) {
  impl_->call(address,
              caf::make_message(update_atom::value, who, type, id, json),
              std::move(done));
}

void node::remove(const caller& who, const std::string& address,
                  const std::string& type, std::int64_t id,
                  reply_handler done) {
  impl_->call(address, caf::make_message(delete_atom::value, who, type, id),
              std::move(done));
}

void node::query(const caller& who, const std::string& address,
                 const std::string& query_json, reply_handler done) {
  impl_->call(address, caf::make_message(query_atom::value, who, query_json),
              std::move(done));
}

void node::count(const caller& who, const std::string& address,
                 const std::string& type, const std::string& where_json,
                 reply_handler done) {
  impl_->call(address,
              caf::make_message(count_atom::value, who, type, where_json),
              std::move(done));
}

void node::install(const caller& who, const std::string& address,
                   const std::string& type, std::int64_t id,
                   const std::string& interfaces_json, reply_handler done) {
  impl_->call(address,
              caf::make_message(install_atom::value, who, type, id,
                                interfaces_json),
              std::move(done));
}

void node::powerups(const caller& who, const std::string& address,
                    const std::string& interface, reply_handler done) {
  impl_->call(address, caf::make_message(powerups_atom::value, who, interface),
              std::move(done));
}

void node::run(const caller& who, const std::string& address,
               const std::string& handler, const std::string& args_json,
               reply_handler done) {
  impl_->call(address,
              caf::make_message(run_atom::value, who, handler, args_json),
              std::move(done));
}

void node::run(const caller& who, const std::string& address,
               const std::string& handler, const std::string& args_json,
               shared_bytes payload, reply_handler done) {
  impl_->call(address,
              caf::make_message(run_atom::value, who, handler, args_json,
                                std::move(payload)),
              std::move(done));
}

void node::share(const caller& who, const std::string& address,
                 const std::string& type, std::int64_t id,
                 const std::string& role, const std::string& interfaces_json,
                 const std::string& share_id, reply_handler done) {
  impl_->call(address,
              caf::make_message(share_atom::value, who, type, id, role,
                                interfaces_json, share_id),
              std::move(done));
}

void node::unshare(const caller& who, const std::string& address,
                   const std::string& share_id, const std::string& role,
                   reply_handler done) {
  impl_->call(address, caf::make_message(unshare_atom::value, who, share_id, role),
              std::move(done));
}

void node::shares(const caller& who, const std::string& address,
                  std::int64_t item, reply_handler done) {
  impl_->call(address, caf::make_message(shares_atom::value, who, item),
              std::move(done));
}

void node::get_share(const caller& who, const std::string& address,
                     const std::string& share_id, reply_handler done) {
  impl_->call(address, caf::make_message(getshare_atom::value, who, share_id),
              std::move(done));
}

void node::member(const caller& who, const std::string& address,
                  const std::string& member_role, const std::string& group_role,
                  bool add, reply_handler done) {
  impl_->call(address,
              caf::make_message(member_atom::value, who, member_role,
                                group_role, add),
              std::move(done));
}

void node::set_default_share(const caller& who, const std::string& address,
                             const std::string& share_id, reply_handler done) {
  impl_->call(address, caf::make_message(defshare_atom::value, who, share_id),
              std::move(done));
}

void node::backup_store(const std::string& address,
                        const std::filesystem::path& dest,
                        reply_handler done) {
  auto& d = *impl_;
  if (!d.sys || !d.manager) {
    done(reply{false, {}, error_code::store_unavailable,
               "the node is not running"});
    return;
  }
  // The request's data go in as spawn arguments (see cluster_command).
  d.sys->spawn(
    [](caf::event_based_actor* self, const caf::actor& manager,
       const std::string& addr, const std::string& path,
       const reply_handler& answer) {
      internal::request_backup(self, manager, addr, path, answer);
    },
    d.manager, address, dest.string(), std::move(done));
}

void node::list_stores(reply_handler done) {
  auto& d = *impl_;
  if (!d.sys) {
    done(reply{false, {}, error_code::store_unavailable,
               "the node is not running"});
    return;
  }
  done(internal::list_stores(d.opts.data_dir, d.opts.name));
}

void node::create_store(const std::string& address, reply_handler done) {
  if (!impl_->bridge) {
    done(reply{false, {}, error_code::store_unavailable, "the node is not running"});
    return;
  }
  caf::anon_send(impl_->bridge, create_atom::value, address,
                 completion{std::make_shared<reply_handler>(std::move(done))});
}

void node::stats(reply_handler done) {
  if (!impl_->bridge) {
    done(reply{false, {}, error_code::store_unavailable, "the node is not running"});
    return;
  }
  caf::anon_send(impl_->bridge, stats_atom::value,
                 completion{std::make_shared<reply_handler>(std::move(done))});
}

namespace {

/// The network port's series (docs/operations.md, "Metrics").
void write_port_metrics(prometheus_text& out, const port::door_stats& s) {
  auto d = [](std::uint64_t x) { return static_cast<double>(x); };
  out.single("mantissa_port_connections", "gauge",
             "Connections to the network port that have logged in, now",
             d(s.open));
  out.single("mantissa_port_pending_connections", "gauge",
             "Connections to the network port that have not logged in yet",
             d(s.pending));
  out.family("mantissa_port_connections_total", "counter",
             "Connections to the network port, by what became of them");
  out.sample("mantissa_port_connections_total", {{"result", "accepted"}},
             d(s.accepted));
  out.sample("mantissa_port_connections_total", {{"result", "refused_total"}},
             d(s.refused_total));
  out.sample("mantissa_port_connections_total",
             {{"result", "refused_address"}}, d(s.refused_address));
  out.sample("mantissa_port_connections_total", {{"result", "malformed"}},
             d(s.malformed));
  out.sample("mantissa_port_connections_total", {{"result", "timeout"}},
             d(s.login_timeouts));
  out.family("mantissa_port_logins_total", "counter",
             "Logins on the network port by result");
  out.sample("mantissa_port_logins_total", {{"result", "ok"}}, d(s.login_ok));
  out.sample("mantissa_port_logins_total", {{"result", "failed"}},
             d(s.login_failed));
  out.family("mantissa_port_dropped_total", "counter",
             "Messages from logged-in peers dropped by the port's guard, by "
             "reason");
  for (auto& [why, n] : s.dropped)
    out.sample("mantissa_port_dropped_total", {{"reason", why}}, d(n));
  out.family("mantissa_port_closed_total", "counter",
             "Connections the port closed for what they sent, by reason");
  for (auto& [why, n] : s.closed)
    out.sample("mantissa_port_closed_total", {{"reason", why}}, d(n));
}

} // namespace

void node::write_metrics(prometheus_text& out) const {
  if (impl_->opts.backups.interval.count() > 0)
    internal::write_backup_metrics(out, impl_->backup_status);
  if (impl_->door)
    write_port_metrics(out, impl_->door->stats());
  auto& c = impl_->rt.stats;
  auto load = [](const std::atomic<std::int64_t>& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };
  out.single("mantissa_stores_open", "gauge",
             "Store actors open now",
             load(c.open_stores));
  out.single("mantissa_store_activations_total", "counter",
             "Stores opened (activated) since the node started",
             load(c.activations));
  out.single("mantissa_store_passivations_total", "counter",
             "Stores closed (passivated) since the node started",
             load(c.passivations));
  out.single("mantissa_commits_total", "counter",
             "Store transactions committed",
             load(c.commits));
  out.single("mantissa_committed_writes_total", "counter",
             "Writes acknowledged after their commit",
             load(c.committed_writes));
  out.family("mantissa_commit_batch_writes", "histogram",
             "Writes per commit (group commit)");
  out.samples("mantissa_commit_batch_writes", {}, c.commit_batch);
  out.family("mantissa_commit_seconds", "histogram",
             "Time of SQLite's COMMIT of a batch");
  out.samples("mantissa_commit_seconds", {}, c.commit_seconds);
  out.family("mantissa_interstore_deliveries_total", "counter",
             "Deliveries of reliable messages to a store: answered (ok), "
             "to be retried, or final (no such store)");
  out.sample("mantissa_interstore_deliveries_total", {{"result", "ok"}},
             load(c.deliveries_ok));
  out.sample("mantissa_interstore_deliveries_total", {{"result", "retry"}},
             load(c.deliveries_retried));
  out.sample("mantissa_interstore_deliveries_total", {{"result", "final"}},
             load(c.deliveries_final));
  out.family("mantissa_interstore_answers_total", "counter",
             "Answers to reliable messages taken by their senders");
  out.sample("mantissa_interstore_answers_total", {{"result", "ok"}},
             load(c.answers_ok));
  out.sample("mantissa_interstore_answers_total", {{"result", "error"}},
             load(c.answers_failed));
  out.single("mantissa_interstore_received_total", "counter",
             "Reliable messages that arrived at this node's stores (repeats " "included)",
             load(c.messages_received));
  out.family("mantissa_wal_sync_seconds", "histogram",
             "Time from a commit to the end of its WAL sync (durable stores)");
  out.samples("mantissa_wal_sync_seconds", {}, c.sync_seconds);
  out.single("mantissa_interstore_outbox_depth", "gauge",
             "Reliable messages waiting for their answer in open stores",
             load(c.outbox_depth));
  out.family("mantissa_scheduler_lag_seconds", "histogram",
             "How late the timer woke stores for their timed events and "
             "outboxes");
  out.samples("mantissa_scheduler_lag_seconds", {}, c.scheduler_lag);
  out.single("mantissa_moves_in_progress", "gauge",
             "Store moves from this node in progress", load(c.moves_running));
  out.family("mantissa_moves_total", "counter",
             "Store moves from this node, by result");
  out.sample("mantissa_moves_total", {{"result", "ok"}}, load(c.moves_ok));
  out.sample("mantissa_moves_total", {{"result", "failed"}},
             load(c.moves_failed));
  out.family("mantissa_replication_changesets_total", "counter",
             "Changes shipped to replicas, by result");
  out.sample("mantissa_replication_changesets_total", {{"result", "ok"}},
             load(c.replication_ok));
  out.sample("mantissa_replication_changesets_total", {{"result", "failed"}},
             load(c.replication_failed));
  out.single("mantissa_replication_pending", "gauge",
             "Changes shipped to replicas and not confirmed yet (the lag)",
             load(c.replication_pending));
  out.single("mantissa_snapshots_in_progress", "gauge",
             "Store snapshots (backups and moves) being taken",
             load(c.snapshots_running));
}

void node::fanout(const std::string& spec_json, progress_handler progress,
                  reply_handler done) {
  if (!impl_->bridge) {
    done(reply{false, {}, error_code::store_unavailable,
               "the node is not running"});
    return;
  }
  // An actor of its own receives the progress and the answer.
  impl_->sys->spawn(
    [](caf::event_based_actor* self, caf::actor to, std::string text,
       progress_handler on_progress, reply_handler on_done) -> caf::behavior {
      self->request(to, caf::infinite, fanout_atom::value, text,
                    caf::actor_cast<caf::actor>(self))
        .then(
          [self, on_done](std::string& body) {
            on_done(reply{true, std::move(body), {}, {}});
            self->quit();
          },
          [self, on_done](caf::error& err) {
            on_done(to_reply(err));
            self->quit();
          });
      return {
        [on_progress](progress_atom, std::uint64_t n, std::uint64_t total) {
          if (on_progress)
            on_progress(n, total);
        },
      };
    },
    impl_->bridge, spec_json, std::move(progress), std::move(done));
}

bool node::in_cluster() const noexcept {
  return static_cast<bool>(impl_->cluster);
}

void node::cluster_command(const std::string& command, const std::string& json,
                           reply_handler done) {
  auto& d = *impl_;
  if (!d.cluster) {
    done(reply{false, {}, error_code::store_unavailable,
               "this node is not part of a cluster"});
    return;
  }
  // The request's data go in as spawn arguments: CAF 0.17 dereferences a
  // null pointer when a spawned function takes no argument but `self`.
  d.sys->spawn(
    [](caf::event_based_actor* self, const caf::actor& cluster,
       const std::string& cmd, const std::string& args, caf::timespan timeout,
       const reply_handler& answer) {
      self->request(cluster, timeout, cluster_atom::value, cmd, args)
        .then(
          [answer](std::string& body) {
            answer(reply{true, std::move(body), {}, {}});
          },
          [answer](caf::error& err) { answer(to_reply(err)); });
    },
    d.cluster, command, json, caf::timespan{d.opts.request_timeout},
    std::move(done));
}

void node::end_sessions(const std::string& address, reply_handler done) {
  auto& d = *impl_;
  if (!d.cluster) {
    auto ended = d.auth ? d.auth->revoke(address) : 0;
    done(reply{true,
               nlohmann::json{{"ended", ended},
                              {"unreached", nlohmann::json::array()}}
                 .dump(),
               {},
               {}});
    return;
  }
  cluster_command("revoke",
                  nlohmann::json{{"address", address}, {"spread", true}}.dump(),
                  std::move(done));
}

reply node::wait(const std::function<void(reply_handler)>& f) {
  auto p = std::make_shared<std::promise<reply>>();
  auto fut = p->get_future();
  f([p](reply r) { p->set_value(std::move(r)); });
  return fut.get();
}

std::filesystem::path endpoint_file(const std::filesystem::path& data_dir) {
  return data_dir / "node.endpoint";
}

std::filesystem::path default_data_dir() {
  if (const char* env = std::getenv("MANTISSA_DATA"); env && *env)
    return env;
  return std::filesystem::current_path() / "mantissa-data";
}

} // namespace mantissa::actors
