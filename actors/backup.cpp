#include "actors/backup.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "actors/accounts.hpp"
#include "actors/data_dir.hpp"
#include "actors/file_chunks.hpp"
#include "store/backup.hpp"
#include "store/messaging.hpp"
#include "store/scheduler.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"

namespace mantissa::actors {

namespace {

using store::errc;
using store::error;
namespace fs = std::filesystem;

constexpr const char* site_file_name = "site.sqlite";
constexpr const char* store_suffix = ".sqlite";

/// The address a store file name stands for, if it is the canonical file
/// of a valid address (lower case, `.sqlite`).
std::optional<std::string> address_of(const std::string& localpart_file,
                                      const std::string& domain) {
  std::string_view name{localpart_file};
  std::string_view suffix{store_suffix};
  if (name.size() <= suffix.size()
      || name.substr(name.size() - suffix.size()) != suffix)
    return std::nullopt;
  auto local = std::string{name.substr(0, name.size() - suffix.size())};
  auto a = normalize(address{local, domain});
  if (!a || a->localpart != local || a->domain != domain)
    return std::nullopt;
  if (a->is_offering() && a->localpart == "site")
    return std::nullopt;
  return to_string(*a);
}

std::vector<fs::directory_entry> sorted_entries(const fs::path& dir,
                                                std::error_code& ec) {
  std::vector<fs::directory_entry> out;
  for (fs::directory_iterator i{dir, ec}, end; !ec && i != end;
       i.increment(ec))
    out.push_back(*i);
  std::sort(out.begin(), out.end(), [](auto& x, auto& y) {
    return x.path().filename() < y.path().filename();
  });
  return out;
}

/// Copies `from` to `to` (replacing it) and syncs the copy.
store::result<void> copy_synced(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec)
    return error{errc::io_error, "cannot create " + to.parent_path().string()
                                   + ": " + ec.message()};
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec)
    return error{errc::io_error, "cannot copy " + from.string() + " to "
                                   + to.string() + ": " + ec.message()};
  return store::sync_file(to);
}

/// The side files SQLite may keep beside a database.
std::vector<fs::path> side_files(const fs::path& db) {
  std::vector<fs::path> out;
  for (const char* ext : {"-wal", "-shm", "-journal"}) {
    auto p = db;
    p += ext;
    out.push_back(std::move(p));
  }
  return out;
}

/// Moves `file` (and its side files) from below `data_dir` to the same
/// place below `aside`.
store::result<void> move_aside(const fs::path& data_dir, const fs::path& file,
                               const fs::path& aside) {
  std::vector<fs::path> all{file};
  for (auto& s : side_files(file))
    all.push_back(s);
  for (auto& f : all) {
    std::error_code ec;
    if (!fs::exists(f, ec))
      continue;
    auto rel = fs::relative(f, data_dir, ec);
    if (ec)
      return error{errc::io_error, "cannot move " + f.string() + ": "
                                     + ec.message()};
    auto target = aside / rel;
    fs::create_directories(target.parent_path(), ec);
    if (!ec)
      fs::rename(f, target, ec);
    if (ec)
      return error{errc::io_error, "cannot move " + f.string() + " to "
                                     + target.string() + ": " + ec.message()};
  }
  return {};
}

/// Removes the side files of `db` (a WAL of the file that was replaced
/// must never be replayed onto the restored one).
store::result<void> remove_side_files(const fs::path& db) {
  for (auto& s : side_files(db)) {
    std::error_code ec;
    fs::remove(s, ec);
    if (ec)
      return error{errc::io_error, "cannot remove " + s.string() + ": "
                                     + ec.message()};
  }
  return {};
}

std::string compact_time() {
  auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

/// The time `file`'s store must next be woken by the node's timer
/// (microseconds), or -1: none. Unreadable: 0 (wake it at once; the store
/// then reports its real time).
std::int64_t due_of(const fs::path& file) {
  store::type_registry reg;
  store::store_options opts;
  opts.create = false;
  auto s = store::store::open(file, reg, opts);
  if (!s)
    return 0;
  std::int64_t due = -1;
  auto nd = store::next_due(**s);
  auto od = store::outbox_due(**s);
  if (!nd || !od)
    return 0;
  if (*nd)
    due = (*nd)->micros;
  if (*od)
    due = due < 0 ? (*od)->micros : std::min(due, (*od)->micros);
  return due;
}

/// Records `entries` (address, due) in the timer's index of `data_dir`;
/// with `replace`, the index holds only these afterwards.
store::result<void> write_due_index(
  const fs::path& data_dir,
  const std::vector<std::pair<std::string, std::int64_t>>& entries,
  bool replace) {
  store::sqlite::open_options opts;
  auto db = store::sqlite::connection::open(data_dir / "schedule.sqlite", opts);
  if (!db)
    return std::move(db).error_value();
  auto& c = **db;
  MANTISSA_TRY(c.exec("CREATE TABLE IF NOT EXISTS due(address TEXT PRIMARY "
                      "KEY, due INTEGER NOT NULL) STRICT, WITHOUT ROWID"));
  MANTISSA_TRY(c.exec("BEGIN IMMEDIATE"));
  if (replace)
    MANTISSA_TRY(c.exec("DELETE FROM due"));
  for (auto& [address, due] : entries) {
    if (due < 0) {
      MANTISSA_TRY(c.run("DELETE FROM due WHERE address = ?", address));
      continue;
    }
    MANTISSA_TRY(c.run("INSERT INTO due(address, due) VALUES(?, ?) ON "
                       "CONFLICT(address) DO UPDATE SET due = excluded.due",
                       address, due));
  }
  return c.exec("COMMIT");
}

} // namespace

// -- store files -----------------------------------------------------------------

store::result<std::vector<store_file>>
list_store_files(const fs::path& data_dir) {
  std::vector<store_file> out;
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec))
    return error{errc::io_error, data_dir.string() + " is not a directory"};
  if (fs::is_regular_file(data_dir / site_file_name, ec))
    out.push_back({"site", data_dir / site_file_name});
  auto users = data_dir / "users";
  if (fs::is_directory(users, ec)) {
    auto domains = sorted_entries(users, ec);
    if (ec)
      return error{errc::io_error, "cannot list " + users.string() + ": "
                                     + ec.message()};
    for (auto& d : domains) {
      if (!d.is_directory(ec))
        continue;
      auto domain = d.path().filename().string();
      auto files = sorted_entries(d.path(), ec);
      if (ec)
        return error{errc::io_error, "cannot list " + d.path().string()
                                       + ": " + ec.message()};
      for (auto& f : files) {
        if (!f.is_regular_file(ec) || domain.empty())
          continue;
        if (auto a = address_of(f.path().filename().string(), domain))
          out.push_back({*a, f.path()});
      }
    }
  }
  auto apps = data_dir / "apps";
  if (fs::is_directory(apps, ec)) {
    auto files = sorted_entries(apps, ec);
    if (ec)
      return error{errc::io_error, "cannot list " + apps.string() + ": "
                                     + ec.message()};
    for (auto& f : files) {
      if (!f.is_regular_file(ec))
        continue;
      if (auto a = address_of(f.path().filename().string(), {}))
        out.push_back({*a, f.path()});
    }
  }
  return out;
}

store::result<fs::path> relative_store_path(const std::string& address) {
  if (address == "site")
    return fs::path{site_file_name};
  auto a = parse_address(address);
  if (!a)
    return std::move(a).error_value();
  if (a->is_offering() && a->localpart == "site")
    return error{errc::invalid_name, "'site' is reserved for the site store"};
  return store_path({}, *a).relative_path();
}

// -- hashing ---------------------------------------------------------------------

struct file_hasher::impl {
  int fd = -1;
  fs::path path;
  crypto_hash_sha256_state state{};
  std::uint64_t bytes = 0;
  bool done = false;
  std::vector<unsigned char> buf = std::vector<unsigned char>(1 << 20);
  ~impl() {
    if (fd >= 0)
      ::close(fd);
  }
};

file_hasher::file_hasher(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
file_hasher::~file_hasher() = default;

store::result<std::unique_ptr<file_hasher>>
file_hasher::open(const fs::path& path) {
  if (sodium_init() < 0)
    return error{errc::internal, "libsodium cannot be initialised"};
  auto p = std::make_unique<impl>();
  p->path = path;
  p->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (p->fd < 0)
    return error{errno == ENOENT ? errc::no_such_item : errc::io_error,
                 "cannot read " + path.string() + ": " + std::strerror(errno)};
  crypto_hash_sha256_init(&p->state);
  return std::unique_ptr<file_hasher>{new file_hasher(std::move(p))};
}

store::result<bool> file_hasher::step(std::size_t max_bytes) {
  auto& d = *impl_;
  std::size_t left = std::max<std::size_t>(max_bytes, 1);
  while (!d.done && left > 0) {
    auto want = std::min(left, d.buf.size());
    auto n = ::read(d.fd, d.buf.data(), want);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return error{errc::io_error,
                   "cannot read " + d.path.string() + ": " + std::strerror(errno)};
    }
    if (n == 0) {
      d.done = true;
      break;
    }
    crypto_hash_sha256_update(&d.state, d.buf.data(),
                              static_cast<unsigned long long>(n));
    d.bytes += static_cast<std::uint64_t>(n);
    left -= static_cast<std::size_t>(n);
  }
  return d.done;
}

std::uint64_t file_hasher::bytes() const noexcept {
  return impl_->bytes;
}

std::string file_hasher::hex() {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&impl_->state, out);
  return hex_of(out, sizeof out);
}

store::result<std::string> sha256_file(const fs::path& path) {
  auto h = file_hasher::open(path);
  if (!h)
    return std::move(h).error_value();
  for (;;) {
    auto r = (*h)->step(std::size_t{64} << 20);
    if (!r)
      return std::move(r).error_value();
    if (*r)
      return (*h)->hex();
  }
}

// -- offline snapshots -----------------------------------------------------------

store::result<backup_entry>
snapshot_store_file(const store_file& source, const fs::path& dest,
                    const fs::path& backup_dir) {
  store::sqlite::open_options opts;
  opts.create = false;
  auto db = store::sqlite::connection::open(source.path, opts);
  if (!db)
    return std::move(db).error_value();
  auto copy = store::online_backup::start(**db, dest);
  if (!copy)
    return std::move(copy).error_value();
  MANTISSA_TRY((*copy)->step(-1));
  auto bytes = (*copy)->finish();
  if (!bytes)
    return std::move(bytes).error_value();
  auto sum = sha256_file(dest);
  if (!sum)
    return std::move(sum).error_value();
  std::error_code ec;
  auto rel = fs::relative(dest, backup_dir, ec);
  return backup_entry{source.address, rel.generic_string(), *bytes,
                      std::move(*sum)};
}

// -- schedules -------------------------------------------------------------------

store::result<std::chrono::milliseconds>
parse_backup_interval(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return error{errc::invalid_value,
                 "\"" + std::string{text.substr(0, 64)} + "\": " + why};
  };
  if (text.size() < 2 || text.size() > 12)
    return bad("want a number and a unit (s, m, h, d), e.g. 24h");
  std::int64_t n = 0;
  for (auto c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9')
      return bad("want a number and a unit (s, m, h, d), e.g. 24h");
    n = n * 10 + (c - '0');
  }
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return bad("the unit must be s, m, h or d");
  }
  auto seconds = n * unit;
  if (seconds < 1 || seconds > 366 * 86400)
    return bad("must be between 1s and 366d");
  return std::chrono::milliseconds{seconds * 1000};
}

store::result<backup_schedule>
backup_schedule_from_settings(const std::string& schedule,
                              const std::string& dir, const std::string& keep,
                              const fs::path& data_dir) {
  backup_schedule out;
  if (schedule.empty())
    return out;
  auto interval = parse_backup_interval(schedule);
  if (!interval)
    return error{errc::invalid_value,
                 "the setting backup.schedule: " + interval.error_value().message};
  out.interval = *interval;
  if (dir.empty())
    return error{errc::invalid_value,
                 "the setting backup.schedule needs backup.dir (where the "
                 "backups go)"};
  std::error_code ec;
  fs::path d{dir};
  out.dir = (d.is_absolute() ? d : fs::absolute(data_dir, ec) / d)
              .lexically_normal();
  if (!keep.empty()) {
    if (keep.size() > 4
        || !std::all_of(keep.begin(), keep.end(),
                        [](char c) { return c >= '0' && c <= '9'; })
        || std::stoi(keep) < 1 || std::stoi(keep) > 1000)
      return error{errc::invalid_value, "the setting backup.keep: \""
                                          + keep.substr(0, 16)
                                          + "\" is not a number in 1..1000"};
    out.keep = static_cast<unsigned>(std::stoi(keep));
  }
  return out;
}

std::string utc_now_iso8601() {
  auto t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// -- restore ---------------------------------------------------------------------

namespace {

/// A store file of the backup copied next to its final place (`temp`,
/// synced) before anything in the data directory is replaced.
struct staged_copy {
  fs::path temp;
  fs::path final_path;
};

/// The stores of `m` a restore puts back: every one, or only the store of
/// `account` (then `account_address` is set to its canonical address).
store::result<std::vector<const backup_entry*>>
chosen_stores(const backup_manifest& m, const fs::path& backup_dir,
              const std::string& account, std::string& account_address) {
  std::vector<const backup_entry*> chosen;
  if (account.empty()) {
    for (auto& e : m.stores)
      chosen.push_back(&e);
    return chosen;
  }
  auto a = parse_address(account);
  if (!a)
    return std::move(a).error_value();
  account_address = to_string(*a);
  if (a->is_offering() && a->localpart == "site")
    return error{errc::invalid_name,
                 "--account names a user or app store, not the site"};
  for (auto& e : m.stores)
    if (e.address == account_address)
      chosen.push_back(&e);
  if (chosen.empty())
    return error{errc::no_such_item, "the backup in " + backup_dir.string()
                                       + " holds no store for "
                                       + account_address};
  return chosen;
}

/// Removes the staged copies again (the data directory is then unchanged).
void unstage(const std::vector<staged_copy>& staged) {
  std::error_code ec;
  for (auto& s : staged)
    fs::remove(s.temp, ec);
}

/// Copies the `chosen` files of the backup next to their places in
/// `data_dir`; on failure none of the copies is left.
store::result<std::vector<staged_copy>>
stage_copies(const fs::path& backup_dir, const fs::path& data_dir,
             const std::vector<const backup_entry*>& chosen) {
  std::vector<staged_copy> staged;
  std::error_code ec;
  for (auto* e : chosen) {
    auto final_path = data_dir / e->path;
    auto temp = final_path;
    temp += ".restore-tmp";
    if (auto r = copy_synced(backup_dir / e->path, temp); !r) {
      fs::remove(temp, ec);
      unstage(staged);
      return error{r.code(), r.error_value().message + "; nothing was changed"};
    }
    staged.push_back({temp, final_path});
  }
  return staged;
}

/// One account's restore: the site store's record is made to match the
/// copy the staged store carries (and the copy the record, when the site's
/// changed), before the store is put in place. Returns whether the site's
/// record changed. Until the site store changed, a failure removes the
/// staged copies.
store::result<bool> reconcile_account(const fs::path& data_dir,
                                      const std::vector<staged_copy>& staged,
                                      const std::string& account_address) {
  auto staged_store = staged.front().temp;
  store::type_registry reg;
  if (auto r = register_account_types(reg); !r) {
    unstage(staged);
    return std::move(r).error_value();
  }
  store::store_options sopts;
  sopts.create = false;
  actors::account copy;
  {
    auto user = store::store::open(staged_store, reg, sopts);
    if (!user) {
      unstage(staged);
      return error{user.code(),
                   user.error_value().message + "; nothing was changed"};
    }
    auto c = read_account_copy(**user);
    if (!c) {
      unstage(staged);
      return error{c.code(), "the backup of " + account_address + ": "
                               + c.error_value().message
                               + "; nothing was changed"};
    }
    copy = std::move(*c);
  }
  std::error_code ec;
  auto site_file = site_path(data_dir);
  if (!fs::exists(site_file, ec)) {
    unstage(staged);
    return error{errc::no_such_item,
                 "no site store at " + site_file.string()
                   + ": restore the whole backup first (without "
                     "--account); nothing was changed"};
  }
  auto site = store::store::open(site_file, reg, sopts);
  if (!site) {
    unstage(staged);
    return error{site.code(),
                 site.error_value().message + "; nothing was changed"};
  }
  auto adopted = adopt_account_copy(**site, copy);
  if (!adopted) {
    unstage(staged);
    return error{adopted.code(), "cannot update the account of "
                                   + account_address + " in the site store: "
                                   + adopted.error_value().message
                                   + "; nothing was changed"};
  }
  if (adopted->second) {
    auto user = store::store::open(staged_store, reg, sopts);
    if (!user)
      return std::move(user).error_value();
    MANTISSA_TRY(write_account_copy(**user, adopted->first));
  }
  return adopted->second;
}

/// Moves what the restore replaces into `aside` (never away): the one
/// account's store, or for a whole restore every store file of `data_dir`
/// and the timer's index. Each moved file is added to `report`.
store::result<void> move_replaced_aside(const fs::path& data_dir,
                                        const std::vector<staged_copy>& staged,
                                        bool one_account, const fs::path& aside,
                                        restore_report& report) {
  std::error_code ec;
  std::vector<fs::path> old_files;
  if (!one_account) {
    auto existing = list_store_files(data_dir);
    if (!existing) {
      unstage(staged);
      return std::move(existing).error_value();
    }
    for (auto& f : *existing)
      old_files.push_back(f.path);
    old_files.push_back(data_dir / "schedule.sqlite");
  } else {
    old_files.push_back(staged.front().final_path);
  }
  for (auto& f : old_files) {
    if (!fs::exists(f, ec))
      continue;
    if (auto r = move_aside(data_dir, f, aside); !r)
      return error{r.code(), r.error_value().message
                               + " (restore stopped: moved files are in "
                               + aside.string() + ")"};
    report.moved_aside.push_back(fs::relative(f, data_dir, ec).generic_string());
  }
  return {};
}

/// Renames the staged copies into place (their stale side files removed),
/// syncs their directories, and records when each restored store is due
/// in the timer's index (replacing the index for a whole restore).
store::result<void> put_in_place(const fs::path& data_dir,
                                 const std::vector<const backup_entry*>& chosen,
                                 const std::vector<staged_copy>& staged,
                                 bool one_account, restore_report& report) {
  std::error_code ec;
  std::vector<std::pair<std::string, std::int64_t>> due;
  std::set<fs::path> dirs;
  for (std::size_t i = 0; i < staged.size(); ++i) {
    auto& [temp, final_path] = staged[i];
    MANTISSA_TRY(remove_side_files(final_path));
    fs::rename(temp, final_path, ec);
    if (ec)
      return error{errc::io_error, "cannot rename " + temp.string() + ": "
                                     + ec.message()};
    dirs.insert(final_path.parent_path());
    report.restored.push_back(chosen[i]->address);
    auto when = due_of(final_path);
    if (when >= 0 || one_account)
      due.emplace_back(chosen[i]->address, when);
  }
  for (auto& d : dirs)
    MANTISSA_TRY(store::sync_directory(d));
  MANTISSA_TRY(store::sync_directory(data_dir));
  return write_due_index(data_dir, due, !one_account);
}

} // namespace

store::result<restore_report> restore_backup(const fs::path& backup_dir,
                                             const fs::path& data_dir,
                                             const restore_options& opts) {
  auto say = [&](const std::string& line) {
    if (opts.progress)
      opts.progress(line);
  };
  // Everything that can be checked is checked before the data directory
  // is touched (even its lock file: a missing backup creates nothing).
  auto m = read_manifest(backup_dir);
  if (!m)
    return std::move(m).error_value();
  std::string account_address;
  auto chosen = chosen_stores(*m, backup_dir, opts.account, account_address);
  if (!chosen)
    return std::move(chosen).error_value();
  bool one_account = !account_address.empty();
  // A data directory in use is refused before the (slow) verification; a
  // new one is created only once the backup verified.
  std::unique_ptr<data_dir_lock> held;
  auto take_lock = [&]() -> store::result<void> {
    auto lock = data_dir_lock::acquire(data_dir, "mantissa restore");
    if (!lock)
      return error{lock.code(),
                   lock.error_value().message
                     + "; stop the node first (nothing was changed)"};
    held = std::move(*lock);
    return {};
  };
  std::error_code ec;
  bool existed = fs::exists(data_dir, ec);
  if (existed)
    MANTISSA_TRY(take_lock());
  // Every checksum of the backup before anything is replaced.
  say("verifying " + std::to_string(m->stores.size()) + " files of "
      + backup_dir.string());
  if (auto v = verify_backup(backup_dir, *m); !v)
    return error{v.code(), v.error_value().message + "; nothing was changed"};
  if (!existed)
    MANTISSA_TRY(take_lock());

  auto staged = stage_copies(backup_dir, data_dir, *chosen);
  if (!staged)
    return std::move(staged).error_value();
  say("copied " + std::to_string(staged->size()) + " files");
  restore_report report;
  if (one_account) {
    auto updated = reconcile_account(data_dir, *staged, account_address);
    if (!updated)
      return std::move(updated).error_value();
    report.account_updated = *updated;
  }
  auto aside = data_dir / ("pre-restore-" + compact_time());
  MANTISSA_TRY(
    move_replaced_aside(data_dir, *staged, one_account, aside, report));
  if (!report.moved_aside.empty())
    report.aside_dir = aside;
  MANTISSA_TRY(put_in_place(data_dir, *chosen, *staged, one_account, report));
  say("restored " + std::to_string(report.restored.size()) + " stores");
  return report;
}

} // namespace mantissa::actors
