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
inline constexpr int api_version = 3;

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
///
/// `interface` says who may run it: empty, only the store's owner (the
/// default); otherwise also a caller who names a share granting one of
/// its roles `interface` (`POST /api/stores/{address}/handlers/{name}
/// ?share=ID`, a route's `share`, or the port message with a share id).
/// The store then sets the argument `shared` to `{"share_id","type","id",
/// "interfaces"}`, the shared item: a handler run through a share acts on
/// that item only (docs/offerings.md, "Who may run a handler"). Anyone
/// else is answered as if the handler did not exist.
struct named_handler {
  std::string name;
  actors::store_handler handler;
  std::string interface{};
};

/// A reliable-message type an offering receives and/or sends (see
/// `actors::message_type`, docs/interstore.md). `type` is
/// `<offering>.<message>` by convention and unique on a node.
struct named_message_type {
  std::string type;
  actors::message_type handling;
};

/// The store a route's handler runs in.
enum class route_store {
  /// The caller's own store (a session is needed: 401 otherwise).
  caller,
  /// The user store whose address is the path parameter `route::store`.
  param,
  /// The offering's app store.
  app,
};

/// An HTTP route, served under `/apps/{offering}{pattern}` by the front
/// end: `method` (GET, POST, PUT, PATCH or DELETE) and a path `pattern`
/// such as `/` or `/tasks/{id}` (`{name}` matches one non-empty path
/// segment; literal segments are `[A-Za-z0-9._~-]+`). The front end runs
/// `handler` (a handler of this offering) in the store `where` names,
/// with the caller's role from the session, and the store actor decides
/// access as for every handler (`named_handler::interface`). Its
/// arguments are `{"params":{name:value},"query":{name:value},"body":
/// JSON body or null}` (plus `shared`, set by the store). A JSON route
/// answers the handler's value; an HTML route (`html`) answers the
/// handler's value, a JSON string, as the page: **every value in it must
/// go through `html_escape`**; it is served with the built-in pages'
/// Content-Security-Policy (no inline scripts). docs/offerings.md,
/// "Routes".
struct route {
  std::string method;
  std::string pattern;
  std::string handler;
  route_store where = route_store::caller;
  /// For `route_store::param`: the path parameter holding the address.
  std::string store{};
  /// The share the handler runs through: `{param}` takes it from the
  /// path, anything else is a fixed share id; empty: none (owner only).
  std::string share{};
  bool html = false;
};

/// A route's arguments (`{"params","query","body"}`) flattened into one
/// object for a handler that takes plain arguments: the members of the
/// body (when an object), then of the query, then the path parameters,
/// a later one replacing an earlier one of the same name; a query or path
/// value that is a decimal integer (at most 18 digits) becomes a number,
/// `true` and `false` become booleans. `shared`, set by the store, stays.
/// An object with none of `params`, `query` and `body` is plain arguments
/// already (the handler was run directly) and is returned as it is; null
/// becomes `{}`.
[[nodiscard]] inline nlohmann::json flat_route_args(const nlohmann::json& a) {
  auto out = nlohmann::json::object();
  if (!a.is_object())
    return a.is_null() ? out : a;
  if (!a.contains("params") && !a.contains("query") && !a.contains("body"))
    return a;
  auto typed = [](const std::string& v) -> nlohmann::json {
    if (v == "true" || v == "false")
      return v == "true";
    auto digits = v.substr(!v.empty() && v[0] == '-' ? 1 : 0);
    if (!digits.empty() && digits.size() <= 18
        && digits.find_first_not_of("0123456789") == std::string::npos)
      return std::stoll(v);
    return v;
  };
  if (auto b = a.find("body"); b != a.end() && b->is_object())
    out.update(*b);
  for (const char* part : {"query", "params"})
    if (auto p = a.find(part); p != a.end() && p->is_object())
      for (auto& [k, v] : p->items())
        out[k] = v.is_string() ? typed(v.get<std::string>()) : v;
  if (auto sh = a.find("shared"); sh != a.end())
    out["shared"] = *sh;
  return out;
}

/// Whether `r` is an offering's page: `GET /` answering HTML (the landing
/// page links to `/apps/{name}/` for such an offering).
[[nodiscard]] inline bool is_page_route(const route& r) {
  return r.method == "GET" && r.pattern == "/" && r.html;
}

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
  /// HTTP routes, served by the front end under `/apps/{name}/`.
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

  /// The URL of the page of offering `name` (`/apps/{name}/`) when it
  /// declares one (`is_page_route`), else "".
  [[nodiscard]] std::string page_of(std::string_view name) const;

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
