#include "actors/internal/move.hpp"
#include "actors/internal/move_files.hpp"

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "wire/errors.hpp"
#include "actors/file_chunks.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/cluster/commands.hpp"
#include "actors/internal/failpoint.hpp"
#include "actors/internal/runtime.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"
#include "store/backup.hpp"
#include "store/changes.hpp"
#include "store/sqlite.hpp"

namespace mantissa::actors::internal {

namespace fs = std::filesystem;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace move_detail {

fs::path with_suffix(const fs::path& p, const char* suffix) {
  return fs::path{p.string() + suffix};
}

void log(const std::string& line) {
  mantissa::log::info("move", line);
}

/// Writes `text` to `path` and makes it durable (file and directory).
std::string write_durably(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return "cannot create " + path.string() + ": " + std::strerror(errno);
  std::size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return "cannot write " + path.string() + ": " + why;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return "cannot sync " + path.string() + ": " + why;
  }
  ::close(fd);
  if (auto r = store::sync_directory(path.parent_path()); !r)
    return r.error_value().message;
  return {};
}

std::string remove_file(const fs::path& p) {
  std::error_code ec;
  fs::remove(p, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return "cannot remove " + p.string() + ": " + ec.message();
  return {};
}

/// The file of a user store named by `address` (canonical form in `out`).
caf::expected<fs::path> user_store_path(const fs::path& data_dir,
                                        const std::string& address,
                                        std::string& canonical) {
  auto addr = parse_address(address);
  if (!addr)
    return make_error(addr.error_value());
  if (addr->domain.empty())
    return make_error(error_code::invalid_value,
                      "only user stores move between nodes, not " + address);
  canonical = to_string(*addr);
  return store_path(data_dir, *addr);
}

} // namespace move_detail

using namespace move_detail;

fs::path moving_out_marker(const fs::path& store) {
  return with_suffix(store, ".moving-out");
}

fs::path moving_in_marker(const fs::path& store) {
  return with_suffix(store, ".moving-in");
}

fs::path incoming_path(const fs::path& store) {
  return with_suffix(store, ".incoming");
}

fs::path snapshot_path(const fs::path& store) {
  return with_suffix(store, ".move-snapshot");
}

fs::path epoch_marker(const fs::path& store) {
  return with_suffix(store, ".epoch");
}

fs::path replica_path(const fs::path& store) {
  return with_suffix(store, ".replica");
}

std::int64_t read_epoch(const fs::path& store) {
  std::error_code ec;
  auto m = epoch_marker(store);
  if (!fs::exists(m, ec))
    return 0;
  std::FILE* f = std::fopen(m.c_str(), "rb");
  if (f == nullptr)
    return 0;
  char buf[512] = {};
  auto n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  auto j = json::parse(std::string{buf, n}, nullptr, false);
  return j.is_object() ? j.value("epoch", std::int64_t{0}) : 0;
}

std::string remove_store_files(const fs::path& store) {
  for (const char* s : {"", "-wal", "-shm", ".moving-in", ".moving-out", ".epoch"}) {
    if (auto e = remove_file(with_suffix(store, s)); !e.empty())
      return e;
  }
  if (auto r = store::sync_directory(store.parent_path()); !r)
    return r.error_value().message;
  return {};
}

// -- the mover (the source node) ----------------------------------------------

namespace {

/// Chunks in flight to the target at once.
constexpr int chunk_window = 4;
constexpr std::size_t chunk_bytes = file_chunk_bytes;

struct mover_state {
  static inline const char* name = "mantissa.mover";
  move_env env;
  std::string address;
  std::string to;
  caf::actor watcher;
  caf::typed_response_promise<std::string> rp;
  caf::actor store;
  fs::path path;
  fs::path snap;
  std::uint64_t bytes = 0;  // of the snapshot
  std::string sha256;
  std::uint64_t read_off = 0;   // next chunk to read
  std::uint64_t acked = 0;      // bytes the target confirmed
  int in_flight = 0;
  int fd = -1;
  std::size_t changes = 0;      // bytes of the changeset
  bool recording = false;  // the store records changes (snapshot taken)
  bool begun = false;      // the target has a transfer open
  bool frozen = false;
  bool marked = false;     // the source marker is written
  bool deciding = false;   // the commit was sent: no more cancelling
  bool replicate = false;  // a replica, not a move: the store stays here
  int status_tries = 0;
  std::int64_t epoch = 0;
  bool cancelled = false;
  bool done = false;
  steady::time_point started;
  steady::time_point frozen_at;
  steady::time_point last_report;
};

using mover_actor = caf::stateful_actor<mover_state>;

void fail(mover_actor* self, error_code code, std::string why);

using reply_k = std::function<void(bool ok, std::string body, error_code code,
                                   std::string why)>;

/// Sends `(incoming_atom, op, address, data)` to the target node.
void relay(mover_actor* self, std::string op, std::string data, reply_k k) {
  auto& st = self->state;
  self
    ->request(st.env.cluster, st.env.timeout + std::chrono::seconds(5),
              relay_atom_v, st.to,
              caf::make_message(incoming_atom::value, std::move(op), st.address,
                                std::move(data)),
              st.env.timeout)
    .then([k](std::string& body) { k(true, std::move(body), {}, {}); },
          [k](caf::error& err) {
            k(false, {}, code_of(err), error_message(err));
          });
}

void report(mover_actor* self, bool force) {
  auto& st = self->state;
  if (!st.watcher)
    return;
  auto now = steady::now();
  if (!force && now - st.last_report < std::chrono::milliseconds(250))
    return;
  st.last_report = now;
  self->send(st.watcher, progress_atom::value, st.acked, st.bytes);
}

void close_snapshot(mover_actor* self) {
  auto& st = self->state;
  if (st.fd >= 0) {
    ::close(st.fd);
    st.fd = -1;
  }
  if (!st.snap.empty())
    (void) remove_file(st.snap);
}

/// Counts a move that ended (the running gauge went up in `start`).
void count_end(mover_actor* self, bool ok) {
  if (auto* c = self->state.env.stats) {
    c->moves_running.fetch_sub(1, std::memory_order_relaxed);
    (ok ? c->moves_ok : c->moves_failed).fetch_add(1, std::memory_order_relaxed);
  }
}

void finish(mover_actor* self, json out) {
  auto& st = self->state;
  st.done = true;
  count_end(self, true);
  close_snapshot(self);
  report(self, true);
  st.rp.deliver(out.dump());
  self->quit();
}

/// Undoes a move that has not committed: the store serves again, the
/// target drops its copy.
void fail(mover_actor* self, error_code code, std::string why) {
  auto& st = self->state;
  if (st.done)
    return;
  st.done = true;
  count_end(self, false);
  close_snapshot(self);
  if (st.marked) {
    if (auto e = remove_file(moving_out_marker(st.path)); !e.empty())
      log(e);
  }
  if (st.recording && st.store)
    caf::anon_send(st.store, thaw_atom_v);
  if (st.begun)
    relay(self, "abort", {}, [](bool, std::string, error_code, std::string) {});
  auto what = (st.replicate ? "a replica of " : "moving ") + st.address
              + (st.replicate ? " on " : " to ") + st.to;
  log(what + " failed: " + why);
  st.rp.deliver(make_error(code, what + " failed: " + why));
  self->quit();
}

/// Once the directory names the target: the source copy closes for good.
void committed(mover_actor* self) {
  auto& st = self->state;
  failpoint("move.committed");
  // The target may serve now even before it hears this (a marked copy
  // asks the directory); the source copy goes at once.
  relay(self, "commit", {},
        [self](bool ok, std::string, error_code, std::string why) {
          if (!ok)
            log("the target did not confirm " + self->state.address
                + " (it will ask the directory): " + why);
        });
  self->request(st.store, st.env.timeout, movedone_atom_v, true)
    .then(
      [self](caf::ok_atom) {
        auto& s = self->state;
        auto now = steady::now();
        auto ms = [](steady::duration d) {
          return std::chrono::duration<double, std::milli>(d).count();
        };
        finish(self, json{{"address", s.address},
                          {"from", s.env.node},
                          {"to", s.to},
                          {"bytes", s.bytes},
                          {"changes", s.changes},
                          {"pause_ms", ms(now - s.frozen_at)},
                          {"elapsed_ms", ms(now - s.started)}});
      },
      [self](caf::error& err) {
        // The move is committed; the old copy is fenced by its marker and
        // removed at its next activation.
        log("the old copy of " + self->state.address
            + " did not close cleanly: " + error_message(err));
        auto& s = self->state;
        finish(self, json{{"address", s.address},
                          {"from", s.env.node},
                          {"to", s.to},
                          {"bytes", s.bytes},
                          {"changes", s.changes}});
      });
}

/// The commit's answer was lost: ask the directory until it says where
/// the store lives; if it cannot be asked, the old copy stays fenced.
void resolve_commit(mover_actor* self, int attempt, std::string why) {
  auto& st = self->state;
  if (attempt >= 10) {
    log("cannot learn whether moving " + st.address + " committed (" + why
        + "); its copy here stays fenced until the directory answers");
    caf::anon_send(st.store, movedone_atom_v, false);
    st.done = true;
    count_end(self, false);
    close_snapshot(self);
    st.rp.deliver(make_error(error_code::store_unavailable,
                             "moving " + st.address + " to " + st.to
                               + ": the directory could not be reached to "
                                 "commit (" + why
                               + "); the store stays unavailable until it "
                                 "can be asked"));
    self->quit();
    return;
  }
  self
    ->request(commands_of(st.env.cluster), st.env.timeout,
              whereis_atom::value, st.address)
    .then(
      [self](std::string& body) {
        auto j = json::parse(body, nullptr, false);
        auto node = j.is_object() ? j.value("node", std::string{}) : "";
        auto& s = self->state;
        if (node == s.to) {
          committed(self);
        } else if (node == s.env.node) {
          s.deciding = false;
          fail(self, error_code::store_unavailable,
               "the directory was not changed");
        } else {
          resolve_commit(self, 10, "the directory names " + node);
        }
      },
      [self, attempt](caf::error& err) {
        self->delayed_send(self, std::chrono::milliseconds(500), ok_atom_v,
                           attempt + 1, error_message(err));
      });
}

void commit_move(mover_actor* self) {
  auto& st = self->state;
  st.deciding = true;
  self
    ->request(commands_of(st.env.cluster), st.env.timeout,
              mvcommit_atom::value, st.address, st.env.node, st.to)
    .then([self](std::string&) { committed(self); },
          [self](caf::error& err) {
            auto code = code_of(err);
            if (code == error_code::invalid_value) {
              // A definite no: the directory did not change.
              self->state.deciding = false;
              fail(self, code, error_message(err));
              return;
            }
            resolve_commit(self, 0, error_message(err));
          });
}

/// The target holds the complete copy: write the source's marker, then
/// commit.
void switch_over(mover_actor* self) {
  auto& st = self->state;
  if (st.cancelled) {
    fail(self, error_code::store_unavailable, "cancelled");
    return;
  }
  auto e = write_durably(moving_out_marker(st.path),
                         json{{"to", st.to}, {"from", st.env.node}}.dump());
  if (!e.empty()) {
    fail(self, error_code::io_error, e);
    return;
  }
  st.marked = true;
  commit_move(self);
}

void freeze(mover_actor* self, int attempt) {
  auto& st = self->state;
  if (st.cancelled) {
    fail(self, error_code::store_unavailable, "cancelled");
    return;
  }
  self->request(st.store, st.env.timeout, freeze_atom_v)
    .then(
      [self](std::string& changeset) {
        auto& s = self->state;
        s.frozen = true;
        s.frozen_at = steady::now();
        s.changes = changeset.size();
        relay(self, "apply", std::move(changeset),
              [self](bool ok, std::string, error_code code, std::string why) {
                if (!ok) {
                  fail(self, code, "the target could not apply the changes: "
                                     + why);
                  return;
                }
                failpoint("move.applied");
                switch_over(self);
              });
      },
      [self, attempt](caf::error& err) {
        if (code_of(err) == error_code::busy && attempt < 100) {
          // A backup or a plain request of the store is in progress.
          self->delayed_send(self, std::chrono::milliseconds(20), freeze_atom_v,
                             attempt + 1);
          return;
        }
        fail(self, code_of(err), "the store cannot be frozen: "
                                   + error_message(err));
      });
}

void send_chunks(mover_actor* self);

/// A replica's copy arrived: the directory records it, the target keeps
/// it as `<store>.replica`, and the store ships its changes from now on.
void set_up_replica(mover_actor* self) {
  auto& st = self->state;
  st.deciding = true;
  self
    ->request(commands_of(st.env.cluster), st.env.timeout,
              replset_atom::value, st.address, st.env.node, st.to)
    .then(
      [self](std::string& body) {
        auto& s = self->state;
        auto j = json::parse(body, nullptr, false);
        s.epoch = j.is_object() ? j.value("epoch", std::int64_t{1}) : 1;
        relay(self, "rinit",
              json{{"epoch", s.epoch}, {"primary", s.env.node}}.dump(),
              [self](bool ok, std::string, error_code code, std::string why) {
                auto& s2 = self->state;
                if (!ok) {
                  fail(self, code, "the replica could not be set up: " + why);
                  return;
                }
                auto e = write_durably(
                  epoch_marker(s2.path),
                  json{{"epoch", s2.epoch}, {"replica", s2.to}}.dump());
                if (!e.empty()) {
                  fail(self, error_code::io_error, e);
                  return;
                }
                self
                  ->request(s2.store, s2.env.timeout, replstart_atom_v, s2.to,
                            s2.epoch)
                  .then(
                    [self](caf::ok_atom) {
                      auto& s3 = self->state;
                      auto ms = std::chrono::duration<double, std::milli>(
                                  steady::now() - s3.started)
                                  .count();
                      s3.recording = false;  // the store's now
                      finish(self, json{{"address", s3.address},
                                        {"primary", s3.env.node},
                                        {"replica", s3.to},
                                        {"epoch", s3.epoch},
                                        {"bytes", s3.bytes},
                                        {"elapsed_ms", ms}});
                    },
                    [self](caf::error& err) {
                      fail(self, code_of(err),
                           "the store did not start shipping its changes: "
                             + error_message(err));
                    });
              });
      },
      [self](caf::error& err) {
        fail(self, code_of(err),
             "the directory did not record the replica: " + error_message(err));
      });
}

void chunk_acked(mover_actor* self, std::uint64_t n) {
  auto& st = self->state;
  --st.in_flight;
  if (st.acked == 0)
    failpoint("move.shipping");
  st.acked += n;
  report(self, false);
  if (st.acked == st.bytes) {
    relay(self, "end", {},
          [self](bool ok, std::string, error_code code, std::string why) {
            if (!ok) {
              fail(self, code, "the target refused the copy: " + why);
              return;
            }
            close_snapshot(self);
            if (self->state.replicate)
              set_up_replica(self);
            else
              freeze(self, 0);
          });
    return;
  }
  send_chunks(self);
}

void send_chunks(mover_actor* self) {
  auto& st = self->state;
  if (st.cancelled) {
    fail(self, error_code::store_unavailable, "cancelled");
    return;
  }
  while (st.in_flight < chunk_window && st.read_off < st.bytes) {
    auto n = std::min<std::uint64_t>(chunk_bytes, st.bytes - st.read_off);
    auto chunk = read_file_chunk(st.fd, st.read_off, n, st.snap);
    if (!chunk) {
      fail(self, error_code::io_error,
           "the snapshot: " + chunk.error_value().message);
      return;
    }
    auto buf = std::move(*chunk);
    st.read_off += n;
    ++st.in_flight;
    relay(self, "chunk", std::move(buf),
          [self, n](bool ok, std::string, error_code code, std::string why) {
            if (self->state.done)
              return;
            if (!ok) {
              fail(self, code, "shipping the copy failed: " + why);
              return;
            }
            chunk_acked(self, n);
          });
  }
}

void begin_transfer(mover_actor* self, const std::string& snapshot_answer) {
  auto& st = self->state;
  auto j = json::parse(snapshot_answer, nullptr, false);
  if (!j.is_object()) {
    fail(self, error_code::internal, "malformed snapshot answer");
    return;
  }
  st.bytes = j.value("bytes", std::uint64_t{0});
  st.sha256 = j.value("sha256", std::string{});
  if (st.bytes == 0 || st.sha256.empty()) {
    fail(self, error_code::internal, "the snapshot is empty");
    return;
  }
  st.fd = ::open(st.snap.c_str(), O_RDONLY | O_CLOEXEC);
  if (st.fd < 0) {
    fail(self, error_code::io_error,
         "cannot open the snapshot " + st.snap.string() + ": "
           + std::strerror(errno));
    return;
  }
  report(self, true);
  relay(self, "begin",
        json{{"from", st.env.node},
             {"bytes", st.bytes},
             {"sha256", st.sha256},
             {"replica", st.replicate}}
          .dump(),
        [self](bool ok, std::string, error_code code, std::string why) {
          if (!ok) {
            fail(self, code, "the target refused the move: " + why);
            return;
          }
          self->state.begun = true;
          send_chunks(self);
        });
}

void check_target(mover_actor* self);

void start(mover_actor* self) {
  auto& st = self->state;
  st.started = steady::now();
  if (auto* c = st.env.stats)
    c->moves_running.fetch_add(1, std::memory_order_relaxed);
  std::string canonical;
  auto path = user_store_path(st.env.data_dir, st.address, canonical);
  if (!path) {
    fail(self, code_of(path.error()), error_message(path.error()));
    return;
  }
  st.address = canonical;
  st.path = *path;
  st.snap = snapshot_path(st.path);
  if (st.to == st.env.node) {
    fail(self, error_code::invalid_value, "the store is on " + st.to + " already");
    return;
  }
  if (!st.env.cluster) {
    fail(self, error_code::invalid_value, "this node is not part of a cluster");
    return;
  }
  check_target(self);
}

/// Is the target a member, and up? Then the snapshot starts.
void check_target(mover_actor* self) {
  auto& st = self->state;
  self
    ->request(commands_of(st.env.cluster), st.env.timeout,
              cstatus_atom::value)
    .then(
      [self](std::string& body) {
        auto& s = self->state;
        auto j = json::parse(body, nullptr, false);
        bool up = false;
        bool known = false;
        if (j.is_object())
          for (auto& n : j.value("nodes", json::array()))
            if (n.value("name", std::string{}) == s.to) {
              known = true;
              up = n.value("state", std::string{}) == "up";
            }
        if ((!known || !up) && s.status_tries < 10) {
          // A node that joined (or came back) a moment ago reaches the
          // other nodes' views with the seed's next answer to their
          // heartbeat.
          ++s.status_tries;
          self->delayed_send(self, std::chrono::milliseconds(300),
                             ok_atom_v);
          return;
        }
        if (!known) {
          fail(self, error_code::invalid_value, "no node is named " + s.to);
          return;
        }
        if (!up) {
          fail(self, error_code::store_unavailable, "node " + s.to + " is down");
          return;
        }
        self->request(s.env.manager, s.env.timeout, store_atom::value, s.address)
          .then(
            [self](caf::actor& store) {
              auto& s2 = self->state;
              s2.store = store;
              s2.recording = true;
              self
                ->request(store, caf::timespan{std::chrono::hours(1)}, movesnap_atom_v,
                          caller{system_role, s2.replicate ? "replica" : "move"},
                          s2.snap.string())
                .then(
                  [self](std::string& answer) {
                    if (self->state.cancelled) {
                      fail(self, error_code::store_unavailable, "cancelled");
                      return;
                    }
                    begin_transfer(self, answer);
                  },
                  [self](caf::error& err) {
                    auto& s3 = self->state;
                    if (code_of(err) == error_code::busy)
                      s3.recording = false;  // another move's recorder
                    fail(self, code_of(err),
                         "the snapshot failed: " + error_message(err));
                  });
            },
            [self](caf::error& err) {
              auto code = code_of(err);
              fail(self, code,
                   code == error_code::no_such_store
                     ? "the store is not on this node (" + self->state.env.node
                         + ")"
                     : error_message(err));
            });
      },
      [self](caf::error& err) {
        fail(self, code_of(err), "the cluster cannot be asked: "
                                   + error_message(err));
      });
}

caf::behavior mover_fun(mover_actor* self, move_env env) {
  self->state.env = std::move(env);
  self->set_down_handler([self](caf::down_msg&) {
    auto& st = self->state;
    // The one who asked went away: cancel, unless the switch is deciding.
    if (!st.deciding && !st.done) {
      st.cancelled = true;
      log("moving " + st.address + " is cancelled");
    }
  });
  return {
    [self](move_atom, std::string& address, std::string& to,
           caf::actor& watcher) -> caf::typed_response_promise<std::string> {
      auto& st = self->state;
      st.rp = self->make_response_promise<std::string>();
      st.address = std::move(address);
      st.to = std::move(to);
      st.watcher = std::move(watcher);
      if (st.watcher)
        self->monitor(st.watcher);
      start(self);
      return st.rp;
    },
    [self](replicate_atom, std::string& address, std::string& to,
           caf::actor& watcher) -> caf::typed_response_promise<std::string> {
      auto& st = self->state;
      st.rp = self->make_response_promise<std::string>();
      st.address = std::move(address);
      st.to = std::move(to);
      st.watcher = std::move(watcher);
      st.replicate = true;
      if (st.watcher)
        self->monitor(st.watcher);
      start(self);
      return st.rp;
    },
    [self](freeze_atom, int attempt) { freeze(self, attempt); },
    [self](ok_atom) { check_target(self); },
    [self](ok_atom, int attempt, std::string& why) {
      resolve_commit(self, attempt, std::move(why));
    },
  };
}

} // namespace

caf::actor spawn_mover(caf::actor_system& sys, move_env env) {
  return sys.spawn<caf::detached>(mover_fun, std::move(env));
}

} // namespace mantissa::actors::internal
