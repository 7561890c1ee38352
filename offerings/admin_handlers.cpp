// The store handlers of online administration (offerings/online.hpp): the
// site store's records, an app store's powerups, a user store's products.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/account_handlers.hpp"
#include "actors/accounts.hpp"
#include "offerings/online.hpp"
#include "offerings/site.hpp"
#include "wire/protocol.hpp"

namespace mantissa::offerings {

namespace {

using nlohmann::json;
using store::errc;
using store::error;

/// The string member `key` of the object `args`, not empty.
store::result<std::string> text(const json& args, const char* key) {
  auto i = args.is_object() ? args.find(key) : args.end();
  if (i == args.end() || !i->is_string() || i->get<std::string>().empty())
    return error{errc::invalid_value,
                 std::string{key} + ": a non-empty string is needed"};
  return i->get<std::string>();
}

/// A user's address (not an offering's), normalized.
store::result<actors::address> user_of(const json& args) {
  MANTISSA_TRY_LET(t, text(args, "address"));
  MANTISSA_TRY_LET(a, actors::parse_address(*t));
  if (a->is_offering())
    return error{errc::invalid_value,
                 "products are for users; '" + *t + "' is an offering"};
  return std::move(*a);
}

json product_json(const product_record& p) {
  return {{"name", p.name}, {"powerups", p.powerups}};
}

using site_fn
  = std::function<store::result<json>(store::store& site, const json& args)>;

using system_fn = std::function<store::result<json>(
  const offering_registry& known, store::store& s, const json& args,
  const std::filesystem::path& data_dir)>;

/// A handler for the system role only: a user store's owner may run
/// handlers in it, but its products are given by the administrators.
actors::store_handler as_system(const offering_registry* known,
                                std::filesystem::path data_dir,
                                std::string name, system_fn fn) {
  return [known, data_dir = std::move(data_dir), name = std::move(name),
          fn = std::move(fn)](store::store& s, const json& args,
                              const actors::caller& who) -> store::result<json> {
    if (who.role != actors::system_role)
      return error{errc::forbidden, name + ": system role only"};
    return fn(*known, s, args, data_dir);
  };
}

/// The user store `s` is (not the site store, not an app store).
bool is_user_store(const store::store& s, const std::filesystem::path& data) {
  return s.path() != actors::site_path(data)
         && s.path().parent_path() != actors::store_path(data, {"x", {}})
                                        .parent_path();
}

store::result<void> add_site_handlers(const offering_registry& offerings,
                                      actors::handler_registry& handlers,
                                      const std::filesystem::path& site) {
  auto* known = &offerings;
  auto add = [&](const char* name, site_fn fn) {
    return handlers.add(
      name, actors::site_only(site, name,
                              [fn = std::move(fn)](store::store& s,
                                                   const json& args,
                                                   const actors::caller&) {
                                return fn(s, args);
                              }));
  };
  MANTISSA_TRY(add("mantissa.install_offering",
                   [known](store::store& s, const json& args)
                     -> store::result<json> {
                     MANTISSA_TRY_LET(name, text(args, "name"));
                     // An app store left by an uninstall is used again.
                     std::error_code ec;
                     bool again = std::filesystem::exists(
                       actors::store_path(s.path().parent_path(), {*name, {}}),
                       ec);
                     MANTISSA_TRY_LET(rec,
                                      record_offering(s, *known, *name, again));
                     MANTISSA_TRY_LET(acct, actors::find_account(
                                              s, actors::address{*name, {}}));
                     json products = json::array();
                     for (auto& p : known->find(*name)->products)
                       products.push_back(p.name);
                     return json{{"name", rec->name},
                                 {"version", rec->version},
                                 {"products", std::move(products)},
                                 {"account", actors::account_json(*acct)}};
                   }));
  MANTISSA_TRY(add("mantissa.uninstall_offering",
                   [known](store::store& s, const json& args)
                     -> store::result<json> {
                     MANTISSA_TRY_LET(name, text(args, "name"));
                     MANTISSA_TRY_LET(out, uninstall_offering(s, *known, *name));
                     return json{{"name", out->name},
                                 {"products", out->products}};
                   }));
  MANTISSA_TRY(add("mantissa.create_product",
                   [known](store::store& s, const json& args)
                     -> store::result<json> {
                     MANTISSA_TRY_LET(name, text(args, "name"));
                     auto list = args.find("powerups");
                     std::vector<std::string> powerups;
                     if (list != args.end() && list->is_array())
                       for (auto& p : *list)
                         if (p.is_string())
                           powerups.push_back(p.get<std::string>());
                     if (list == args.end() || !list->is_array()
                         || powerups.size() != list->size())
                       return error{errc::invalid_value,
                                    "powerups: an array of names is needed"};
                     MANTISSA_TRY_LET(pr, create_product(s, *known, *name,
                                                         powerups));
                     return product_json(*pr);
                   }));
  // The checks before a product is given: the account and the product.
  MANTISSA_TRY(add("mantissa.product_for",
                   [](store::store& s, const json& args)
                     -> store::result<json> {
                     MANTISSA_TRY_LET(user, user_of(args));
                     MANTISSA_TRY_LET(product, text(args, "product"));
                     MANTISSA_TRY_LET(acct, actors::find_account(s, *user));
                     MANTISSA_TRY_LET(pr, find_product(s, *product));
                     return json{{"address", actors::to_string(acct->addr)},
                                 {"product", product_json(*pr)}};
                   }));
  return add("mantissa.record_grant",
             [](store::store& s, const json& args) -> store::result<json> {
               MANTISSA_TRY_LET(user, user_of(args));
               MANTISSA_TRY_LET(product, text(args, "product"));
               auto given = args.value("given", true);
               if (given)
                 MANTISSA_TRY(record_grant(s, *user, *product));
               else
                 MANTISSA_TRY(forget_grant(s, *user, *product));
               return json{{"given", given}};
             });
}

store::result<json> setup_app_store(const offering_registry& known,
                                    store::store& s, const json& args,
                                    const std::filesystem::path& data) {
  MANTISSA_TRY_LET(name, text(args, "offering"));
  auto* o = known.find(*name);
  if (o == nullptr)
    return error{errc::no_such_item, "unknown offering '" + *name + "'"};
  if (s.path() != actors::store_path(data, {o->name, {}}))
    return error{errc::forbidden,
                 "mantissa.setup_app_store runs in the offering's app store"};
  MANTISSA_TRY(prepare_app_store(s, *o));
  return json{{"offering", o->name}};
}

store::result<json> install_product_here(const offering_registry& known,
                                         store::store& s, const json& args,
                                         const std::filesystem::path& data) {
  if (!is_user_store(s, data))
    return error{errc::forbidden, "products are installed in user stores"};
  auto p = args.is_object() ? args.find("product") : args.end();
  if (p == args.end() || !p->is_object())
    return error{errc::invalid_value, "product: an object is needed"};
  product_record pr;
  MANTISSA_TRY_LET(name, text(*p, "name"));
  pr.name = *name;
  pr.powerups = p->value("powerups", json::array());
  MANTISSA_TRY_LET(rec, install_product(s, known, pr));
  return json{{"product", rec->product}, {"powerups", rec->powerups}};
}

store::result<json> uninstall_product_here(const offering_registry&,
                                           store::store& s, const json& args,
                                           const std::filesystem::path& data) {
  if (!is_user_store(s, data))
    return error{errc::forbidden, "products are removed from user stores"};
  MANTISSA_TRY_LET(product, text(args, "product"));
  MANTISSA_TRY(uninstall_product(s, *product));
  return json{{"product", *product}};
}

} // namespace

store::result<void>
register_admin_handlers(const offering_registry& offerings,
                        actors::handler_registry& handlers,
                        const std::filesystem::path& data_dir) {
  if (handlers.find("mantissa.install_offering") != nullptr)
    return {};
  MANTISSA_TRY(
    add_site_handlers(offerings, handlers, actors::site_path(data_dir)));
  const std::pair<const char*, system_fn> in_stores[]
    = {{"mantissa.setup_app_store", setup_app_store},
       {"mantissa.install_product", install_product_here},
       {"mantissa.uninstall_product", uninstall_product_here}};
  for (auto& [name, fn] : in_stores)
    MANTISSA_TRY(
      handlers.add(name, as_system(&offerings, data_dir, name, fn)));
  return {};
}

} // namespace mantissa::offerings
