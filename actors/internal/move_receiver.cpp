// The receiver of store moves and replicas on the target node
// (actors/internal/move.hpp): the snapshot's chunks, the changes recorded
// meanwhile, the commit or abort of a move, and a replica's promotion.

#include "actors/internal/move.hpp"
#include "actors/internal/move_files.hpp"

#include <map>
#include <memory>
#include <system_error>

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
#include "wire/protocol.hpp"
#include "store/backup.hpp"
#include "store/changes.hpp"
#include "store/sqlite.hpp"

namespace mantissa::actors::internal {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using namespace move_detail;

struct incoming {
  bool replica = false;  // becomes `<store>.replica`, not the store
  std::string from;
  fs::path path;
  std::unique_ptr<chunk_sink> sink;  // while chunks arrive
  bool complete = false;
  bool applied = false;
};

/// A replica this node keeps current.
struct replica_stream {
  std::unique_ptr<store::sqlite::connection> conn;
  std::uint64_t last = 0;  // the last changeset applied
};

struct receiver_state {
  static inline const char* name = "mantissa.receiver";
  move_env env;
  std::map<std::string, incoming> moves;
  std::map<std::string, replica_stream> replicas;
};

using receiver_actor = caf::stateful_actor<receiver_state>;

void drop(receiver_state& st, const std::string& address) {
  auto i = st.moves.find(address);
  if (i == st.moves.end())
    return;
  st.moves.erase(i);
}

caf::result<std::string> on_begin(receiver_actor* self,
                                  const std::string& address,
                                  const fs::path& path,
                                  const std::string& data) {
  auto& st = self->state;
  auto j = json::parse(data, nullptr, false);
  if (!j.is_object() || !j.contains("bytes") || !j.contains("sha256"))
    return make_error(error_code::invalid_query, "begin: bytes and sha256 needed");
  std::error_code ec;
  bool replica = j.value("replica", false);
  if (!replica && fs::exists(path, ec)) {
    if (!fs::exists(moving_in_marker(path), ec)
        && !fs::exists(moving_out_marker(path), ec))
      return make_error(error_code::already_exists,
                        "node " + st.env.node + " has a store " + address
                          + " already");
    // A copy left by an earlier move that never committed here, or one
    // that moved away: the source serves the store, so this copy is stale.
    if (auto e = remove_store_files(path); !e.empty())
      return make_error(error_code::io_error, e);
  }
  drop(st, address);
  fs::create_directories(path.parent_path(), ec);
  auto in = incoming_path(path);
  for (const char* s : {"", "-wal", "-shm", "-journal"})
    (void) remove_file(fs::path{in.string() + s});
  incoming m;
  m.replica = replica;
  m.from = j.value("from", std::string{});
  m.path = path;
  auto sink = chunk_sink::create(in, j.value("bytes", std::uint64_t{0}),
                                 j.value("sha256", std::string{}));
  if (!sink)
    return make_error(sink.error_value());
  m.sink = std::move(*sink);
  st.moves.emplace(address, std::move(m));
  return std::string{"{\"ok\":true}"};
}

caf::result<std::string> on_chunk(receiver_actor* self, incoming& m,
                                  const std::string& address,
                                  const std::string& data) {
  if (!m.sink || m.complete)
    return make_error(error_code::invalid_query, "chunk: no transfer open");
  if (auto r = m.sink->append(data); !r) {
    drop(self->state, address);  // (m is gone)
    return make_error(r.error_value().code == store::errc::invalid_value
                        ? error_code::invalid_value
                        : error_code::io_error,
                      "chunk: " + r.error_value().message);
  }
  return std::string{"{\"ok\":true}"};
}

caf::result<std::string> on_end(receiver_actor* self, incoming& m,
                                 const std::string& address) {
  if (!m.sink || m.complete)
    return make_error(error_code::invalid_query, "end: no transfer open");
  // Checks size and SHA-256, then makes the copy durable now, before the
  // switch: the sync after the changes then writes only what they
  // touched, and the store's writes pause less.
  if (auto r = m.sink->finish(); !r) {
    auto in = incoming_path(m.path);
    auto damaged = r.error_value().code == store::errc::corrupt;
    drop(self->state, address);  // (m is gone)
    (void) remove_file(in);
    return make_error(error_code::io_error,
                      (damaged ? "the copy is damaged: " : "")
                        + r.error_value().message);
  }
  m.sink.reset();
  m.complete = true;
  return std::string{"{\"ok\":true}"};
}

caf::result<std::string> on_apply(receiver_actor* self, incoming& m,
                                  const std::string& address,
                                  const std::string& changeset) {
  auto in = incoming_path(m.path);
  auto fail_with = [&](std::string why) -> caf::error {
    drop(self->state, address);
    for (const char* s : {"", "-wal", "-shm"})
      (void) remove_file(fs::path{in.string() + s});
    return make_error(error_code::io_error, std::move(why));
  };
  if (!m.complete)
    return fail_with("apply: the copy is not complete");
  if (!changeset.empty()) {
    store::sqlite::open_options opts;
    opts.create = false;
    auto conn = store::sqlite::connection::open(in, opts);
    if (!conn)
      return fail_with(conn.error_value().message);
    if (auto r = store::apply_changeset(**conn, changeset); !r)
      return fail_with("cannot apply the changes made during the copy: "
                       + r.error_value().message);
    conn->reset();  // checkpoints the WAL into the file, removes it
  }
  if (auto r = store::sync_file(in); !r)
    return fail_with(r.error_value().message);
  if (auto e = write_durably(moving_in_marker(m.path),
                             json{{"from", m.from}}.dump());
      !e.empty())
    return fail_with(e);
  std::error_code ec;
  fs::rename(in, m.path, ec);
  if (ec) {
    (void) remove_file(moving_in_marker(m.path));
    return fail_with("cannot rename " + in.string() + ": " + ec.message());
  }
  if (auto r = store::sync_directory(m.path.parent_path()); !r)
    return fail_with(r.error_value().message);
  m.applied = true;
  failpoint("move.received");
  return std::string{"{\"ok\":true}"};
}

/// The copy of a replica is complete: it becomes `<store>.replica` (never
/// served) with its epoch, and takes the primary's changes from now on.
caf::result<std::string> on_rinit(receiver_actor* self, incoming& m,
                                  const std::string& address,
                                  const std::string& data) {
  auto& st = self->state;
  auto j = json::parse(data, nullptr, false);
  auto epoch = j.is_object() ? j.value("epoch", std::int64_t{0}) : 0;
  auto in = incoming_path(m.path);
  auto dest = replica_path(m.path);
  auto from = m.from;  // `m` goes with drop()
  st.replicas.erase(address);  // closes an older stream's connection
  for (const char* s : {"", "-wal", "-shm"})
    (void) remove_file(fs::path{dest.string() + s});
  std::error_code ec;
  fs::rename(in, dest, ec);
  if (ec) {
    drop(st, address);
    return make_error(error_code::io_error,
                      "cannot rename " + in.string() + ": " + ec.message());
  }
  if (auto e = write_durably(fs::path{dest.string() + ".epoch"},
                             json{{"epoch", epoch}, {"primary", from}}.dump());
      !e.empty()) {
    drop(st, address);
    return make_error(error_code::io_error, e);
  }
  drop(st, address);
  store::sqlite::open_options opts;
  opts.create = false;
  opts.synchronous = store::sqlite::synchronous_mode::normal;
  auto conn = store::sqlite::connection::open(dest, opts);
  if (!conn)
    return make_error(conn.error_value());
  st.replicas[address] = replica_stream{std::move(*conn), 0};
  log("keeping a replica of " + address + " for " + from + " (epoch "
      + std::to_string(epoch) + ")");
  return std::string{"{\"ok\":true}"};
}

/// The primary's changes since the last: "SEQ\n" then the changeset.
caf::result<std::string> on_rapply(receiver_actor* self,
                                   const std::string& address,
                                   const fs::path& path,
                                   const std::string& data) {
  auto& st = self->state;
  auto nl = data.find('\n');
  std::uint64_t seq = 0;
  if (nl == std::string::npos || nl == 0 || nl > 20
      || data.find_first_not_of("0123456789") < nl)
    return make_error(error_code::invalid_query, "rapply: SEQ\\n first");
  seq = std::stoull(data.substr(0, nl));
  auto i = st.replicas.find(address);
  if (i == st.replicas.end())
    return make_error(error_code::store_unavailable,
                      "no replica stream of " + address + " is open on "
                        + st.env.node + " (it restarted): a new copy is needed");
  if (seq != i->second.last + 1)
    return make_error(error_code::store_unavailable,
                      "replica of " + address + ": changes "
                        + std::to_string(seq) + " after "
                        + std::to_string(i->second.last)
                        + ": a new copy is needed");
  if (auto r = store::apply_changeset(*i->second.conn, data.substr(nl + 1)); !r) {
    st.replicas.erase(i);
    return make_error(error_code::store_unavailable,
                      "replica of " + address + ": " + r.error_value().message
                        + ": a new copy is needed");
  }
  i->second.last = seq;
  (void) path;
  return std::string{"{\"ok\":true}"};
}

/// The directory made this node's replica the store (a promotion): the
/// copy becomes `<store>`, with the new epoch.
caf::result<std::string> on_promote(receiver_actor* self,
                                    const std::string& address,
                                    const fs::path& path,
                                    const std::string& data) {
  auto& st = self->state;
  auto j = json::parse(data, nullptr, false);
  auto epoch = j.is_object() ? j.value("epoch", std::int64_t{0}) : 0;
  st.replicas.erase(address);  // closes the connection (checkpoints the WAL)
  auto src = replica_path(path);
  std::error_code ec;
  if (!fs::exists(src, ec)) {
    if (fs::exists(path, ec) && read_epoch(path) == epoch)
      return std::string{"{\"ok\":true}"};  // done before
    return make_error(error_code::no_such_store,
                      "node " + st.env.node + " has no replica of " + address);
  }
  for (const char* s : {"", "-wal", "-shm", ".moving-in", ".moving-out"})
    (void) remove_file(fs::path{path.string() + s});
  if (auto e = write_durably(epoch_marker(path), json{{"epoch", epoch}}.dump());
      !e.empty())
    return make_error(error_code::io_error, e);
  fs::rename(src, path, ec);
  if (ec)
    return make_error(error_code::io_error,
                      "cannot rename " + src.string() + ": " + ec.message());
  for (const char* s : {"-wal", "-shm", ".epoch"})
    (void) remove_file(fs::path{src.string() + s});
  (void) store::sync_directory(path.parent_path());
  if (st.env.cluster)
    caf::anon_send(commands_of(st.env.cluster), movedhere_atom::value,
                   address);
  log("the replica of " + address + " is its primary now (epoch "
      + std::to_string(epoch) + ")");
  return std::string{"{\"ok\":true}"};
}

caf::behavior receiver_fun(receiver_actor* self, move_env env) {
  self->state.env = std::move(env);
  return {
    [self](incoming_atom, const std::string& op, const std::string& address,
           const std::string& data) -> caf::result<std::string> {
      auto& st = self->state;
      std::string canonical;
      auto path = user_store_path(st.env.data_dir, address, canonical);
      if (!path)
        return path.error();
      if (op == "begin")
        return on_begin(self, canonical, *path, data);
      auto i = st.moves.find(canonical);
      if (op == "rapply")
        return on_rapply(self, canonical, *path, data);
      if (op == "promote")
        return on_promote(self, canonical, *path, data);
      if (op == "rinit") {
        if (i == st.moves.end() || !i->second.complete || !i->second.replica)
          return make_error(error_code::invalid_query,
                            "rinit: no complete replica copy of " + canonical);
        return on_rinit(self, i->second, canonical, data);
      }
      if (op == "commit") {
        // Also for a move this node no longer tracks (a restart): the
        // marker goes; the directory names this node now.
        if (auto e = remove_file(moving_in_marker(*path)); !e.empty())
          return make_error(error_code::io_error, e);
        (void) store::sync_directory(path->parent_path());
        drop(st, canonical);
        if (st.env.cluster)
          caf::anon_send(commands_of(st.env.cluster), movedhere_atom::value,
                         canonical);
        // Open the store once, so that it tells this node's timer about
        // its timed events and undelivered messages (their wake-ups were
        // the old node's).
        self->request(st.env.manager, st.env.timeout, store_atom::value,
                      canonical)
          .then([self](caf::actor& store) { self->send(store, tick_atom_v); },
                [canonical](caf::error& err) {
                  log("cannot open " + canonical
                      + " after its move: " + error_message(err));
                });
        return std::string{"{\"ok\":true}"};
      }
      if (op == "abort") {
        bool applied = i != st.moves.end() && i->second.applied;
        drop(st, canonical);
        auto in = incoming_path(*path);
        for (const char* s : {"", "-wal", "-shm"})
          (void) remove_file(fs::path{in.string() + s});
        std::error_code ec;
        if (applied && fs::exists(moving_in_marker(*path), ec)) {
          if (auto e = remove_store_files(*path); !e.empty())
            return make_error(error_code::io_error, e);
        }
        return std::string{"{\"ok\":true}"};
      }
      if (i == st.moves.end())
        return make_error(error_code::invalid_query,
                          op + ": no move of " + canonical + " is open here");
      if (op == "chunk")
        return on_chunk(self, i->second, canonical, data);
      if (op == "end")
        return on_end(self, i->second, canonical);
      if (op == "apply")
        return on_apply(self, i->second, canonical, data);
      return make_error(error_code::invalid_query, "unknown move step " + op);
    },
  };
}

} // namespace

caf::actor spawn_receiver(caf::actor_system& sys, move_env env) {
  return sys.spawn<caf::detached>(receiver_fun, std::move(env));
}

} // namespace mantissa::actors::internal
