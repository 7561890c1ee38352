#pragma once

#include <filesystem>

#include <caf/fwd.hpp>

/// The node's side of a streamed backup (docs/operations.md, "Backup and
/// restore"): the CLI runs on another machine, so the node takes each
/// store's snapshot into a temporary place of its own data directory
/// (`<data>/backup-tmp/`) and hands it out in chunks.
///
/// The streamer is one detached actor per node (it reads files), spawned
/// by the bridge on first use. Each snapshot belongs to the system session
/// that asked for it; the streamer monitors that session and removes its
/// snapshots when it ends (the CLI finished, was interrupted or died).
///
/// Messages (the session appends itself as `owner`):
/// - `(bksnap_atom, address, owner) -> string` JSON
///   `{"id":N,"address","bytes":B,"sha256":H}`: the store's snapshot
///   (`backup_atom`, actors/internal/backup_request.hpp), kept until freed.
/// - `(bkchunk_atom, uint64 id, uint64 offset, owner) -> string`: the
///   snapshot's bytes from `offset`, `file_chunk_bytes` of them (fewer only
///   at the end). Errors: no_such_item (no such snapshot of this owner),
///   invalid_value (offset past the end), io_error.
/// - `(bkfree_atom, uint64 id, owner) -> ok`: removes the snapshot.
namespace mantissa::actors::internal {

/// Spawns the streamer of a node whose stores `manager` activates.
caf::actor spawn_backup_streamer(caf::actor_system& sys,
                                 const caf::actor& manager,
                                 const std::filesystem::path& data_dir);

/// `<data>/backup-tmp`: where snapshots wait to be streamed.
[[nodiscard]] std::filesystem::path
stream_dir(const std::filesystem::path& data_dir);

/// Removes what streamers of an earlier run left (at node start, before
/// anything streams). Errors are returned as text (empty: none).
[[nodiscard]] std::string
remove_stream_leftovers(const std::filesystem::path& data_dir);

} // namespace mantissa::actors::internal
