// Backups (docs/operations.md): copied in steps between requests, then
// synced and hashed by a worker thread.

#include "actors/internal/store_actor/behavior.hpp"

#include <caf/spawn_options.hpp>

#include "actors/backup.hpp"
#include "store/backup.hpp"

namespace mantissa::actors::internal::store_parts {

namespace {

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

/// Records the pause of the step that began at `t0` if it is the longest.
void note_pause(backup_job& job, clock_type::time_point t0) {
  job.longest_step = std::max(job.longest_step, clock_type::now() - t0);
}

} // namespace

/// Takes the next step of the first backup: starts its copy or copies
/// `backup_pages_per_step` pages, then queues the next step behind the
/// requests waiting in the mailbox; after the last, closes the copy and
/// hands it to a worker thread (`finish_backup`). A copy step never runs
/// inside a transaction: while a batch is open it waits for its commit.
/// With `to_end` (the store is closing, its batch committed) the whole
/// backup runs now, on this thread.
void store_behavior::advance_backup(bool to_end) {
  auto& st = self_->state;
  if (st.backup.jobs.empty() || !st.db)
    return;
  auto& job = st.backup.jobs.front();
  if (job.finishing)
    return; // its worker answers with bkdone_atom
  auto t0 = clock_type::now();
  do {
    auto step = job.hasher ? hash_backup(job, to_end, t0)
                           : copy_backup(job, to_end, t0);
    if (step == backup_step::stop)
      return;
  } while (to_end);
  note_pause(job, t0);
  self_->send(self_, bkstep_atom_v);
}

/// The first backup failed with `e`: answers it and starts the next.
void store_behavior::backup_failed(const store::error& e, bool to_end) {
  auto& st = self_->state;
  st.backup.jobs.front().promise.deliver(make_error(e));
  st.backup.jobs.pop_front();
  snapshots(-1);
  if (!st.backup.jobs.empty() && !to_end)
    self_->send(self_, bkstep_atom_v);
}

/// One copy step of `job` (the first backup), starting the copy if need
/// be; `stop` when the job waits for a commit, failed, or went on to its
/// worker (then `job` may be gone).
store_behavior::backup_step
store_behavior::copy_backup(backup_job& job, bool to_end,
                            clock_type::time_point t0) {
  auto& st = self_->state;
  if (st.commit.batch_open || st.db->connection().in_transaction()) {
    if (to_end) { // cannot happen: a closing store commits first
      backup_failed(
        store::error{store::errc::busy, "the store closed during the backup"},
        to_end);
      return backup_step::stop;
    }
    st.backup.after_commit = true;
    return backup_step::stop;
  }
  if (!job.copy) {
    auto c = store::online_backup::start(st.db->connection(), job.dest);
    if (!c) {
      backup_failed(c.error_value(), to_end);
      return backup_step::stop;
    }
    job.copy = std::move(*c);
    job.started = clock_type::now();
  }
  // A copy that SQLite keeps restarting (a rolled-back batch that had
  // spilled pages) finishes in one step after a while.
  auto limit = 2 * (job.copy->page_count() / backup_pages_per_step) + 64;
  int pages = to_end || job.copy->steps() > limit ? -1 : backup_pages_per_step;
  auto r = job.copy->step(pages);
  if (!r) {
    backup_failed(r.error_value(), to_end);
    return backup_step::stop;
  }
  if (!*r)
    return backup_step::more;
  return complete_copy(job, to_end, t0);
}

/// The copy of `job` is complete: starts recording changes for a move,
/// then hands the copy to a worker thread, or (with `to_end`) finishes it
/// here and opens its hasher.
store_behavior::backup_step
store_behavior::complete_copy(backup_job& job, bool to_end,
                              clock_type::time_point t0) {
  auto& st = self_->state;
  if (job.for_move) {
    // The copy is the store as of now: record every change from
    // here on, in this same turn (no transaction in between).
    auto rec = store::change_recorder::start(st.db->connection());
    if (!rec) {
      backup_failed(rec.error_value(), to_end);
      return backup_step::stop;
    }
    st.moves.recorder = std::move(*rec);
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
      backup_failed(closed.error_value(), to_end);
      return backup_step::stop;
    }
    job.finishing = true;
    note_pause(job, t0);
    self_->system().spawn<caf::detached>(
      finish_backup, caf::actor_cast<caf::actor>(self_), temp, job.dest);
    return backup_step::stop;
  }
  auto bytes = job.copy->finish();
  job.copy.reset();
  if (!bytes) {
    backup_failed(bytes.error_value(), to_end);
    return backup_step::stop;
  }
  job.bytes = *bytes;
  auto h = file_hasher::open(job.dest);
  if (!h) {
    backup_failed(h.error_value(), to_end);
    return backup_step::stop;
  }
  job.hasher = std::move(*h);
  return backup_step::more;
}

/// Hashes the rest of `job`'s complete copy (only when the store closes:
/// else the worker hashes) and answers it.
store_behavior::backup_step
store_behavior::hash_backup(backup_job& job, bool to_end,
                            clock_type::time_point t0) {
  auto r = job.hasher->step(SIZE_MAX);
  if (!r) {
    backup_failed(r.error_value(), to_end);
    return backup_step::stop;
  }
  if (!*r)
    return backup_step::more;
  note_pause(job, t0);
  answer_backup(job.hasher->hex());
  return backup_step::stop;
}

/// Answers the first backup (its copy is complete, durable and hashed)
/// and starts the next, if any.
void store_behavior::answer_backup(const std::string& sha256) {
  auto& st = self_->state;
  auto& job = st.backup.jobs.front();
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
  st.backup.jobs.pop_front();
  snapshots(-1);
  finish(rp, caf::make_message(dump(out)));
  if (!st.backup.jobs.empty() && !st.closing)
    self_->send(self_, bkstep_atom_v);
}

/// The worker of the first backup is done.
void store_behavior::on_backup_finished(bool ok, std::uint64_t bytes,
                                        const std::string& sha256_or_error) {
  auto& st = self_->state;
  if (!st.backup.finishing())
    return;
  if (ok) {
    st.backup.jobs.front().bytes = bytes;
    answer_backup(sha256_or_error);
  } else {
    st.backup.jobs.front().promise.deliver(
      make_error(error_code::io_error, sha256_or_error));
    st.backup.jobs.pop_front();
    snapshots(-1);
    if (!st.backup.jobs.empty() && !st.closing)
      self_->send(self_, bkstep_atom_v);
  }
  if (st.backup.passivate_after) {
    st.backup.passivate_after = false;
    passivate();
  }
}

caf::response_promise store_behavior::on_backup(const caller& who,
                                                const std::string& dest) {
  auto rp = begin_request();
  trace(who, "backup");
  if (!ensure_open(rp))
    return rp;
  if (who.role != system_role) {
    fail(rp, make_error(error_code::forbidden, "backups need the system role"));
    return rp;
  }
  std::filesystem::path p{dest};
  if (dest.empty() || !p.is_absolute() || !p.has_filename()) {
    fail(rp, make_error(error_code::invalid_value,
                        "a backup needs an absolute file name, not '"
                          + dest.substr(0, 256) + "'"));
    return rp;
  }
  backup_job job;
  job.promise = rp;
  job.dest = std::move(p);
  start_backup(std::move(job));
  return rp;
}

/// Queues `job`, and takes its first step now if no other backup runs.
void store_behavior::start_backup(backup_job job) {
  auto& st = self_->state;
  st.backup.jobs.push_back(std::move(job));
  snapshots(1);
  if (st.backup.jobs.size() == 1)
    advance_backup(false);
}

void store_behavior::on_bkstep() {
  auto& s = self_->state;
  if (!s.closing && !s.backup.after_commit) {
    s.last_activity = clock_type::now();
    advance_backup(false);
  }
}

caf::message_handler store_behavior::backup_handlers() {
  return {
    [this](backup_atom, const caller& who, const std::string& dest)
      -> caf::response_promise { return on_backup(who, dest); },
    [this](bkdone_atom, bool ok, std::uint64_t bytes, const std::string& text) {
      on_backup_finished(ok, bytes, text);
    },
    [this](bkstep_atom) { on_bkstep(); },
  };
}

} // namespace mantissa::actors::internal::store_parts
