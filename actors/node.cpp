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
#include "actors/internal/bridge.hpp"
#include "actors/internal/cluster.hpp"
#include "actors/internal/fanout.hpp"
#include "actors/internal/gateway.hpp"
#include "actors/port/door.hpp"
#include "actors/internal/manager.hpp"
#include "actors/internal/node_config.hpp"
#include "actors/internal/node_metrics.hpp"
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

using internal::call_atom;
using internal::completion;
using internal::call_atom_v;

using internal::shutdown_atom;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0')
    return "node";
  return buf;
}

reply to_reply(const caf::error& err) {
  return {false, {}, code_of(err), error_message(err)};
}

/// Whether a registration succeeded; if not, `err` gets its message.
bool registered(const store::result<void>& r, std::string& err) {
  if (!r)
    err = r.error_value().message;
  return static_cast<bool>(r);
}

} // namespace

struct node::impl {
  node_options opts;
  store::type_registry types;
  handler_registry handlers;
  internal::runtime rt;
  std::unique_ptr<internal::node_config> cfg;
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
  admin_operations admin;

  void call(const std::string& address, caf::message msg, reply_handler done) {
    if (!bridge) {
      done(reply{false, {}, error_code::store_unavailable, "the node is not running"});
      return;
    }
    caf::anon_send(bridge, call_atom_v, address, std::move(msg),
                   completion{std::make_shared<reply_handler>(std::move(done))});
  }

  /// `call` with the store message `(xs...)`.
  template <class... Ts>
  void ask(const std::string& address, reply_handler done, Ts&&... xs) {
    call(address, caf::make_message(std::forward<Ts>(xs)...), std::move(done));
  }

  // -- the steps of `start`, in order; on false `err` says why -------------
  // The steps from `start_actors` on need `stop` after a failure.

  /// Creates the data directory, takes its lock, removes what an earlier
  /// run left.
  bool open_data_dir(std::string& err);
  /// The node's own item types and handlers (once per process).
  bool register_builtins(std::string& err);
  /// The runtime every store actor shares, from the options.
  void configure_runtime();
  /// The actor system, the store manager, the timer and the bridge.
  bool start_actors(std::string& err);
  /// The network port's door (not listening yet), when configured.
  bool open_door(std::string& err);
  /// The cluster actor, when configured (needs the door).
  bool join_cluster(std::string& err);
  /// Logins on the door, and listening.
  bool serve_port(std::string& err);
  /// Writes (or removes) `endpoint_file`.
  void write_endpoint() const;
};

bool node::impl::open_data_dir(std::string& err) {
  std::error_code ec;
  std::filesystem::create_directories(opts.data_dir, ec);
  if (ec) {
    err = "cannot create data directory " + opts.data_dir.string() + ": "
          + ec.message();
    return false;
  }
  if (::access(opts.data_dir.c_str(), W_OK) != 0) {
    err = "data directory " + opts.data_dir.string() + " is not writable";
    return false;
  }
  auto acquired = data_dir_lock::acquire(opts.data_dir, "a running node");
  if (!acquired) {
    err = acquired.error_value().message;
    return false;
  }
  lock = std::move(*acquired);
  // Snapshots a streamed backup of an earlier run left (it died).
  if (auto e = internal::remove_stream_leftovers(opts.data_dir); !e.empty())
    log::warn("backup", "cannot remove a streamed backup's leftovers",
              {{"error", e}});
  return true;
}

bool node::impl::register_builtins(std::string& err) {
  // The node's own item types come first; a second registration (a node
  // restarted in the same process) is harmless.
  if (types.current("mantissa.account") == nullptr
      && (!registered(register_account_types(types), err)
          || !registered(register_site_config_types(types), err)
          || !registered(register_auth_types(types), err)))
    return false;
  if (handlers.find("mantissa.login_lookup") == nullptr
      && !registered(register_auth_handlers(handlers), err))
    return false;
  if (handlers.find("mantissa.add_account") == nullptr
      && !registered(register_account_handlers(handlers, opts.data_dir), err))
    return false;
  if (handlers.find("mantissa.send") == nullptr
      && !registered(register_message_handlers(handlers), err))
    return false;
  if (types.current("mantissa.placement") == nullptr
      && !registered(internal::register_cluster_types(types), err))
    return false;
  if (handlers.find("mantissa.cluster_load") == nullptr
      && !registered(internal::register_cluster_handlers(handlers), err))
    return false;
  return handlers.find("mantissa.schedule") != nullptr
         || registered(register_scheduler_handlers(handlers), err);
}

void node::impl::configure_runtime() {
  rt.data_dir = opts.data_dir;
  rt.node_name = opts.name;
  rt.clustered = opts.cluster;
  rt.types = &types;
  rt.handlers = &handlers;
  rt.idle_timeout = opts.idle_timeout;
  rt.max_open_stores = std::max<std::size_t>(1, opts.max_open_stores);
  rt.item_cache_size = opts.item_cache_size;
  rt.synchronous = opts.synchronous;
  if (opts.synchronous == store::sqlite::synchronous_mode::full) {
    syncer = std::make_unique<internal::sync_pool>(sync_threads);
    rt.syncer = syncer.get();
  }
}

bool node::impl::start_actors(std::string& err) {
  cfg = std::make_unique<internal::node_config>(opts);
  if (!cfg->tls_error.empty() || !cfg->bad_setting.empty()) {
    err = !cfg->tls_error.empty() ? cfg->tls_error
                                  : "malformed CAF setting " + cfg->bad_setting;
    cfg.reset();
    syncer.reset();
    rt.syncer = nullptr;
    return false;
  }
  sys = std::make_unique<caf::actor_system>(*cfg);
  manager = internal::spawn_manager(*sys, rt);
  timer = internal::spawn_timer(*sys, rt, manager);
  rt.timer = timer;
  bridge = internal::spawn_bridge(*sys, manager,
                                  caf::timespan{opts.request_timeout},
                                  opts.data_dir, opts.name, &rt.stats);
  rt.router = bridge;
  rt.request_timeout = opts.request_timeout;
  rt.retry_min = opts.message_retry_min;
  rt.retry_max = opts.message_retry_max;
  rt.delivery_bytes = opts.message_delivery_bytes;
  return true;
}

bool node::impl::open_door(std::string& err) {
  if (!opts.listen)
    return true;
  port::door_options dopts;
  dopts.host = opts.listen_host;
  dopts.port = opts.listen_port;
  dopts.tls = uses_network_tls(*sys);
  dopts.max_pending = opts.port.max_pending;
  dopts.max_pending_per_address = opts.port.max_pending_per_address;
  dopts.max_per_address = opts.port.max_per_address;
  dopts.login_deadline = opts.port.login_timeout;
  dopts.limits.max_message = opts.port.max_message;
  door = port::door::make(*sys, dopts, err);
  if (!door) {
    err = "the network port: " + err;
    return false;
  }
  return true;
}

bool node::impl::join_cluster(std::string& err) {
  if (!opts.cluster)
    return true;
  if (!opts.listen) {
    err = "a cluster node needs a network port (--listen)";
    return false;
  }
  bool seed = opts.join_host.empty();
  auto key_path = opts.cluster_key_file.empty() ? opts.data_dir / "cluster.key"
                                                : opts.cluster_key_file;
  auto key = load_key_file(key_path.string(), seed, err);
  if (key.empty()) {
    if (!seed)
      err += " (a joining node needs a copy of the seed's cluster.key; "
             "see docs/cluster.md)";
    return false;
  }
  auth->set_cluster_key(key);
  internal::cluster_config cc;
  cc.name = opts.name;
  cc.host = opts.advertise_host.empty() ? opts.listen_host
                                        : opts.advertise_host;
  cc.seed_host = opts.join_host;
  cc.seed_port = opts.join_port;
  cc.key = std::move(key);
  cc.data_dir = opts.data_dir;
  cc.heartbeat = opts.cluster_heartbeat;
  cc.down_after = opts.node_down_after;
  cc.failover_after = opts.failover_after;
  cc.door = door;
  cc.end_sessions = [a = auth.get()](const std::string& address) {
    return a->revoke(address);
  };
  cc.timeout = std::min(opts.request_timeout,
                        std::chrono::milliseconds{10'000});
  cluster = internal::spawn_cluster(*sys, std::move(cc), bridge);
  caf::anon_send(bridge, cluster_atom::value, cluster, seed);
  caf::anon_send(manager, cluster_atom::value, cluster);
  return true;
}

bool node::impl::serve_port(std::string& err) {
  if (!opts.listen)
    return true;
  auto env = std::make_shared<internal::gateway_env>();
  env->manager = manager;
  env->bridge = bridge;
  env->cluster = cluster;
  env->auth = auth.get();
  env->timeout = caf::timespan{opts.request_timeout};
  env->node_name = opts.name;
  env->door = door;
  env->admin = admin;
  port_anchor = internal::spawn_port_anchor(*sys);
  env->anchor = port_anchor;
  door->set_login(internal::make_port_login(*sys, env));
  if (!door->listen(err))
    return false;
  port = door->port();
  return true;
}

void node::impl::write_endpoint() const {
  // Where commands given only --data find this node (see node.hpp); a
  // file left by a node that died is replaced or removed here.
  std::error_code fec;
  auto file = endpoint_file(opts.data_dir);
  if (!opts.listen) {
    std::filesystem::remove(file, fec);
    return;
  }
  auto host = opts.listen_host;
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
    out << host << ':' << port << '\n';
  }
  std::filesystem::rename(temp, file, fec);
}

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

void node::set_admin_operations(admin_operations ops) {
  impl_->admin = std::move(ops);
}

bool node::start(std::string& err) {
  auto& d = *impl_;
  if (!d.open_data_dir(err) || !d.register_builtins(err))
    return false;
  d.node_key = load_node_key(d.opts.data_dir.string(), err);
  if (d.node_key.empty())
    return false;
  d.configure_runtime();
  if (!d.start_actors(err))
    return false;
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
  if (!d.open_door(err) || !d.join_cluster(err) || !d.serve_port(err)) {
    stop();
    return false;
  }
  d.write_endpoint();
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
  impl_->ask(address, std::move(done), get_atom::value, who, type, id);
}

void node::put(const caller& who, const std::string& address,
               const std::string& type, const std::string& json,
               reply_handler done) {
  impl_->ask(address, std::move(done), put_atom::value, who, type, json);
}

void node::update(const caller& who, const std::string& address,
                  const std::string& type, std::int64_t id,
                  const std::string& json, reply_handler done) {
  impl_->ask(address, std::move(done), update_atom::value, who, type, id, json);
}

void node::remove(const caller& who, const std::string& address,
                  const std::string& type, std::int64_t id,
                  reply_handler done) {
  impl_->ask(address, std::move(done), delete_atom::value, who, type, id);
}

void node::query(const caller& who, const std::string& address,
                 const std::string& query_json, reply_handler done) {
  impl_->ask(address, std::move(done), query_atom::value, who, query_json);
}

void node::count(const caller& who, const std::string& address,
                 const std::string& type, const std::string& where_json,
                 reply_handler done) {
  impl_->ask(address, std::move(done),
             count_atom::value, who, type, where_json);
}

void node::install(const caller& who, const std::string& address,
                   const std::string& type, std::int64_t id,
                   const std::string& interfaces_json, reply_handler done) {
  impl_->ask(address, std::move(done),
             install_atom::value, who, type, id, interfaces_json);
}

void node::powerups(const caller& who, const std::string& address,
                    const std::string& interface, reply_handler done) {
  impl_->ask(address, std::move(done), powerups_atom::value, who, interface);
}

void node::run(const caller& who, const std::string& address,
               const std::string& handler, const std::string& args_json,
               reply_handler done) {
  impl_->ask(address, std::move(done),
             run_atom::value, who, handler, args_json);
}

void node::run_shared(const caller& who, const std::string& address,
                      const std::string& handler, const std::string& args_json,
                      const std::string& share_id, reply_handler done) {
  impl_->ask(address, std::move(done),
             run_atom::value, who, handler, args_json, share_id);
}

void node::run(const caller& who, const std::string& address,
               const std::string& handler, const std::string& args_json,
               shared_bytes payload, reply_handler done) {
  impl_->ask(address, std::move(done),
             run_atom::value, who, handler, args_json, std::move(payload));
}

void node::share(const caller& who, const std::string& address,
                 const std::string& type, std::int64_t id,
                 const std::string& role, const std::string& interfaces_json,
                 const std::string& share_id, reply_handler done) {
  impl_->ask(address, std::move(done),
             share_atom::value, who, type, id, role, interfaces_json, share_id);
}

void node::unshare(const caller& who, const std::string& address,
                   const std::string& share_id, const std::string& role,
                   reply_handler done) {
  impl_->ask(address, std::move(done),
             unshare_atom::value, who, share_id, role);
}

void node::shares(const caller& who, const std::string& address,
                  std::int64_t item, reply_handler done) {
  impl_->ask(address, std::move(done), shares_atom::value, who, item);
}

void node::get_share(const caller& who, const std::string& address,
                     const std::string& share_id, reply_handler done) {
  impl_->ask(address, std::move(done), getshare_atom::value, who, share_id);
}

void node::member(const caller& who, const std::string& address,
                  const std::string& member_role, const std::string& group_role,
                  bool add, reply_handler done) {
  impl_->ask(address, std::move(done),
             member_atom::value, who, member_role, group_role, add);
}

void node::set_default_share(const caller& who, const std::string& address,
                             const std::string& share_id, reply_handler done) {
  impl_->ask(address, std::move(done), defshare_atom::value, who, share_id);
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

void node::write_metrics(prometheus_text& out) const {
  if (impl_->opts.backups.interval.count() > 0)
    internal::write_backup_metrics(out, impl_->backup_status);
  if (impl_->door)
    internal::write_port_metrics(out, impl_->door->stats());
  internal::write_store_metrics(out, impl_->rt.stats);
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
  return wait_for(f);
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
