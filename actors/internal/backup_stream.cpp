#include "actors/internal/backup_stream.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include "wire/errors.hpp"
#include "actors/file_chunks.hpp"
#include "actors/internal/backup_request.hpp"
#include "actors/internal/failpoint.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"

namespace mantissa::actors::internal {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct snapshot {
  caf::actor_addr owner;
  std::string address;
  fs::path path;
  int fd = -1;          // -1 while the store takes the copy
  std::uint64_t bytes = 0;
};

struct streamer_state {
  static inline const char* name = "mantissa.backup.streamer";
  caf::actor manager;
  fs::path dir;  // <data>/backup-tmp
  std::uint64_t next = 1;
  std::map<std::uint64_t, snapshot> snaps;
  std::map<caf::actor_addr, int> owners;  // monitored sessions: snapshots

  void remove(std::map<std::uint64_t, snapshot>::iterator i) {
    if (i->second.fd >= 0)
      ::close(i->second.fd);
    std::error_code ec;
    fs::remove(i->second.path, ec);
    fs::remove(fs::path{i->second.path.string() + ".tmp"}, ec);
    snaps.erase(i);
  }

  ~streamer_state() {
    while (!snaps.empty())
      remove(snaps.begin());
  }
};

using streamer_actor = caf::stateful_actor<streamer_state>;

caf::error no_snapshot(std::uint64_t id) {
  return make_error(error_code::no_such_item,
                    "no backup snapshot #" + std::to_string(id)
                      + " of this session");
}

/// Removes the snapshots of a session that went away (`m` is its down
/// message), logging how many were never fetched.
void drop_snapshots_of(streamer_actor* self, const caf::down_msg& m) {
  auto& st = self->state;
  st.owners.erase(m.source);
  std::size_t n = 0;
  for (auto i = st.snaps.begin(); i != st.snaps.end();) {
    auto cur = i++;
    if (cur->second.owner == m.source) {
      st.remove(cur);
      ++n;
    }
  }
  if (n > 0)
    log::warn("backup", "a backup session ended with snapshots not "
                        "fetched; removed them",
              {{"snapshots", std::to_string(n)}});
}

/// The store's answer `r` for snapshot `id` (copied to `dest`): opens the
/// copy and answers `rp` with its description, or removes it and answers
/// the error.
void snapshot_taken(streamer_actor* self, std::uint64_t id,
                    caf::typed_response_promise<std::string>& rp,
                    const std::string& dest, reply& r) {
  auto& s2 = self->state;
  auto i = s2.snaps.find(id);
  if (i == s2.snaps.end()) {
    // The session ended meanwhile; the copy is not wanted.
    std::error_code ec2;
    fs::remove(dest, ec2);
    rp.deliver(make_error(error_code::store_unavailable,
                          "the session ended"));
    return;
  }
  if (!r.ok) {
    s2.remove(i);
    rp.deliver(make_error(r.code, std::move(r.message)));
    return;
  }
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("bytes") || !j.contains("sha256")) {
    s2.remove(i);
    rp.deliver(make_error(error_code::internal,
                          "malformed snapshot answer"));
    return;
  }
  auto& snap = i->second;
  snap.bytes = j.value("bytes", std::uint64_t{0});
  snap.fd = ::open(snap.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (snap.fd < 0) {
    std::string why = std::strerror(errno);
    s2.remove(i);
    rp.deliver(make_error(error_code::io_error,
                          "cannot open the snapshot: " + why));
    return;
  }
  rp.deliver(json{{"id", id},
                  {"address", snap.address},
                  {"bytes", snap.bytes},
                  {"sha256", j.value("sha256", std::string{})}}
               .dump());
}

/// `bksnap_atom`: has the store at `address` copied for `owner`.
caf::result<std::string> take_snapshot(streamer_actor* self,
                                       std::string& address,
                                       caf::actor& owner) {
  auto& st = self->state;
  if (!owner)
    return make_error(error_code::invalid_value, "no session");
  std::error_code ec;
  fs::create_directories(st.dir, ec);
  if (ec)
    return make_error(error_code::io_error, "cannot create "
                                              + st.dir.string() + ": "
                                              + ec.message());
  auto id = st.next++;
  snapshot s;
  s.owner = owner.address();
  s.address = address;
  s.path = st.dir / (std::to_string(::getpid()) + "-" + std::to_string(id)
                     + ".sqlite");
  auto dest = s.path.string();
  st.snaps.emplace(id, std::move(s));
  if (st.owners[owner.address()]++ == 0)
    self->monitor(owner);
  auto rp = self->make_response_promise<std::string>();
  request_backup(self, st.manager, address, dest,
                 [self, id, rp, dest](reply r) mutable {
                   snapshot_taken(self, id, rp, dest, r);
                 });
  return rp;
}

/// `bkchunk_atom`: the bytes of snapshot `id` from `offset`.
caf::result<std::string> read_chunk(streamer_actor* self, std::uint64_t id,
                                    std::uint64_t offset,
                                    const caf::actor& owner) {
  auto& st = self->state;
  auto i = st.snaps.find(id);
  if (i == st.snaps.end() || !owner || i->second.owner != owner.address()
      || i->second.fd < 0)
    return no_snapshot(id);
  auto& s = i->second;
  if (offset > s.bytes)
    return make_error(error_code::invalid_value,
                      "offset " + std::to_string(offset) + " is past the end ("
                        + std::to_string(s.bytes) + " bytes)");
  auto n = static_cast<std::size_t>(
    std::min<std::uint64_t>(file_chunk_bytes, s.bytes - offset));
  auto chunk = read_file_chunk(s.fd, offset, n, s.path);
  if (!chunk)
    return make_error(chunk.error_value());
  if (offset == 0 && !chunk->empty()
      && failpoint_armed("backup.corrupt_chunk")) {
    log::warn("backup", "failpoint backup.corrupt_chunk: damaging a chunk",
              {{"store", s.address}});
    (*chunk)[chunk->size() / 2] ^= 0x5a;
  }
  return std::move(*chunk);
}

/// `bkfree_atom`: removes snapshot `id` once it is taken.
caf::result<caf::ok_atom> free_snapshot(streamer_actor* self, std::uint64_t id,
                                        const caf::actor& owner) {
  auto& st = self->state;
  auto i = st.snaps.find(id);
  if (i == st.snaps.end() || !owner || i->second.owner != owner.address())
    return no_snapshot(id);
  if (i->second.fd < 0)
    return make_error(error_code::busy, "the snapshot is still being taken");
  st.remove(i);
  return caf::ok_atom::value;
}

caf::behavior streamer_fun(streamer_actor* self, caf::actor manager,
                           fs::path dir) {
  self->state.manager = std::move(manager);
  self->state.dir = std::move(dir);
  self->set_down_handler(
    [self](caf::down_msg& m) { drop_snapshots_of(self, m); });
  return {
    [self](bksnap_atom, std::string& address,
           caf::actor& owner) -> caf::result<std::string> {
      return take_snapshot(self, address, owner);
    },
    [self](bkchunk_atom, std::uint64_t id, std::uint64_t offset,
           caf::actor& owner) -> caf::result<std::string> {
      return read_chunk(self, id, offset, owner);
    },
    [self](bkfree_atom, std::uint64_t id,
           caf::actor& owner) -> caf::result<caf::ok_atom> {
      return free_snapshot(self, id, owner);
    },
  };
}

} // namespace

fs::path stream_dir(const fs::path& data_dir) {
  return data_dir / "backup-tmp";
}

std::string remove_stream_leftovers(const fs::path& data_dir) {
  std::error_code ec;
  fs::remove_all(stream_dir(data_dir), ec);
  if (ec)
    return "cannot remove " + stream_dir(data_dir).string() + ": " + ec.message();
  return {};
}

caf::actor spawn_backup_streamer(caf::actor_system& sys,
                                 const caf::actor& manager,
                                 const fs::path& data_dir) {
  return sys.spawn<caf::detached>(streamer_fun, manager, stream_dir(data_dir));
}

} // namespace mantissa::actors::internal
