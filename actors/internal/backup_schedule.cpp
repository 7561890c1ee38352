#include "actors/internal/backup_schedule.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <system_error>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/internal/backup_request.hpp"
#include "actors/metrics.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"
#include "store/sqlite.hpp"

namespace mantissa::actors::internal {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using bktick_atom = caf::atom_constant<caf::atom("bktick")>;
constexpr const char* prefix = "backup-";

std::string stamp(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

/// The `backup-*` directories of `dir`, oldest first (names sort by
/// time), with whether each is complete.
std::vector<std::pair<fs::path, bool>> scheduled_backups(const fs::path& dir) {
  std::vector<std::pair<fs::path, bool>> out;
  std::error_code ec;
  for (fs::directory_iterator i{dir, ec}, end; !ec && i != end;
       i.increment(ec)) {
    auto name = i->path().filename().string();
    if (name.rfind(prefix, 0) != 0 || !i->is_directory(ec))
      continue;
    out.emplace_back(i->path(), fs::exists(i->path() / manifest_name, ec));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// When the newest complete backup of `dir` finished (its manifest's
/// time), or 0.
std::time_t newest_complete(const fs::path& dir) {
  auto all = scheduled_backups(dir);
  for (auto i = all.rbegin(); i != all.rend(); ++i) {
    if (!i->second)
      continue;
    auto m = read_manifest(i->first);
    if (!m)
      continue;
    std::tm tm{};
    if (::strptime(m->time.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr)
      continue;
    return ::timegm(&tm);
  }
  return 0;
}

struct run_state {
  fs::path dir;  // this run's backup-<time>
  std::vector<std::string> addresses;
  std::size_t next = 0;
  backup_manifest manifest;
  std::uint64_t bytes = 0;
  std::chrono::steady_clock::time_point started;
  std::time_t started_unix = 0;
};

struct scheduler_state {
  static inline const char* name = "mantissa.backup.scheduler";
  caf::actor manager;
  fs::path data_dir;
  std::string node;
  backup_schedule schedule;
  backup_status* status = nullptr;
  bool running = false;
  run_state run;
};

using scheduler_actor = caf::stateful_actor<scheduler_state>;

void write_last_run(scheduler_actor* self, const json& j) {
  auto& st = self->state;
  auto path = st.schedule.dir / "last-run.json";
  auto temp = st.schedule.dir / "last-run.json.tmp";
  {
    std::ofstream out{temp, std::ios::binary | std::ios::trunc};
    out << j.dump(2) << '\n';
    if (!out) {
      log::error("backup", "cannot write the last run's status",
                 {{"path", temp.string()}});
      return;
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec)
    log::error("backup", "cannot rename the last run's status",
               {{"path", temp.string()}, {"error", ec.message()}});
}

void arm(scheduler_actor* self, std::time_t from_unix) {
  auto& st = self->state;
  auto interval = st.schedule.interval;
  auto due = std::chrono::system_clock::from_time_t(from_unix) + interval;
  auto wait = due - std::chrono::system_clock::now();
  if (wait < std::chrono::seconds(1))
    wait = std::chrono::seconds(1);
  self->delayed_send(self, std::chrono::duration_cast<caf::timespan>(wait),
                     bktick_atom::value);
}

void finish_run(scheduler_actor* self, const std::string& err) {
  auto& st = self->state;
  auto& r = st.run;
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - r.started)
                  .count();
  auto now = std::time(nullptr);
  json last{{"backup", r.dir.string()},
            {"node", st.node},
            {"started", r.manifest.time.empty() ? utc_now_iso8601() : r.manifest.time},
            {"seconds", static_cast<double>(micros) / 1e6}};
  if (err.empty()) {
    // Rotation: the newest `keep` complete backups stay.
    auto all = scheduled_backups(st.schedule.dir);
    std::size_t complete = 0;
    for (auto& b : all)
      complete += b.second ? 1 : 0;
    std::size_t removed = 0;
    for (auto& [path, ok] : all) {
      if (path == r.dir)
        continue;
      if (ok && complete <= st.schedule.keep)
        continue;
      std::error_code ec;
      fs::remove_all(path, ec);
      if (ec) {
        log::error("backup", "cannot remove an old scheduled backup",
                   {{"path", path.string()}, {"error", ec.message()}});
        continue;
      }
      ++removed;
      if (ok)
        --complete;
    }
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f",
                  static_cast<double>(micros) / 1e6);
    log::info("backup", "scheduled backup done",
              {{"dir", r.dir.string()},
               {"stores", std::to_string(r.manifest.stores.size())},
               {"bytes", std::to_string(r.bytes)},
               {"seconds", seconds},
               {"removed", std::to_string(removed)},
               {"kept", std::to_string(complete)}});
    st.status->last_ok = 1;
    st.status->last_success_unix = now;
    st.status->last_bytes = static_cast<std::int64_t>(r.bytes);
    ++st.status->runs_ok;
    last["ok"] = true;
    last["stores"] = r.manifest.stores.size();
    last["bytes"] = r.bytes;
    last["kept"] = complete;
  } else {
    log::error("backup", "scheduled backup failed",
               {{"dir", r.dir.string()}, {"error", err}});
    std::error_code ec;
    fs::remove_all(r.dir, ec);  // never leave a half backup looking usable
    st.status->last_ok = 0;
    ++st.status->runs_failed;
    last["ok"] = false;
    last["error"] = err;
  }
  st.status->last_run_unix = now;
  st.status->last_micros = micros;
  last["finished"] = utc_now_iso8601();
  write_last_run(self, last);
  st.running = false;
  arm(self, r.started_unix);
}

void next_store(scheduler_actor* self) {
  auto& st = self->state;
  auto& r = st.run;
  if (r.next == r.addresses.size()) {
    r.manifest.time = utc_now_iso8601();
    auto w = write_manifest(r.dir, r.manifest);
    finish_run(self, w ? std::string{} : w.error_value().message);
    return;
  }
  auto address = r.addresses[r.next++];
  auto rel = relative_store_path(address);
  if (!rel) {
    finish_run(self, "store " + address + ": " + rel.error_value().message);
    return;
  }
  auto dest = r.dir / *rel;
  request_backup(self, st.manager, address, dest.string(),
                 [self, address, rel = *rel](reply answer) {
                   auto& s = self->state;
                   if (!s.running)
                     return;
                   if (!answer.ok) {
                     finish_run(self, "store " + address + ": " + answer.message);
                     return;
                   }
                   auto j = json::parse(answer.body, nullptr, false);
                   if (!j.is_object() || !j.contains("sha256")) {
                     finish_run(self, "store " + address
                                        + ": malformed snapshot answer");
                     return;
                   }
                   backup_entry e{address, rel.generic_string(),
                                  j.value("bytes", std::uint64_t{0}),
                                  j.value("sha256", std::string{})};
                   s.run.bytes += e.bytes;
                   s.run.manifest.stores.push_back(std::move(e));
                   next_store(self);
                 });
}

void start_run(scheduler_actor* self) {
  auto& st = self->state;
  if (st.running)
    return;
  st.running = true;
  st.run = run_state{};
  auto& r = st.run;
  r.started = std::chrono::steady_clock::now();
  r.started_unix = std::time(nullptr);
  r.manifest.node = st.node;
  std::error_code ec;
  fs::create_directories(st.schedule.dir, ec);
  auto name = prefix + stamp(r.started_unix);
  r.dir = st.schedule.dir / name;
  for (int i = 2; fs::exists(r.dir, ec); ++i)
    r.dir = st.schedule.dir / (name + "-" + std::to_string(i));
  if (!ec)
    fs::create_directories(r.dir, ec);
  if (ec) {
    finish_run(self, "cannot create " + r.dir.string() + ": " + ec.message());
    return;
  }
  auto listed = list_stores(st.data_dir, st.node);
  auto j = json::parse(listed.body, nullptr, false);
  if (!listed.ok || !j.is_object() || !j.contains("stores")) {
    finish_run(self, "cannot list the stores: " + listed.message);
    return;
  }
  for (auto& a : j["stores"])
    if (a.is_string())
      r.addresses.push_back(a.get<std::string>());
  next_store(self);
}

caf::behavior scheduler_fun(scheduler_actor* self, caf::actor manager,
                            fs::path data_dir, std::string node,
                            backup_schedule schedule, backup_status* status) {
  auto& st = self->state;
  st.manager = std::move(manager);
  st.data_dir = std::move(data_dir);
  st.node = std::move(node);
  st.schedule = std::move(schedule);
  st.status = status;
  auto last = newest_complete(st.schedule.dir);
  log::info("backup", "scheduled backups on",
            {{"every_seconds",
              std::to_string(st.schedule.interval.count() / 1000)},
             {"dir", st.schedule.dir.string()},
             {"keep", std::to_string(st.schedule.keep)},
             {"newest", last == 0 ? std::string{"none"} : stamp(last)}});
  arm(self, last == 0 ? std::time(nullptr) - 366 * 86400 : last);
  return {
    [self](bktick_atom) { start_run(self); },
  };
}

} // namespace

caf::actor spawn_backup_scheduler(caf::actor_system& sys,
                                  const caf::actor& manager,
                                  const fs::path& data_dir,
                                  const std::string& node_name,
                                  const backup_schedule& schedule,
                                  backup_status& status) {
  return sys.spawn<caf::detached>(scheduler_fun, manager, data_dir, node_name,
                                  schedule, &status);
}

void write_backup_metrics(prometheus_text& out, const backup_status& s) {
  auto load = [](const auto& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };
  out.single("mantissa_backup_last_run_timestamp_seconds", "gauge",
             "When the last scheduled backup finished (Unix time; 0: none)",
             load(s.last_run_unix));
  out.single("mantissa_backup_last_success_timestamp_seconds", "gauge",
             "When the last successful scheduled backup finished (Unix time)",
             load(s.last_success_unix));
  out.single("mantissa_backup_last_run_ok", "gauge",
             "1 if the last scheduled backup succeeded, 0 if it failed, -1 "
             "before the first",
             load(s.last_ok));
  out.single("mantissa_backup_last_bytes", "gauge",
             "Bytes of the last successful scheduled backup",
             load(s.last_bytes));
  out.family("mantissa_backup_runs_total", "counter",
             "Scheduled backups by result");
  out.sample("mantissa_backup_runs_total", {{"result", "ok"}}, load(s.runs_ok));
  out.sample("mantissa_backup_runs_total", {{"result", "failed"}},
             load(s.runs_failed));
}

} // namespace mantissa::actors::internal
