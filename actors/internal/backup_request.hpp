#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/node.hpp"

namespace mantissa::actors::internal {

/// How long one store's backup may take before its requester gives up
/// (a store of tens of GB on a slow disk). The store goes on regardless.
inline constexpr std::chrono::seconds backup_timeout{3600};

/// From `self`: looks the store at `address` up at `manager` (activating
/// it), asks it as the system role for a snapshot into `dest` (the store
/// message `backup_atom`), and calls `done` with its answer, in `self`'s
/// context. A request that met a passivating store is sent again after a
/// new lookup (at most `retries` times).
void request_backup(caf::event_based_actor* self, const caf::actor& manager,
                    const std::string& address, const std::string& dest,
                    const std::function<void(reply)>& done,
                    int retries = 8);

/// The answer to `(stores_atom)`: `{"node":NAME,"stores":[...]}` for the
/// store files of `data_dir` (actors/backup.hpp, `list_store_files`).
[[nodiscard]] reply list_stores(const std::filesystem::path& data_dir,
                                const std::string& node_name);

} // namespace mantissa::actors::internal
