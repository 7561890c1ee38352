// Moves and replicas (actors/internal/move.hpp): shipping changes,
// freezing for the switch, thawing, closing for good.

#include "actors/internal/store_actor/behavior.hpp"

#include <filesystem>
#include <system_error>

#include "actors/internal/move.hpp"
#include "log/log.hpp"
#include "store/changes.hpp"

namespace mantissa::actors::internal::store_parts {

/// Ships what changed since the last call to the replica's node, in
/// order, without waiting: the replica lags by what is unconfirmed.
void store_behavior::ship_changes() {
  auto& st = self_->state;
  if (!st.moves.replicating || !st.moves.recorder || !st.db)
    return;
  auto cs = st.moves.recorder->changeset();
  if (!cs) {
    replica_failed("cannot read the changes: " + cs.error_value().message);
    return;
  }
  if (cs->empty())
    return;
  // A fresh session for the next changes.
  st.moves.recorder.reset();
  auto rec = store::change_recorder::start(st.db->connection());
  if (!rec) {
    replica_failed("cannot record changes: " + rec.error_value().message);
    return;
  }
  st.moves.recorder = std::move(*rec);
  auto seq = ++st.moves.replica_seq;
  auto* stats = &st.rt->stats;
  stats->replication_pending.fetch_add(1, std::memory_order_relaxed);
  self_
    ->request(st.rt->router, caf::timespan{st.rt->request_timeout},
              relay_atom_v, st.moves.replica_node,
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
        if (seq <= self_->state.moves.replica_seq)
          replica_failed(error_message(err));
      });
}

/// The replica fell out of step: stop shipping, take a new copy soon.
void store_behavior::replica_failed(const std::string& why) {
  auto& st = self_->state;
  if (!st.moves.replicating)
    return;
  log("the replica on " + st.moves.replica_node + " fell behind (" + why
      + "); taking a new copy in 5 s");
  st.moves.replicating = false;
  st.moves.recorder.reset();
  if (!st.moves.resync_armed) {
    st.moves.resync_armed = true;
    self_->delayed_send(self_, std::chrono::seconds(5), resync_atom_v);
  }
}

void store_behavior::resync() {
  auto& st = self_->state;
  st.moves.resync_armed = false;
  if (st.closing || st.moves.replicating || st.moves.recorder
      || st.moves.replica_node.empty())
    return;
  caf::anon_send(st.rt->router, replicate_atom::value, st.address,
                 st.moves.replica_node, caf::actor{});
}

/// The switch of a move: commits and syncs what is open, then stops
/// taking messages (they wait in the mailbox) and answers the changes
/// made since the snapshot.
caf::result<std::string> store_behavior::freeze() {
  auto& st = self_->state;
  if (!st.moves.recorder || !st.db || st.closing)
    return make_error(error_code::invalid_value,
                      "no move of " + st.address + " is in progress");
  if (!st.msg.asks.empty() || !st.backup.jobs.empty())
    return make_error(error_code::busy, "the store is waiting for an answer "
                                        "or taking a backup");
  if (st.commit.batch_open)
    commit(true);
  sync_now();
  auto cs = st.moves.recorder->changeset();
  if (!cs)
    return make_error(cs.error_value());
  st.moves.frozen = true;
  self_->set_default_handler(caf::skip);
  self_->become(caf::keep_behavior, frozen_behavior());
  return std::move(*cs);
}

/// The move failed: serve again (what waited is taken now).
void store_behavior::thaw() {
  auto& st = self_->state;
  st.moves.recorder.reset();
  st.moves.mover = caf::actor_addr{};
  if (!st.moves.frozen)
    return;
  st.moves.frozen = false;
  self_->set_default_handler(caf::print_and_drop);
  self_->unbecome();
}

/// The move committed (or cannot be undone): close for good. With
/// `remove` the files go (the new home has the store); without, the
/// copy stays fenced by its marker and its next activation asks the
/// directory. What waits in the mailbox bounces back to its senders,
/// whose retries find the new home.
void store_behavior::close_moved(bool remove) {
  auto& st = self_->state;
  st.closing = true;
  st.commit.open_gate();
  deliver_synced();
  st.moves.recorder.reset();
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

caf::behavior store_behavior::frozen_behavior() {
  return {
    [this](thaw_atom) { thaw(); },
    [this](movedone_atom, bool remove) -> caf::result<caf::ok_atom> {
      auto rp = self_->make_response_promise<caf::ok_atom>();
      close_moved(remove); // the files are gone before the answer
      rp.deliver(caf::ok_atom_v);
      return rp;
    },
    [](ok_atom) {},
  };
}

/// The mover went away (a node stopping): undo, unless the switch got
/// as far as the marker (then the directory decides at the next
/// activation).
void store_behavior::on_mover_gone() {
  auto& st = self_->state;
  std::error_code ec;
  if (st.moves.frozen
      && std::filesystem::exists(moving_out_marker(st.path), ec))
    close_moved(false);
  else
    thaw();
}

caf::response_promise store_behavior::on_movesnap(const caller& who,
                                                  const std::string& dest) {
  auto rp = begin_request();
  trace(who, "movesnap");
  if (!ensure_open(rp))
    return rp;
  auto& s = self_->state;
  if (who.role != system_role) {
    fail(rp, make_error(error_code::forbidden, "moves need the system role"));
    return rp;
  }
  if (s.moves.replicating) {
    fail(rp, who.request_id == "replica"
               ? make_error(error_code::already_exists,
                            s.address + " has a replica on "
                              + s.moves.replica_node + " already")
               : make_error(error_code::invalid_value,
                            "a store with a replica does not move "
                            "(promote or drop the replica first)"));
    return rp;
  }
  if (s.moves.recorder != nullptr || s.backup.has_move()) {
    fail(rp, make_error(error_code::busy,
                        "a move of " + s.address + " is in progress"));
    return rp;
  }
  s.moves.mover = caf::actor_cast<caf::actor_addr>(self_->current_sender());
  if (auto m = caf::actor_cast<caf::actor>(s.moves.mover))
    self_->monitor(m);
  backup_job job;
  job.promise = rp;
  job.dest = dest;
  job.for_move = true;
  start_backup(std::move(job));
  return rp;
}

caf::result<std::string> store_behavior::on_freeze() {
  if (self_->state.moves.replicating)
    return make_error(error_code::invalid_value,
                      "a store with a replica does not move (promote or "
                      "drop the replica first)");
  return freeze();
}

caf::result<caf::ok_atom> store_behavior::on_replstart(const std::string& node,
                                                       std::int64_t epoch) {
  auto& s = self_->state;
  if (!s.moves.recorder || !s.db)
    return make_error(error_code::invalid_value,
                      "no snapshot for a replica was taken");
  s.moves.replica_node = node;
  s.moves.replica_epoch = epoch;
  s.moves.replica_seq = 0;
  s.moves.replicating = true;
  s.moves.mover = caf::actor_addr{}; // the recorder is the store's now
  ship_changes();
  return caf::ok_atom_v;
}

caf::message_handler store_behavior::move_handlers() {
  return {
    [this](movesnap_atom, const caller& who, const std::string& dest)
      -> caf::response_promise { return on_movesnap(who, dest); },
    [this](freeze_atom) -> caf::result<std::string> { return on_freeze(); },
    [this](replstart_atom, const std::string& node, std::int64_t epoch)
      -> caf::result<caf::ok_atom> { return on_replstart(node, epoch); },
    [this](resync_atom) { resync(); },
    [this](thaw_atom) { thaw(); },
  };
}

} // namespace mantissa::actors::internal::store_parts
