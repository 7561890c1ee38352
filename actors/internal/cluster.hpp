#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/handlers.hpp"
#include "actors/port/door.hpp"
#include "store/error.hpp"
#include "store/registry.hpp"

/// The cluster: membership, the directory of stores and the routing of
/// requests to stores on other nodes (docs/cluster.md).
///
/// Every node runs one cluster actor. The seed (a node started without
/// `join`) keeps the authoritative membership and directory in its site
/// store (`mantissa.cluster_node`, `mantissa.placement`); the others join
/// it, send it a heartbeat, cache what it tells them and ask it about
/// addresses they do not know.
///
/// Nodes reach each other through each one's network port (the door,
/// actors/port/door.hpp): a node logs in there as a node (its name and the
/// cluster key) and sends, through that session, `(route_atom, address,
/// message)` (a store message for a store of that node, answered as the
/// store answers) and `(cluster_atom, command, json)` (membership and
/// directory commands). Requests leave through a link per peer
/// (actors/internal/peer_link.hpp), which adds the session's capability.
namespace mantissa::actors::internal {

struct cluster_config {
  std::string name;           ///< this node's name
  std::string host;           ///< where other nodes reach this node
  std::uint16_t port = 0;
  std::string seed_host;      ///< empty: this node is the seed
  std::uint16_t seed_port = 0;
  std::string key;            ///< the cluster key (logins between nodes)
  /// This node's door: the links to other nodes are its edge actors.
  std::shared_ptr<port::door> door;
  std::filesystem::path data_dir;
  std::chrono::milliseconds heartbeat{1000};
  /// A node not heard from for this long is down; requests to its stores
  /// fail with store_unavailable.
  std::chrono::milliseconds down_after{5000};
  /// How long one request to another node may take.
  std::chrono::milliseconds timeout{10'000};
  /// Seed: promote the replicas of the stores of a node that has been
  /// down for this long (0: only `mantissa cluster failover` does).
  std::chrono::milliseconds failover_after{0};
  /// Ends this node's sessions of an account (`revoke`); called in the
  /// cluster actor. Outlives the actor (the node's authenticator).
  std::function<std::size_t(const std::string&)> end_sessions;
};

/// The cluster's item types in the site store.
[[nodiscard]] store::result<void>
register_cluster_types(store::type_registry& types);

/// The handlers the cluster actor runs in its own site store:
/// `mantissa.cluster_load` `{}` -> `{"nodes":[...],"placements":[...]}`,
/// `mantissa.cluster_put_node` `{"name","host","port"}`,
/// `mantissa.cluster_place` `{"address","node"}` (system role only).
[[nodiscard]] store::result<void>
register_cluster_handlers(handler_registry& handlers);

/// Spawns the node's cluster actor. `bridge` is the node's router; it
/// sends the cluster actor `(call_atom, address, message, completion)` for
/// an address that has no store on this node. The gateway's forwarders
/// send `(call_atom, address, message) -> string` for stores elsewhere.
caf::actor spawn_cluster(caf::actor_system& sys, cluster_config cfg,
                         caf::actor bridge);

/// Whether a lookup of `address` that failed here with `err` may find the
/// store on another node: a user store (sites and offerings are each node's
/// own) that this node has no file for.
[[nodiscard]] bool may_be_elsewhere(const std::string& address,
                                    const caf::error& err);

/// The address that names the site store of the seed (accounts and login
/// methods live there): the node's own site store on the seed or a node
/// outside any cluster.
inline constexpr const char* accounts_address = "site:seed";

/// The store of the seed that `address` names when it has the form
/// `NAME:seed`, else empty: `site:seed` is the seed's site store (the
/// accounts), `OFFERING:seed` the app store of an offering installed
/// online, which lives on the seed (docs/cluster.md). On the seed, or
/// outside any cluster, it is the node's own store `NAME`.
[[nodiscard]] inline std::string seed_store(const std::string& address) {
  constexpr std::string_view suffix = ":seed";
  if (address.size() <= suffix.size()
      || address.compare(address.size() - suffix.size(), suffix.size(),
                         suffix.data())
           != 0)
    return {};
  return address.substr(0, address.size() - suffix.size());
}

} // namespace mantissa::actors::internal
