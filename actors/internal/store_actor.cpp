#include "actors/internal/store_actor.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iterator>
#include <optional>
#include <list>
#include <map>
#include <set>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/spawn_options.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/backup.hpp"
#include "actors/internal/move.hpp"
#include "log/log.hpp"
#include "wire/errors.hpp"
#include "actors/handlers.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/completion.hpp"
#include "actors/internal/manager.hpp"
#include "actors/internal/runtime.hpp"
#include "actors/internal/wal_sync.hpp"
#include "actors/scheduler.hpp"
#include "wire/protocol.hpp"
#include "store/backup.hpp"
#include "store/changes.hpp"
#include "store/item.hpp"
#include "store/query.hpp"
#include "store/messaging.hpp"
#include "store/scheduler.hpp"
#include "store/sharing.hpp"
#include "store/store.hpp"

namespace mantissa::actors::internal {

namespace {

using clock_type = std::chrono::steady_clock;

/// A small LRU cache of serialized items, by id (ids are unique across the
/// types of one store). Holds committed or about-to-commit values only: the
/// actor clears it when a batch rolls back.
class item_cache {
 public:
  explicit item_cache(std::size_t capacity) : capacity_(capacity) {}

  const std::string* find(std::int64_t id, const std::string& type) {
    auto i = index_.find(id);
    if (i == index_.end() || i->second->type != type)
      return nullptr;
    order_.splice(order_.begin(), order_, i->second);
    return &i->second->json;
  }

  /// Caches a copy of `json`. Once full, the least recently used entry and
  /// its index node are reused, so a put allocates only when the text
  /// outgrows the reused entry's.
  void put(std::int64_t id, const std::string& type, const std::string& json) {
    if (capacity_ == 0)
      return;
    if (auto i = index_.find(id); i != index_.end()) {
      i->second->type = type;
      i->second->json = json;
      order_.splice(order_.begin(), order_, i->second);
      return;
    }
    if (order_.size() < capacity_) {
      order_.push_front({id, type, json});
      index_.emplace(id, order_.begin());
      return;
    }
    auto node = index_.extract(order_.back().id);
    order_.splice(order_.begin(), order_, std::prev(order_.end()));
    auto& e = order_.front();
    e.id = id;
    e.type = type;
    e.json = json;
    node.key() = id;
    node.mapped() = order_.begin();
    index_.insert(std::move(node));
  }

  void erase(std::int64_t id) {
    if (auto i = index_.find(id); i != index_.end()) {
      order_.erase(i->second);
      index_.erase(i);
    }
  }

  void clear() {
    index_.clear();
    order_.clear();
  }

 private:
  struct entry {
    std::int64_t id;
    std::string type;
    std::string json;
  };
  std::size_t capacity_;
  std::list<entry> order_;
  std::unordered_map<std::int64_t, std::list<entry>::iterator> index_;
};

/// What roles may do in this store, cached: the closure of each caller role
/// (itself, its groups, everyone, authenticated) and the interfaces each
/// role has on each item it asked for. Cleared whenever memberships or
/// shares may have changed (a share, a membership, a delete, a handler).
class access_cache {
 public:
  const std::vector<std::string>* closure(const std::string& role) {
    auto i = closures_.find(role);
    return i == closures_.end() ? nullptr : &i->second;
  }
  const std::vector<std::string>& put_closure(const std::string& role,
                                              std::vector<std::string> roles) {
    if (closures_.size() >= max_entries)
      closures_.clear();
    return closures_[role] = std::move(roles);
  }
  const std::vector<std::string>* interfaces(const std::string& key) {
    auto i = interfaces_.find(key);
    return i == interfaces_.end() ? nullptr : &i->second;
  }
  const std::vector<std::string>& put_interfaces(std::string key,
                                                 std::vector<std::string> v) {
    if (interfaces_.size() >= max_entries)
      interfaces_.clear();
    return interfaces_[std::move(key)] = std::move(v);
  }
  void clear_interfaces() { interfaces_.clear(); }
  void clear() {
    closures_.clear();
    interfaces_.clear();
  }

 private:
  static constexpr std::size_t max_entries = 4096;
  std::unordered_map<std::string, std::vector<std::string>> closures_;
  std::unordered_map<std::string, std::vector<std::string>> interfaces_;
};

/// A reply held back until the batch it read from or wrote to is durable.
struct held_reply {
  caf::response_promise promise;
  caf::message reply;
  /// Instead of a reply: runs once the commit is durable (not on failure).
  std::function<void()> then;

  void release() {
    if (then)
      then();
    else
      promise.deliver(std::move(reply));
  }
  void fail(const caf::error& err) {
    if (!then)
      promise.deliver(err);
  }
};

/// A snapshot of the store in progress (docs/operations.md): copied in
/// steps, then hashed in steps, then answered.
struct backup_job {
  caf::response_promise promise;
  std::filesystem::path dest;
  std::unique_ptr<store::online_backup> copy;  // while copying
  std::unique_ptr<file_hasher> hasher;         // after the copy
  std::uint64_t bytes = 0;
  std::int64_t pages = 0;
  int steps = 0;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::duration longest_step{};  // the longest pause
  /// The copy is closed and a worker thread syncs, renames and hashes it
  /// (answering with bkdone_atom); the store does not close meanwhile.
  bool finishing = false;
  /// The snapshot of a move (actors/internal/move.hpp): the store records
  /// its changes from the moment the copy is complete.
  bool for_move = false;
};

struct store_state {
  static inline const char* name = "mantissa.store";

  runtime* rt = nullptr;
  std::string address;
  std::filesystem::path path;
  caf::actor manager;
  std::unique_ptr<store::store> db;
  item_cache cache{0};
  access_cache access;
  std::string owner_role;  // "user:ADDRESS" for a user store, else empty
  bool batch_open = false;
  std::vector<held_reply> held;  // answers waiting for the open batch
  // Durability off the actor's thread (see actors/internal/wal_sync.hpp):
  // commits are numbered; `waiting` holds answers until the sync that
  // covers their commit returns.
  bool deferred_sync = false;
  std::shared_ptr<wal_file> wal;
  std::uint64_t committed_seq = 0;  // last commit
  std::uint64_t synced_seq = 0;     // last commit known durable
  bool sync_in_flight = false;
  bool commit_after_sync = false;  // a commit waits for the running sync
  /// The WAL held frames when the store opened (the last run was killed,
  /// or its close failed): they count as a commit whose sync gates every
  /// answer and the outbox like any other commit's.
  bool open_sync_pending = false;
  /// The open batch wrote a large value (a mail message): after its commit
  /// the connection gives its page cache back, so a hundred stores that
  /// each took a large message do not each keep megabytes of it.
  bool release_after_commit = false;
  std::deque<std::pair<std::uint64_t, held_reply>> waiting;
  // Timed events (docs/scheduler.md). `indexed_due` is what the node's
  // timer was last told (-1: nothing); answers of commits from
  // `index_gate` on wait until the timer confirms a report.
  std::int64_t armed_due = -1;  // due time of the pending tick, -1: none
  bool index_known = false;
  std::int64_t indexed_due = -1;
  std::uint64_t index_gate = UINT64_MAX;
  int index_pending = 0;
  bool force_report = false;  // the next commit reports its exact due time
  clock_type::time_point last_activity = clock_type::now();
  bool closing = false;
  bool served = false;  // handled a request since activation
  int deferrals = 0;     // times the open batch's commit was moved back
  std::size_t expected_batch = 0;  // size of the last batch
  // Reliable messages (docs/interstore.md). Messages up to `durable_seq`
  // are durably queued and may be sent; `acks` are answers handled in the
  // open batch, `safe_acked` what is durably handled per target (sent to
  // the target so that it can forget its records).
  std::int64_t durable_seq = 0;
  std::int64_t queued_seq = 0;  // last seq seen committed
  std::set<std::string> in_flight;
  // Requesting handlers waiting for the answer to a plain request.
  struct pending_ask {
    caf::response_promise rp;
    request_continuation then;
    int steps = 0;
  };
  std::map<std::uint64_t, pending_ask> asks;
  // What share checks of messages found, while the store's sharing
  // version stays `share_version` (messages come in batches of one sender
  // and share).
  std::map<std::pair<std::string, std::string>,
           std::optional<store::shared_item>>
    message_shares;
  std::uint64_t share_version = UINT64_MAX;
  std::uint64_t last_ask = 0;
  bool pumped = false;  // the outbox was looked at since the store opened
  std::vector<std::pair<std::string, std::int64_t>> acks;
  std::unordered_map<std::string, std::int64_t> safe_acked;
  std::int64_t outbox_armed = -1;
  // Backups, one at a time in arrival order; `backup_after_commit`: the
  // next step waits for the open batch to commit.
  std::deque<backup_job> backups;
  bool backup_after_commit = false;
  bool passivate_after_backup = false;  // asked to close while finishing
  // A move (actors/internal/move.hpp): the changes since its snapshot, and
  // whether the store is frozen for the switch (it takes no messages but
  // the mover's until it thaws or closes for good).
  std::unique_ptr<store::change_recorder> recorder;
  caf::actor_addr mover;
  bool frozen = false;
  std::int64_t outbox_counted = 0;  // this store's part of outbox_depth
  /// Read when the store opened (store_behavior::ensure_open).
  struct {
    bool outbox_used = true;  // it ever queued a reliable message
    std::int64_t next_due = -1;
    std::int64_t changes = -1;  // total_changes() then; -1: not read
  } opened;
  // A replica (docs/operations.md, "Replicas"): its node, and the changes
  // shipped after each commit, numbered from 1 per stream.
  std::string replica_node;
  std::int64_t replica_epoch = 0;
  bool replicating = false;
  bool resync_armed = false;
  std::uint64_t replica_seq = 0;
  std::shared_ptr<void> behavior_impl;  // keeps the handlers' target alive
};

using store_actor = caf::stateful_actor<store_state>;

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Parses JSON text from a client; errors name the position.
store::result<nlohmann::json> parse_json(const std::string& text,
                                         const char* what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return store::error{store::errc::invalid_query,
                        std::string{"invalid JSON in "} + what + " at byte "
                          + std::to_string(e.byte) + ": " + e.what()};
  }
}

/// The item of `decl` in a client's JSON text, with the errors of
/// `parse_json` + `item_from_json`; a flat object is read without building
/// a JSON document.
store::result<store::item> item_from_text(const store::type_decl& decl,
                                          const std::string& text) {
  if (auto it = store::item_from_json_text(decl, text))
    return std::move(*it);
  auto j = parse_json(text, "the item");
  if (!j)
    return std::move(j).error_value();
  return store::item_from_json(decl, *j);
}

/// Bounds on group commit: a batch is committed after at most this many
/// deferrals, or once it holds this many replies.
constexpr int max_deferrals = 16;
constexpr std::size_t max_batch = 4096;
/// How long a batch waits for more writes when the last batch had several
/// writers (commit_delay, as databases call it).
constexpr auto commit_delay = std::chrono::microseconds(250);
/// A backup copies this many pages (4 MiB of 4 KiB pages) per step, so
/// that one step keeps other requests waiting for a few milliseconds.
constexpr int backup_pages_per_step = 1024;

/// The last part of a backup, on a thread of its own (spawned detached):
/// makes the closed copy durable, renames it into place, hashes it, and
/// tells the store actor with `(bkdone_atom, ok, bytes, sha256 or error)`.
void finish_backup(caf::event_based_actor* self, const caf::actor& store,
                   const std::filesystem::path& temp,
                   const std::filesystem::path& dest) {
  auto bytes = store::finish_copy(temp, dest);
  if (!bytes) {
    self->send(store, bkdone_atom_v, false, std::uint64_t{0},
               bytes.error_value().message);
    return;
  }
  auto sum = sha256_file(dest);
  if (!sum) {
    self->send(store, bkdone_atom_v, false, std::uint64_t{0},
               sum.error_value().message);
    return;
  }
  self->send(store, bkdone_atom_v, true, *bytes, *sum);
}

class store_behavior {
 public:
  explicit store_behavior(store_actor* self) : self_(self) {}

  /// Opens the store on first use. Failure is reported to the caller and
  /// the actor quits so that the next message activates a fresh one.
  bool ensure_open(caf::response_promise& rp) {
    auto& st = self_->state;
    if (st.db)
      return true;
    store::store_options opts;
    opts.create = false;
    opts.synchronous = st.rt->synchronous;
    st.deferred_sync = st.rt->synchronous == store::sqlite::synchronous_mode::full
                       && st.rt->syncer != nullptr;
    if (st.deferred_sync)
      opts.synchronous = store::sqlite::synchronous_mode::normal;
    // A clean close leaves an empty WAL; frames in it come from a run that
    // stopped before syncing them (kill -9, a close that failed). The page cache
    // still has them, so SQLite reads them: nothing read from them is
    // answered, and no message queued in them sent, before they are synced.
    std::error_code size_err;
    auto left = std::filesystem::file_size(st.path.string() + "-wal", size_err);
    bool unsynced = st.deferred_sync && !size_err && left > 0;
    auto s = store::store::open(st.path, *st.rt->types, opts);
    if (!s) {
      rp.deliver(make_error(s.error_value()));
      passivate();
      return false;
    }
    st.db = std::move(*s);
    // What an activation reads besides the request: the outbox (a store
    // that never queued a message has no sequence for it, so its count and
    // due times need no query) and the next timed event. Kept until the
    // store writes, for the passivation's report to the timer.
    st.opened = {};
    if (auto q = store::last_queued(*st.db)) {
      st.queued_seq = *q;
      st.durable_seq = unsynced ? 0 : *q;
      st.opened.outbox_used = *q > 0;
      if (*q > 0 && !unsynced)
        self_->send(self_, outbox_atom_v);
    } else {
      log("cannot read the outbox: " + q.error_value().message);
    }
    if (unsynced) {
      st.open_sync_pending = true;
      held_reply synced;
      synced.then = [this, q = st.queued_seq] {
        auto& s2 = self_->state;
        s2.open_sync_pending = false;
        s2.durable_seq = std::max(s2.durable_seq, q);
        self_->send(self_, outbox_atom_v);
      };
      st.waiting.emplace_back(++st.committed_seq, std::move(synced));
      start_sync();
    }
    if (st.opened.outbox_used)
      count_outbox();
    st.opened.next_due = next_due();
    st.opened.changes = st.db->connection().total_changes();
    arm_tick(st.opened.next_due);
    return true;
  }

  /// Whether nothing was written since the store opened: the due times
  /// read then still hold.
  bool unchanged_since_open() const {
    auto& st = self_->state;
    return st.opened.changes >= 0
           && st.db->connection().total_changes() == st.opened.changes;
  }

  // -- timed events ------------------------------------------------------------

  /// The store's next due time in microseconds, -1 when nothing is
  /// scheduled (or it cannot be read: logged).
  std::int64_t next_due() {
    auto& st = self_->state;
    auto nd = store::next_due(*st.db);
    if (!nd) {
      log("cannot read the next due time: " + nd.error_value().message);
      return -1;
    }
    return *nd ? (*nd)->micros : -1;
  }

  /// Keeps the node's outbox depth (runtime.hpp) current with this store's
  /// unanswered messages.
  void count_outbox() {
    auto& st = self_->state;
    if (!st.db)
      return;
    auto n = store::unanswered_count(*st.db);
    if (!n)
      return;
    st.rt->stats.outbox_depth.fetch_add(*n - st.outbox_counted,
                                        std::memory_order_relaxed);
    st.outbox_counted = *n;
  }

  /// The store closes: its messages leave the node's outbox depth.
  void uncount_outbox() {
    auto& st = self_->state;
    st.rt->stats.outbox_depth.fetch_sub(st.outbox_counted,
                                        std::memory_order_relaxed);
    st.outbox_counted = 0;
  }

  void snapshots(int delta) {
    self_->state.rt->stats.snapshots_running.fetch_add(
      delta, std::memory_order_relaxed);
  }

  /// A debug line per request (`mantissa start --log-level debug`): the
  /// operation, the caller's role and request id (actors/protocol.hpp).
  void trace(const caller& who, const char* op) {
    if (!mantissa::log::enabled(mantissa::log::level::debug))
      return;
    mantissa::log::debug("store", op,
                         {{"store", self_->state.address},
                          {"role", who.role},
                          {"request_id", who.request_id}});
  }

  void log(const std::string& what) {
    mantissa::log::warn("store", what, {{"store", self_->state.address}});
  }

  /// Makes sure a tick arrives by `due`.
  void arm_tick(std::int64_t due) {
    auto& st = self_->state;
    if (due < 0 || (st.armed_due >= 0 && st.armed_due <= due))
      return;
    st.armed_due = due;
    auto wait = std::max<std::int64_t>(0, due - now_timestamp().micros);
    // Far-off events are looked at again within the hour (the clock may
    // have been changed meanwhile).
    wait = std::min<std::int64_t>(wait, 3'600'000'000);
    self_->delayed_send(self_, std::chrono::microseconds(wait), tick_atom_v);
  }

  /// Tells the node's timer when this store is next due, when it might
  /// otherwise wake the store too late (or, with `exact`, whenever it was
  /// told something else). With `gate`, the answers of the last commit
  /// wait until the timer has recorded it durably.
  void report_due(std::int64_t due, bool exact, bool gate) {
    auto& st = self_->state;
    if (!st.rt->timer)
      return;
    bool needed = exact ? (!st.index_known || st.indexed_due != due)
                        : (due >= 0
                           && (!st.index_known || st.indexed_due < 0
                               || due < st.indexed_due));
    if (!needed)
      return;
    st.index_known = true;
    st.indexed_due = due;
    if (!gate || !st.deferred_sync || due < 0) {
      self_->send(st.rt->timer, due_atom_v, st.address, due);
      return;
    }
    st.index_gate = std::min(st.index_gate, st.committed_seq);
    ++st.index_pending;
    auto release = [this] {
      auto& s = self_->state;
      if (--s.index_pending == 0) {
        s.index_gate = UINT64_MAX;
        deliver_synced();
      }
    };
    self_->request(st.rt->timer, caf::infinite, due_atom_v, st.address, due)
      .then([release](ok_atom) { release(); },
            [this, release](caf::error& err) {
              log("the timer did not record the next due time: "
                  + error_message(err));
              self_->state.index_known = false;
              release();
            });
  }

  /// After a commit: the next due time may have changed.
  void after_commit() {
    auto& st = self_->state;
    count_outbox();
    ship_changes();
    auto due = next_due();
    arm_tick(due);
    bool exact = st.force_report;
    st.force_report = false;
    report_due(wake_due(due), exact, true);
  }

  /// Runs what is due, in the group-commit batch.
  void on_tick() {
    auto& st = self_->state;
    st.armed_due = -1;
    caf::response_promise sink;  // nobody waits for a tick
    if (st.closing || !ensure_open(sink))
      return;
    st.served = true;
    st.last_activity = clock_type::now();
    auto now = now_timestamp();
    auto first = store::first_due(*st.db, now);
    if (!first) {
      log("cannot read the schedule: " + first.error_value().message);
      return;
    }
    self_->send(self_, outbox_atom_v);  // the outbox may be due too
    if (!*first) {
      auto due = next_due();
      arm_tick(due);
      report_due(wake_due(due), true, false);
      return;
    }
    if (!open_batch(sink))
      return;
    auto r = run_due_events(*st.db, *st.rt->handlers, now);
    // A run may change anything, shares and memberships included.
    st.cache.clear();
    st.access.clear();
    if (!r)
      log("cannot run timed events: " + r.error_value().message);
    else if (r->more_due)
      self_->send(self_, tick_atom_v);
    st.force_report = true;
  }

  /// Delivers `reply` now, or once what it may have seen is durable: after
  /// the open batch commits, or after the last commit is synced.
  void finish(caf::response_promise& rp, caf::message reply) {
    auto& st = self_->state;
    if (!st.batch_open) {
      if (st.synced_seq < st.committed_seq)
        st.waiting.emplace_back(st.committed_seq,
                                held_reply{std::move(rp), std::move(reply)});
      else
        rp.deliver(std::move(reply));
      return;
    }
    st.held.push_back({std::move(rp), std::move(reply)});
    if (st.expected_batch > 1 && st.held.size() == st.expected_batch)
      self_->send(self_, commit_atom_v);
  }

  void fail(caf::response_promise& rp, caf::error err) {
    rp.deliver(std::move(err));
  }

  /// Starts a group-commit batch if none is open: the commit message goes
  /// to the back of the mailbox, so every write already queued joins it.
  bool open_batch(caf::response_promise& rp) {
    auto& st = self_->state;
    if (st.batch_open)
      return true;
    if (auto r = st.db->begin(); !r) {
      fail(rp, make_error(r.error_value()));
      return false;
    }
    st.batch_open = true;
    if (st.expected_batch <= 1) {
      self_->send(self_, commit_atom_v);
    } else {
      // Several writers were active in the last batch: give them a moment
      // to send their next writes so that one fsync covers them all. The
      // batch commits early once it is as large as the last one.
      self_->delayed_send(self_, commit_delay, commit_atom_v);
    }
    return true;
  }

  /// Commits the open batch. While more messages wait in the mailbox (more
  /// writes from writers that were just answered), the commit is moved
  /// behind them — a bounded number of times — so that one fsync covers as
  /// many writes as possible.
  ///
  /// With deferred syncs, a batch that is ready while the previous commit's
  /// sync runs keeps growing until that sync returns (it commits then), so
  /// each sync covers one commit of as many writes as arrived meanwhile.
  void commit(bool final = false) {
    auto& st = self_->state;
    bool was_open = st.batch_open;
    commit_batch(final);
    if (was_open && !st.batch_open && st.backup_after_commit && !st.closing) {
      // A backup waited for this batch: its next step runs now, between
      // this commit and the next batch, so that writers cannot starve it.
      st.backup_after_commit = false;
      advance_backup(false);
    }
  }

  void commit_batch(bool final) {
    auto& st = self_->state;
    if (!st.batch_open)
      return;
    if (!final && st.sync_in_flight && st.held.size() < max_batch) {
      st.commit_after_sync = true;
      return;
    }
    if (!final && !self_->mailbox().empty() && st.deferrals < max_deferrals
        && st.held.size() < max_batch) {
      ++st.deferrals;
      self_->send(self_, commit_atom_v);
      return;
    }
    st.commit_after_sync = false;
    st.deferrals = 0;
    st.batch_open = false;
    st.expected_batch = st.held.size();
    auto held = std::move(st.held);
    st.held.clear();
    auto commit_started = std::chrono::steady_clock::now();
    auto r = st.db->commit();
    st.rt->stats.commit_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now()
                                    - commit_started)
        .count());
    if (!r) {
      st.cache.clear();
      auto err = make_error(error_code::store_unavailable,
                            "commit failed: " + r.error_value().message);
      for (auto& h : held)
        h.fail(err);
      st.acks.clear();
      return;
    }
    if (st.release_after_commit) {
      st.release_after_commit = false;
      st.db->connection().release_memory();
    }
    auto n = static_cast<std::int64_t>(held.size());
    st.rt->stats.commits.fetch_add(1, std::memory_order_relaxed);
    st.rt->stats.committed_writes.fetch_add(n, std::memory_order_relaxed);
    auto prev = st.rt->stats.max_batch.load(std::memory_order_relaxed);
    while (n > prev && !st.rt->stats.max_batch.compare_exchange_weak(prev, n)) {
    }
    st.rt->stats.commit_batch.observe(static_cast<double>(n));
    auto durable = messages_committed();
    if (!st.deferred_sync) {
      for (auto& h : held)
        h.release();
      if (durable.then)
        durable.release();
      after_commit();
      return;
    }
    ++st.committed_seq;
    for (auto& h : held)
      st.waiting.emplace_back(st.committed_seq, std::move(h));
    if (durable.then)
      st.waiting.emplace_back(st.committed_seq, std::move(durable));
    after_commit();
    start_sync();
  }

  /// Hands the WAL to the sync pool unless a sync runs already (its
  /// completion starts the next one).
  void start_sync() {
    auto& st = self_->state;
    if (st.sync_in_flight || st.closing || st.synced_seq >= st.committed_seq)
      return;
    if (!st.wal) {
      std::string err;
      st.wal = wal_file::open(st.path, err);
      if (!st.wal) {
        sync_failed(st.committed_seq, err);
        return;
      }
    }
    st.sync_in_flight = true;
    auto target = st.committed_seq;
    caf::actor me = caf::actor_cast<caf::actor>(self_);
    auto* rt = st.rt;
    auto started = std::chrono::steady_clock::now();
    st.rt->syncer->submit(st.wal, [me, target, rt, started](int rc) {
      rt->stats.sync_seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now()
                                      - started)
          .count());
      caf::anon_send(me, synced_atom_v, target, rc);
    });
  }

  /// A sync covering every commit up to `target` returned `rc`.
  void on_synced(std::uint64_t target, int rc) {
    auto& st = self_->state;
    st.sync_in_flight = false;
    if (rc != 0) {
      sync_failed(target, std::strerror(rc));
      return;
    }
    st.synced_seq = std::max(st.synced_seq, target);
    deliver_synced();
    if (st.commit_after_sync)
      commit(true);
    else
      start_sync();
  }

  /// Answers everything that waited for a commit up to `synced_seq` (and
  /// before `index_gate`).
  void deliver_synced() {
    auto& st = self_->state;
    auto upto = std::min(st.synced_seq, st.index_gate - 1);
    while (!st.waiting.empty() && st.waiting.front().first <= upto) {
      auto h = std::move(st.waiting.front().second);
      st.waiting.pop_front();
      h.release();
    }
  }

  /// The WAL could not be made durable: what waited for it gets
  /// store_unavailable (the writes may or may not survive a crash), and the
  /// store closes so that its next activation starts from the file.
  void sync_failed(std::uint64_t target, const std::string& why) {
    auto& st = self_->state;
    mantissa::log::error("store", "cannot make commits durable: " + why,
                         {{"store", st.address}});
    auto err = make_error(error_code::store_unavailable,
                          "the store could not make the write durable: " + why);
    while (!st.waiting.empty() && st.waiting.front().first <= target) {
      st.waiting.front().second.fail(err);
      st.waiting.pop_front();
    }
    st.synced_seq = std::max(st.synced_seq, target);
    passivate();
  }

  /// Makes every commit durable on this thread (when the store closes).
  void sync_now() {
    auto& st = self_->state;
    if (st.synced_seq >= st.committed_seq)
      return;
    auto target = st.committed_seq;
    std::string err;
    if (!st.wal)
      st.wal = wal_file::open(st.path, err);
    int rc = st.wal ? st.wal->sync() : EIO;
    if (rc != 0) {
      if (err.empty())
        err = std::strerror(rc);
      auto e = make_error(error_code::store_unavailable,
                          "the store could not make the write durable: " + err);
      mantissa::log::error("store", "cannot make commits durable: " + err,
                           {{"store", st.address}});
      for (auto& w : st.waiting)
        w.second.fail(e);
      st.waiting.clear();
    }
    st.synced_seq = target;
    deliver_synced();
  }

  void passivate() {
    auto& st = self_->state;
    if (st.closing)
      return;
    if (!st.backups.empty() && st.backups.front().finishing) {
      // Its worker is syncing and hashing the copy: close once it is done
      // (then the other backups are taken in one go).
      st.passivate_after_backup = true;
      return;
    }
    st.closing = true;
    if (st.batch_open)
      commit(true);
    // A backup in progress is finished in one go before the file closes
    // (the manager evicting the store, or the node stopping).
    while (!st.backups.empty() && st.db)
      advance_backup(true);
    sync_now();
    if (st.db) {
      if (unchanged_since_open() && !st.opened.outbox_used)
        report_due(st.opened.next_due, true, false);
      else
        report_due(wake_due(next_due()), true, false);
    }
    st.index_gate = UINT64_MAX;  // closing: nothing more to wait for
    deliver_synced();
    st.recorder.reset();  // a move in progress fails (its freeze bounces)
    uncount_outbox();
    st.db.reset();  // closes the file before the manager hears of it
    st.rt->stats.passivations.fetch_add(1, std::memory_order_relaxed);
    self_->send(st.manager, passivated_atom_v, st.address);
    self_->quit();
  }

  void on_idle_check() {
    auto& st = self_->state;
    auto idle_for = clock_type::now() - st.last_activity;
    // The manager's sweep asks every open store (manager.hpp); one that is
    // busy, was used lately, or has not yet served the request it was
    // activated for (the manager can still evict it under the cap) is asked
    // again at the next sweep.
    if (st.batch_open || st.synced_seq < st.committed_seq || !st.served
        || !st.in_flight.empty() || !st.asks.empty() || !st.backups.empty()
        || st.recorder || idle_for < st.rt->idle_timeout)
      return;
    passivate();
  }

  // -- backups (docs/operations.md) ------------------------------------------

  /// Takes the next step of the first backup: starts its copy or copies
  /// `backup_pages_per_step` pages, then queues the next step behind the
  /// requests waiting in the mailbox; after the last, closes the copy and
  /// hands it to a worker thread (`finish_backup`). A copy step never runs
  /// inside a transaction: while a batch is open it waits for its commit.
  /// With `to_end` (the store is closing, its batch committed) the whole
  /// backup runs now, on this thread.
  void advance_backup(bool to_end) {
    auto& st = self_->state;
    if (st.backups.empty() || !st.db)
      return;
    auto& job = st.backups.front();
    if (job.finishing)
      return;  // its worker answers with bkdone_atom
    auto t0 = clock_type::now();
    auto timed = [&] {
      job.longest_step = std::max(job.longest_step, clock_type::now() - t0);
    };
    auto failed = [&](const store::error& e) {
      job.promise.deliver(make_error(e));
      st.backups.pop_front();
      snapshots(-1);
      if (!st.backups.empty() && !to_end)
        self_->send(self_, bkstep_atom_v);
    };
    do {
      if (!job.hasher) {
        if (st.batch_open || st.db->connection().in_transaction()) {
          if (to_end) {  // cannot happen: a closing store commits first
            failed(store::error{store::errc::busy,
                                "the store closed during the backup"});
            return;
          }
          st.backup_after_commit = true;
          return;
        }
        if (!job.copy) {
          auto c = store::online_backup::start(st.db->connection(), job.dest);
          if (!c) {
            failed(c.error_value());
            return;
          }
          job.copy = std::move(*c);
          job.started = clock_type::now();
        }
        // A copy that SQLite keeps restarting (a rolled-back batch that had
        // spilled pages) finishes in one step after a while.
        auto limit = 2 * (job.copy->page_count() / backup_pages_per_step) + 64;
        int pages = to_end || job.copy->steps() > limit ? -1
                                                        : backup_pages_per_step;
        auto r = job.copy->step(pages);
        if (!r) {
          failed(r.error_value());
          return;
        }
        if (!*r)
          continue;
        if (job.for_move) {
          // The copy is the store as of now: record every change from
          // here on, in this same turn (no transaction in between).
          auto rec = store::change_recorder::start(st.db->connection());
          if (!rec) {
            failed(rec.error_value());
            return;
          }
          st.recorder = std::move(*rec);
        }
        job.pages = job.copy->page_count();
        job.steps = job.copy->steps();
        if (!to_end) {
          // The rest (sync, rename, SHA-256) does not need the connection:
          // a thread of its own does it, so that syncing and hashing a
          // large copy does not hold up the store's requests.
          auto closed = job.copy->close();
          auto temp = job.copy->temp();
          job.copy.reset();
          if (!closed) {
            failed(closed.error_value());
            return;
          }
          job.finishing = true;
          timed();
          self_->system().spawn<caf::detached>(finish_backup,
                                               caf::actor_cast<caf::actor>(
                                                 self_),
                                               temp, job.dest);
          return;
        }
        auto bytes = job.copy->finish();
        job.copy.reset();
        if (!bytes) {
          failed(bytes.error_value());
          return;
        }
        job.bytes = *bytes;
        auto h = file_hasher::open(job.dest);
        if (!h) {
          failed(h.error_value());
          return;
        }
        job.hasher = std::move(*h);
        continue;
      }
      auto r = job.hasher->step(SIZE_MAX);
      if (!r) {
        failed(r.error_value());
        return;
      }
      if (!*r)
        continue;
      timed();
      answer_backup(job.hasher->hex());
      return;
    } while (to_end);
    timed();
    self_->send(self_, bkstep_atom_v);
  }

  /// Answers the first backup (its copy is complete, durable and hashed)
  /// and starts the next, if any.
  void answer_backup(const std::string& sha256) {
    auto& st = self_->state;
    auto& job = st.backups.front();
    auto us = [](clock_type::duration d) {
      return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    };
    nlohmann::json out{{"address", st.address},
                       {"path", job.dest.string()},
                       {"bytes", job.bytes},
                       {"sha256", sha256},
                       {"pages", job.pages},
                       {"steps", job.steps},
                       {"micros", us(clock_type::now() - job.started)},
                       {"longest_step_micros", us(job.longest_step)}};
    auto rp = std::move(job.promise);
    st.backups.pop_front();
    snapshots(-1);
    finish(rp, caf::make_message(dump(out)));
    if (!st.backups.empty() && !st.closing)
      self_->send(self_, bkstep_atom_v);
  }

  /// The worker of the first backup is done.
  void on_backup_finished(bool ok, std::uint64_t bytes,
                          const std::string& sha256_or_error) {
    auto& st = self_->state;
    if (st.backups.empty() || !st.backups.front().finishing)
      return;
    if (ok) {
      st.backups.front().bytes = bytes;
      answer_backup(sha256_or_error);
    } else {
      st.backups.front().promise.deliver(
        make_error(error_code::io_error, sha256_or_error));
      st.backups.pop_front();
      snapshots(-1);
      if (!st.backups.empty() && !st.closing)
        self_->send(self_, bkstep_atom_v);
    }
    if (st.passivate_after_backup) {
      st.passivate_after_backup = false;
      passivate();
    }
  }

  // -- replicas (actors/internal/move.hpp) ------------------------------------

  /// Ships what changed since the last call to the replica's node, in
  /// order, without waiting: the replica lags by what is unconfirmed.
  void ship_changes() {
    auto& st = self_->state;
    if (!st.replicating || !st.recorder || !st.db)
      return;
    auto cs = st.recorder->changeset();
    if (!cs) {
      replica_failed("cannot read the changes: " + cs.error_value().message);
      return;
    }
    if (cs->empty())
      return;
    // A fresh session for the next changes.
    st.recorder.reset();
    auto rec = store::change_recorder::start(st.db->connection());
    if (!rec) {
      replica_failed("cannot record changes: " + rec.error_value().message);
      return;
    }
    st.recorder = std::move(*rec);
    auto seq = ++st.replica_seq;
    auto* stats = &st.rt->stats;
    stats->replication_pending.fetch_add(1, std::memory_order_relaxed);
    self_
      ->request(st.rt->router, caf::timespan{st.rt->request_timeout}, relay_atom_v,
                st.replica_node,
                caf::make_message(incoming_atom::value, std::string{"rapply"},
                                  st.address,
                                  std::to_string(seq) + "\n" + std::move(*cs)),
                caf::timespan{st.rt->request_timeout})
      .then(
        [stats](std::string&) {
          stats->replication_pending.fetch_sub(1, std::memory_order_relaxed);
          stats->replication_ok.fetch_add(1, std::memory_order_relaxed);
        },
        [this, stats, seq](caf::error& err) {
          stats->replication_pending.fetch_sub(1, std::memory_order_relaxed);
          stats->replication_failed.fetch_add(1, std::memory_order_relaxed);
          if (seq <= self_->state.replica_seq)
            replica_failed(error_message(err));
        });
  }

  /// The replica fell out of step: stop shipping, take a new copy soon.
  void replica_failed(const std::string& why) {
    auto& st = self_->state;
    if (!st.replicating)
      return;
    log("the replica on " + st.replica_node + " fell behind (" + why
        + "); taking a new copy in 5 s");
    st.replicating = false;
    st.recorder.reset();
    if (!st.resync_armed) {
      st.resync_armed = true;
      self_->delayed_send(self_, std::chrono::seconds(5), resync_atom_v);
    }
  }

  void resync() {
    auto& st = self_->state;
    st.resync_armed = false;
    if (st.closing || st.replicating || st.recorder || st.replica_node.empty())
      return;
    caf::anon_send(st.rt->router, replicate_atom::value, st.address,
                   st.replica_node, caf::actor{});
  }

  // -- moves (actors/internal/move.hpp) ---------------------------------------

  /// The switch of a move: commits and syncs what is open, then stops
  /// taking messages (they wait in the mailbox) and answers the changes
  /// made since the snapshot.
  caf::result<std::string> freeze() {
    auto& st = self_->state;
    if (!st.recorder || !st.db || st.closing)
      return make_error(error_code::invalid_value,
                        "no move of " + st.address + " is in progress");
    if (!st.asks.empty() || !st.backups.empty())
      return make_error(error_code::busy, "the store is waiting for an answer "
                                          "or taking a backup");
    if (st.batch_open)
      commit(true);
    sync_now();
    auto cs = st.recorder->changeset();
    if (!cs)
      return make_error(cs.error_value());
    st.frozen = true;
    self_->set_default_handler(caf::skip);
    self_->become(caf::keep_behavior, frozen_behavior());
    return std::move(*cs);
  }

  /// The move failed: serve again (what waited is taken now).
  void thaw() {
    auto& st = self_->state;
    st.recorder.reset();
    st.mover = caf::actor_addr{};
    if (!st.frozen)
      return;
    st.frozen = false;
    self_->set_default_handler(caf::print_and_drop);
    self_->unbecome();
  }

  /// The move committed (or cannot be undone): close for good. With
  /// `remove` the files go (the new home has the store); without, the
  /// copy stays fenced by its marker and its next activation asks the
  /// directory. What waits in the mailbox bounces back to its senders,
  /// whose retries find the new home.
  void close_moved(bool remove) {
    auto& st = self_->state;
    st.closing = true;
    st.index_gate = UINT64_MAX;
    deliver_synced();
    st.recorder.reset();
    uncount_outbox();
    st.db.reset();
    if (remove) {
      if (auto e = remove_store_files(st.path); !e.empty()) {
        mantissa::log::error("store", e, {{"store", st.address}});
      }
    }
    st.rt->stats.passivations.fetch_add(1, std::memory_order_relaxed);
    self_->send(st.manager, passivated_atom_v, st.address);
    self_->quit();
  }

  caf::behavior frozen_behavior() {
    return {
      [this](thaw_atom) { thaw(); },
      [this](movedone_atom, bool remove) -> caf::result<caf::ok_atom> {
        auto rp = self_->make_response_promise<caf::ok_atom>();
        close_moved(remove);  // the files are gone before the answer
        rp.deliver(caf::ok_atom_v);
        return rp;
      },
      [](ok_atom) {},
    };
  }

  /// The mover went away (a node stopping): undo, unless the switch got
  /// as far as the marker (then the directory decides at the next
  /// activation).
  void on_mover_gone() {
    auto& st = self_->state;
    std::error_code ec;
    if (st.frozen && std::filesystem::exists(moving_out_marker(st.path), ec))
      close_moved(false);
    else
      thaw();
  }

  const store::type_decl* decl(const std::string& type,
                               caf::response_promise& rp) {
    auto* d = self_->state.rt->types->current(type);
    if (d == nullptr)
      fail(rp, make_error(error_code::no_such_type,
                          "no item type named '" + type.substr(0, 128)
                            + "' is declared"));
    return d;
  }

  // -- authorization (docs/security.md) --------------------------------------

  /// The roles whose rights `role` has in this store; empty on failure.
  const std::vector<std::string>& closure(const std::string& role) {
    auto& st = self_->state;
    if (auto* c = st.access.closure(role))
      return *c;
    auto r = store::role_closure(*st.db, role);
    return st.access.put_closure(role, r ? std::move(*r)
                                         : std::vector<std::string>{});
  }

  /// Whether `who` has every right in this store: the system, the owner of
  /// a user store, and members of `group:admin` in the site store.
  bool is_owner(const caller& who) {
    auto& st = self_->state;
    if (who.role == system_role)
      return true;
    if (!st.owner_role.empty())
      return who.role == st.owner_role;
    if (st.address != site_address)
      return false;
    auto& roles = closure(who.role);
    return std::binary_search(roles.begin(), roles.end(),
                              std::string{"group:admin"});
  }

  /// Whether `who` may use `iface` on item `id`.
  bool can(const caller& who, std::int64_t id, std::string_view iface) {
    if (is_owner(who))
      return true;
    auto& st = self_->state;
    auto key = who.role;
    key += '\n';
    key += std::to_string(id);
    const auto* ifaces = st.access.interfaces(key);
    if (ifaces == nullptr) {
      auto r = store::interfaces_for(*st.db, closure(who.role), id);
      ifaces = &st.access.put_interfaces(std::move(key),
                                         r ? std::move(*r)
                                           : std::vector<std::string>{});
    }
    return std::find(ifaces->begin(), ifaces->end(), iface) != ifaces->end();
  }

  /// The answer to a non-owner for an item it may not use: the same as for
  /// an item that does not exist, so existence does not leak.
  static caf::error hidden(const std::string& type, std::int64_t id) {
    return make_error(error_code::no_such_item,
                      "no item " + type.substr(0, 128) + " #"
                        + std::to_string(id));
  }

  /// For a caller that owns nothing here and with whom nothing is shared:
  /// fails `rp` with the answer for a store that does not exist, so that
  /// whether an account exists does not leak (true: `rp` is answered).
  bool hidden_store(const caller& who, caf::response_promise& rp) {
    if (!ensure_open(rp))
      return true;
    auto& st = self_->state;
    // Only user stores: the site store and the offerings' stores are known
    // to everyone.
    if (st.owner_role.empty() || is_owner(who))
      return false;
    // Cached beside the interfaces per item, and dropped with them when
    // shares change: "role\n*" holds {"*"} when anything is shared.
    auto key = who.role + "\n*";
    const auto* seen = st.access.interfaces(key);
    if (seen == nullptr) {
      auto any = store::shares_any(*st.db, closure(who.role));
      if (!any) {
        fail(rp, make_error(any.error_value()));
        return true;
      }
      seen = &st.access.put_interfaces(
        std::move(key), *any ? std::vector<std::string>{"*"}
                             : std::vector<std::string>{});
    }
    if (!seen->empty())
      return false;
    fail(rp, no_store_error(st.address));
    return true;
  }

  /// Fails `rp` with `forbidden` unless `who` owns the store.
  bool require_owner(const caller& who, caf::response_promise& rp,
                     const char* what) {
    if (is_owner(who))
      return true;
    fail(rp, make_error(error_code::forbidden,
                        std::string{what} + " needs the store's owner"));
    return false;
  }

  /// Items of the `mantissa.*` types are the node's own records (account
  /// copies, login methods, sessions, messages, schedules, the directory):
  /// only the node's code writes them, as `system` or inside its handlers.
  /// A message from a front end or a custom actor may not, whoever owns the
  /// store: else an owner could rewrite its account copy.
  bool require_node_for(const std::string& type, const caller& who,
                        caf::response_promise& rp,
                        const char* verb = "writes") {
    if (type.rfind("mantissa.", 0) != 0 || who.role == system_role)
      return true;
    // The site's administrators administer the site store (its settings).
    if (self_->state.address == site_address && is_owner(who))
      return true;
    fail(rp, make_error(error_code::forbidden,
                        "items of " + type
                          + " are the node's own records: only the node "
                          + verb + " them"));
    return false;
  }

  /// Reads of the node's own records (a user store's account copy holds
  /// the password hash) are the node's too, as over HTTP: an owner who
  /// reads `mantissa.account` in their own store over the port gets
  /// forbidden, not their hash.
  bool require_node_to_read(const std::string& type, const caller& who,
                            caf::response_promise& rp) {
    return require_node_for(type, who, rp, "reads");
  }

  /// The arguments of a handler: JSON text, or null when empty; or fails
  /// `rp`.
  std::optional<nlohmann::json> handler_args(caf::response_promise& rp,
                                             const std::string& args) {
    if (args.empty())
      return nlohmann::json();
    return parse_or_fail(rp, args, "the arguments");
  }

  /// Runs handler `name` (`f` on the store) isolated inside the open batch
  /// — its failure undoes only its own writes, not the other writes of the
  /// batch — and answers `rp` with its JSON.
  template <class F>
  void run_isolated(caf::response_promise& rp, const std::string& name, F&& f) {
    auto& s = self_->state;
    auto r = [&]() -> store::result<nlohmann::json> {
      try {
        return s.db->isolated([&] { return f(*s.db); });
      } catch (const std::exception& e) {
        return store::error{store::errc::internal,
                            "handler " + name + " failed: " + e.what()};
      }
    }();
    // A handler may change anything, shares and memberships included.
    s.cache.clear();
    s.access.clear();
    if (!r) {
      fail(rp, make_error(r.error_value()));
      return;
    }
    finish(rp, caf::make_message(dump(*r)));
  }

  /// Parses JSON text or fails `rp`.
  std::optional<nlohmann::json> parse_or_fail(caf::response_promise& rp,
                                              const std::string& text,
                                              const char* what) {
    auto j = parse_json(text, what);
    if (!j) {
      fail(rp, make_error(j.error_value()));
      return std::nullopt;
    }
    return std::move(*j);
  }

  /// What `who` gets through `share_id` ("" = the default share); the
  /// owner gets every share, with the interface "*".
  std::optional<store::shared_item> find_share(const caller& who,
                                               const std::string& share_id) {
    auto& db = *self_->state.db;
    if (!is_owner(who)) {
      auto r = store::get_share(db, closure(who.role), share_id);
      return r ? std::optional<store::shared_item>{std::move(*r)}
               : std::nullopt;
    }
    std::string id = share_id;
    if (id.empty()) {
      auto def = store::default_share(db);
      if (!def || def->empty())
        return std::nullopt;
      id = std::move(*def);
    }
    auto all = store::list_shares(db);
    if (!all)
      return std::nullopt;
    for (auto& sh : *all)
      if (sh.share_id == id)
        return store::shared_item{sh.share_id, sh.item, {"*"}};
    return std::nullopt;
  }

  // -- reliable messages (docs/interstore.md) ----------------------------------

  /// When the node's timer must wake this store: its next timed event or
  /// its outbox, whichever is first (-1: never).
  std::int64_t wake_due(std::int64_t sched_due) {
    auto od = store::outbox_due(*self_->state.db);
    if (!od) {
      log("cannot read the outbox: " + od.error_value().message);
      return sched_due;
    }
    if (!*od)
      return sched_due;
    // A due time in the past while a delivery is in flight would have the
    // timer wake this (open) store over and over: its answer rearms it.
    if (!self_->state.in_flight.empty())
      (*od)->micros = std::max((*od)->micros, now_timestamp().micros + 1'000'000);
    return sched_due < 0 ? (*od)->micros : std::min(sched_due, (*od)->micros);
  }

  /// At a commit: what becomes true once it is durable — newly queued
  /// messages may be sent, handled answers may be acknowledged.
  held_reply messages_committed() {
    auto& st = self_->state;
    held_reply h;
    auto q = store::last_queued(*st.db);
    auto queued = q ? *q : st.queued_seq;
    bool more = queued > st.queued_seq;
    st.queued_seq = queued;
    if (!more && st.acks.empty())
      return h;
    auto acks = std::move(st.acks);
    st.acks.clear();
    h.then = [this, queued, acks = std::move(acks)] {
      auto& s = self_->state;
      s.durable_seq = std::max(s.durable_seq, queued);
      for (auto& [target, seq] : acks) {
        auto& a = s.safe_acked[target];
        a = std::max(a, seq);
      }
      self_->send(self_, outbox_atom_v);
    };
    return h;
  }

  /// The role a store's messages are checked for at the target.
  static std::string role_of(const std::string& address) {
    if (address == site_address)
      return system_role;
    if (address.find('@') != std::string::npos)
      return "user:" + address;
    return "app:" + address;
  }

  /// `t` plus `d`, as a store timestamp.
  template <class Rep, class Period>
  static store::timestamp after(store::timestamp t,
                                std::chrono::duration<Rep, Period> d) {
    return store::timestamp{
      t.micros
      + std::chrono::duration_cast<std::chrono::microseconds>(d).count()};
  }

  static std::chrono::milliseconds backoff(const runtime& rt,
                                           std::int64_t attempts) {
    auto d = rt.retry_min;
    for (std::int64_t i = 1; i < attempts && d < rt.retry_max; ++i)
      d *= 2;
    return std::min(d, rt.retry_max);
  }

  void arm_outbox(std::int64_t due) {
    auto& st = self_->state;
    if (due < 0 || (st.outbox_armed >= 0 && st.outbox_armed <= due))
      return;
    st.outbox_armed = due;
    auto wait = std::max<std::int64_t>(0, due - now_timestamp().micros);
    self_->delayed_send(self_, std::chrono::microseconds(wait), outbox_atom_v);
  }

  /// Sends what is due in the outbox and runs kept answers' consequences.
  void pump() {
    auto& st = self_->state;
    st.outbox_armed = -1;
    // (While frames left by the last run are synced, the first look at
    // the outbox waits: that sync's completion asks for it.)
    if (st.closing || !st.db || !st.rt->router || st.open_sync_pending)
      return;
    auto now = now_timestamp();
    auto targets = store::active_targets(*st.db);
    if (!targets) {
      log("cannot read the outbox: " + targets.error_value().message);
      return;
    }
    // The first pump of an activation: a next attempt within the delivery
    // window may stand for a delivery the previous run of the node had in
    // flight when it stopped; it is made now.
    auto soon = st.pumped ? now : after(now, st.rt->delivery_window());
    st.pumped = true;
    for (auto& t : *targets) {
      if (st.in_flight.count(t.target) != 0)
        continue;
      if (t.next_attempt && t.next_attempt->micros > soon.micros) {
        arm_outbox(t.next_attempt->micros);
        continue;
      }
      dispatch(t, now);
    }
    auto kept = store::answers_due(*st.db, now, 64);
    if (!kept) {
      log("cannot read kept answers: " + kept.error_value().message);
      return;
    }
    caf::response_promise sink;
    for (auto& m : *kept) {
      if (!open_batch(sink))
        return;
      auto a = nlohmann::json::parse(*m.answer, nullptr, false);
      handle_answer(m, a);
    }
    if (kept->size() == 64)
      self_->send(self_, outbox_atom_v);
    else if (auto od = store::outbox_due(*st.db); od && *od
             && (*od)->micros > now.micros)
      arm_outbox((*od)->micros);
  }

  /// Sends the next messages to one target through the router.
  void dispatch(store::target_state t, store::timestamp now) {
    auto& st = self_->state;
    constexpr std::size_t batch_limit = 1024;
    auto rows = store::unanswered(*st.db, t.target, st.durable_seq,
                                  batch_limit);
    if (!rows) {
      log("cannot read the outbox: " + rows.error_value().message);
      return;
    }
    caf::response_promise sink;
    if (rows->empty()) {
      auto more = store::has_unanswered(*st.db, t.target);
      if (!more || *more)
        return;  // what is left is sent once it is durable
      if (!open_batch(sink))
        return;
      t.next_attempt.reset();
      t.attempts = 0;
      if (auto r = store::put_target(*st.db, t); !r)
        log("cannot update the outbox: " + r.error_value().message);
      return;
    }
    if (!open_batch(sink))
      return;
    // If no answer comes (the node stops), the timer wakes the store then.
    t.next_attempt = after(now, st.rt->delivery_window());
    if (auto r = store::put_target(*st.db, t); !r) {
      log("cannot update the outbox: " + r.error_value().message);
      return;
    }
    auto acked = st.safe_acked.find(t.target);
    std::int64_t ack = acked == st.safe_acked.end() ? 0 : acked->second;
    std::string text = "{\"sender\":" + nlohmann::json(st.address).dump()
                       + ",\"acked\":" + std::to_string(ack)
                       + ",\"messages\":[";
    // At most about `delivery_bytes` (4 MiB) per delivery, always at least
    // one message: the rest goes with the next.
    const std::size_t batch_bytes = st.rt->delivery_bytes;
    std::size_t count = 0;
    for (std::size_t i = 0; i < rows->size(); ++i) {
      auto& m = (*rows)[i];
      if (i > 0 && text.size() + m.payload.size() > batch_bytes)
        break;
      ++count;
      if (i > 0)
        text += ',';
      text += "{\"id\":" + std::to_string(m.seq)
              + ",\"share\":" + nlohmann::json(m.share_id).dump()
              + ",\"type\":" + nlohmann::json(m.type).dump()
              + ",\"payload\":" + m.payload + '}';
    }
    text += "]}";
    st.in_flight.insert(t.target);
    caf::actor me = caf::actor_cast<caf::actor>(self_);
    auto last = (*rows)[count - 1].seq;
    auto target = t.target;
    completion done{std::make_shared<reply_handler>(
      [me, target, last](reply r) {
        caf::anon_send(me, delivered_atom_v, target, last, r.ok,
                       std::move(r.body), static_cast<std::uint8_t>(r.code),
                       std::move(r.message));
      })};
    self_->send(st.rt->router, call_atom_v, t.target,
                caf::make_message(inbox_atom::value, caller{system_role, {}},
                                  std::move(text)),
                std::move(done));
  }

  static nlohmann::json error_answer(error_code code, const std::string& why) {
    return {{"ok", false}, {"code", to_string(code)}, {"message", why}};
  }

  /// The router answered a delivery of messages up to `last` to `target`.
  void on_delivered(const std::string& target, std::int64_t last, bool ok,
                    const std::string& body, error_code code,
                    const std::string& why) {
    auto& st = self_->state;
    st.in_flight.erase(target);
    caf::response_promise sink;
    if (st.closing || !ensure_open(sink) || !open_batch(sink))
      return;
    auto& db = *st.db;
    auto t = store::get_target(db, target);
    if (!t) {
      log("cannot update the outbox: " + t.error_value().message);
      return;
    }
    auto now = now_timestamp();
    nlohmann::json answers;
    if (ok) {
      auto j = nlohmann::json::parse(body, nullptr, false);
      if (j.is_object() && j.contains("answers") && j["answers"].is_array())
        answers = std::move(j["answers"]);
      else {
        ok = false;
        code = error_code::internal;
      }
    }
    if (!ok) {
      bool final = code == error_code::no_such_store
                   || code == error_code::invalid_name;
      (final ? st.rt->stats.deliveries_final : st.rt->stats.deliveries_retried)
        .fetch_add(1, std::memory_order_relaxed);
      if (!final) {
        ++t->attempts;
        auto wait = backoff(*st.rt, t->attempts);
        t->next_attempt = after(now, wait);
        log("cannot deliver messages to " + target + " (attempt "
            + std::to_string(t->attempts) + ", next in "
            + std::to_string(wait.count()) + " ms): " + why);
        if (auto r = store::put_target(db, *t); !r)
          log("cannot update the outbox: " + r.error_value().message);
        arm_outbox(t->next_attempt->micros);
        return;
      }
      // No such store: every message sent is answered no_such_user.
      answers = nlohmann::json::array();
      auto rows = store::unanswered(db, target, last, 1024);
      if (rows)
        for (auto& m : *rows)
          answers.push_back(
            {{"id", m.seq},
             {"answer", error_answer(error_code::no_such_user,
                                     "no store " + target.substr(0, 128))}});
    }
    if (ok)
      st.rt->stats.deliveries_ok.fetch_add(1, std::memory_order_relaxed);
    if (st.safe_acked.count(target) == 0)
      st.safe_acked[target] = t->acked;
    for (auto& a : answers) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer())
        continue;
      auto seq = a["id"].get<std::int64_t>();
      auto row = store::find_outgoing(db, seq);
      if (!row) {
        log("cannot read the outbox: " + row.error_value().message);
        return;
      }
      // Gone or answered already: a repeated answer, handled once.
      if (!*row || (*row)->answer || (*row)->target != target)
        continue;
      handle_answer(**row, a.contains("answer") ? a["answer"]
                                                : nlohmann::json{});
      t->acked = std::max(t->acked, seq);
    }
    st.acks.emplace_back(target, t->acked);
    t->attempts = 0;
    t->next_attempt = now;  // the next messages go at once
    if (auto r = store::put_target(db, *t); !r)
      log("cannot update the outbox: " + r.error_value().message);
    dispatch(*t, now);
  }

  /// Runs the consequence of `m` for `answer` in a savepoint; the row goes
  /// with it, or stays with the answer when the consequence fails.
  void handle_answer(const store::outgoing& m, const nlohmann::json& answer) {
    auto& st = self_->state;
    auto& db = *st.db;
    message_answer a;
    (answer.is_object() && answer.value("ok", false)
       ? st.rt->stats.answers_ok
       : st.rt->stats.answers_failed)
      .fetch_add(1, std::memory_order_relaxed);
    if (answer.is_object() && answer.value("ok", false)) {
      a.ok = true;
      a.value = answer.contains("value") ? answer["value"] : nlohmann::json{};
    } else {
      a.code = answer.is_object() ? answer.value("code", "internal")
                                  : std::string{"internal"};
      a.message = answer.is_object() ? answer.value("message", "")
                                     : std::string{"malformed answer"};
    }
    auto* type = st.rt->handlers->find_message_type(m.type);
    auto r = db.isolated([&]() -> store::result<void> {
      if (type != nullptr && type->consequence) {
        outgoing_message om{m.seq, m.target, m.share_id, m.type,
                            nlohmann::json::parse(m.payload, nullptr, false)};
        try {
          MANTISSA_TRY(type->consequence(db, om, a));
        } catch (const std::exception& e) {
          return store::error{store::errc::internal,
                              std::string{"consequence threw: "} + e.what()};
        }
      }
      return store::remove_outgoing(db, m.seq);
    });
    st.cache.clear();
    st.access.clear();
    if (r)
      return;
    log("the consequence of message " + std::to_string(m.seq) + " ("
        + m.type.substr(0, 128) + ") failed, kept for another try: "
        + r.error_value().message);
    auto retry = after(now_timestamp(), st.rt->retry_min);
    if (auto k = store::keep_answer(db, m.seq, dump(answer), retry); !k)
      log("cannot keep the answer: " + k.error_value().message);
    arm_outbox(retry.micros);
  }

  /// Processes one message for the receiver: the recorded answer if it
  /// was processed before, else runs its handler and records the answer.
  /// Fails only when the record cannot be read or written.
  store::result<nlohmann::json> receive_one(const std::string& sender,
                                            const std::string& role,
                                            const nlohmann::json& m) {
    auto& db = *self_->state.db;
    if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer()
        || !m.contains("type") || !m["type"].is_string())
      return error_answer(error_code::invalid_value,
                          "a message needs an integer id and a type");
    auto seq = m["id"].get<std::int64_t>();
    auto rec = store::find_received(db, sender, seq);
    if (!rec)
      return std::move(rec).error_value();
    if (*rec)
      return nlohmann::json::parse(**rec, nullptr, false);
    return process_message(sender, role, seq, m, true);
  }

  /// Runs the receiver of message `m` (`{type, share?, payload?}`) from
  /// `sender`, whose role is `role`, and returns its answer. With `record`
  /// (a reliable message `seq`), the answer is recorded with the
  /// handler's effect; a failure to record is the only error.
  store::result<nlohmann::json> process_message(const std::string& sender,
                                                const std::string& role,
                                                std::int64_t seq,
                                                const nlohmann::json& m,
                                                bool record) {
    auto& st = self_->state;
    auto& db = *st.db;
    auto type = m.contains("type") && m["type"].is_string()
                  ? m["type"].get<std::string>()
                  : std::string{};
    auto share_id = m.contains("share") && m["share"].is_string()
                      ? m["share"].get<std::string>()
                      : std::string{};
    nlohmann::json answer;
    if (st.share_version != db.sharing_version()) {
      st.message_shares.clear();
      st.share_version = db.sharing_version();
    }
    auto key = std::pair{role, share_id};
    auto memo = st.message_shares.find(key);
    if (memo == st.message_shares.end()) {
      if (st.message_shares.size() >= 256)
        st.message_shares.clear();
      memo = st.message_shares
               .emplace(std::move(key), find_share(caller{role, {}}, share_id))
               .first;
    }
    const auto& shared = memo->second;
    auto grants = [&](const char* iface) {
      return std::find(shared->interfaces.begin(), shared->interfaces.end(),
                       iface)
             != shared->interfaces.end();
    };
    bool open = shared && (grants("messages") || grants("*"));
    auto* handling = st.rt->handlers->find_message_type(type);
    if (!open) {
      answer = error_answer(error_code::no_such_share,
                            "no share '" + share_id.substr(0, 64)
                              + "' takes messages from " + role.substr(0, 128));
    } else if (handling == nullptr || !handling->receive) {
      answer = error_answer(error_code::handler_failed,
                            "no handler for messages of type '"
                              + type.substr(0, 128) + "'");
    } else {
      incoming_message in{sender, role, seq, type, shared->share_id,
                          shared->item,
                          m.contains("payload") ? m["payload"]
                                                : nlohmann::json{}};
      auto r = db.isolated([&]() -> store::result<nlohmann::json> {
        store::result<nlohmann::json> v = nlohmann::json{};
        try {
          v = handling->receive(db, in);
        } catch (const std::exception& e) {
          return store::error{store::errc::internal,
                              std::string{"handler threw: "} + e.what()};
        }
        if (!v)
          return v;
        nlohmann::json ok{{"ok", true}, {"value", std::move(*v)}};
        if (record)
          MANTISSA_TRY(store::record_received(db, sender, seq, dump(ok)));
        return ok;
      });
      if (r)
        return std::move(*r);
      answer = error_answer(error_code::handler_failed, r.error_value().message);
    }
    if (record)
      MANTISSA_TRY(store::record_received(db, sender, seq, dump(answer)));
    return answer;
  }

  // -- plain requests of requesting handlers -----------------------------------

  /// How many plain requests one run of a handler may make.
  static constexpr int max_steps = 16;

  /// Goes on with a requesting handler after one of its steps (which ran
  /// in a savepoint of the open batch): replies, or sends its request.
  void next_step(caf::response_promise& rp, store::result<handler_step> r,
                 int steps) {
    auto& st = self_->state;
    // A step may change anything, shares and memberships included.
    st.cache.clear();
    st.access.clear();
    if (!r) {
      fail(rp, make_error(r.error_value()));
      return;
    }
    if (!r->request) {
      finish(rp, caf::make_message(dump(r->value)));
      return;
    }
    if (!r->then || steps >= max_steps) {
      fail(rp, make_error(error_code::invalid_value,
                          !r->then ? std::string{"a plain request needs a "
                                                 "continuation"}
                                   : "a handler may make at most "
                                       + std::to_string(max_steps)
                                       + " plain requests"));
      return;
    }
    auto& req = *r->request;
    auto text = nlohmann::json{{"sender", st.address},
                               {"share", req.share_id},
                               {"type", req.type},
                               {"payload", req.payload}}
                  .dump(-1, ' ', false,
                        nlohmann::json::error_handler_t::replace);
    if (text.size() > store::max_payload_size + 4096) {
      fail(rp, make_error(error_code::invalid_value,
                          "a plain request's payload is at most 1 MiB of "
                          "JSON"));
      return;
    }
    auto token = ++st.last_ask;
    st.asks.emplace(token, store_state::pending_ask{std::move(rp),
                                                    std::move(r->then),
                                                    steps + 1});
    if (!st.rt->router) {
      self_->send(self_, asked_atom_v, token, false, std::string{},
                  static_cast<std::uint8_t>(error_code::store_unavailable),
                  std::string{"this node sends no interstore requests"});
      return;
    }
    caf::actor me = caf::actor_cast<caf::actor>(self_);
    completion done{std::make_shared<reply_handler>([me, token](reply a) {
      caf::anon_send(me, asked_atom_v, token, a.ok, std::move(a.body),
                     static_cast<std::uint8_t>(a.code), std::move(a.message));
    })};
    self_->send(st.rt->router, call_atom_v, req.target,
                caf::make_message(ask_atom::value,
                                  caller{role_of(st.address), {}},
                                  std::move(text)),
                std::move(done));
  }

  /// The answer to the plain request `token` came: runs the continuation.
  void on_asked(std::uint64_t token, bool ok, const std::string& body,
                error_code code, const std::string& why) {
    auto& st = self_->state;
    auto i = st.asks.find(token);
    if (i == st.asks.end())
      return;
    auto p = std::move(i->second);
    st.asks.erase(i);
    message_answer a;
    if (ok) {
      auto j = nlohmann::json::parse(body, nullptr, false);
      if (j.is_object() && j.value("ok", false)) {
        a.ok = true;
        a.value = j.contains("value") ? j["value"] : nlohmann::json{};
      } else {
        a.code = j.is_object() ? j.value("code", "internal")
                               : std::string{"internal"};
        a.message = j.is_object() ? j.value("message", "")
                                  : std::string{"malformed answer"};
      }
    } else {
      // As for reliable messages: a target that does not exist is a user
      // that does not.
      bool missing = code == error_code::no_such_store
                     || code == error_code::invalid_name;
      a.code = to_string(missing ? error_code::no_such_user : code);
      a.message = why;
    }
    if (st.closing || !ensure_open(p.rp) || !open_batch(p.rp))
      return;
    auto step = [&]() -> store::result<handler_step> {
      try {
        return st.db->isolated([&] { return p.then(*st.db, a); });
      } catch (const std::exception& e) {
        return store::error{store::errc::internal,
                            std::string{"continuation failed: "} + e.what()};
      }
    }();
    next_step(p.rp, std::move(step), p.steps);
  }

  /// Whether `who` may send messages as `sender` (whose role is `role`).
  static bool truthful(const caller& who, const std::string& sender,
                       const std::string& role) {
    return !sender.empty() && (who.role == system_role || who.role == role);
  }

  /// A plain request (protocol.hpp, ask_atom): processed now, not recorded.
  void on_ask(caf::response_promise& rp, const caller& who,
              const std::string& text) {
    auto& st = self_->state;
    auto j = parse_or_fail(rp, text, "the request");
    if (!j)
      return;
    if (!j->is_object() || !j->contains("sender") || !(*j)["sender"].is_string()
        || !j->contains("type") || !(*j)["type"].is_string()) {
      fail(rp, make_error(error_code::invalid_value,
                          "a plain request is {\"sender\":ADDRESS,"
                          "\"share\":S,\"type\":T,\"payload\":{...}}"));
      return;
    }
    auto sender = (*j)["sender"].get<std::string>();
    auto role = role_of(sender);
    if (!truthful(who, sender, role)) {
      finish(rp, caf::make_message(dump(error_answer(
                   error_code::bad_sender,
                   "the caller may not send as " + sender.substr(0, 128)))));
      return;
    }
    if (!open_batch(rp))
      return;
    auto a = process_message(sender, role, 0, *j, false);
    st.cache.clear();
    st.access.clear();
    if (!a) {
      fail(rp, make_error(error_code::store_unavailable,
                          a.error_value().message));
      return;
    }
    finish(rp, caf::make_message(dump(*a)));
  }

  void on_inbox(caf::response_promise& rp, const caller& who,
                const std::string& batch) {
    auto& st = self_->state;
    auto j = parse_or_fail(rp, batch, "the messages");
    if (!j)
      return;
    if (!j->is_object() || !j->contains("sender") || !(*j)["sender"].is_string()
        || !j->contains("messages") || !(*j)["messages"].is_array()) {
      fail(rp, make_error(error_code::invalid_value,
                          "a message batch is {\"sender\":ADDRESS,"
                          "\"acked\":N,\"messages\":[...]}"));
      return;
    }
    auto sender = (*j)["sender"].get<std::string>();
    auto role = role_of(sender);
    bool truthful = this->truthful(who, sender, role);
    if (!open_batch(rp))
      return;
    auto& db = *st.db;
    if (truthful)
      st.rt->stats.messages_received.fetch_add(
        static_cast<std::int64_t>((*j)["messages"].size()),
        std::memory_order_relaxed);
    auto acked = j->value("acked", std::int64_t{0});
    if (truthful && acked > 0)
      if (auto r = store::forget_received(db, sender, acked); !r)
        log("cannot forget answered messages: " + r.error_value().message);
    auto answers = nlohmann::json::array();
    for (auto& m : (*j)["messages"]) {
      auto id = m.is_object() && m.contains("id") ? m["id"] : nlohmann::json{};
      if (!truthful) {
        answers.push_back({{"id", id},
                           {"answer", error_answer(error_code::bad_sender,
                                                   "the caller may not send "
                                                   "as " + sender.substr(0, 128))}});
        continue;
      }
      auto a = receive_one(sender, role, m);
      if (!a) {
        // The record cannot be kept: stop here; the sender sends the rest
        // (and these again, answered from their records) later.
        fail(rp, make_error(error_code::store_unavailable,
                            "cannot record a message: "
                              + a.error_value().message));
        st.cache.clear();
        st.access.clear();
        return;
      }
      answers.push_back({{"id", id}, {"answer", std::move(*a)}});
    }
    st.cache.clear();
    st.access.clear();
    finish(rp, caf::make_message(dump(nlohmann::json{{"answers", answers}})));
  }

  caf::response_promise begin_request() {
    self_->state.last_activity = clock_type::now();
    self_->state.served = true;
    return self_->make_response_promise();
  }

  caf::behavior make() {
    return {
      [this](get_atom, const caller& who, const std::string& type,
             std::int64_t id) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "get");
        if (hidden_store(who, rp))
          return rp;
        if (!require_node_to_read(type, who, rp))
          return rp;
        if (!ensure_open(rp))
          return rp;
        if (!can(who, id, "read")) {
          fail(rp, hidden(type, id));
          return rp;
        }
        auto& s = self_->state;
        if (auto* hit = s.cache.find(id, type)) {
          finish(rp, caf::make_message(*hit));
          return rp;
        }
        auto* d = decl(type, rp);
        if (d == nullptr)
          return rp;
        auto it = s.db->get(type, id);
        if (!it) {
          fail(rp, is_owner(who) ? make_error(it.error_value())
                                 : hidden(type, id));
          return rp;
        }
        auto text = store::to_json_text(*d, *it);
        if (!s.batch_open)
          s.cache.put(id, type, text);
        finish(rp, caf::make_message(std::move(text)));
        return rp;
      },
      [this](put_atom, const caller& who, const std::string& type,
             const std::string& json) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "put");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "creating items")
            || !require_node_for(type, who, rp))
          return rp;
        auto* d = decl(type, rp);
        if (d == nullptr)
          return rp;
        auto it = item_from_text(*d, json);
        if (!it) {
          fail(rp, make_error(it.error_value()));
          return rp;
        }
        if (!open_batch(rp))
          return rp;
        auto& s = self_->state;
        if (auto id = s.db->insert(*it); !id) {
          fail(rp, make_error(id.error_value()));
          return rp;
        }
        auto text = store::to_json_text(*d, *it);
        s.cache.put(it->id, type, text);
        finish(rp, caf::make_message(std::move(text)));
        return rp;
      },
      [this](update_atom, const caller& who, const std::string& type,
             std::int64_t id, const std::string& json) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "update");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp))
          return rp;
        if (!can(who, id, "write")) {
          fail(rp, hidden(type, id));
          return rp;
        }
        if (!require_node_for(type, who, rp))
          return rp;
        auto* d = decl(type, rp);
        if (d == nullptr)
          return rp;
        auto j = parse_json(json, "the update");
        if (!j) {
          fail(rp, make_error(j.error_value()));
          return rp;
        }
        if (!open_batch(rp))
          return rp;
        auto& s = self_->state;
        auto current = s.db->get(type, id);
        if (!current) {
          fail(rp, is_owner(who) ? make_error(current.error_value())
                                 : hidden(type, id));
          return rp;
        }
        auto it = store::item_from_json(*d, *j, &*current);
        if (!it) {
          fail(rp, make_error(it.error_value()));
          return rp;
        }
        it->id = id;
        if (auto r = s.db->update(*it); !r) {
          fail(rp, make_error(r.error_value()));
          return rp;
        }
        auto text = store::to_json_text(*d, *it);
        s.cache.put(id, type, text);
        finish(rp, caf::make_message(std::move(text)));
        return rp;
      },
      [this](delete_atom, const caller& who, const std::string& type,
             std::int64_t id) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "delete");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp))
          return rp;
        if (!can(who, id, "delete")) {
          fail(rp, hidden(type, id));
          return rp;
        }
        if (!require_node_for(type, who, rp))
          return rp;
        if (decl(type, rp) == nullptr)
          return rp;
        if (!open_batch(rp))
          return rp;
        auto& s = self_->state;
        if (auto r = s.db->remove(type, id); !r) {
          fail(rp, is_owner(who) || r.code() != store::errc::no_such_item
                     ? make_error(r.error_value())
                     : hidden(type, id));
          return rp;
        }
        // Cascades and nullified references may have changed other items,
        // and their shares are gone.
        s.cache.clear();
        s.access.clear_interfaces();
        finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
        return rp;
      },
      [this](query_atom, const caller& who,
             const std::string& json) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "query");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp))
          return rp;
        auto j = parse_json(json, "the query");
        if (!j) {
          fail(rp, make_error(j.error_value()));
          return rp;
        }
        auto q = store::query_from_json(*j);
        if (!q) {
          fail(rp, make_error(q.error_value()));
          return rp;
        }
        if (!require_node_to_read(q->type, who, rp))
          return rp;
        auto* d = decl(q->type, rp);
        if (d == nullptr)
          return rp;
        auto& s = self_->state;
        // A non-owner sees the items shared with it for reading, and counts
        // and pages only those: the restriction is part of the SQL.
        std::optional<store::visibility> vis;
        if (!is_owner(who))
          vis = store::visibility{closure(who.role), "read"};
        auto total = vis ? s.db->count(q->type, q->where, *vis)
                         : s.db->count(q->type, q->where);
        if (!total) {
          fail(rp, make_error(total.error_value()));
          return rp;
        }
        auto items = nlohmann::json::array();
        auto add = [&](store::item&& it) {
          items.push_back(store::to_json(*d, it));
        };
        auto r = vis ? s.db->for_each(*q, add, *vis) : s.db->for_each(*q, add);
        if (!r) {
          fail(rp, make_error(r.error_value()));
          return rp;
        }
        nlohmann::json out{{"items", std::move(items)}, {"total", *total}};
        finish(rp, caf::make_message(dump(out)));
        return rp;
      },
      [this](count_atom, const caller& who, const std::string& type,
             const std::string& where) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "count");
        if (hidden_store(who, rp))
          return rp;
        if (!require_node_to_read(type, who, rp))
          return rp;
        if (!ensure_open(rp))
          return rp;
        store::condition cond;
        if (!where.empty()) {
          auto j = parse_json(where, "the condition");
          if (!j) {
            fail(rp, make_error(j.error_value()));
            return rp;
          }
          auto c = store::condition_from_json(*j);
          if (!c) {
            fail(rp, make_error(c.error_value()));
            return rp;
          }
          cond = std::move(*c);
        }
        auto& s = self_->state;
        auto n = is_owner(who)
                   ? s.db->count(type, cond)
                   : s.db->count(type, cond,
                                 store::visibility{closure(who.role), "read"});
        if (!n) {
          fail(rp, make_error(n.error_value()));
          return rp;
        }
        finish(rp, caf::make_message(dump(nlohmann::json{{"count", *n}})));
        return rp;
      },
      [this](install_atom, const caller& who, const std::string& type,
             std::int64_t id, const std::string& json) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "install");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "installing powerups"))
          return rp;
        std::optional<std::vector<store::powerup_interface>> ifaces;
        if (!json.empty()) {
          auto j = parse_json(json, "the interfaces");
          if (!j) {
            fail(rp, make_error(j.error_value()));
            return rp;
          }
          if (!j->is_array()) {
            fail(rp, make_error(error_code::invalid_query,
                                "interfaces must be a JSON array"));
            return rp;
          }
          if (!j->empty()) {
            ifaces.emplace();
            for (auto& e : *j) {
              if (!e.is_object() || !e.contains("interface")
                  || !e["interface"].is_string()) {
                fail(rp, make_error(error_code::invalid_query,
                                    "each interface is {\"interface\":NAME,"
                                    "\"priority\":N}"));
                return rp;
              }
              int prio = e.contains("priority") && e["priority"].is_number_integer()
                           ? e["priority"].get<int>()
                           : 0;
              ifaces->push_back({e["interface"].get<std::string>(), prio});
            }
          }
        }
        if (!open_batch(rp))
          return rp;
        if (auto r = self_->state.db->install({type, id}, 0, std::move(ifaces));
            !r) {
          fail(rp, make_error(r.error_value()));
          return rp;
        }
        finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
        return rp;
      },
      [this](uninstall_atom, const caller& who, const std::string& type,
             std::int64_t id) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "uninstall");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp)
            || !require_owner(who, rp, "uninstalling powerups"))
          return rp;
        if (!open_batch(rp))
          return rp;
        auto& s = self_->state;
        if (auto r = s.db->uninstall({type, id}, 0); !r) {
          fail(rp, make_error(r.error_value()));
          return rp;
        }
        s.cache.clear();
        s.access.clear_interfaces();
        finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
        return rp;
      },
      [this](powerups_atom, const caller& who,
             const std::string& interface) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "powerups");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "listing powerups"))
          return rp;
        auto& s = self_->state;
        auto items = s.db->powerups_for(interface, 0);
        if (!items) {
          fail(rp, make_error(items.error_value()));
          return rp;
        }
        auto out = nlohmann::json::array();
        for (auto& it : *items)
          if (auto* d = s.rt->types->current(it.type))
            out.push_back(store::to_json(*d, it));
        finish(rp, caf::make_message(dump(out)));
        return rp;
      },
      [this](run_atom, const caller& who, const std::string& name,
             const std::string& args) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "run");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "running handlers"))
          return rp;
        auto* h = self_->state.rt->handlers->find(name);
        auto* hr = h != nullptr
                     ? nullptr
                     : self_->state.rt->handlers->find_requesting(name);
        if (h == nullptr && hr == nullptr) {
          fail(rp, make_error(error_code::no_such_handler,
                              "no handler named '" + name.substr(0, 128)
                                + "' is registered"));
          return rp;
        }
        auto j = handler_args(rp, args);
        if (!j || !open_batch(rp))
          return rp;
        auto& s = self_->state;
        if (hr != nullptr) {
          auto step = [&]() -> store::result<handler_step> {
            try {
              return s.db->isolated([&] { return (*hr)(*s.db, *j, who); });
            } catch (const std::exception& e) {
              return store::error{store::errc::internal,
                                  "handler " + name + " failed: " + e.what()};
            }
          }();
          next_step(rp, std::move(step), 0);
          return rp;
        }
        run_isolated(rp, name,
                     [&](store::store& db) { return (*h)(db, *j, who); });
        return rp;
      },
      [this](run_atom, const caller& who, const std::string& name,
             const std::string& args,
             const shared_bytes& payload) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "run");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "running handlers"))
          return rp;
        auto* h = self_->state.rt->handlers->find_payload(name);
        if (h == nullptr) {
          fail(rp, make_error(error_code::no_such_handler,
                              "no handler named '" + name.substr(0, 128)
                                + "' takes a payload"));
          return rp;
        }
        auto j = handler_args(rp, args);
        if (!j || !open_batch(rp))
          return rp;
        if (payload.view().size() > (std::size_t{1} << 20))
          self_->state.release_after_commit = true;
        run_isolated(rp, name, [&](store::store& db) {
          return (*h)(db, *j, payload.view(), who);
        });
        return rp;
      },
      [this](share_atom, const caller& who, const std::string& type,
             std::int64_t id, const std::string& role,
             const std::string& interfaces,
             const std::string& share_id) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "share");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "sharing"))
          return rp;
        auto j = parse_or_fail(rp, interfaces, "the interfaces");
        if (!j)
          return rp;
        std::vector<std::string> names;
        if (j->is_array())
          for (auto& e : *j)
            if (e.is_string())
              names.push_back(e.get<std::string>());
        if (!j->is_array() || names.size() != j->size()) {
          fail(rp, make_error(error_code::invalid_value,
                              "interfaces must be a JSON array of names"));
          return rp;
        }
        if (!open_batch(rp))
          return rp;
        auto& s = self_->state;
        auto r = s.db->isolated([&] {
          return store::share_item(*s.db, {type, id}, role, names, share_id);
        });
        s.access.clear_interfaces();
        if (!r) {
          fail(rp, make_error(r.error_value()));
          return rp;
        }
        finish(rp, caf::make_message(dump(nlohmann::json{{"share_id", *r}})));
        return rp;
      },
      [this](unshare_atom, const caller& who, const std::string& share_id,
             const std::string& role) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "unshare");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "unsharing"))
          return rp;
        if (!open_batch(rp))
          return rp;
        auto& s = self_->state;
        auto n = store::unshare(*s.db, share_id, role);
        s.access.clear_interfaces();
        if (!n) {
          fail(rp, make_error(n.error_value()));
          return rp;
        }
        finish(rp, caf::make_message(dump(nlohmann::json{{"removed", *n}})));
        return rp;
      },
      [this](shares_atom, const caller& who,
             std::int64_t id) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "shares");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "listing shares"))
          return rp;
        auto& s = self_->state;
        auto list = store::list_shares(
          *s.db, id == 0 ? std::nullopt : std::optional<store::item_id>{id});
        if (!list) {
          fail(rp, make_error(list.error_value()));
          return rp;
        }
        auto out = nlohmann::json::array();
        for (auto& sh : *list)
          out.push_back({{"share_id", sh.share_id},
                         {"role", sh.role},
                         {"type", sh.item.type},
                         {"item", sh.item.id},
                         {"interfaces", sh.interfaces}});
        finish(rp, caf::make_message(dump(out)));
        return rp;
      },
      [this](visible_atom, const caller& who) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "visible");
        if (hidden_store(who, rp))
          return rp;
        finish(rp, caf::make_message(std::string{R"({"visible":true})"}));
        return rp;
      },
      [this](getshare_atom, const caller& who,
             const std::string& share_id) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "getshare");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp))
          return rp;
        auto shared = find_share(who, share_id);
        if (!shared) {
          fail(rp, make_error(error_code::no_such_item,
                              "no share '" + share_id.substr(0, 64) + "'"));
          return rp;
        }
        auto& s = self_->state;
        auto* d = s.rt->types->current(shared->item.type);
        auto it = d != nullptr
                    ? s.db->get(shared->item.type, shared->item.id)
                    : store::result<store::item>{store::error{
                      store::errc::no_such_type, shared->item.type}};
        if (!it) {
          fail(rp, make_error(error_code::no_such_item,
                              "no share '" + share_id.substr(0, 64) + "'"));
          return rp;
        }
        nlohmann::json out{{"share_id", shared->share_id},
                           {"interfaces", shared->interfaces},
                           {"item", store::to_json(*d, *it)}};
        finish(rp, caf::make_message(dump(out)));
        return rp;
      },
      [this](member_atom, const caller& who, const std::string& member,
             const std::string& group, bool add) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "member");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp) || !require_owner(who, rp, "changing groups"))
          return rp;
        if (!open_batch(rp))
          return rp;
        auto& s = self_->state;
        store::result<void> r;
        if (add) {
          r = store::add_member(*s.db, member, group);
        } else if (auto removed = store::remove_member(*s.db, member, group);
                   !removed) {
          r = std::move(removed).error_value();
        }
        s.access.clear();
        if (!r) {
          fail(rp, make_error(r.error_value()));
          return rp;
        }
        finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
        return rp;
      },
      [this](defshare_atom, const caller& who,
             const std::string& share_id) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "defshare");
        if (hidden_store(who, rp))
          return rp;
        if (!ensure_open(rp)
            || !require_owner(who, rp, "setting the default share"))
          return rp;
        if (!share_id.empty()) {
          if (auto v = store::validate_share_id(share_id); !v) {
            fail(rp, make_error(v.error_value()));
            return rp;
          }
        }
        if (!open_batch(rp))
          return rp;
        if (auto r = store::set_default_share(*self_->state.db, share_id); !r) {
          fail(rp, make_error(r.error_value()));
          return rp;
        }
        finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
        return rp;
      },
      [this](inbox_atom, const caller& who,
             const std::string& batch) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "inbox");
        if (ensure_open(rp))
          on_inbox(rp, who, batch);
        return rp;
      },
      [this](delivered_atom, const std::string& target, std::int64_t last,
             bool ok, const std::string& body, std::uint8_t code,
             const std::string& why) {
        on_delivered(target, last, ok, body, static_cast<error_code>(code),
                     why);
      },
      [this](outbox_atom) { pump(); },
      [this](backup_atom, const caller& who,
             const std::string& dest) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "backup");
        if (!ensure_open(rp))
          return rp;
        if (who.role != system_role) {
          fail(rp, make_error(error_code::forbidden,
                              "backups need the system role"));
          return rp;
        }
        std::filesystem::path p{dest};
        if (dest.empty() || !p.is_absolute() || !p.has_filename()) {
          fail(rp, make_error(error_code::invalid_value,
                              "a backup needs an absolute file name, not '"
                                + dest.substr(0, 256) + "'"));
          return rp;
        }
        auto& s = self_->state;
        backup_job job;
        job.promise = rp;
        job.dest = std::move(p);
        s.backups.push_back(std::move(job));
        snapshots(1);
        if (s.backups.size() == 1)
          advance_backup(false);
        return rp;
      },
      [this](movesnap_atom, const caller& who,
             const std::string& dest) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "movesnap");
        if (!ensure_open(rp))
          return rp;
        auto& s = self_->state;
        if (who.role != system_role) {
          fail(rp, make_error(error_code::forbidden,
                              "moves need the system role"));
          return rp;
        }
        if (s.replicating) {
          fail(rp, who.request_id == "replica"
                     ? make_error(error_code::already_exists,
                                  s.address + " has a replica on "
                                    + s.replica_node + " already")
                     : make_error(error_code::invalid_value,
                                  "a store with a replica does not move "
                                  "(promote or drop the replica first)"));
          return rp;
        }
        bool moving = s.recorder != nullptr;
        for (auto& b : s.backups)
          moving = moving || b.for_move;
        if (moving) {
          fail(rp, make_error(error_code::busy,
                              "a move of " + s.address + " is in progress"));
          return rp;
        }
        s.mover = caf::actor_cast<caf::actor_addr>(self_->current_sender());
        if (auto m = caf::actor_cast<caf::actor>(s.mover))
          self_->monitor(m);
        backup_job job;
        job.promise = rp;
        job.dest = dest;
        job.for_move = true;
        s.backups.push_back(std::move(job));
        snapshots(1);
        if (s.backups.size() == 1)
          advance_backup(false);
        return rp;
      },
      [this](freeze_atom) -> caf::result<std::string> {
        if (self_->state.replicating)
          return make_error(error_code::invalid_value,
                            "a store with a replica does not move (promote or "
                            "drop the replica first)");
        return freeze();
      },
      [this](replstart_atom, const std::string& node,
             std::int64_t epoch) -> caf::result<caf::ok_atom> {
        auto& s = self_->state;
        if (!s.recorder || !s.db)
          return make_error(error_code::invalid_value,
                            "no snapshot for a replica was taken");
        s.replica_node = node;
        s.replica_epoch = epoch;
        s.replica_seq = 0;
        s.replicating = true;
        s.mover = caf::actor_addr{};  // the recorder is the store's now
        ship_changes();
        return caf::ok_atom_v;
      },
      [this](resync_atom) { resync(); },
      [this](thaw_atom) { thaw(); },
      [this](bkdone_atom, bool ok, std::uint64_t bytes,
             const std::string& text) { on_backup_finished(ok, bytes, text); },
      [this](bkstep_atom) {
        auto& s = self_->state;
        if (!s.closing && !s.backup_after_commit) {
          s.last_activity = clock_type::now();
          advance_backup(false);
        }
      },
      [this](asked_atom, std::uint64_t token, bool ok,
             const std::string& body, std::uint8_t code,
             const std::string& why) {
        on_asked(token, ok, body, static_cast<error_code>(code), why);
      },
      [this](ask_atom, const caller& who,
             const std::string& request) -> caf::response_promise {
        auto rp = begin_request();
        trace(who, "ask");
        if (ensure_open(rp))
          on_ask(rp, who, request);
        return rp;
      },
      // The timer's confirmation of a report sent without waiting for it.
      [](ok_atom) {},
      [this](commit_atom) { commit(); },
      [this](tick_atom) { on_tick(); },
      [this](synced_atom, std::uint64_t target, int rc) {
        on_synced(target, rc);
      },
      [this](idle_atom) { on_idle_check(); },
      [this](passivate_atom) { passivate(); },
    };
  }

 private:
  store_actor* self_;
};

} // namespace

namespace {

// Spawned with arguments (not a capturing lambda without any): CAF 0.17's
// init_fun_factory dereferences a null pointer for argument-less functions.
caf::behavior store_actor_fun(store_actor* self, runtime* rt,
                              std::string address, std::filesystem::path path,
                              caf::actor manager) {
  auto& st = self->state;
  st.rt = rt;
  st.address = std::move(address);
  st.path = std::move(path);
  st.manager = std::move(manager);
  st.cache = item_cache{rt->item_cache_size};
  if (st.address.find('@') != std::string::npos)
    st.owner_role = "user:" + st.address;
  auto impl = std::make_shared<store_behavior>(self);
  st.behavior_impl = impl;
  self->set_down_handler([impl, self](caf::down_msg& dm) {
    if (dm.source == self->state.mover)
      impl->on_mover_gone();
  });
  return impl->make();
}

} // namespace

caf::actor spawn_store_actor(caf::actor_system& sys, runtime& rt,
                             std::string address, std::filesystem::path path,
                             const caf::actor& manager) {
  return sys.spawn(store_actor_fun, &rt, std::move(address), std::move(path),
                   manager);
}

} // namespace mantissa::actors::internal
