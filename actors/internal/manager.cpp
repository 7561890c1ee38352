#include "actors/internal/manager.hpp"

#include <algorithm>
#include <deque>
#include <list>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/accounts.hpp"
#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/backup_request.hpp"
#include "actors/internal/cluster/commands.hpp"
#include "actors/internal/move.hpp"
#include "actors/internal/runtime.hpp"
#include "actors/internal/store_actor.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

namespace mantissa::actors::internal {

namespace {

struct entry {
  caf::actor handle;
  bool closing = false;
  std::list<std::string>::iterator lru;  // valid while not closing
};

struct waiter {
  std::string address;
  std::filesystem::path path;
  caf::response_promise promise;
};

struct manager_state {
  static inline const char* name = "mantissa.manager";
  runtime* rt = nullptr;
  std::unordered_map<std::string, entry> stores;
  std::unordered_map<caf::actor_addr, std::string> by_actor;  // for down_msg
  std::list<std::string> lru;  // front: most recently looked up
  std::size_t closing = 0;
  std::deque<waiter> waiting;
  std::optional<caf::response_promise> shutdown;  // set while shutting down
  bool sweeping = false;  // the idle sweep's timer is set (manager::sweep)
  /// The node's cluster actor: asked where a store with a move marker lives.
  caf::actor cluster;
  /// Lookups of marked stores waiting for the directory's answer.
  std::unordered_map<std::string, std::vector<waiter>> resolving;
  std::shared_ptr<void> behavior_impl;  // keeps the handlers' target alive
};

using manager_actor = caf::stateful_actor<manager_state>;

/// Resolves an address to its file. `text` becomes the address's canonical
/// (lower-case) form: one store has one key, whatever case it was asked
/// for in. Errors are ready to send.
caf::expected<std::filesystem::path> resolve(const runtime& rt,
                                             std::string& text) {
  if (text == site_address)
    return site_path(rt.data_dir);
  auto addr = parse_address(text);
  if (!addr)
    return make_error(addr.error_value());
  if (addr->domain.empty() && addr->localpart == site_address)
    return make_error(error_code::invalid_name,
                      "'site' is reserved for the site store");
  text = to_string(*addr);
  return store_path(rt.data_dir, *addr);
}

class manager {
 public:
  explicit manager(manager_actor* self) : self_(self) {}

  void touch(entry& e, const std::string& address) {
    auto& st = self_->state;
    st.lru.erase(e.lru);
    st.lru.push_front(address);
    e.lru = st.lru.begin();
  }

  /// Starts closing the least recently used open store.
  bool evict_one() {
    auto& st = self_->state;
    if (st.lru.empty())
      return false;
    auto victim = st.lru.back();
    st.lru.pop_back();
    auto& e = st.stores[victim];
    e.closing = true;
    ++st.closing;
    self_->send(e.handle, passivate_atom_v);
    return true;
  }

  caf::actor activate(const std::string& address,
                      const std::filesystem::path& path) {
    auto& st = self_->state;
    auto handle = spawn_store_actor(self_->system(), *st.rt, address, path,
                                    caf::actor_cast<caf::actor>(self_));
    self_->monitor(handle);
    st.lru.push_front(address);
    st.stores[address] = entry{handle, false, st.lru.begin()};
    st.by_actor[handle.address()] = address;
    st.rt->stats.activations.fetch_add(1, std::memory_order_relaxed);
    st.rt->stats.open_stores.store(
      static_cast<std::int64_t>(st.stores.size()), std::memory_order_relaxed);
    if (!st.sweeping) {
      st.sweeping = true;
      self_->delayed_send(self_, sweep_interval(*st.rt), idle_atom_v);
    }
    return handle;
  }

  /// How often the open stores are asked whether they have been idle for
  /// `rt.idle_timeout`: a quarter of it (1 ms to 15 s). One timer for the
  /// node rather than one per activation (each of CAF's timers wakes its
  /// clock thread): a store closes between 1 and 1.25 idle timeouts after
  /// its last request.
  static caf::timespan sweep_interval(const runtime& rt) {
    auto quarter = std::chrono::duration_cast<caf::timespan>(rt.idle_timeout) / 4;
    return std::clamp<caf::timespan>(quarter, std::chrono::milliseconds(1),
                                     std::chrono::seconds(15));
  }

  void sweep() {
    auto& st = self_->state;
    if (st.stores.empty()) {
      st.sweeping = false;  // the next activation starts it again
      return;
    }
    for (auto& [address, e] : st.stores)
      if (!e.closing)
        self_->send(e.handle, idle_atom_v);
    self_->delayed_send(self_, sweep_interval(*st.rt), idle_atom_v);
  }

  /// Answers a lookup now, or queues it while its store (or a slot under
  /// the cap) is being freed.
  void lookup(const std::string& address, const std::filesystem::path& path,
              caf::response_promise rp) {
    auto& st = self_->state;
    if (st.shutdown) {
      rp.deliver(make_error(error_code::store_unavailable,
                            "the node is shutting down"));
      return;
    }
    if (auto i = st.stores.find(address); i != st.stores.end()) {
      if (!i->second.closing) {
        touch(i->second, address);
        rp.deliver(i->second.handle);
        return;
      }
      st.waiting.push_back({address, path, std::move(rp)});
      return;
    }
    if (st.stores.size() < st.rt->max_open_stores) {
      rp.deliver(activate(address, path));
      keep_headroom();
      return;
    }
    st.waiting.push_back({address, path, std::move(rp)});
    make_room();
  }

  /// Closes least recently used stores early, while the node is near its
  /// cap, so that the next cold lookup finds a free slot instead of waiting
  /// for a store to close. Keeps 1/64 of the cap (at least one) free.
  void keep_headroom() {
    auto& st = self_->state;
    auto cap = st.rt->max_open_stores;
    auto headroom = std::max<std::size_t>(1, cap / 64);
    if (cap <= headroom)
      return;
    while (st.stores.size() - st.closing > cap - headroom && evict_one()) {
    }
  }

  /// Starts closing as many least recently used stores as queued lookups
  /// need slots, counting the stores already closing.
  void make_room() {
    auto& st = self_->state;
    std::size_t need = 0;
    for (auto& w : st.waiting)
      if (st.stores.count(w.address) == 0)
        ++need;
    while (st.closing < need && evict_one()) {
    }
  }

  void closed(const std::string& address, const caf::actor_addr& who) {
    auto& st = self_->state;
    auto i = st.stores.find(address);
    if (i == st.stores.end() || i->second.handle.address() != who)
      return;
    if (i->second.closing)
      --st.closing;
    else
      st.lru.erase(i->second.lru);
    st.by_actor.erase(who);
    st.stores.erase(i);
    st.rt->stats.open_stores.store(
      static_cast<std::int64_t>(st.stores.size()), std::memory_order_relaxed);
    if (st.shutdown && st.stores.empty())
      st.shutdown->deliver(ok_atom_v);
    drain();
  }

  void drain() {
    auto& st = self_->state;
    auto pending = std::move(st.waiting);
    st.waiting.clear();
    for (auto& w : pending) {
      if (st.stores.count(w.address) == 0
          && st.stores.size() >= st.rt->max_open_stores) {
        st.waiting.push_back(std::move(w));
        continue;
      }
      lookup(w.address, w.path, std::move(w.promise));
    }
    make_room();
  }

  /// A store file with a move marker (an interrupted move): served only if
  /// the directory places the store on this node; a source copy placed
  /// elsewhere is removed.
  void resolve_marked(const std::string& address,
                      const std::filesystem::path& path,
                      caf::response_promise rp) {
    auto& st = self_->state;
    if (!st.rt->clustered) {
      // Outside a cluster nothing else can hold the store.
      log(address, "a move marker outside a cluster; serving the store");
      std::error_code ec;
      std::filesystem::remove(moving_in_marker(path), ec);
      std::filesystem::remove(moving_out_marker(path), ec);
      lookup(address, path, std::move(rp));
      return;
    }
    if (!st.cluster) {
      rp.deliver(make_error(error_code::store_unavailable,
                            "store " + address
                              + " was being moved; the node is not in its "
                                "cluster yet"));
      return;
    }
    auto& q = st.resolving[address];
    q.push_back({address, path, std::move(rp)});
    if (q.size() > 1)
      return;
    self_
      ->request(commands_of(st.cluster), caf::timespan{st.rt->request_timeout},
                whereis_atom::value, address)
      .then(
        [this, address, path](std::string& body) {
          auto j = nlohmann::json::parse(body, nullptr, false);
          if (!j.is_object())
            j = nlohmann::json::object();
          resolved(address, path, j, {});
        },
        [this, address, path](caf::error& err) {
          resolved(address, path, nlohmann::json::object(), err);
        });
  }

  void resolved(const std::string& address, const std::filesystem::path& path,
                const nlohmann::json& where, const caf::error& err) {
    auto& st = self_->state;
    auto waiters = std::move(st.resolving[address]);
    st.resolving.erase(address);
    auto node = where.value("node", std::string{});
    std::error_code ec;
    caf::error answer;
    bool epoch_marked = std::filesystem::exists(epoch_marker(path), ec);
    auto epoch = where.value("epoch", std::int64_t{0});
    if (!node.empty() && node == st.rt->node_name
        && (!epoch_marked || read_epoch(path) >= epoch)) {
      std::filesystem::remove(moving_in_marker(path), ec);
      std::filesystem::remove(moving_out_marker(path), ec);
      log(address, "the directory places the store here; serving it");
      for (auto& w : waiters)
        lookup(w.address, w.path, std::move(w.promise));
      // A store with a replica: the replica takes a fresh copy.
      auto replica = where.value("replica", std::string{});
      if (!replica.empty())
        caf::anon_send(st.rt->router, replicate_atom::value, address, replica,
                       caf::actor{});
      return;
    }
    if (!node.empty() && node == st.rt->node_name) {
      // Ours, but an older epoch than the directory's: a copy from
      // before a promotion came back here; it is not the store.
      answer = make_error(error_code::store_unavailable,
                          "store " + address + " here has epoch "
                            + std::to_string(read_epoch(path))
                            + ", the directory " + std::to_string(epoch));
      log(address, "an old epoch of the store: not serving it");
      for (auto& w : waiters)
        w.promise.deliver(answer);
      return;
    }
    if (!node.empty()) {
      if (std::filesystem::exists(moving_out_marker(path), ec) || epoch_marked) {
        // Moved away: this copy is stale.
        auto e = remove_store_files(path);
        log(address, "the store lives on " + node + "; removed the old copy"
                       + (e.empty() ? std::string{} : " (" + e + ")"));
      }
      answer = make_error(error_code::no_such_store,
                          "no store for " + address + " on this node");
    } else if (code_of(err) == error_code::no_such_store) {
      answer = make_error(error_code::store_unavailable,
                          "store " + address
                            + " was being moved and the directory has no "
                              "entry for it");
    } else {
      answer = make_error(error_code::store_unavailable,
                          "store " + address
                            + " was being moved; the directory cannot be "
                              "asked where it lives: "
                            + error_message(err));
    }
    for (auto& w : waiters)
      w.promise.deliver(answer);
  }

  static void log(const std::string& address, const std::string& line) {
    mantissa::log::info("manager", line, {{"store", address}});
  }

  /// The file of `address` (canonicalized in place), or nothing once `rp`
  /// is answered with why there is none.
  std::optional<std::filesystem::path>
  resolve_or_fail(std::string& address, caf::response_promise& rp) {
    auto path = resolve(*self_->state.rt, address);
    if (!path) {
      rp.deliver(path.error());
      return std::nullopt;
    }
    return std::move(*path);
  }

  /// (store_atom, address): the store's actor, activated if needed; a
  /// copy with a move or epoch marker waits for the directory's word.
  caf::response_promise on_store(std::string& address) {
    auto rp = self_->make_response_promise();
    auto path = resolve_or_fail(address, rp);
    if (!path)
      return rp;
    auto& st = self_->state;
    if (st.stores.count(address) == 0) {
      std::error_code ec;
      if (!std::filesystem::exists(*path, ec)) {
        rp.deliver(no_store_error(address));
        return rp;
      }
      if (address != site_address
          && (std::filesystem::exists(moving_in_marker(*path), ec)
              || std::filesystem::exists(moving_out_marker(*path), ec)
              || std::filesystem::exists(epoch_marker(*path), ec))) {
        resolve_marked(address, *path, rp);
        return rp;
      }
    }
    lookup(address, *path, rp);
    return rp;
  }

  /// (create_atom, address): like on_store, creating the file first.
  caf::response_promise on_create(std::string& address) {
    auto rp = self_->make_response_promise();
    auto path = resolve_or_fail(address, rp);
    if (!path)
      return rp;
    auto& st = self_->state;
    std::error_code ec;
    if (st.stores.count(address) == 0 && !std::filesystem::exists(*path, ec)) {
      std::filesystem::create_directories(path->parent_path(), ec);
      store::store_options opts;
      opts.synchronous = st.rt->synchronous;
      auto s = store::store::open(*path, *st.rt->types, opts);
      if (!s) {
        rp.deliver(make_error(s.error_value()));
        return rp;
      }
    }
    lookup(address, *path, rp);
    return rp;
  }

  /// The answer to (stats_atom): the node's counters as JSON.
  std::string stats_json() const {
    auto& st = self_->state;
    auto& c = st.rt->stats;
    nlohmann::json j{
      {"open_stores", st.stores.size() - st.closing},
      {"closing_stores", st.closing},
      {"waiting_lookups", st.waiting.size()},
      {"activations", c.activations.load()},
      {"passivations", c.passivations.load()},
      {"commits", c.commits.load()},
      {"committed_writes", c.committed_writes.load()},
      {"max_batch", c.max_batch.load()},
      {"moves_running", c.moves_running.load()},
      {"snapshots_running", c.snapshots_running.load()},
      {"outbox_depth", c.outbox_depth.load()},
      {"replication_pending", c.replication_pending.load()},
    };
    return j.dump();
  }

  caf::behavior make() {
    self_->set_down_handler([this](caf::down_msg& msg) {
      // A store actor that died without passivating (a crash): forget it.
      auto& st = self_->state;
      if (auto i = st.by_actor.find(msg.source); i != st.by_actor.end()) {
        auto address = i->second;
        closed(address, msg.source);
      }
    });
    return {
      [this](idle_atom) { sweep(); },
      [this](store_atom, std::string& address) -> caf::response_promise {
        return on_store(address);
      },
      [this](cluster_atom, caf::actor& cluster) {
        self_->state.cluster = std::move(cluster);
      },
      [this](create_atom, std::string& address) -> caf::response_promise {
        return on_create(address);
      },
      [this](passivated_atom, const std::string& address) {
        closed(address, caf::actor_cast<caf::actor_addr>(self_->current_sender()));
      },
      [this](shutdown_atom) -> caf::response_promise {
        auto& st = self_->state;
        auto rp = self_->make_response_promise();
        st.shutdown = rp;
        while (evict_one()) {
        }
        if (st.stores.empty())
          rp.deliver(ok_atom_v);
        drain();  // fails queued lookups
        return rp;
      },
      [this](stores_atom) -> caf::result<std::string> {
        auto r = list_stores(self_->state.rt->data_dir,
                             self_->state.rt->node_name);
        if (!r.ok)
          return make_error(r.code, std::move(r.message));
        return std::move(r.body);
      },
      [this](stats_atom) -> std::string { return stats_json(); },
    };
  }

 private:
  manager_actor* self_;
};

} // namespace

namespace {

// Spawned with an argument: see store_actor.cpp.
caf::behavior manager_fun(manager_actor* self, runtime* rt) {
  self->state.rt = rt;
  auto impl = std::make_shared<manager>(self);
  self->state.behavior_impl = impl;
  return impl->make();
}

} // namespace

caf::actor spawn_manager(caf::actor_system& sys, runtime& rt) {
  return sys.spawn(manager_fun, &rt);
}

} // namespace mantissa::actors::internal
