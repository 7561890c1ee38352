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

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
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
  auto done = (*copy)->step(-1);
  if (!done)
    return std::move(done).error_value();
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

// -- the manifest ----------------------------------------------------------------

nlohmann::json to_json(const backup_manifest& m) {
  auto stores = nlohmann::json::array();
  for (auto& e : m.stores)
    stores.push_back({{"address", e.address},
                      {"path", e.path},
                      {"bytes", e.bytes},
                      {"sha256", e.sha256}});
  return {{"format", m.format},
          {"node", m.node},
          {"time", m.time},
          {"stores", std::move(stores)}};
}

store::result<backup_manifest> manifest_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& why) {
    return error{errc::invalid_value, "manifest: " + why};
  };
  if (!j.is_object())
    return bad("not a JSON object");
  backup_manifest m;
  auto f = j.find("format");
  if (f == j.end() || !f->is_number_integer())
    return bad("no format version");
  m.format = f->get<int>();
  if (m.format < 1 || m.format > backup_format_version)
    return bad("format version " + std::to_string(m.format)
               + " (this mantissa reads up to "
               + std::to_string(backup_format_version) + ")");
  if (auto n = j.find("node"); n != j.end() && n->is_string())
    m.node = n->get<std::string>();
  if (auto t = j.find("time"); t != j.end() && t->is_string())
    m.time = t->get<std::string>();
  auto s = j.find("stores");
  if (s == j.end() || !s->is_array())
    return bad("no \"stores\" array");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < s->size(); ++i) {
    auto& e = (*s)[i];
    auto where = "store #" + std::to_string(i + 1) + ": ";
    if (!e.is_object())
      return bad(where + "not an object");
    auto a = e.find("address");
    auto p = e.find("path");
    auto b = e.find("bytes");
    auto h = e.find("sha256");
    if (a == e.end() || !a->is_string() || p == e.end() || !p->is_string()
        || b == e.end() || !b->is_number_unsigned() || h == e.end()
        || !h->is_string())
      return bad(where + "needs \"address\", \"path\" (strings), \"bytes\" "
                         "(a number) and \"sha256\" (a string)");
    backup_entry entry{a->get<std::string>(), p->get<std::string>(),
                       b->get<std::uint64_t>(), h->get<std::string>()};
    where = "store " + entry.address.substr(0, 128) + ": ";
    auto rel = relative_store_path(entry.address);
    if (!rel)
      return bad(where + rel.error_value().message);
    // The path must be where the address belongs: nothing outside the
    // backup (or the data directory) is ever read or written.
    if (entry.path != rel->generic_string())
      return bad(where + "path \"" + entry.path.substr(0, 256)
                 + "\" is not " + rel->generic_string());
    if (!is_hex64(entry.sha256))
      return bad(where + "sha256 is not 64 lower-case hex digits");
    if (!seen.insert(entry.address).second)
      return bad(where + "listed twice");
    m.stores.push_back(std::move(entry));
  }
  return m;
}

namespace {

/// Writes `DIR/manifest.json` atomically (temporary file, sync, rename,
/// directory sync).
store::result<void> write_manifest_json(const fs::path& dir,
                                        const nlohmann::json& j) {
  auto final_path = dir / manifest_name;
  auto temp = final_path;
  temp += ".tmp";
  {
    std::ofstream out{temp, std::ios::binary | std::ios::trunc};
    out << j.dump(2) << '\n';
    out.flush();
    if (!out)
      return error{errc::io_error, "cannot write " + temp.string()};
  }
  MANTISSA_TRY(store::sync_file(temp));
  std::error_code ec;
  fs::rename(temp, final_path, ec);
  if (ec)
    return error{errc::io_error,
                 "cannot rename " + temp.string() + ": " + ec.message()};
  return store::sync_directory(dir);
}

/// `DIR/manifest.json` parsed; errors as `read_manifest` documents.
store::result<nlohmann::json> read_manifest_json(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return error{errc::no_such_item, dir.string() + " is not a directory"};
  auto path = dir / manifest_name;
  if (!fs::exists(path, ec))
    return error{errc::no_such_item,
                 dir.string() + " has no " + manifest_name
                   + ": not a complete backup (the manifest is written last)"};
  std::ifstream in{path, std::ios::binary};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  if (!in && !in.eof())
    return error{errc::io_error, "cannot read " + path.string()};
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded())
    return error{errc::invalid_value, path.string() + " is not valid JSON"};
  return j;
}

bool is_cluster_json(const nlohmann::json& j) {
  return j.is_object() && j.contains("kind") && j["kind"] == "cluster";
}

std::string node_names(const cluster_manifest& m) {
  std::string out;
  for (auto& n : m.nodes)
    out += (out.empty() ? "" : ", ") + n.name;
  return out;
}

} // namespace

store::result<void> write_manifest(const fs::path& dir,
                                   const backup_manifest& m) {
  return write_manifest_json(dir, to_json(m));
}

store::result<backup_manifest> read_manifest(const fs::path& dir) {
  auto j = read_manifest_json(dir);
  if (!j)
    return std::move(j).error_value();
  auto path = dir / manifest_name;
  if (is_cluster_json(*j)) {
    auto c = cluster_manifest_from_json(*j);
    return error{errc::invalid_value,
                 dir.string() + " is a cluster backup"
                   + (c ? " (nodes " + node_names(*c) + ")" : std::string{})
                   + ": restore one node's part with --node NAME"};
  }
  auto m = manifest_from_json(*j);
  if (!m)
    return error{errc::invalid_value,
                 path.string() + ": " + m.error_value().message};
  return m;
}

store::result<void>
verify_backup(const fs::path& dir, const backup_manifest& m,
              const std::function<void(std::size_t, std::size_t)>& progress) {
  std::size_t done = 0;
  for (auto& e : m.stores) {
    auto file = dir / e.path;
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    if (ec)
      return error{errc::corrupt, file.string() + " (" + e.address
                                    + ") is missing: " + ec.message()};
    if (size != e.bytes)
      return error{errc::corrupt,
                   file.string() + " (" + e.address + ") has "
                     + std::to_string(size) + " bytes, the manifest says "
                     + std::to_string(e.bytes)};
    auto sum = sha256_file(file);
    if (!sum)
      return error{errc::corrupt, sum.error_value().message};
    if (*sum != e.sha256)
      return error{errc::corrupt, file.string() + " (" + e.address
                                    + ") does not match its SHA-256 in the "
                                      "manifest"};
    if (progress)
      progress(++done, m.stores.size());
  }
  return {};
}

// -- cluster backups -------------------------------------------------------------

bool is_node_dir_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

nlohmann::json to_json(const cluster_manifest& m) {
  auto nodes = nlohmann::json::array();
  for (auto& n : m.nodes)
    nodes.push_back({{"name", n.name},
                     {"path", n.name},
                     {"stores", n.stores},
                     {"bytes", n.bytes},
                     {"manifest_sha256", n.manifest_sha256}});
  return {{"format", m.format}, {"kind", "cluster"}, {"seed", m.seed},
          {"time", m.time},     {"nodes", std::move(nodes)}};
}

store::result<cluster_manifest>
cluster_manifest_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& why) {
    return error{errc::invalid_value, "cluster manifest: " + why};
  };
  if (!is_cluster_json(j))
    return bad("not a cluster backup's manifest");
  cluster_manifest m;
  auto f = j.find("format");
  if (f == j.end() || !f->is_number_integer())
    return bad("no format version");
  m.format = f->get<int>();
  if (m.format < 1 || m.format > backup_format_version)
    return bad("format version " + std::to_string(m.format));
  if (auto s = j.find("seed"); s != j.end() && s->is_string())
    m.seed = s->get<std::string>();
  if (auto t = j.find("time"); t != j.end() && t->is_string())
    m.time = t->get<std::string>();
  auto n = j.find("nodes");
  if (n == j.end() || !n->is_array() || n->empty())
    return bad("no \"nodes\" array");
  std::set<std::string> seen;
  for (auto& e : *n) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()
        || !e.contains("manifest_sha256") || !e["manifest_sha256"].is_string())
      return bad("a node needs \"name\" and \"manifest_sha256\"");
    cluster_backup_node node;
    node.name = e["name"].get<std::string>();
    if (!is_node_dir_name(node.name))
      return bad("node name \"" + node.name.substr(0, 64)
                 + "\" is not a plain directory name");
    if (e.contains("path") && e["path"] != node.name)
      return bad("node " + node.name + ": its path must be its name");
    node.manifest_sha256 = e["manifest_sha256"].get<std::string>();
    if (!is_hex64(node.manifest_sha256))
      return bad("node " + node.name + ": manifest_sha256 is not 64 hex digits");
    if (auto s = e.find("stores"); s != e.end() && s->is_number_unsigned())
      node.stores = s->get<std::size_t>();
    if (auto b = e.find("bytes"); b != e.end() && b->is_number_unsigned())
      node.bytes = b->get<std::uint64_t>();
    if (!seen.insert(node.name).second)
      return bad("node " + node.name + " listed twice");
    m.nodes.push_back(std::move(node));
  }
  return m;
}

store::result<void> write_cluster_manifest(const fs::path& dir,
                                           const cluster_manifest& m) {
  return write_manifest_json(dir, to_json(m));
}

store::result<std::optional<cluster_manifest>>
read_cluster_manifest(const fs::path& dir) {
  auto j = read_manifest_json(dir);
  if (!j)
    return std::move(j).error_value();
  if (!is_cluster_json(*j))
    return std::optional<cluster_manifest>{};
  auto m = cluster_manifest_from_json(*j);
  if (!m)
    return error{errc::invalid_value, (dir / manifest_name).string() + ": "
                                        + m.error_value().message};
  return std::optional<cluster_manifest>{std::move(*m)};
}

store::result<fs::path> cluster_backup_part(const fs::path& dir,
                                            const std::string& name) {
  auto m = read_cluster_manifest(dir);
  if (!m)
    return std::move(m).error_value();
  if (!*m)
    return error{errc::invalid_value,
                 dir.string() + " is the backup of one node, not of a "
                                "cluster: restore it without --node"};
  for (auto& n : (*m)->nodes) {
    if (n.name != name)
      continue;
    auto part = dir / n.name;
    auto sum = sha256_file(part / manifest_name);
    if (!sum)
      return error{errc::corrupt, "node " + name + "'s part: "
                                    + sum.error_value().message};
    if (*sum != n.manifest_sha256)
      return error{errc::corrupt,
                   (part / manifest_name).string()
                     + " is not the manifest the cluster backup recorded"};
    return part;
  }
  return error{errc::no_such_item, "the cluster backup in " + dir.string()
                                     + " has no node " + name.substr(0, 64)
                                     + " (it has " + node_names(**m) + ")"};
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
  std::vector<const backup_entry*> chosen;
  std::string account_address;
  if (!opts.account.empty()) {
    auto a = parse_address(opts.account);
    if (!a)
      return std::move(a).error_value();
    account_address = to_string(*a);
    if (a->is_offering() && a->localpart == "site")
      return error{errc::invalid_name,
                   "--account names a user or app store, not the site"};
    for (auto& e : m->stores)
      if (e.address == account_address)
        chosen.push_back(&e);
    if (chosen.empty())
      return error{errc::no_such_item, "the backup in " + backup_dir.string()
                                         + " holds no store for "
                                         + account_address};
  } else {
    for (auto& e : m->stores)
      chosen.push_back(&e);
  }
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

  restore_report report;
  std::vector<std::pair<fs::path, fs::path>> staged;  // temp, final
  auto unstage = [&] {
    for (auto& [temp, final_path] : staged)
      fs::remove(temp, ec);
  };
  for (auto* e : chosen) {
    auto final_path = data_dir / e->path;
    auto temp = final_path;
    temp += ".restore-tmp";
    if (auto r = copy_synced(backup_dir / e->path, temp); !r) {
      fs::remove(temp, ec);
      unstage();
      return error{r.code(), r.error_value().message + "; nothing was changed"};
    }
    staged.emplace_back(temp, final_path);
  }
  say("copied " + std::to_string(staged.size()) + " files");

  // One account: the site store's record must match the copy the store
  // carries, before the store is put in place.
  actors::account copy;
  if (!account_address.empty()) {
    store::type_registry reg;
    if (auto r = register_account_types(reg); !r) {
      unstage();
      return std::move(r).error_value();
    }
    store::store_options sopts;
    sopts.create = false;
    {
      auto user = store::store::open(staged.front().first, reg, sopts);
      if (!user) {
        unstage();
        return error{user.code(), user.error_value().message
                                    + "; nothing was changed"};
      }
      auto c = read_account_copy(**user);
      if (!c) {
        unstage();
        return error{c.code(), "the backup of " + account_address + ": "
                                 + c.error_value().message
                                 + "; nothing was changed"};
      }
      copy = std::move(*c);
    }
    auto site_file = site_path(data_dir);
    if (!fs::exists(site_file, ec)) {
      unstage();
      return error{errc::no_such_item,
                   "no site store at " + site_file.string()
                     + ": restore the whole backup first (without "
                       "--account); nothing was changed"};
    }
    auto site = store::store::open(site_file, reg, sopts);
    if (!site) {
      unstage();
      return error{site.code(),
                   site.error_value().message + "; nothing was changed"};
    }
    auto adopted = adopt_account_copy(**site, copy);
    if (!adopted) {
      unstage();
      return error{adopted.code(), "cannot update the account of "
                                     + account_address + " in the site store: "
                                     + adopted.error_value().message
                                     + "; nothing was changed"};
    }
    report.account_updated = adopted->second;
    if (adopted->second) {
      auto user = store::store::open(staged.front().first, reg, sopts);
      if (!user)
        return std::move(user).error_value();
      if (auto w = write_account_copy(**user, adopted->first); !w)
        return std::move(w).error_value();
    }
  }

  // Put everything in place; what is replaced or not in the backup goes
  // aside, never away.
  auto aside = data_dir / ("pre-restore-" + compact_time());
  std::vector<fs::path> old_files;
  if (account_address.empty()) {
    auto existing = list_store_files(data_dir);
    if (!existing) {
      unstage();
      return std::move(existing).error_value();
    }
    for (auto& f : *existing)
      old_files.push_back(f.path);
    old_files.push_back(data_dir / "schedule.sqlite");
  } else {
    old_files.push_back(staged.front().second);
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
  if (!report.moved_aside.empty())
    report.aside_dir = aside;
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
    if (when >= 0 || !account_address.empty())
      due.emplace_back(chosen[i]->address, when);
  }
  for (auto& d : dirs)
    MANTISSA_TRY(store::sync_directory(d));
  MANTISSA_TRY(store::sync_directory(data_dir));
  MANTISSA_TRY(write_due_index(data_dir, due, account_address.empty()));
  say("restored " + std::to_string(report.restored.size()) + " stores");
  return report;
}

} // namespace mantissa::actors
