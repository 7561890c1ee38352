// The sources of `mantissa backup` (cli/backup_source.hpp): offline, the
// store files themselves; online, a running node asked through its network
// port as the system role, either writing the snapshots itself or streaming
// them here in chunks.

#include "cli/backup_source.hpp"

#include <chrono>
#include <future>
#include <map>
#include <unordered_map>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include "wire/errors.hpp"
#include "actors/file_chunks.hpp"
#include "wire/protocol.hpp"
#include "cli/cluster.hpp"

namespace mantissa::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// -- offline: this process holds the data directory --------------------------

class offline_source : public backup_source {
 public:
  offline_source(fs::path data, std::unique_ptr<actors::data_dir_lock> lock)
    : data_(std::move(data)), lock_(std::move(lock)) {}

  bool stores(std::string& node, std::vector<std::string>& out,
              std::string& err) override {
    char host[256] = {};
    node = ::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0'
             ? host
             : "node";
    auto files = actors::list_store_files(data_);
    if (!files) {
      err = files.error_value().message;
      return false;
    }
    for (auto& f : *files) {
      out.push_back(f.address);
      files_[f.address] = f;
    }
    return true;
  }

  backup_outcome
  backup(const std::string& address, const fs::path& dest, const fs::path& dir,
         const std::function<void(std::uint64_t)>& on_bytes) override {
    auto r = actors::snapshot_store_file(files_.at(address), dest, dir);
    if (!r)
      return {false, {}, r.error_value().message};
    on_bytes(r->bytes);
    return {true, std::move(*r), {}};
  }

 private:
  fs::path data_;
  std::unique_ptr<actors::data_dir_lock> lock_;
  std::unordered_map<std::string, actors::store_file> files_;  // read-only
};

// -- online: through the node's network port ---------------------------------

/// Sends the backup requests of the worker threads to the node's session
/// and fails them all at once when the node goes away (a request to a dead
/// node would otherwise wait for its whole timeout).
struct relay_state {
  static inline const char* name = "mantissa.backup.relay";
  caf::actor session;
  std::uint64_t next = 0;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<std::string>>
    pending;
};

/// Delivers the node's answer (or error) to request `id`, unless the node
/// went away meanwhile (then it was failed already).
template<class Answer>
void relay_answer(caf::stateful_actor<relay_state>* self, std::uint64_t id,
                  Answer answer) {
  auto i = self->state.pending.find(id);
  if (i == self->state.pending.end())
    return;
  i->second.deliver(std::move(answer));
  self->state.pending.erase(i);
}

caf::behavior relay(caf::stateful_actor<relay_state>* self,
                    const caf::actor& session) {
  self->state.session = session;
  self->monitor(session);
  self->set_down_handler([self](caf::down_msg&) {
    for (auto& [id, rp] : self->state.pending)
      rp.deliver(actors::make_error(actors::error_code::store_unavailable,
                                    "the node went away"));
    self->state.pending.clear();
    self->quit();
  });
  return {
    [self](actors::backup_atom atm, std::string& address,
           std::string& dest) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      auto id = self->state.next++;
      self->state.pending.emplace(id, rp);
      self
        ->request(self->state.session,
                  std::chrono::seconds(3660), atm,
                  std::move(address), std::move(dest))
        .then(
          [self, id](std::string& body) {
            relay_answer(self, id, std::move(body));
          },
          [self, id](caf::error& err) {
            relay_answer(self, id, std::move(err));
          });
      return rp;
    },
  };
}

// -- streamed: the node hands out its snapshots in chunks --------------------

/// Chunks of one file in flight at once (as for store moves).
constexpr int fetch_window = 4;

struct fetch_state {
  static inline const char* name = "mantissa.backup.fetch";
  caf::actor session;
  std::string address;
  fs::path dest;
  fs::path temp;  // dest + ".part" while chunks arrive
  std::function<void(std::uint64_t)> on_bytes;
  std::shared_ptr<std::promise<backup_outcome>> done;
  std::unique_ptr<actors::chunk_sink> sink;
  std::uint64_t id = 0;
  bool have_id = false;
  std::uint64_t next_off = 0;
  int in_flight = 0;
  std::map<std::uint64_t, std::string> early;  // chunks ahead of the file
  actors::backup_entry entry;
  bool finished = false;
};

using fetch_actor = caf::stateful_actor<fetch_state>;

void fetch_finish(fetch_actor* self, std::string err) {
  auto& st = self->state;
  if (st.finished)
    return;
  st.finished = true;
  backup_outcome out;
  if (err.empty()) {
    out.ok = true;
    out.entry = st.entry;
  } else {
    out.error = std::move(err);
    st.sink.reset();
    std::error_code ec;
    fs::remove(st.temp, ec);
  }
  // The node removes the snapshot now (or when the session ends).
  if (st.have_id)
    self->request(st.session, std::chrono::seconds(30),
                  actors::bkfree_atom::value, st.id)
      .then([](caf::ok_atom) {}, [](caf::error&) {});
  st.done->set_value(std::move(out));
  self->quit();
}

void fetch_more(fetch_actor* self);

void fetch_drain(fetch_actor* self) {
  auto& st = self->state;
  while (!st.early.empty() && st.early.begin()->first == st.sink->received()) {
    auto& chunk = st.early.begin()->second;
    if (auto r = st.sink->append(chunk); !r) {
      fetch_finish(self, r.error_value().message);
      return;
    }
    st.on_bytes(chunk.size());
    st.early.erase(st.early.begin());
  }
  if (st.sink->received() < st.entry.bytes) {
    fetch_more(self);
    return;
  }
  if (auto r = st.sink->finish(); !r) {
    fetch_finish(self, "the copy of " + st.address + " is damaged ("
                         + r.error_value().message + "); refused");
    return;
  }
  st.sink.reset();
  std::error_code ec;
  fs::rename(st.temp, st.dest, ec);
  if (ec) {
    fetch_finish(self, "cannot rename " + st.temp.string() + ": " + ec.message());
    return;
  }
  fetch_finish(self, {});
}

void fetch_more(fetch_actor* self) {
  auto& st = self->state;
  while (!st.finished && st.in_flight < fetch_window
         && st.next_off < st.entry.bytes) {
    auto off = st.next_off;
    auto want = std::min<std::uint64_t>(actors::file_chunk_bytes,
                                        st.entry.bytes - off);
    st.next_off += want;
    ++st.in_flight;
    self
      ->request(st.session, std::chrono::seconds(120),
                actors::bkchunk_atom::value, st.id, off)
      .then(
        [self, off, want](std::string& data) {
          auto& s = self->state;
          --s.in_flight;
          if (s.finished)
            return;
          if (data.size() != want) {
            fetch_finish(self, "the node sent " + std::to_string(data.size())
                                 + " bytes of " + s.address + " at offset "
                                 + std::to_string(off) + ", not "
                                 + std::to_string(want));
            return;
          }
          s.early.emplace(off, std::move(data));
          fetch_drain(self);
        },
        [self](caf::error& e) {
          fetch_finish(self, actors::error_message(e));
        });
  }
}

// (The data goes in as spawn arguments: CAF 0.17 dereferences a null
// pointer for a spawned function that takes none.)
caf::behavior fetcher(fetch_actor* self, caf::actor session,
                      std::string address, fs::path dest, fs::path dir,
                      std::function<void(std::uint64_t)> on_bytes,
                      std::shared_ptr<std::promise<backup_outcome>> done) {
  auto& st = self->state;
  st.session = std::move(session);
  st.address = std::move(address);
  st.dest = std::move(dest);
  st.temp = fs::path{st.dest.string() + ".part"};
  st.on_bytes = std::move(on_bytes);
  st.done = std::move(done);
  std::error_code ec;
  st.entry.address = st.address;
  st.entry.path = fs::relative(st.dest, dir, ec).generic_string();
  self->monitor(st.session);
  self->set_down_handler([self](caf::down_msg&) {
    fetch_finish(self, "the node went away");
  });
  self
    ->request(st.session, std::chrono::seconds(3660), actors::bksnap_atom::value,
              st.address)
    .then(
      [self](std::string& body) {
        auto& s = self->state;
        auto j = json::parse(body, nullptr, false);
        if (!j.is_object() || !j.contains("id") || !j["id"].is_number_unsigned()
            || !j.contains("bytes") || !j["bytes"].is_number_unsigned()
            || !j.contains("sha256") || !j["sha256"].is_string()) {
          fetch_finish(self, "malformed answer from the node");
          return;
        }
        s.id = j["id"].get<std::uint64_t>();
        s.have_id = true;
        s.entry.bytes = j["bytes"].get<std::uint64_t>();
        s.entry.sha256 = j["sha256"].get<std::string>();
        std::error_code ec2;
        fs::create_directories(s.dest.parent_path(), ec2);
        if (ec2) {
          fetch_finish(self, "cannot create " + s.dest.parent_path().string()
                               + ": " + ec2.message());
          return;
        }
        auto sink = actors::chunk_sink::create(s.temp, s.entry.bytes,
                                               s.entry.sha256);
        if (!sink) {
          fetch_finish(self, sink.error_value().message);
          return;
        }
        s.sink = std::move(*sink);
        fetch_drain(self);  // (an empty file is complete at once)
      },
      [self](caf::error& e) { fetch_finish(self, actors::error_message(e)); });
  return {[](caf::ok_atom) {}};
}

class online_source : public backup_source {
 public:
  /// `stream`: the node streams its snapshots here; otherwise it writes
  /// them into the backup directory itself (the same machine).
  explicit online_source(bool stream) : stream_(stream) {}
  ~online_source() override {
    if (relay_)
      caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
  }

  bool connect(const std::string& endpoint, const std::string& key_file,
               const actors::network_tls& tls, std::string& err) {
    // The session lives as long as `login_`: until the source is destroyed.
    if (!login_.open(endpoint, key_file, tls, err))
      return false;
    relay_ = login_.system().spawn(relay, login_.session());
    return true;
  }

  bool stores(std::string& node, std::vector<std::string>& out,
              std::string& err) override {
    caf::scoped_actor self{login_.system()};
    bool ok = false;
    self
      ->request(login_.session(), std::chrono::seconds(60),
                actors::stores_atom::value)
      .receive(
        [&](std::string& body) {
          auto j = json::parse(body, nullptr, false);
          if (!j.is_object() || !j.contains("stores")
              || !j["stores"].is_array()) {
            err = "malformed answer from the node";
            return;
          }
          node = j.value("node", std::string{});
          for (auto& a : j["stores"])
            if (a.is_string())
              out.push_back(a.get<std::string>());
          ok = true;
        },
        [&](caf::error& e) { err = actors::error_message(e); });
    return ok;
  }

  backup_outcome
  backup(const std::string& address, const fs::path& dest, const fs::path& dir,
         const std::function<void(std::uint64_t)>& on_bytes) override {
    if (stream_) {
      auto done = std::make_shared<std::promise<backup_outcome>>();
      auto answer = done->get_future();
      login_.system().spawn<caf::detached>(fetcher, login_.session(), address,
                                           dest, dir, on_bytes, done);
      return answer.get();
    }
    caf::scoped_actor self{login_.system()};
    backup_outcome out;
    self
      ->request(relay_, caf::infinite, actors::backup_atom::value, address,
                dest.string())
      .receive(
        [&](std::string& body) {
          auto j = json::parse(body, nullptr, false);
          if (!j.is_object() || !j.contains("sha256")) {
            out.error = "malformed answer from the node";
            return;
          }
          std::error_code ec;
          out.entry.address = address;
          out.entry.path = fs::relative(dest, dir, ec).generic_string();
          out.entry.bytes = j.value("bytes", std::uint64_t{0});
          out.entry.sha256 = j.value("sha256", std::string{});
          out.ok = true;
          on_bytes(out.entry.bytes);
        },
        [&](caf::error& e) { out.error = actors::error_message(e); });
    return out;
  }

 private:
  bool stream_;
  system_login login_;
  caf::actor relay_;
};

} // namespace

std::unique_ptr<backup_source>
make_offline_source(fs::path data,
                    std::unique_ptr<actors::data_dir_lock> lock) {
  return std::make_unique<offline_source>(std::move(data), std::move(lock));
}

std::unique_ptr<backup_source> connect_source(const std::string& endpoint,
                                              const std::string& key_file,
                                              const actors::network_tls& tls,
                                              bool stream, std::string& err) {
  auto online = std::make_unique<online_source>(stream);
  if (!online->connect(endpoint, key_file, tls, err))
    return nullptr;
  return online;
}

} // namespace mantissa::cli
