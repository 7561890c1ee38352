#include "offerings/setup.hpp"

#include "offerings/mail.hpp"
#include "offerings/notes.hpp"
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
    auto name = registry.load_plugin(std::filesystem::path{std::string{part}});
    if (!name)
      return std::move(name).error_value();
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
  return {};
}

store::result<void> register_offerings(const offering_registry& registry,
                                       actors::node& n) {
  return register_offerings(registry, n.types(), n.handlers());
}

store::result<void> register_builtin_offerings(actors::node& n) {
  offering_registry registry;
  MANTISSA_TRY(add_builtin_offerings(registry));
  return register_offerings(registry, n);
}

} // namespace mantissa::offerings
