// Uninstalling an offering and the site's records of product grants: what
// the online administration (offerings/online.hpp) and the offline
// commands share to tell whether a user store still depends on an
// offering.

#include "offerings/site.hpp"

#include <set>
#include <string>
#include <utility>

namespace mantissa::offerings {

namespace {

using store::errc;
using store::error;

/// The grants of `product` to `user` (both normalized), or of `product` to
/// anyone when `user` is empty.
store::result<std::vector<product_grant_record>>
grants_of(store::store& site, std::string_view product, std::string_view user) {
  store::query q;
  auto of_product = store::cmp("product", store::compare_op::eq,
                               store::value{std::string{product}});
  if (user.empty())
    q.where = std::move(of_product);
  else
    q.where = store::and_(
      {std::move(of_product), store::cmp("user", store::compare_op::eq,
                                         store::value{std::string{user}})});
  q.sort = {{"user", false}};
  return product_grant_item_type().select(site, q);
}

/// Does the product `p` list one of `powerups`?
bool uses_any(const product_record& p, const std::set<std::string>& powerups) {
  if (!p.powerups.is_array())
    return false;
  for (auto& pw : p.powerups)
    if (pw.is_string() && powerups.count(pw.get<std::string>()) > 0)
      return true;
  return false;
}

/// Uninstalls and deletes the items of `o`'s site powerups.
store::result<void> remove_site_powerups(store::store& site,
                                         const offering& o) {
  MANTISSA_TRY_LET(installed, site.installations(0));
  for (auto& p : o.site_powerups)
    for (auto& i : *installed)
      if (i.powerup.type == p.type) {
        MANTISSA_TRY(site.uninstall(i.powerup));
        auto r = site.remove(i.powerup.type, i.powerup.id);
        if (!r && r.code() != errc::no_such_item)
          return std::move(r).error_value();
      }
  return {};
}

} // namespace

store::result<uninstalled_offering>
uninstall_offering(store::store& site, const offering_registry& offerings,
                   std::string_view name) {
  const offering* o = offerings.find(name);
  if (o == nullptr)
    return error{errc::no_such_item,
                 "offering '" + std::string{name}
                   + "' is not known here (is its plugin loaded?)"};
  return site.transact([&]() -> store::result<uninstalled_offering> {
    MANTISSA_TRY_LET(rec, find_installed_offering(site, o->name));
    std::set<std::string> own;
    for (auto& p : o->installable_powerups)
      own.insert(p.name);
    MANTISSA_TRY_LET(products, list_products(site));
    uninstalled_offering out;
    out.name = o->name;
    for (auto& p : *products) {
      if (!uses_any(p, own))
        continue;
      MANTISSA_TRY_LET(granted, grants_of(site, p.name, {}));
      if (!granted->empty())
        return error{errc::in_use,
                     "offering '" + o->name + "' is still used: the store of "
                       + granted->front().user + " has product '" + p.name
                       + "' (take it away first: 'mantissa user product "
                         "remove "
                       + granted->front().user + " " + p.name + "')"};
      MANTISSA_TRY(site.remove(product_type_name, p.id));
      out.products.push_back(p.name);
    }
    MANTISSA_TRY(remove_site_powerups(site, *o));
    MANTISSA_TRY(site.remove(installed_offering_type_name, rec->id));
    return out;
  });
}

store::result<void> record_grant(store::store& site,
                                 const actors::address& user,
                                 std::string_view product) {
  MANTISSA_TRY_LET(a, actors::normalize(user));
  auto address = actors::to_string(*a);
  MANTISSA_TRY_LET(existing, grants_of(site, product, address));
  if (!existing->empty())
    return {};
  product_grant_record g;
  g.user = std::move(address);
  g.product = std::string{product};
  MANTISSA_TRY(product_grant_item_type().insert(site, g));
  return {};
}

store::result<void> forget_grant(store::store& site,
                                 const actors::address& user,
                                 std::string_view product) {
  MANTISSA_TRY_LET(a, actors::normalize(user));
  MANTISSA_TRY_LET(existing, grants_of(site, product, actors::to_string(*a)));
  for (auto& g : *existing)
    MANTISSA_TRY(site.remove(product_grant_type_name, g.id));
  return {};
}

} // namespace mantissa::offerings
