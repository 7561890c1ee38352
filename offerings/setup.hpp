#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "actors/node.hpp"
#include "offerings/offering.hpp"
#include "store/error.hpp"

/// Putting offerings to work: the built-ins, plugins named in the site's
/// configuration, and registering all of them with a node.
namespace mantissa::offerings {

/// The site setting that lists plugins to load: comma-separated paths of
/// shared libraries (white space around each path is ignored).
inline constexpr std::string_view plugins_setting = "offerings.plugins";

/// Adds the built-in offerings (`notes`, `mail`) to `registry`.
[[nodiscard]] store::result<void>
add_builtin_offerings(offering_registry& registry);

/// Loads every plugin of a comma-separated list (the value of
/// `plugins_setting`). Stops at the first failure and returns its error;
/// the plugins loaded before it stay registered. Returns the names of the
/// offerings loaded.
[[nodiscard]] store::result<std::vector<std::string>>
load_plugins(offering_registry& registry, std::string_view paths);

/// Registers the site record types (see offerings/site.hpp) and every
/// offering's item types and handlers of `registry` into `types` and
/// `handlers`.
[[nodiscard]] store::result<void>
register_offerings(const offering_registry& registry,
                   store::type_registry& types,
                   actors::handler_registry& handlers);

/// The site store's handler that answers what the landing page shows:
/// `{}` -> `{"name": the setting site.name, else site.domain, else
/// "Mantissa"; "offerings": [{"name","description"}]}` for the installed
/// offerings, sorted by name (the description of the known offering, else
/// ""). Owner-only like every handler: the HTTP front end runs it as the
/// system for the public `GET /api/site` (docs/http-api.md).
inline constexpr std::string_view site_info_handler = "mantissa.site_info";

/// `register_offerings` into a node that has not started yet, plus the
/// site store's handlers `mantissa.list_offerings` (the known and installed
/// offerings and the products, for the admins; docs/http-api.md) and
/// `site_info_handler`.
[[nodiscard]] store::result<void>
register_offerings(const offering_registry& registry, actors::node& n);

/// Registers the built-in offerings with a node that has not started yet:
/// what a node without plugins needs.
[[nodiscard]] store::result<void> register_builtin_offerings(actors::node& n);

} // namespace mantissa::offerings
