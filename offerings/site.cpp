#include "offerings/site.hpp"

#include <map>
#include <optional>
#include <set>
#include <utility>

#include "offerings/internal/names.hpp"
#include "offerings/signup.hpp"

namespace mantissa::offerings {

namespace {

using nlohmann::json;
using store::errc;
using store::error;

std::string named(std::string_view text) {
  return "'" + std::string{text.substr(0, 128)} + "'";
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

store::query by(std::string_view attr, std::string_view value) {
  store::query q;
  q.where = store::cmp(std::string{attr}, store::compare_op::eq,
                       store::value{std::string{value}});
  return q;
}

/// Removes a store file and its WAL companions; used to undo a creation.
void remove_store_file(const std::filesystem::path& path) {
  std::error_code ec;
  for (auto suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path.string() + suffix, ec);
}

store::result<std::optional<product_installation_record>>
find_installation(store::store& user, std::string_view product) {
  MANTISSA_TRY_LET(found, product_installation_item_type().select(
                            user, by("product", product)));
  if (found->empty())
    return std::optional<product_installation_record>{};
  return std::optional<product_installation_record>{std::move(found->front())};
}

/// Creates one item (default values) per powerup and installs it on the
/// store under the powerup's interfaces.
store::result<void> create_powerups(store::store& s,
                                    const std::vector<app_powerup>& powerups) {
  for (auto& p : powerups) {
    auto* decl = s.registry().current(p.type);
    if (decl == nullptr)
      return error{errc::no_such_type, "type " + p.type + " is not registered"};
    auto it = store::make_item(*decl);
    MANTISSA_TRY_LET(id, s.insert(it));
    std::optional<std::vector<store::powerup_interface>> ifaces;
    if (!p.interfaces.empty())
      ifaces = p.interfaces;
    MANTISSA_TRY(s.install({p.type, *id}, 0, ifaces));
  }
  return {};
}

} // namespace

// -- record types
// -----------------------------------------------------------------

const store::item_type<installed_offering_record>&
installed_offering_item_type() {
  static const auto type
    = store::item_type<
        installed_offering_record>{std::string{installed_offering_type_name}, 1}
        .attribute("name", &installed_offering_record::name, {.indexed = true})
        .attribute("version", &installed_offering_record::version)
        .attribute("installed", &installed_offering_record::installed);
  return type;
}

const store::item_type<product_record>& product_item_type() {
  static const auto type
    = store::item_type<product_record>{std::string{product_type_name}, 1}
        .attribute("name", &product_record::name, {.indexed = true})
        .attribute("powerups", &product_record::powerups);
  return type;
}

const store::item_type<product_installation_record>&
product_installation_item_type() {
  static const auto type
    = store::item_type<
        product_installation_record>{std::string{
                                       product_installation_type_name},
                                     1}
        .attribute("product", &product_installation_record::product,
                   {.indexed = true})
        .attribute("powerups", &product_installation_record::powerups)
        .attribute("installed", &product_installation_record::installed);
  return type;
}

const store::item_type<product_grant_record>& product_grant_item_type() {
  static const auto type
    = store::item_type<product_grant_record>{std::string{
                                               product_grant_type_name},
                                             1}
        .attribute("user", &product_grant_record::user, {.indexed = true})
        .attribute("product", &product_grant_record::product,
                   {.indexed = true});
  return type;
}

store::result<void> register_site_types(store::type_registry& registry) {
  MANTISSA_TRY(registry.add(installed_offering_item_type().decl()));
  MANTISSA_TRY(registry.add(product_grant_item_type().decl()));
  MANTISSA_TRY(registry.add(product_item_type().decl()));
  MANTISSA_TRY(registry.add(product_installation_item_type().decl()));
  return register_signup_types(registry);
}

// -- offerings
// --------------------------------------------------------------------

store::result<installed_offering_record>
find_installed_offering(store::store& site, std::string_view name) {
  MANTISSA_TRY_LET(
    found, installed_offering_item_type().select(site, by("name", name)));
  if (found->empty())
    return error{errc::no_such_item,
                 "offering " + named(name) + " is not installed"};
  return std::move(found->front());
}

namespace {

/// The offering `name` of `offerings`, or `no_such_item` naming the known
/// ones.
store::result<const offering*> known_offering(const offering_registry& offerings,
                                              std::string_view name) {
  auto* o = offerings.find(name);
  if (o != nullptr)
    return o;
  std::vector<std::string> known;
  for (auto* k : offerings.all())
    known.push_back(k->name);
  return error{errc::no_such_item, "unknown offering " + named(name)
                                     + " (known: " + joined(known) + ")"};
}

/// Everything installing `o` needs in the site store, checked before
/// anything changes.
store::result<void> check_install(store::store& site,
                                  const offering_registry& offerings,
                                  const offering& o) {
  if (auto found = find_installed_offering(site, o.name); found)
    return error{errc::already_exists,
                 "offering " + named(o.name) + " is already installed "
                   + "(version " + found->version + "); nothing changed"};
  else if (found.code() != errc::no_such_item)
    return std::move(found).error_value();
  for (auto& p : o.products) {
    if (auto existing = find_product(site, p.name); existing)
      return error{errc::already_exists,
                   "offering " + named(o.name) + " ships product "
                     + named(p.name) + ", but a product of that name exists "
                     + "already; nothing changed"};
    else if (existing.code() != errc::no_such_item)
      return std::move(existing).error_value();
    for (auto& pw : p.powerups) {
      auto [owner, powerup] = offerings.find_powerup(pw);
      bool ok = owner != nullptr
                && (owner == &o
                    || find_installed_offering(site, owner->name).has_value());
      if (!ok)
        return error{errc::no_such_item,
                     "offering " + named(o.name) + ": product " + named(p.name)
                       + " lists powerup " + named(pw)
                       + ", which no installed offering provides"};
    }
  }
  for (auto& p : o.site_powerups)
    if (site.registry().current(p.type) == nullptr)
      return error{errc::no_such_type,
                   "offering " + named(o.name) + ": site powerup type "
                     + p.type + " is not registered with the site store"};
  return {};
}

/// The site store's part of installing `o` (checked): its account (with
/// `again`, the one of an earlier installation whose app store is still
/// there, else a new one), its site powerups, its record and its
/// products. Runs inside the caller's transaction.
store::result<actors::account> write_install(store::store& site,
                                             const offering& o, bool again) {
  actors::address addr{o.name, {}};
  auto acct = actors::find_account(site, addr);
  if (!again || (!acct && acct.code() == errc::no_such_item))
    acct = actors::add_account(site, addr, std::nullopt);
  if (!acct)
    return std::move(acct).error_value();
  if (auto made = create_powerups(site, o.site_powerups); !made)
    return error{made.code(), "offering " + named(o.name)
                                + ": cannot install its site powerups: "
                                + made.error_value().message};
  installed_offering_record rec;
  rec.name = o.name;
  rec.version = o.version;
  rec.installed = internal::now();
  MANTISSA_TRY(installed_offering_item_type().insert(site, rec));
  for (auto& p : o.products) {
    product_record pr;
    pr.name = p.name;
    pr.powerups = p.powerups;
    MANTISSA_TRY(product_item_type().insert(site, pr));
  }
  return acct;
}

} // namespace

store::result<installed_offering_record>
install_offering(store::store& site, const site_context& ctx,
                 std::string_view name) {
  MANTISSA_TRY_LET(o, known_offering(*ctx.offerings, name));
  MANTISSA_TRY(check_install(site, *ctx.offerings, **o));
  for (auto& p : (*o)->app_powerups)
    if (ctx.types->current(p.type) == nullptr)
      return error{errc::no_such_type, "offering " + named((*o)->name)
                                         + ": app powerup type " + p.type
                                         + " is not registered with the node"};
  actors::address addr{(*o)->name, {}};
  auto app_path = actors::store_path(ctx.data_dir, addr);
  std::error_code ec;
  // An app store left by an uninstall is used again, with its account.
  bool again = std::filesystem::exists(app_path, ec);

  bool created_file = false;
  auto r = site.transact([&]() -> store::result<installed_offering_record> {
    MANTISSA_TRY_LET(acct, write_install(site, **o, again));
    std::filesystem::create_directories(app_path.parent_path(), ec);
    auto app = store::store::open(app_path, *ctx.types);
    created_file = !again;
    if (!app)
      return error{app.code(), "cannot create the app store "
                                 + app_path.string() + ": "
                                 + app.error_value().message};
    auto& s = **app;
    auto filled = s.transact([&]() -> store::result<void> {
      MANTISSA_TRY(actors::write_account_copy(s, *acct));
      return prepare_app_store(s, **o);
    });
    if (!filled)
      return error{filled.code(), "offering " + named((*o)->name)
                                    + ": cannot set up its app store: "
                                    + filled.error_value().message};
    return find_installed_offering(site, (*o)->name);
  });
  if (!r && created_file)
    remove_store_file(app_path);
  return r;
}

store::result<installed_offering_record>
record_offering(store::store& site, const offering_registry& offerings,
                std::string_view name, bool again) {
  MANTISSA_TRY_LET(o, known_offering(offerings, name));
  MANTISSA_TRY(check_install(site, offerings, **o));
  return site.transact([&]() -> store::result<installed_offering_record> {
    MANTISSA_TRY(write_install(site, **o, again));
    return find_installed_offering(site, (*o)->name);
  });
}

store::result<void> prepare_app_store(store::store& app, const offering& o) {
  MANTISSA_TRY_LET(installed, app.installations(0));
  std::vector<app_powerup> missing;
  for (auto& p : o.app_powerups) {
    bool there = false;
    for (auto& i : *installed)
      there = there || i.powerup.type == p.type;
    if (!there)
      missing.push_back(p);
  }
  return create_powerups(app, missing);
}

std::map<std::string, offering_status>
known_offerings(const offering_registry& offerings) {
  std::map<std::string, offering_status> out;
  for (auto* o : offerings.all()) {
    auto& st = out[o->name];
    st.name = o->name;
    st.description = o->description;
    st.version = o->version;
    st.known = true;
  }
  return out;
}

store::result<std::vector<offering_status>>
list_offerings(store::store& site, const offering_registry& offerings) {
  return list_offerings(site, known_offerings(offerings));
}

store::result<std::vector<offering_status>>
list_offerings(store::store& site, std::map<std::string, offering_status> out) {
  MANTISSA_TRY_LET(installed, installed_offering_item_type().select(site));
  for (auto& rec : *installed) {
    auto& st = out[rec.name];
    st.name = rec.name;
    if (st.version.empty())
      st.version = rec.version;
    st.installed = true;
    st.installed_version = rec.version;
  }
  std::vector<offering_status> list;
  list.reserve(out.size());
  for (auto& [name, st] : out)
    list.push_back(std::move(st));
  return list;
}

// -- products
// ---------------------------------------------------------------------

store::result<product_record> find_product(store::store& site,
                                           std::string_view name) {
  MANTISSA_TRY_LET(found, product_item_type().select(site, by("name", name)));
  if (found->empty())
    return error{errc::no_such_item, "no product named " + named(name)};
  return std::move(found->front());
}

store::result<product_record>
create_product(store::store& site, const offering_registry& offerings,
               std::string_view name,
               const std::vector<std::string>& powerups) {
  if (!internal::valid_simple_name(name))
    return error{errc::invalid_name,
                 "product name " + named(name)
                   + " is not [a-z][a-z0-9_-]* (at most 64 bytes)"};
  if (powerups.empty())
    return error{errc::invalid_value,
                 "product " + named(name) + " needs at least one powerup"};
  std::set<std::string_view> seen;
  for (auto& pw : powerups) {
    if (!seen.insert(pw).second)
      return error{errc::invalid_value, "product " + named(name)
                                          + " lists powerup " + named(pw)
                                          + " twice"};
    auto [owner, powerup] = offerings.find_powerup(pw);
    if (owner == nullptr) {
      std::vector<std::string> available;
      for (auto* o : offerings.all())
        if (find_installed_offering(site, o->name))
          for (auto& p : o->installable_powerups)
            available.push_back(p.name);
      return error{errc::no_such_item,
                   "unknown powerup " + named(pw)
                     + ": no installed offering provides it (available: "
                     + joined(available) + ")"};
    }
    auto installed = find_installed_offering(site, owner->name);
    if (!installed) {
      if (installed.code() != errc::no_such_item)
        return std::move(installed).error_value();
      return error{errc::no_such_item,
                   "powerup " + named(pw) + " belongs to offering "
                     + named(owner->name) + ", which is not installed "
                     + "(install it with 'mantissa offering install "
                     + owner->name + "')"};
    }
  }
  return site.transact([&]() -> store::result<product_record> {
    if (auto existing = find_product(site, name); existing)
      return error{errc::already_exists,
                   "a product named " + named(name) + " exists already"};
    else if (existing.code() != errc::no_such_item)
      return std::move(existing).error_value();
    product_record pr;
    pr.name = std::string{name};
    pr.powerups = powerups;
    MANTISSA_TRY(product_item_type().insert(site, pr));
    return pr;
  });
}

store::result<std::vector<product_record>> list_products(store::store& site) {
  store::query q;
  q.sort = {{"name", false}};
  return product_item_type().select(site, q);
}

// -- products in user stores
// ------------------------------------------------------

store::result<product_installation_record>
install_product(store::store& user, const offering_registry& offerings,
                const product_record& product) {
  return user.transact([&]() -> store::result<product_installation_record> {
    MANTISSA_TRY_LET(existing, find_installation(user, product.name));
    if (*existing)
      return error{errc::already_exists,
                   "the store already has product " + named(product.name)};
    MANTISSA_TRY_LET(others, list_installed_products(user));
    product_installation_record rec;
    rec.product = product.name;
    rec.installed = internal::now();
    if (!product.powerups.is_array())
      return error{errc::invalid_value,
                   "product " + named(product.name) + " has no powerup list"};
    for (auto& pw_json : product.powerups) {
      if (!pw_json.is_string())
        return error{errc::invalid_value, "product " + named(product.name)
                                            + " lists a powerup that is not "
                                              "a name"};
      auto pw = pw_json.get<std::string>();
      auto [owner, powerup] = offerings.find_powerup(pw);
      if (owner == nullptr)
        return error{errc::no_such_item,
                     "product " + named(product.name) + ": unknown powerup "
                       + named(pw) + " (is its offering's plugin loaded?)"};
      auto* decl = user.registry().current(powerup->type);
      if (decl == nullptr)
        return error{errc::no_such_type, "powerup " + named(pw) + ": type "
                                           + powerup->type
                                           + " is not registered"};
      // Shared with another product that has the same powerup?
      std::optional<store::item_id> shared;
      for (auto& other : *others)
        for (auto& e : other.powerups)
          if (e.value("name", "") == pw && e.value("type", "") == powerup->type)
            shared = e.value("id", store::item_id{0});
      if (shared && *shared > 0) {
        rec.powerups.push_back({{"name", pw},
                                {"type", powerup->type},
                                {"id", *shared},
                                {"created", false}});
        continue;
      }
      auto it = store::make_item(*decl);
      MANTISSA_TRY_LET(id, user.insert(it));
      std::optional<std::vector<store::powerup_interface>> ifaces;
      if (!powerup->interfaces.empty())
        ifaces = powerup->interfaces;
      if (auto r = user.install({powerup->type, *id}, 0, ifaces); !r)
        return error{r.code(), "cannot install powerup " + named(pw) + ": "
                                 + r.error_value().message};
      rec.powerups.push_back({{"name", pw},
                              {"type", powerup->type},
                              {"id", *id},
                              {"created", true}});
    }
    MANTISSA_TRY(product_installation_item_type().insert(user, rec));
    return rec;
  });
}

store::result<void> uninstall_product(store::store& user,
                                      std::string_view product) {
  return user.transact([&]() -> store::result<void> {
    MANTISSA_TRY_LET(found, find_installation(user, product));
    if (!*found)
      return error{errc::no_such_item,
                   "the store does not have product " + named(product)};
    auto rec = std::move(**found);
    MANTISSA_TRY_LET(all, list_installed_products(user));
    std::vector<product_installation_record> others;
    for (auto& o : *all)
      if (o.id != rec.id)
        others.push_back(std::move(o));

    struct removal {
      std::string name;
      store::item_ref ref;
      bool owned;
    };
    std::vector<removal> pending;
    for (auto& e : rec.powerups) {
      store::item_ref ref{e.value("type", ""),
                          e.value("id", store::item_id{0})};
      bool owned = e.value("created", false);
      // Still used by another product: keep it, and hand ownership over.
      product_installation_record* user_of = nullptr;
      for (auto& o : others)
        for (auto& oe : o.powerups)
          if (oe.value("id", store::item_id{0}) == ref.id && user_of == nullptr)
            user_of = &o;
      if (user_of != nullptr) {
        if (owned) {
          for (auto& oe : user_of->powerups)
            if (oe.value("id", store::item_id{0}) == ref.id)
              oe["created"] = true;
          MANTISSA_TRY(product_installation_item_type().update(user, *user_of));
        }
        continue;
      }
      pending.push_back({e.value("name", ""), std::move(ref), owned});
    }

    // Uninstall in an order that respects dependencies among them.
    MANTISSA_TRY_LET(installed, user.installations(0));
    auto is_installed = [&](const store::item_ref& ref) {
      for (auto& i : *installed)
        if (i.powerup == ref && i.explicit_install)
          return true;
      return false;
    };
    std::vector<removal> left;
    for (auto& p : pending)
      if (is_installed(p.ref))
        left.push_back(p);
    while (!left.empty()) {
      std::vector<removal> blocked;
      std::optional<error> last;
      for (auto& p : left) {
        auto r = user.uninstall(p.ref);
        if (r)
          continue;
        if (r.code() != errc::in_use)
          return std::move(r).error_value();
        last = std::move(r).error_value();
        blocked.push_back(p);
      }
      if (blocked.size() == left.size())
        return error{errc::in_use, "cannot remove product " + named(product)
                                     + ": powerup " + named(blocked[0].name)
                                     + " is still needed (" + last->message
                                     + ")"};
      left = std::move(blocked);
    }
    for (auto& p : pending) {
      if (!p.owned)
        continue;
      auto r = user.remove(p.ref.type, p.ref.id);
      if (!r && r.code() != errc::no_such_item)
        return std::move(r).error_value();
    }
    return user.remove(product_installation_type_name, rec.id);
  });
}

store::result<std::vector<product_installation_record>>
list_installed_products(store::store& user) {
  store::query q;
  q.sort = {{"product", false}};
  return product_installation_item_type().select(user, q);
}

namespace {

/// Opens the user store of `addr`. A missing file is created with the
/// account's copy when `create`, else it is `no_such_item`.
store::result<std::unique_ptr<store::store>>
open_user_store(store::store& site, const site_context& ctx,
                const actors::address& addr, bool create) {
  MANTISSA_TRY_LET(a, actors::normalize(addr));
  if (a->is_offering())
    return error{errc::invalid_value, "products are for users; "
                                        + named(a->localpart)
                                        + " is an offering"};
  MANTISSA_TRY_LET(acct, actors::find_account(site, *a));
  auto path = actors::store_path(ctx.data_dir, *a);
  std::error_code ec;
  bool existed = std::filesystem::exists(path, ec);
  if (!existed && !create)
    return error{errc::no_such_item,
                 actors::to_string(*a) + " has no store yet"};
  std::filesystem::create_directories(path.parent_path(), ec);
  auto s = store::store::open(path, *ctx.types);
  if (!s)
    return error{s.code(), "cannot open the store of " + actors::to_string(*a)
                             + ": " + s.error_value().message};
  if (!existed)
    MANTISSA_TRY(actors::write_account_copy(**s, *acct));
  return s;
}

} // namespace

store::result<product_installation_record>
add_product_to_user(store::store& site, const site_context& ctx,
                    const actors::address& user, std::string_view product) {
  MANTISSA_TRY_LET(pr, find_product(site, product));
  MANTISSA_TRY_LET(s, open_user_store(site, ctx, user, true));
  auto r = install_product(**s, *ctx.offerings, *pr);
  if (!r && r.code() == errc::already_exists)
    return error{errc::already_exists, actors::to_string(user)
                                         + " already has product "
                                         + named(product)};
  if (r)
    MANTISSA_TRY(record_grant(site, user, product));
  return r;
}

store::result<void> remove_product_from_user(store::store& site,
                                             const site_context& ctx,
                                             const actors::address& user,
                                             std::string_view product) {
  MANTISSA_TRY_LET(s, open_user_store(site, ctx, user, false));
  auto r = uninstall_product(**s, product);
  if (!r && r.code() == errc::no_such_item)
    return error{errc::no_such_item, actors::to_string(user)
                                       + " does not have product "
                                       + named(product)};
  if (r)
    MANTISSA_TRY(forget_grant(site, user, product));
  return r;
}

} // namespace mantissa::offerings
