#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "store/error.hpp"

/// Backups of a node's stores and their restore (docs/operations.md,
/// "Backup and restore").
///
/// A backup is a directory holding one copy per store, laid out as a data
/// directory (`site.sqlite`, `users/<domain>/<localpart>.sqlite`,
/// `apps/<offering>.sqlite`), and `manifest.json`, written last: a
/// directory without a manifest is an incomplete backup. While a node
/// runs, each copy is taken by the store's own actor (the store message
/// `backup_atom`, wire/protocol.hpp; `node::backup_store`); offline, by
/// `snapshot_store_file` under the data directory's lock.
///
/// Thread rule: the functions here are free of shared state; the ones that
/// touch a data directory expect its lock to be held (by the caller, or,
/// for `restore_backup`, taken by the function itself).
namespace mantissa::actors {

/// The manifest's format version; `read_manifest` refuses newer ones.
inline constexpr int backup_format_version = 1;
/// The name of the manifest in a backup directory.
inline constexpr const char* manifest_name = "manifest.json";

/// One store of a backup.
struct backup_entry {
  std::string address;      ///< "site", "user@domain" or an offering name
  std::string path;         ///< relative to the backup directory
  std::uint64_t bytes = 0;  ///< size of the copy
  std::string sha256;       ///< lower-case hex SHA-256 of the copy
};

/// What `manifest.json` holds.
struct backup_manifest {
  int format = backup_format_version;
  std::string node;  ///< the node's name
  std::string time;  ///< when the backup finished, ISO 8601 UTC
  std::vector<backup_entry> stores;
};

/// A store file of a data directory.
struct store_file {
  std::string address;
  std::filesystem::path path;  ///< absolute (below the data directory)
};

/// Every store of `data_dir`: the site store first (when it exists), then
/// user stores (by domain, then localpart), then app stores. Files whose
/// names are not valid addresses (and temporary files) are skipped.
[[nodiscard]] store::result<std::vector<store_file>>
list_store_files(const std::filesystem::path& data_dir);

/// Where the store at `address` lives relative to a data directory (or a
/// backup): `site.sqlite`, `users/<domain>/<localpart>.sqlite` or
/// `apps/<name>.sqlite`. A malformed address is `invalid_name`.
[[nodiscard]] store::result<std::filesystem::path>
relative_store_path(const std::string& address);

/// SHA-256 of a file, computed in steps (libsodium `crypto_hash_sha256`),
/// so that an actor can hash a large file without blocking for long.
class file_hasher {
 public:
  /// Opens `path` for hashing; errors name the file.
  [[nodiscard]] static store::result<std::unique_ptr<file_hasher>>
  open(const std::filesystem::path& path);
  ~file_hasher();
  file_hasher(const file_hasher&) = delete;
  file_hasher& operator=(const file_hasher&) = delete;

  /// Hashes up to `max_bytes` more; true at the end of the file.
  [[nodiscard]] store::result<bool> step(std::size_t max_bytes);
  /// Bytes hashed so far.
  [[nodiscard]] std::uint64_t bytes() const noexcept;
  /// After `step` returned true: the digest as lower-case hex.
  [[nodiscard]] std::string hex();

 private:
  struct impl;
  explicit file_hasher(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// The SHA-256 of the whole file at `path`, as lower-case hex.
[[nodiscard]] store::result<std::string>
sha256_file(const std::filesystem::path& path);

/// Copies the store file `source` to `dest` offline (nothing else may have
/// it open: hold the data directory's lock) with the online backup API,
/// through a temporary file renamed into place, and returns its entry
/// (`path` relative to `backup_dir`, which must contain `dest`).
[[nodiscard]] store::result<backup_entry>
snapshot_store_file(const store_file& source, const std::filesystem::path& dest,
                    const std::filesystem::path& backup_dir);

/// The manifest as JSON, and back. `manifest_from_json` checks every
/// field (format version, addresses, paths that stay inside the backup and
/// are where the address belongs, sizes, 64 hex digits of SHA-256, no
/// store twice) and names what is wrong.
[[nodiscard]] nlohmann::json to_json(const backup_manifest& m);
[[nodiscard]] store::result<backup_manifest>
manifest_from_json(const nlohmann::json& j);

/// Writes `DIR/manifest.json` atomically (a temporary file, synced, then
/// renamed, and the directory synced).
[[nodiscard]] store::result<void>
write_manifest(const std::filesystem::path& dir, const backup_manifest& m);

/// Reads and checks `DIR/manifest.json`. A missing one is `no_such_item`
/// ("not a complete backup"); malformed JSON or fields are
/// `invalid_value`.
[[nodiscard]] store::result<backup_manifest>
read_manifest(const std::filesystem::path& dir);

/// Checks every file of `m` below `dir`: present, of the recorded size and
/// SHA-256. The first bad file is `corrupt`, named in the message.
/// `progress(done, total)` is called after each file when given.
[[nodiscard]] store::result<void>
verify_backup(const std::filesystem::path& dir, const backup_manifest& m,
              const std::function<void(std::size_t, std::size_t)>& progress
              = {});

/// One node's part of a cluster backup (`DIR/<name>/`, a backup of its
/// own with its own manifest).
struct cluster_backup_node {
  std::string name;             ///< the node's name, also its subdirectory
  std::size_t stores = 0;       ///< entries of its manifest
  std::uint64_t bytes = 0;      ///< bytes of its copies
  std::string manifest_sha256;  ///< SHA-256 of `DIR/<name>/manifest.json`
};

/// The top-level `manifest.json` of a cluster backup, written after every
/// node's part: `{"format":1,"kind":"cluster","seed","time","nodes":[...]}`.
struct cluster_manifest {
  int format = backup_format_version;
  std::string seed;  ///< the node whose site store holds the directory
  std::string time;  ///< when the last part finished, ISO 8601 UTC
  std::vector<cluster_backup_node> nodes;
};

/// Whether `name` may be a node's part directory: 1–64 characters of
/// `[A-Za-z0-9._-]`, not starting with a dot.
[[nodiscard]] bool is_node_dir_name(const std::string& name);

[[nodiscard]] nlohmann::json to_json(const cluster_manifest& m);
[[nodiscard]] store::result<cluster_manifest>
cluster_manifest_from_json(const nlohmann::json& j);

/// Writes `DIR/manifest.json` of a cluster backup atomically.
[[nodiscard]] store::result<void>
write_cluster_manifest(const std::filesystem::path& dir,
                       const cluster_manifest& m);

/// Reads `DIR/manifest.json` if it is a cluster backup's; nullopt when it
/// is a single node's; errors as `read_manifest`.
[[nodiscard]] store::result<std::optional<cluster_manifest>>
read_cluster_manifest(const std::filesystem::path& dir);

/// The directory of node `name`'s part of the cluster backup in `dir`,
/// after checking that the part's manifest is the one the top-level
/// manifest recorded (`corrupt` otherwise). `no_such_item` (naming the
/// nodes it holds) when the backup has no such node, `invalid_value`
/// when `dir` is not a cluster backup.
[[nodiscard]] store::result<std::filesystem::path>
cluster_backup_part(const std::filesystem::path& dir, const std::string& name);

/// The current time as ISO 8601 UTC (`2024-05-01T12:00:00Z`).
[[nodiscard]] std::string utc_now_iso8601();

/// Scheduled backups of a running node (docs/operations.md, "Scheduled
/// backups"), from the site settings `backup.schedule`, `backup.dir` and
/// `backup.keep`.
struct backup_schedule {
  std::chrono::milliseconds interval{0};  ///< 0: no scheduled backups
  std::filesystem::path dir;  ///< where `backup-<UTC time>/` go (absolute)
  unsigned keep = 7;          ///< complete backups kept; older ones removed
};

/// An interval setting: a whole number and a unit, `s`, `m`, `h` or `d`
/// (`90s`, `30m`, `24h`, `7d`), at least one second and at most a year.
/// `invalid_value` naming the problem otherwise.
[[nodiscard]] store::result<std::chrono::milliseconds>
parse_backup_interval(std::string_view text);

/// The schedule from the settings' values (empty: not set). No
/// `backup.schedule`: no schedule (interval 0). `backup.dir` is needed
/// with it; a relative one is taken below `data_dir`. `backup.keep`:
/// 1..1000, default 7. Errors name the setting.
[[nodiscard]] store::result<backup_schedule>
backup_schedule_from_settings(const std::string& schedule,
                              const std::string& dir, const std::string& keep,
                              const std::filesystem::path& data_dir);

/// How `restore_backup` restores.
struct restore_options {
  /// Restore only this account's store (and bring the site store's record
  /// of the account in line with the copy the store carries); empty: the
  /// whole site.
  std::string account;
  /// Called with a line of progress (files verified, restored).
  std::function<void(const std::string&)> progress;
};

/// What `restore_backup` did.
struct restore_report {
  std::vector<std::string> restored;  ///< addresses written
  /// Stores not in the backup (whole-site restore) and the files replaced,
  /// moved below `aside_dir`; nothing is deleted.
  std::vector<std::string> moved_aside;
  std::filesystem::path aside_dir;  ///< empty when nothing was moved
  bool account_updated = false;     ///< --account: the site record changed
};

/// Restores the backup in `backup_dir` into `data_dir` (created if
/// missing). Takes the data directory's lock (refused with `busy` while a
/// node or another command holds it), reads the manifest and checks every
/// file's checksum before anything is changed; then copies the files to
/// temporary names and renames them into place. What is replaced, and
/// (whole site) every store of `data_dir` that is not in the backup, is
/// moved to `data_dir/pre-restore-<time>/` with the same layout. The
/// timer's index (`schedule.sqlite`) is rebuilt for the restored stores
/// (whole site) or updated (one account). See docs/operations.md.
[[nodiscard]] store::result<restore_report>
restore_backup(const std::filesystem::path& backup_dir,
               const std::filesystem::path& data_dir,
               const restore_options& opts = {});

} // namespace mantissa::actors
