#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "offerings/offering.hpp"
#include "store/error.hpp"
#include "store/registry.hpp"
#include "store/store.hpp"
#include "store/typed.hpp"

/// Installed offerings and products: their records in the site store, the
/// product installations in user stores, and the operations that change
/// them (install an offering, create a product, add a product to a user or
/// remove it). docs/offerings.md describes the model.
///
/// Thread rule: like the account functions, every function taking a
/// `store::store&` is called only by the owner of that store (its actor,
/// or an offline command holding the data directory's lock). Functions
/// that open app or user store files themselves must run where nothing
/// else has those files open: offline, with the data directory locked.
namespace mantissa::offerings {

/// Type name of an installed offering's record (site store).
inline constexpr std::string_view installed_offering_type_name
  = "mantissa.offering";
/// Type name of a product (site store).
inline constexpr std::string_view product_type_name = "mantissa.product";
/// Type name of a product installation (user store).
inline constexpr std::string_view product_installation_type_name
  = "mantissa.product_installation";
/// Type name of the site's record that a user has a product (site store).
inline constexpr std::string_view product_grant_type_name
  = "mantissa.product_grant";

/// An installed offering (`mantissa.offering`).
struct installed_offering_record {
  store::item_id id = 0;
  std::string name;
  std::string version;
  store::timestamp installed;
};

/// A product (`mantissa.product`): a name and the installable powerup
/// names it installs, as a JSON array of strings.
struct product_record {
  store::item_id id = 0;
  std::string name;
  nlohmann::json powerups = nlohmann::json::array();
};

/// A product installed in a user store (`mantissa.product_installation`).
/// `powerups` is a JSON array with one object per powerup the product uses:
/// `{"name": powerup name, "type": item type, "id": item id, "created":
/// bool}`. `created` marks the installation that owns the item (deletes it
/// when removed); an item another product already had is shared, not
/// owned.
struct product_installation_record {
  store::item_id id = 0;
  std::string product;
  nlohmann::json powerups = nlohmann::json::array();
  store::timestamp installed;
};

/// The site's record that the user store of `user` has `product`
/// (`mantissa.product_grant`): written beside every product installation,
/// online and offline, so that uninstalling an offering can name a store
/// that still depends on it without opening user stores.
struct product_grant_record {
  store::item_id id = 0;
  std::string user; ///< the user's address, normalized
  std::string product;
};

[[nodiscard]] const store::item_type<installed_offering_record>&
installed_offering_item_type();
[[nodiscard]] const store::item_type<product_grant_record>&
product_grant_item_type();
[[nodiscard]] const store::item_type<product_record>& product_item_type();
[[nodiscard]] const store::item_type<product_installation_record>&
product_installation_item_type();

/// Adds the four record types to `registry` (the site store's and the
/// user stores'). Registering twice is `already_exists`.
[[nodiscard]] store::result<void>
register_site_types(store::type_registry& registry);

/// What the operations that open app and user stores need besides the site
/// store: the data directory, the known offerings, and the registry to
/// open stores with (account types, the record types and every offering's
/// types). All must outlive the call.
struct site_context {
  std::filesystem::path data_dir;
  const offering_registry* offerings = nullptr;
  const store::type_registry* types = nullptr;
};

// -- offerings ----------------------------------------------------------------

/// Installs the known offering `name`: creates its artificial account (an
/// address without domain) and its app store `apps/<name>.sqlite`, creates
/// and installs its app powerups there and its site powerups in the site
/// store (whose registry must know their types), records it in the site
/// store and creates the products it ships. An app store left by an
/// uninstall (`uninstall_offering`) is used again with its account; its app
/// powerups are created only if missing. An unknown offering or a shipped
/// product naming an unknown powerup is `no_such_item`; an installed
/// offering, an existing product of a shipped name, or an account of its
/// name without its app store is `already_exists`. On any error nothing
/// changes in the site store (the transaction rolls back and an app store
/// file this call created is removed).
[[nodiscard]] store::result<installed_offering_record>
install_offering(store::store& site, const site_context& ctx,
                 std::string_view name);

/// The site store's part of `install_offering`, for a running node (the
/// app store is its own actor's: `prepare_app_store`): the offering's
/// account, its site powerups, its record and its products. With `again`
/// (its app store is there from an earlier installation) the account of
/// that installation is used again, else an existing account is
/// `already_exists`. Errors as `install_offering`; on error nothing
/// changes.
[[nodiscard]] store::result<installed_offering_record>
record_offering(store::store& site, const offering_registry& offerings,
                std::string_view name, bool again);

/// Creates and installs in the app store `app` those app powerups of `o`
/// whose type no installed powerup has yet: a first installation creates
/// them all, a second one (after an uninstall) none.
[[nodiscard]] store::result<void> prepare_app_store(store::store& app,
                                                    const offering& o);

/// What uninstalling an offering removed.
struct uninstalled_offering {
  std::string name;
  std::vector<std::string> products; ///< the products using its powerups
};

/// Uninstalls the installed, known offering `name` from the site store:
/// deletes the products that list one of its powerups, its site powerups
/// and its record. Refused with `in_use`, naming one user store, while a
/// product grant (`mantissa.product_grant`) of such a product exists;
/// `no_such_item` when it is not installed or not known (its plugin must
/// be loaded). Its account and app store stay (their data is kept; a later
/// installation uses them again). One transaction.
[[nodiscard]] store::result<uninstalled_offering>
uninstall_offering(store::store& site, const offering_registry& offerings,
                   std::string_view name);

/// Records in the site store that `user` has `product` (idempotent).
[[nodiscard]] store::result<void> record_grant(store::store& site,
                                               const actors::address& user,
                                               std::string_view product);
/// Deletes that record if there is one.
[[nodiscard]] store::result<void> forget_grant(store::store& site,
                                               const actors::address& user,
                                               std::string_view product);

/// One offering as `list_offerings` reports it.
struct offering_status {
  std::string name;
  std::string description; ///< empty when not known
  std::string version;     ///< of the known offering, else the installed one
  bool known = false;      ///< a built-in or loaded plugin provides it
  bool installed = false;
  std::string installed_version;
};

/// Every known or installed offering, sorted by name.
[[nodiscard]] store::result<std::vector<offering_status>>
list_offerings(store::store& site, const offering_registry& offerings);

/// The statuses of the offerings `offerings` knows (none installed), by
/// name: what `list_offerings` starts from.
[[nodiscard]] std::map<std::string, offering_status>
known_offerings(const offering_registry& offerings);

/// The offerings of `known` (as `known_offerings` makes them) and those
/// installed in `site`, sorted by name.
[[nodiscard]] store::result<std::vector<offering_status>>
list_offerings(store::store& site,
               std::map<std::string, offering_status> known);

/// The record of the installed offering `name`; `no_such_item` if it is
/// not installed.
[[nodiscard]] store::result<installed_offering_record>
find_installed_offering(store::store& site, std::string_view name);

// -- products -----------------------------------------------------------------

/// Creates a product. `name` is `[a-z][a-z0-9_-]*` (`invalid_name`); every
/// powerup must be an installable powerup of a known, installed offering
/// (`no_such_item` naming it); the list must not be empty or repeat a name
/// (`invalid_value`); an existing product is `already_exists`.
[[nodiscard]] store::result<product_record>
create_product(store::store& site, const offering_registry& offerings,
               std::string_view name, const std::vector<std::string>& powerups);

/// The product `name`; `no_such_item` if there is none.
[[nodiscard]] store::result<product_record> find_product(store::store& site,
                                                         std::string_view name);

/// Every product, sorted by name.
[[nodiscard]] store::result<std::vector<product_record>>
list_products(store::store& site);

// -- products in user stores --------------------------------------------------

/// Installs `product` into an open user store: for each of its powerups, an
/// item of the powerup's type already installed on the store by another
/// product is shared; otherwise one is created with default values and
/// installed under the powerup's interfaces. Records the installation. A
/// product the store already has is `already_exists`; an unknown powerup
/// or type is `no_such_item` / `no_such_type`. One transaction.
[[nodiscard]] store::result<product_installation_record>
install_product(store::store& user, const offering_registry& offerings,
                const product_record& product);

/// Removes `product` from an open user store: uninstalls and deletes the
/// powerups it owns that no other installed product uses (ownership of a
/// shared one passes to a product that still uses it) and deletes the
/// installation record. `no_such_item` when the store does not have the
/// product; `in_use` when something outside the products still depends
/// on one of its powerups. One transaction: on error nothing changes.
[[nodiscard]] store::result<void> uninstall_product(store::store& user,
                                                    std::string_view product);

/// The products installed in a user store, sorted by name.
[[nodiscard]] store::result<std::vector<product_installation_record>>
list_installed_products(store::store& user);

/// Adds the product `product` to the account at `user`: checks the account
/// (`no_such_item`; an offering's account is `invalid_value`) and the
/// product, opens the user store file (creating it with the account's copy
/// when missing) and runs `install_product`.
[[nodiscard]] store::result<product_installation_record>
add_product_to_user(store::store& site, const site_context& ctx,
                    const actors::address& user, std::string_view product);

/// Removes the product `product` from the account at `user` with
/// `uninstall_product`.
[[nodiscard]] store::result<void>
remove_product_from_user(store::store& site, const site_context& ctx,
                         const actors::address& user, std::string_view product);

} // namespace mantissa::offerings
