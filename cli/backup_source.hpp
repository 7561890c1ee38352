#pragma once

// Where `mantissa backup` takes its snapshots from (cli/backup.cpp): the
// store files themselves (this process holds the data directory), or a
// running node through its network port, which either writes each
// snapshot where the command says (the same machine) or streams it here.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/backup.hpp"
#include "actors/data_dir.hpp"
#include "wire/network_tls.hpp"

namespace mantissa::cli {

/// How one store's backup came out.
struct backup_outcome {
  bool ok = false;
  actors::backup_entry entry;
  std::string error;
};

/// Where the snapshots come from: a running node, or the files themselves.
class backup_source {
 public:
  virtual ~backup_source() = default;
  /// The node's name and its stores, or false with `err`.
  virtual bool stores(std::string& node, std::vector<std::string>& out,
                      std::string& err)
    = 0;
  /// Backs up one store into `dest` (absolute, below `dir`); `on_bytes`
  /// is told of the bytes written as they are. Called from several
  /// threads at once.
  virtual backup_outcome
  backup(const std::string& address, const std::filesystem::path& dest,
         const std::filesystem::path& dir,
         const std::function<void(std::uint64_t)>& on_bytes)
    = 0;
};

/// The store files of `data`, copied by this process, which holds the
/// data directory's `lock` for as long as the source lives.
std::unique_ptr<backup_source>
make_offline_source(std::filesystem::path data,
                    std::unique_ptr<actors::data_dir_lock> lock);

/// A running node at `endpoint`, logged in to as the system with
/// `key_file`. `stream`: the node streams its snapshots here; otherwise it
/// writes them into the backup directory itself (the same machine).
/// Null with `err` when the node cannot be reached or refuses the key.
std::unique_ptr<backup_source> connect_source(const std::string& endpoint,
                                              const std::string& key_file,
                                              const actors::network_tls& tls,
                                              bool stream, std::string& err);

} // namespace mantissa::cli
