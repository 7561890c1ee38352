#include "offerings/setup.hpp"

#include <map>
#include <utility>

#include "actors/accounts.hpp"
#include "actors/site_config.hpp"
#include "offerings/mail.hpp"
#include "offerings/notes.hpp"
#include "offerings/online.hpp"
#include "offerings/signup_handlers.hpp"
#include "offerings/site.hpp"

namespace mantissa::offerings {

store::result<void> add_builtin_offerings(offering_registry& registry) {
  MANTISSA_TRY(registry.add(notes::make_offering()));
  MANTISSA_TRY(registry.add(mail::make_offering()));
  return {};
}

store::result<std::vector<std::string>>
load_plugins(offering_registry& registry, std::string_view paths) {
  std::vector<std::string> loaded;
  while (!paths.empty()) {
    auto comma = paths.find(',');
    auto part = paths.substr(0, comma);
    paths = comma == std::string_view::npos ? std::string_view{}
                                            : paths.substr(comma + 1);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t'))
      part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t'))
      part.remove_suffix(1);
    if (part.empty())
      continue;
    MANTISSA_TRY_LET(
      name, registry.load_plugin(std::filesystem::path{std::string{part}}));
    loaded.push_back(std::move(*name));
  }
  return loaded;
}

store::result<void> register_offerings(const offering_registry& registry,
                                       store::type_registry& types,
                                       actors::handler_registry& handlers) {
  if (types.current(installed_offering_type_name) == nullptr)
    MANTISSA_TRY(register_site_types(types));
  MANTISSA_TRY(registry.register_types(types));
  MANTISSA_TRY(registry.register_handlers(handlers));
  // The built-in mail offering also takes deliveries with the message's
  // bytes beside the arguments (the SMTP front end's way).
  if (registry.find("mail") != nullptr
      && handlers.find_payload(mail::deliver_handler) == nullptr)
    MANTISSA_TRY(handlers.add_payload(std::string{mail::deliver_handler},
                                      mail::deliver_payload));
  return {};
}

namespace {

/// `mantissa.list_offerings` (site store, owner-only like every handler:
/// `system` and the site's admins): `{}` -> `{"offerings":[{"name",
/// "description","version","known","installed","installed_version"}],
/// "products":[{"name","powerups":[...]}]}`, both sorted by name. The
/// known offerings are a copy taken now: the registry may not outlive the
/// registration, and it does not change once the node runs.
store::result<void> add_list_offerings(const offering_registry& registry,
                                       actors::node& n) {
  if (n.handlers().find("mantissa.list_offerings") != nullptr)
    return {};
  auto known = known_offerings(registry);
  auto site = actors::site_path(n.options().data_dir);
  return n.handlers().add(
    "mantissa.list_offerings",
    [site, known = std::move(known)](
      store::store& s, const nlohmann::json&,
      const actors::caller&) -> store::result<nlohmann::json> {
      if (s.path() != site)
        return store::error{store::errc::forbidden,
                            "mantissa.list_offerings runs in the site store "
                            "only"};
      MANTISSA_TRY_LET(all, list_offerings(s, known));
      MANTISSA_TRY_LET(products, list_products(s));
      nlohmann::json out{{"offerings", nlohmann::json::array()},
                         {"products", nlohmann::json::array()}};
      for (auto& st : *all)
        out["offerings"].push_back(
          {{"name", st.name},
           {"description", st.description},
           {"version", st.version},
           {"known", st.known},
           {"installed", st.installed},
           {"installed_version", st.installed_version}});
      for (auto& p : *products)
        out["products"].push_back({{"name", p.name}, {"powerups", p.powerups}});
      return out;
    });
}

/// The site's name for people: the settings site.name, then site.domain.
std::string site_name(store::store& site) {
  for (auto* key : {"site.name", "site.domain"})
    if (auto st = actors::get_setting(site, key); st && !st->value.empty())
      return st->value;
  return "Mantissa";
}

/// `site_info_handler` (setup.hpp).
store::result<void> add_site_info(const offering_registry& registry,
                                  actors::node& n) {
  std::string name{site_info_handler};
  if (n.handlers().find(name) != nullptr)
    return {};
  auto site = actors::site_path(n.options().data_dir);
  return n.handlers().add(
    name, [site, known = known_offerings(registry)](
            store::store& s, const nlohmann::json&,
            const actors::caller&) -> store::result<nlohmann::json> {
      if (s.path() != site)
        return store::error{store::errc::forbidden,
                            "mantissa.site_info runs in the site store only"};
      MANTISSA_TRY_LET(all, list_offerings(s, known));
      nlohmann::json out{{"name", site_name(s)},
                         {"offerings", nlohmann::json::array()}};
      for (auto& st : *all)
        if (st.installed)
          out["offerings"].push_back(
            {{"name", st.name}, {"description", st.description}});
      return out;
    });
}

} // namespace

store::result<void> register_offerings(const offering_registry& registry,
                                       actors::node& n) {
  MANTISSA_TRY(register_offerings(registry, n.types(), n.handlers()));
  MANTISSA_TRY(
    register_admin_handlers(registry, n.handlers(), n.options().data_dir));
  // The port's administrative operations (`mantissa ... --connect`).
  n.set_admin_operations([node = &n](const actors::caller& who,
                                     const std::string& op,
                                     const std::string& args,
                                     actors::reply_handler done) {
    auto j = nlohmann::json::parse(args, nullptr, false);
    run_admin(access_of(*node), who, op,
              j.is_discarded() ? nlohmann::json{} : j, std::move(done));
  });
  MANTISSA_TRY(register_signup_handlers(n.handlers(), n.options().data_dir));
  MANTISSA_TRY(add_list_offerings(registry, n));
  return add_site_info(registry, n);
}

store::result<void> register_builtin_offerings(actors::node& n) {
  // The handlers of online administration keep the registry: one for the
  // life of the process.
  static offering_registry registry;
  static const store::result<void> added = add_builtin_offerings(registry);
  if (!added)
    return added;
  return register_offerings(registry, n);
}

} // namespace mantissa::offerings
