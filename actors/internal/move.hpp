#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include <caf/actor.hpp>
#include <caf/timespan.hpp>

/// Moving a user store to another node of the cluster while it serves
/// (docs/operations.md, "Moving a store").
///
/// The **mover** runs on the store's node. It has the store actor take an
/// online snapshot and record its changes from then on (SQLite's session
/// extension), ships the snapshot in 1 MiB chunks to the **receiver** of
/// the target node, then freezes the store (it stops taking messages),
/// ships the changes recorded meanwhile, and commits the move in the
/// seed's directory. The store actor then closes for good and removes its
/// files; what waited in its mailbox bounces back to the senders, whose
/// retries (the bridge's and the forwarders') find the new home.
///
/// Fencing: both copies carry a marker file while the move is undecided
/// (`<store>.moving-out` on the source, `<store>.moving-in` on the
/// target). A node serves a store with a marker only after the seed's
/// directory says the store lives there; a source copy the directory
/// places elsewhere is removed. So whichever node is killed, and whenever,
/// exactly one copy is served: the one the directory names.
namespace mantissa::actors::internal {

struct counters;

struct move_env {
  caf::actor manager;
  caf::actor cluster;
  std::filesystem::path data_dir;
  std::string node;  ///< this node's name
  caf::timespan timeout{std::chrono::seconds(30)};
  counters* stats = nullptr;  ///< the node's (moves in progress); may be null
};

/// `<store>.moving-out`: the source's copy while a move commits.
[[nodiscard]] std::filesystem::path
moving_out_marker(const std::filesystem::path& store);
/// `<store>.moving-in`: the target's copy until the move is confirmed.
[[nodiscard]] std::filesystem::path
moving_in_marker(const std::filesystem::path& store);
/// `<store>.incoming`: the target's copy while chunks arrive.
[[nodiscard]] std::filesystem::path
incoming_path(const std::filesystem::path& store);
/// `<store>.move-snapshot`: the source's snapshot while it is shipped.
[[nodiscard]] std::filesystem::path
snapshot_path(const std::filesystem::path& store);

/// `<store>.epoch`: a store that has (or had) a replica, with its epoch
/// (JSON `{"epoch":N}`): served only once the directory agrees.
[[nodiscard]] std::filesystem::path
epoch_marker(const std::filesystem::path& store);
/// `<store>.replica`: the copy a replica's node keeps current (never served).
[[nodiscard]] std::filesystem::path
replica_path(const std::filesystem::path& store);
/// The epoch in `<store>.epoch`, 0 when there is none.
[[nodiscard]] std::int64_t read_epoch(const std::filesystem::path& store);

/// Removes a store's file with its `-wal` and `-shm` files, then its move
/// markers. Errors other than "not there" are returned as text.
[[nodiscard]] std::string
remove_store_files(const std::filesystem::path& store);

/// Spawns the mover of one move. It answers one message:
/// `(move_atom, address, target node, watcher) -> string JSON`
/// `{"address","from","to","bytes","changes","pause_ms","elapsed_ms"}`;
/// `(progress_atom, bytes shipped, bytes total)` goes to `watcher` (if
/// valid) at most 4 times a second, and the move is cancelled when
/// `watcher` goes away before the switch.
caf::actor spawn_mover(caf::actor_system& sys, move_env env);

/// Spawns a node's receiver of incoming moves: it answers
/// `(incoming_atom, op, address, data) -> string JSON`, op one of "begin"
/// (data: `{"from","bytes","sha256"}`), "chunk" (data: the next bytes),
/// "end", "apply" (data: the changeset), "commit" and "abort".
caf::actor spawn_receiver(caf::actor_system& sys, move_env env);

} // namespace mantissa::actors::internal
