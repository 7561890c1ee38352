#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/auth.hpp"
#include "actors/backup.hpp"
#include "wire/error_code.hpp"
#include "actors/handlers.hpp"
#include "wire/network_tls.hpp"
#include "wire/protocol.hpp"
#include "actors/reply.hpp"
#include "actors/store_requests.hpp"
#include "store/registry.hpp"
#include "store/sqlite.hpp"

namespace caf {
class actor_system;
class actor;
} // namespace caf

namespace mantissa::actors {
class prometheus_text;
} // namespace mantissa::actors

namespace mantissa::actors {

/// Limits of the network port (`--listen`; docs/security.md, "The actor
/// port"), from the site settings `port.*`.
struct port_options {
  /// Connections that have not logged in yet, in total and per client
  /// address; beyond them a new connection is closed at once.
  std::size_t max_pending = 256;
  std::size_t max_pending_per_address = 16;
  /// Connections per client address, logged in or not.
  std::size_t max_per_address = 512;
  /// A connection must have sent its login within this long.
  std::chrono::milliseconds login_timeout{10'000};
  /// The largest message a logged-in peer may send.
  std::uint32_t max_message = 64u << 20;
};

/// Settings of one node process.
struct node_options {
  /// The data directory (site store, user stores, app stores).
  std::filesystem::path data_dir;
  /// The node's name in a cluster; defaults to the host name.
  std::string name;
  /// CAF scheduler threads; 0 picks a default sized for blocking store work
  /// (see docs/node.md).
  unsigned scheduler_threads = 0;
  /// A store with no message for this long is closed (passivated).
  std::chrono::milliseconds idle_timeout{60'000};
  /// At most this many stores are open at once; the least recently used
  /// are passivated early to stay under it.
  std::size_t max_open_stores = 512;
  /// Serialized items cached per open store.
  std::size_t item_cache_size = 256;
  /// SQLite durability of every store (FULL by default).
  store::sqlite::synchronous_mode synchronous
    = store::sqlite::synchronous_mode::full;
  /// How long a front-end request waits for a store's answer.
  std::chrono::milliseconds request_timeout{30'000};
  /// Reliable interstore messages that could not be delivered are retried
  /// after `message_retry_min`, doubling up to `message_retry_max`.
  std::chrono::milliseconds message_retry_min{500};
  std::chrono::milliseconds message_retry_max{120'000};
  /// A delivery to another store carries pending messages up to about this
  /// many bytes (always at least one message).
  std::size_t message_delivery_bytes = 4 * 1024 * 1024;
  /// Serve custom actors and other nodes on this port (0: don't listen).
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  bool listen = false;
  /// Be part of a cluster (docs/cluster.md); needs `listen`. Without
  /// `join_host` this node is the seed.
  bool cluster = false;
  std::string join_host;
  std::uint16_t join_port = 0;
  /// The host other nodes reach this one at (default: `listen_host`).
  std::string advertise_host;
  /// The cluster key (default `<data>/cluster.key`; the seed creates it,
  /// the other nodes need a copy).
  std::filesystem::path cluster_key_file;
  std::chrono::milliseconds cluster_heartbeat{1000};
  /// A node not heard from for this long is down.
  std::chrono::milliseconds node_down_after{5000};
  /// Seed: promote the replicas of a node's stores once it is down for
  /// this long (0: never automatically; docs/operations.md, "Replicas").
  std::chrono::milliseconds failover_after{0};
  /// Limits of the network port.
  port_options port;
  /// Mutual TLS on the network port (off when no file is named); every
  /// node of a TLS cluster, and every client of this port, needs a
  /// certificate of the same CA (docs/cluster.md).
  network_tls tls;
  /// Sessions and login failure limits (see docs/security.md).
  auth_options auth;
  /// Back the node up on this schedule (the site settings backup.*;
  /// docs/operations.md, "Scheduled backups"); interval 0: never.
  backup_schedule backups;
  /// CAF settings ("key", "value" in CAF's config syntax, e.g.
  /// {"middleman.workers", "0"}) applied over the node's defaults; for
  /// measuring and tuning (bench/remote_bench.cpp). A malformed value makes
  /// `start` fail.
  std::vector<std::pair<std::string, std::string>> caf_settings;
};

/// One Mantissa node: an actor system over one data directory, a manager
/// that activates and passivates store actors, and a bridge through which
/// non-actor code (front ends, the CLI) sends requests without blocking.
///
/// Thread rule: constructed, configured, started and stopped by one owner
/// thread. The request functions may be called from any thread once
/// `start` returned true.
class node : public store_requests {
 public:
  explicit node(node_options opts);
  ~node();  ///< stops the node if it is running
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Item types every store of this node knows. Fill before `start`.
  [[nodiscard]] store::type_registry& types() noexcept;
  /// Handlers stores can run. Fill before `start`.
  [[nodiscard]] handler_registry& handlers() noexcept;

  /// Administrative operations the port serves (`(admin_atom, caller, op,
  /// args)`, wire/protocol.hpp): the offerings layer sets them
  /// (offerings/online.hpp). Set before `start`; without them the port
  /// answers such messages `no_such_handler`.
  using admin_operations
    = std::function<void(const caller& who, const std::string& op,
                         const std::string& args, reply_handler done)>;
  void set_admin_operations(admin_operations ops);

  /// Creates the data directory if needed, starts the actor system, the
  /// store manager and (when configured) the network listener. On failure
  /// returns false with a message in `err`.
  [[nodiscard]] bool start(std::string& err);

  /// Stops every actor the node spawned and shuts the actor system down.
  /// Idempotent.
  void stop();

  [[nodiscard]] const node_options& options() const noexcept;
  /// Logins and sessions (after `start`; valid until `stop`).
  [[nodiscard]] authenticator& auth();
  /// The node key (`<data>/node.key`): the password of the `system` user.
  [[nodiscard]] const std::string& node_key() const noexcept;
  /// The port the node listens on for custom actors (after `start`).
  [[nodiscard]] std::uint16_t listen_port() const noexcept;

  // -- requests to stores (asynchronous) -------------------------------------
  // `address` is "site", "user@domain" or an offering name.

  void get(const caller& who, const std::string& address,
           const std::string& type, std::int64_t id, reply_handler done);
  void put(const caller& who, const std::string& address,
           const std::string& type, const std::string& json,
           reply_handler done) override;
  void update(const caller& who, const std::string& address,
              const std::string& type, std::int64_t id,
              const std::string& json, reply_handler done) override;
  void remove(const caller& who, const std::string& address,
              const std::string& type, std::int64_t id,
              reply_handler done) override;
  void query(const caller& who, const std::string& address,
             const std::string& query_json, reply_handler done) override;
  void count(const caller& who, const std::string& address,
             const std::string& type, const std::string& where_json,
             reply_handler done);
  void install(const caller& who, const std::string& address,
               const std::string& type, std::int64_t id,
               const std::string& interfaces_json, reply_handler done);
  void powerups(const caller& who, const std::string& address,
                const std::string& interface, reply_handler done);
  void run(const caller& who, const std::string& address,
           const std::string& handler, const std::string& args_json,
           reply_handler done) override;
  /// Runs `handler` through the share `share_id` (wire/protocol.hpp):
  /// callers other than the owner may run handlers declared with the
  /// interface the share grants them.
  void run_shared(const caller& who, const std::string& address,
                  const std::string& handler, const std::string& args_json,
                  const std::string& share_id, reply_handler done);
  /// Runs a payload handler (handler_registry::add_payload) with `payload`
  /// beside the arguments: stores of this node share the bytes.
  void run(const caller& who, const std::string& address,
           const std::string& handler, const std::string& args_json,
           shared_bytes payload, reply_handler done);
  // Sharing (wire/protocol.hpp lists the replies and errors).
  void share(const caller& who, const std::string& address,
             const std::string& type, std::int64_t id, const std::string& role,
             const std::string& interfaces_json, const std::string& share_id,
             reply_handler done);
  void unshare(const caller& who, const std::string& address,
               const std::string& share_id, const std::string& role,
               reply_handler done);
  void shares(const caller& who, const std::string& address,
              std::int64_t item, reply_handler done);
  void get_share(const caller& who, const std::string& address,
                 const std::string& share_id, reply_handler done);
  void member(const caller& who, const std::string& address,
              const std::string& member_role, const std::string& group_role,
              bool add, reply_handler done);
  void set_default_share(const caller& who, const std::string& address,
                         const std::string& share_id, reply_handler done);

  /// A consistent snapshot of the store at `address` into `dest` (an
  /// absolute path; its directory is created), taken by the store's own
  /// actor — activated if it was passivated — as the system role: the
  /// store message `backup_atom` (wire/protocol.hpp lists the answer,
  /// docs/operations.md the procedure). Waits up to an hour for the store.
  void backup_store(const std::string& address,
                    const std::filesystem::path& dest, reply_handler done);
  /// Every store file of the data directory, passivated ones included:
  /// `{"node":NAME,"stores":["site","user@domain",...]}`.
  void list_stores(reply_handler done);

  /// Creates the store file for `address` if it does not exist.
  void create_store(const std::string& address, reply_handler done);
  /// Counters of the node as JSON.
  void stats(reply_handler done);
  /// Appends the node's metrics (stores, activations, commits) to `out`
  /// (docs/operations.md, "Metrics"). Any thread; reads atomics only.
  void write_metrics(prometheus_text& out) const;
  /// Runs a fan-out (actors/fanout.hpp, docs/operations.md) as the system
  /// over every selected user store of the node, or of the cluster when
  /// the node is in one; `done` gets the collated result. `progress` (may
  /// be empty) is called with (stores done, stores in all) at most 4 times
  /// a second, on an actor thread.
  void fanout(const std::string& spec_json, progress_handler progress,
              reply_handler done);
  /// True once a node started with `node_options::cluster` runs.
  [[nodiscard]] bool in_cluster() const noexcept;
  /// A cluster command ("status", "add_user"; see docs/cluster.md) as the
  /// system; `store_unavailable` outside a cluster.
  void cluster_command(const std::string& command, const std::string& json,
                       reply_handler done);

  /// Ends every session of `address`: bearer tokens and port sessions on
  /// this node and, in a cluster, on every other member. Answers
  /// `{"ended":N,"unreached":[nodes]}`.
  void end_sessions(const std::string& address, reply_handler done);

  /// Blocks until `start`ed requests complete: runs `f` with a handler and
  /// waits for it to be called. For tools (the CLI), never for front ends.
  [[nodiscard]] reply wait(const std::function<void(reply_handler)>& f);

  /// The actor system, for code that speaks CAF itself.
  [[nodiscard]] caf::actor_system& system();
  /// The store manager actor (see actors/internal/manager.hpp).
  [[nodiscard]] const caf::actor& manager() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// While a node with a network port runs, `<data>/node.endpoint` holds
/// the `HOST:PORT` it listens on (removed when it stops), so that commands
/// given only `--data` can reach it (`mantissa backup`). A stale file of a
/// node that died means nothing: check the data directory's lock first.
[[nodiscard]] std::filesystem::path
endpoint_file(const std::filesystem::path& data_dir);

/// The data directory used when none is given: `$MANTISSA_DATA` when set
/// and not empty, else `./mantissa-data`.
[[nodiscard]] std::filesystem::path default_data_dir();

} // namespace mantissa::actors
