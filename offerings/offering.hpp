#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/handler_types.hpp"
#include "store/error.hpp"
#include "store/registry.hpp"
#include "store/type.hpp"

namespace mantissa::actors {
class handler_registry; // actors/handlers.hpp
} // namespace mantissa::actors

/// The public API of offerings: installable applications that plug item
/// types, powerups, store handlers, HTTP routes and mail delivery into a
/// node. Built-in offerings and plugins (shared libraries loaded with
/// `dlopen`) describe themselves with the same `offering` struct; see
/// docs/offerings.md for a tutorial.
namespace mantissa::offerings {

/// Version of this API. A plugin reports the version it was compiled
/// against (`mantissa_offering_api_version`); a node loads only plugins
/// whose version equals its own. Bumped whenever `offering` or a type it
/// exposes (store, handler and route types) changes in a way that breaks a
/// compiled plugin.
inline constexpr int api_version = 2;

/// A powerup created in the offering's app store when the offering is
/// installed: one item of `type` with default values, installed on the
/// store under `interfaces` (empty: the type's declared
/// `powerup_interfaces`).
struct app_powerup {
  std::string type;
  std::vector<store::powerup_interface> interfaces;
};

/// A powerup users can have installed through a product: one item of
/// `type` (default values) installed on the user store under `interfaces`
/// (empty: the type's declared `powerup_interfaces`). `name` is what
/// products list; it is unique among every offering a node knows and
/// matches `[a-z][a-z0-9_-]*` (at most 64 bytes).
struct installable_powerup {
  std::string name;
  std::string description;
  std::string type;
  std::vector<store::powerup_interface> interfaces;
};

/// The interfaces through which an item of `type` can be shared with a
/// role (M5 enforces them inside the store actor). Every shareable type
/// offers at least `read`, `write` and `delete`; an offering may add its
/// own.
struct share_interfaces {
  std::string type;
  std::vector<std::string> interfaces;
};

/// A store handler an offering provides, run inside a store actor on its
/// store (see `actors::store_handler`). `name` is `<offering>.<operation>`
/// by convention and unique among every offering a node knows.
struct named_handler {
  std::string name;
  actors::store_handler handler;
};

/// A reliable-message type an offering receives and/or sends (see
/// `actors::message_type`, docs/interstore.md). `type` is
/// `<offering>.<message>` by convention and unique on a node.
struct named_message_type {
  std::string type;
  actors::message_type handling;
};

/// A request to an offering's HTTP route as the front end (M6) hands it
/// over: plain data, no HTTP library types.
struct route_request {
  std::string method;                        ///< upper case, e.g. "GET"
  std::map<std::string, std::string> params; ///< `{name}` parts of the path
  std::string query;                         ///< raw query string, no '?'
  nlohmann::json body;                       ///< parsed JSON body, or null
  std::string role;                          ///< the caller's role
};

/// What a route answers: an HTTP status and a JSON body.
struct route_response {
  int status = 200;
  nlohmann::json body;
};

/// An HTTP route: `method` and a path pattern such as `/notes/{id}`
/// (`{name}` matches one non-empty path segment and lands in
/// `route_request::params`). The handler must not block and may be called
/// from any front-end thread at once; it must be safe to call concurrently.
struct route {
  std::string method;
  std::string pattern;
  std::function<route_response(const route_request&)> handler;
};

/// Renders one item as an HTML fragment for the websharing pages of the
/// HTTP front end (`/users/{localpart}/{share_id}`). `item` is the item's
/// JSON (`id`, `type` and its attributes). The fragment goes inside the
/// page's `<main>`; **every value taken from the item must go through
/// `html_escape`**. Pages are served with a Content-Security-Policy that
/// allows no scripts, so a view is markup and inline style only. Must not
/// block and must be safe to call from several threads at once; an
/// exception falls back to the generic view.
using html_view = std::function<std::string(const nlohmann::json& item)>;

/// Escapes `text` for HTML element content and quoted attribute values
/// (`&`, `<`, `>`, `"`, `'`).
[[nodiscard]] inline std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// A product an offering ships: created in the site store when the
/// offering is installed. `powerups` are installable powerup names (of
/// this or another installed offering).
struct product_decl {
  std::string name;
  std::vector<std::string> powerups;
};

/// Registers an offering's item types — the current declarations plus any
/// legacy versions and upgraders — into a node's type registry.
using type_registrar
  = std::function<store::result<void>(store::type_registry&)>;

/// An installable application. Every type named by a powerup, a share or
/// the delivery powerup must be registered by `register_types`.
struct offering {
  /// The offering's name; also the address of its app store
  /// (`apps/<name>.sqlite`). Validated like an offering address
  /// (`actors::parse_address` without domain) and lower case; `site` is
  /// reserved for the site store.
  std::string name;
  std::string description;
  /// Free-form version of the offering itself (not the API version).
  std::string version;
  /// Registers the offering's item types; may be empty when it has none.
  type_registrar register_types;
  /// Created and installed in the app store on install.
  std::vector<app_powerup> app_powerups;
  /// Site requirements: created and installed in the site store on
  /// install (e.g. a signup mechanism or a router the site needs).
  std::vector<app_powerup> site_powerups;
  /// Powerups that products can install into user stores.
  std::vector<installable_powerup> installable_powerups;
  /// Share interfaces per item type.
  std::vector<share_interfaces> shares;
  /// Store handlers (interstore and front-end operations), by name.
  std::vector<named_handler> handlers;
  /// Reliable-message types, registered with the handlers.
  std::vector<named_message_type> message_types;
  /// The type of the offering's mail-delivery powerup (installed under the
  /// `mail_delivery` interface), or empty when it receives no mail.
  std::string delivery_powerup_type;
  /// Directory of static files the HTTP front end serves for it, or empty.
  std::filesystem::path static_dir;
  /// HTTP routes, adapted by the front end.
  std::vector<route> routes;
  /// HTML views by item type, for websharing pages. A type without one is
  /// shown by the front end's generic view (its attributes, escaped).
  /// Every type named here must be registered by `register_types`.
  std::map<std::string, html_view> html_views;
  /// Products created when the offering is installed.
  std::vector<product_decl> products;
};

/// The interface a mail-delivery powerup is installed under.
inline constexpr std::string_view mail_delivery_interface = "mail_delivery";

/// First path segments the HTTP front end keeps for itself (docs/web.md):
/// an offering's name is also a URL, `/{offering}/{share_id}` (websharing
/// of its app store), so no offering may take one of these. `notes` and
/// `mail` are the built-in offerings' own names (their pages live there);
/// every process registers the built-ins first, so another offering of
/// those names is refused as `already_exists`.
inline constexpr std::string_view reserved_path_segments[]
  = {"api",    "apps", "admin", "assets",  "static", "users",
     "signup", "mail", "notes", "healthz", "metrics"};

/// Whether `name` is one of `reserved_path_segments`.
[[nodiscard]] bool is_reserved_path_segment(std::string_view name) noexcept;

/// Checks an offering on its own: its name (not a reserved path segment,
/// unless it is a built-in offering's), powerup and product names, and that
/// every type it names is registered by `register_types` (checked on a
/// scratch registry). `invalid_name` or `invalid_value` naming the problem
/// otherwise.
[[nodiscard]] store::result<void> validate(const offering& o);

/// Every offering a process knows: the built-ins (added at start-up) and
/// plugins loaded from shared libraries.
///
/// Thread rule: filled by one thread before the node starts, then only
/// read. A loaded plugin stays loaded for the life of the process (its
/// code backs the registered handlers).
class offering_registry {
 public:
  offering_registry();
  ~offering_registry();
  offering_registry(const offering_registry&) = delete;
  offering_registry& operator=(const offering_registry&) = delete;

  /// Adds a copy of `o` after `validate`. A name, installable powerup
  /// name, handler name or product name already used by a known offering
  /// is `already_exists`; on any error nothing is added.
  [[nodiscard]] store::result<void> add(const offering& o);

  /// Loads the plugin at `path` (`dlopen`) and adds its offering. The
  /// library must export `extern "C" int mantissa_offering_api_version()`
  /// returning `api_version`, and `extern "C" const offering*
  /// mantissa_offering()` (see `MANTISSA_EXPORT_OFFERING`). A file that is
  /// not a loadable library, a missing symbol, another API version (the
  /// message names both versions and the file) or an offering `add`
  /// refuses is an error, and nothing of the plugin is registered. Returns
  /// the offering's name.
  [[nodiscard]] store::result<std::string>
  load_plugin(const std::filesystem::path& path);

  /// The offering named `name`, or nullptr.
  [[nodiscard]] const offering* find(std::string_view name) const;

  /// Every known offering, sorted by name.
  [[nodiscard]] std::vector<const offering*> all() const;

  /// The installable powerup called `name` and its offering; `{nullptr,
  /// nullptr}` when no known offering has it.
  [[nodiscard]] std::pair<const offering*, const installable_powerup*>
  find_powerup(std::string_view name) const;

  /// The HTML view some known offering declares for items of `type`, or
  /// nullptr (the first offering by name wins when several do).
  [[nodiscard]] const html_view* find_html_view(std::string_view type) const;

  /// Registers every known offering's item types into `types`.
  [[nodiscard]] store::result<void>
  register_types(store::type_registry& types) const;

  /// Registers every known offering's handlers into `handlers`.
  [[nodiscard]] store::result<void>
  register_handlers(actors::handler_registry& handlers) const;

 private:
  struct plugin;
  std::map<std::string, offering, std::less<>> offerings_;
  std::vector<std::unique_ptr<plugin>> plugins_;
};

} // namespace mantissa::offerings

/// Defines the functions a plugin exports: the two required ones, plus
/// `mantissa_offering_size()` (the size of `offering` the plugin was
/// compiled with), which catches a plugin built against stale headers of
/// the same API version. `factory` is a function
/// returning an `offering` by value; it is called once, on first use, and
/// its result kept for the life of the process:
///
/// ```
/// mantissa::offerings::offering make_todo() { ... }
/// MANTISSA_EXPORT_OFFERING(make_todo)
/// ```
#define MANTISSA_EXPORT_OFFERING(factory)                                      \
  extern "C" __attribute__((visibility("default"))) int                        \
  mantissa_offering_api_version() {                                            \
    return ::mantissa::offerings::api_version;                                 \
  }                                                                            \
  extern "C" __attribute__((visibility("default"))) ::std::size_t              \
  mantissa_offering_size() {                                                   \
    return sizeof(::mantissa::offerings::offering);                            \
  }                                                                            \
  extern "C" __attribute__((visibility("default")))                            \
  const ::mantissa::offerings::offering*                                       \
  mantissa_offering() {                                                        \
    static const ::mantissa::offerings::offering the_offering = factory();     \
    return &the_offering;                                                      \
  }
