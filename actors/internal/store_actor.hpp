#pragma once

#include <filesystem>
#include <string>

#include <caf/fwd.hpp>

namespace mantissa::actors::internal {

struct runtime;

/// Spawns the actor that owns the store file at `path` (which must exist).
/// The actor opens the file on its first message, answers the messages of
/// wire/protocol.hpp, commits writes in groups, and passivates itself
/// when the manager's idle sweep (`idle_atom`) finds it unused for
/// `rt.idle_timeout`, or when the manager evicts it (`passivate_atom`),
/// telling `manager` with `(passivated_atom, address)` before it quits.
caf::actor spawn_store_actor(caf::actor_system& sys, runtime& rt,
                             std::string address, std::filesystem::path path,
                             const caf::actor& manager);

} // namespace mantissa::actors::internal
