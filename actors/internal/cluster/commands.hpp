#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/internal/atoms.hpp"

/// The cluster actor's commands as typed messages (docs/cluster.md).
///
/// Each command has its own atom and arguments; every one answers a JSON
/// text or an error. This node's actors send them through
/// `commands_of(cluster)`, so a wrong message is a compile error; the
/// cluster actor's behavior is checked against the same list.
///
/// Who may send them: this node's own actors only. The network (other
/// nodes, the CLI) reaches the cluster actor through a session's
/// `(cluster_atom, command, json)`, checked there and decoded by the
/// cluster actor into the same handlers (actors/internal/cluster/decode.cpp).
namespace mantissa::actors::internal {

using cluster_commands = caf::typed_actor<
  // -> "{}"
  caf::replies_to<cping_atom>::with<std::string>,
  // -> {"name","seed","nodes":[{"name","host","port","state","stores"}]}
  caf::replies_to<cstatus_atom>::with<std::string>,
  // (address) -> {"node"[,"epoch","replica"]}, from the cache on a non-seed
  caf::replies_to<locate_atom, std::string>::with<std::string>,
  // (spec json) -> this node's part of a fan-out
  caf::replies_to<fanpart_atom, std::string>::with<std::string>,
  // (node, spec json) -> node's part of a fan-out
  caf::replies_to<fanat_atom, std::string, std::string>::with<std::string>,
  // (address) -> like locate, from the seed's directory (never a cache)
  caf::replies_to<whereis_atom, std::string>::with<std::string>,
  // (address, to, here) -> the move's report, run by the store's node
  caf::replies_to<cmove_atom, std::string, std::string, bool>::with<std::string>,
  // (address) -> "{}": the store lives on this node now
  caf::replies_to<movedhere_atom, std::string>::with<std::string>,
  // (address, from, to) -> {"address","node"}: a move's commit point
  caf::replies_to<mvcommit_atom, std::string, std::string,
                  std::string>::with<std::string>,
  // (address, primary, replica) -> {"address","replica","epoch"}
  caf::replies_to<replset_atom, std::string, std::string,
                  std::string>::with<std::string>,
  // (address, primary) -> {"address","replica":"","epoch"}
  caf::replies_to<repldrop_atom, std::string, std::string>::with<std::string>,
  // (address, force) -> {"address","from","node","epoch"[,"warning"]}
  caf::replies_to<promote_atom, std::string, bool>::with<std::string>,
  // (node) -> {"node","promoted":[...],"failed":[...]}
  caf::replies_to<failover_atom, std::string>::with<std::string>,
  // (address, spread) -> {"ended","unreached":[...]}
  caf::replies_to<revoke_atom, std::string, bool>::with<std::string>,
  // (username, password, artificial, role, node) -> {"address","node"}
  caf::replies_to<adduser_atom, std::string, std::string, bool, std::string,
                  std::string>::with<std::string>,
  // (name, host, port, stores) -> the membership, as cstatus without "name"
  caf::replies_to<join_atom, std::string, std::string, std::uint16_t,
                  std::vector<std::string>>::with<std::string>,
  // (name, host, port) -> the membership
  caf::replies_to<beat_atom, std::string, std::string,
                  std::uint16_t>::with<std::string>>;

/// The command interface of the cluster actor `cluster` (from
/// spawn_cluster).
[[nodiscard]] inline cluster_commands commands_of(const caf::actor& cluster) {
  return caf::actor_cast<cluster_commands>(cluster);
}

} // namespace mantissa::actors::internal
