#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/handlers.hpp"
#include "actors/node.hpp"
#include "offerings/offering.hpp"
#include "store/error.hpp"

/// Online administration of offerings and products: the operations of
/// offerings/site.hpp done on a running node, through its store actors,
/// never by opening a store file the node has open (docs/offerings.md,
/// "Online administration").
///
/// Every operation first runs a handler of the site store (the seed's in a
/// cluster) as the caller: the site store's owners are `system` and the
/// site's admins, so the site store actor refuses everyone else
/// (`forbidden`) before anything changes. The steps after it (the app
/// store, a user store) run as the system; their handlers refuse every
/// other role, since a user store's owner may run handlers in it.
namespace mantissa::offerings {

/// What an operation needs of the node: running a handler in a store by
/// address (routed to the node that holds it in a cluster) and creating a
/// store of this node.
struct node_access {
  std::function<void(const actors::caller& who, const std::string& address,
                     const std::string& handler, const nlohmann::json& args,
                     actors::reply_handler done)>
    run;
  std::function<void(const std::string& address, actors::reply_handler done)>
    create;
  /// Adds an account through the cluster (its `add_user` command); empty
  /// outside a cluster.
  std::function<void(const nlohmann::json& args, actors::reply_handler done)>
    cluster_add_user;
  /// "site", or "site:seed" in a cluster.
  std::string site = "site";
  /// In a cluster, the app store of an offering installed online lives on
  /// the seed: its address is `NAME:seed` there.
  bool cluster = false;
};

/// `n`'s access (it must outlive the operations).
[[nodiscard]] node_access access_of(actors::node& n);

/// Runs the operation `op` with `args` as `who`; `done` gets its JSON
/// answer or its error. Operations and their arguments:
///
/// - `install` `{"name"}` -> `{"name","version","products":[...]}`
/// - `uninstall` `{"name"}` -> `{"name","products":[removed products]}`
/// - `create_product` `{"name","powerups":[...]}` -> `{"name","powerups"}`
/// - `give` `{"address","product"}` -> `{"address","product","powerups"}`
/// - `take` `{"address","product"}` -> `{"address","product"}`
/// - `add_user` `{"username","password"|"artificial":true,"node"?}` ->
///   `{"address","node"}` (a cluster places the store; a single node
///   makes it here)
///
/// An unknown operation is `no_such_handler`; malformed arguments are
/// `invalid_value`.
void run_admin(const node_access& node, const actors::caller& who,
               const std::string& op, const nlohmann::json& args,
               actors::reply_handler done);

/// Registers the handlers the operations run (`mantissa.install_offering`,
/// `mantissa.uninstall_offering`, `mantissa.create_product`,
/// `mantissa.product_for`, `mantissa.record_grant` in the site store;
/// `mantissa.setup_app_store` in an app store; `mantissa.install_product`,
/// `mantissa.uninstall_product` in a user store). `offerings` must outlive
/// the handlers.
[[nodiscard]] store::result<void>
register_admin_handlers(const offering_registry& offerings,
                        actors::handler_registry& handlers,
                        const std::filesystem::path& data_dir);

} // namespace mantissa::offerings
