#include "offerings/offering.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include <dlfcn.h>

#include "actors/accounts.hpp"
#include "actors/handlers.hpp"
#include "offerings/internal/names.hpp"

namespace mantissa::offerings {

namespace {

using store::errc;
using store::error;

error invalid(const offering& o, const std::string& what) {
  return {errc::invalid_value,
          "offering '" + o.name.substr(0, 64) + "': " + what};
}

using internal::valid_simple_name;

} // namespace

bool is_reserved_path_segment(std::string_view name) noexcept {
  return std::find(std::begin(reserved_path_segments),
                   std::end(reserved_path_segments), name)
         != std::end(reserved_path_segments);
}

store::result<void> validate(const offering& o) {
  auto addr = actors::parse_address(o.name);
  if (!addr)
    return error{errc::invalid_name,
                 "offering name: " + addr.error_value().message};
  if (!addr->is_offering() || addr->localpart != o.name)
    return error{errc::invalid_name,
                 "offering name '" + o.name.substr(0, 64)
                   + "' must be a lower-case name without '@'"};
  // The node addresses the site store as "site" (actors/internal/manager).
  if (o.name == "site")
    return error{errc::invalid_name,
                 "offering name 'site' is reserved for the site store"};
  // "notes" and "mail" are reserved for the built-ins, which take them
  // (offering.hpp); the other reserved segments are the front end's.
  if (is_reserved_path_segment(o.name) && o.name != "notes"
      && o.name != "mail")
    return error{errc::invalid_name,
                 "offering name '" + o.name
                   + "' is reserved: /" + o.name
                   + "/ is a path of the web front end"};
  store::type_registry scratch;
  if (o.register_types)
    if (auto r = o.register_types(scratch); !r)
      return invalid(o, "registering its types failed: "
                          + r.error_value().message);
  auto need_type = [&](const std::string& type,
                       const std::string& what) -> store::result<void> {
    if (scratch.current(type) == nullptr)
      return invalid(o, what + " names type '" + type.substr(0, 128)
                          + "', which the offering does not register");
    return {};
  };
  for (auto& p : o.app_powerups)
    MANTISSA_TRY(need_type(p.type, "an app powerup"));
  for (auto& p : o.site_powerups)
    MANTISSA_TRY(need_type(p.type, "a site powerup"));
  std::set<std::string_view> names;
  for (auto& p : o.installable_powerups) {
    if (!valid_simple_name(p.name))
      return invalid(o, "installable powerup name '" + p.name.substr(0, 64)
                          + "' is not [a-z][a-z0-9_-]* (at most 64 bytes)");
    if (!names.insert(p.name).second)
      return invalid(o,
                     "installable powerup '" + p.name + "' is declared twice");
    MANTISSA_TRY(need_type(p.type, "installable powerup '" + p.name + "'"));
    auto* decl = scratch.current(p.type);
    if (p.interfaces.empty() && decl->powerup_interfaces.empty())
      return invalid(o, "installable powerup '" + p.name
                          + "' names no interface and its type declares none");
  }
  for (auto& s : o.shares) {
    MANTISSA_TRY(need_type(s.type, "a share declaration"));
    for (auto& i : s.interfaces)
      if (auto r = store::validate_attribute_name(i); !r)
        return invalid(o, "share interface of " + s.type + ": "
                            + r.error_value().message);
  }
  if (!o.delivery_powerup_type.empty())
    MANTISSA_TRY(need_type(o.delivery_powerup_type, "the delivery powerup"));
  std::set<std::string_view> handler_names;
  for (auto& h : o.handlers) {
    if (h.name.empty() || h.name.size() > 128)
      return invalid(o, "a handler name is empty or longer than 128 bytes");
    if (!h.handler)
      return invalid(o, "handler '" + h.name + "' has no function");
    if (!handler_names.insert(h.name).second)
      return invalid(o, "handler '" + h.name + "' is declared twice");
  }
  for (auto& r : o.routes) {
    if (r.method.empty() || r.pattern.empty() || r.pattern[0] != '/')
      return invalid(o,
                     "a route needs a method and a pattern starting with '/'");
    if (!r.handler)
      return invalid(o,
                     "route " + r.method + " " + r.pattern + " has no handler");
  }
  for (auto& [type, view] : o.html_views) {
    MANTISSA_TRY(need_type(type, "an HTML view"));
    if (!view)
      return invalid(o, "the HTML view of " + type + " has no function");
  }
  std::set<std::string_view> product_names;
  for (auto& p : o.products) {
    if (!valid_simple_name(p.name))
      return invalid(o, "product name '" + p.name.substr(0, 64)
                          + "' is not [a-z][a-z0-9_-]* (at most 64 bytes)");
    if (!product_names.insert(p.name).second)
      return invalid(o, "product '" + p.name + "' is declared twice");
    if (p.powerups.empty())
      return invalid(o, "product '" + p.name + "' lists no powerups");
  }
  return {};
}

// -- the registry
// ---------------------------------------------------------------

struct offering_registry::plugin {
  std::filesystem::path path;
  void* handle = nullptr;
};

offering_registry::offering_registry() = default;

// Plugins are never unloaded: copies of their offerings (and the handlers
// registered from them) point into their code.
offering_registry::~offering_registry() = default;

store::result<void> offering_registry::add(const offering& o) {
  MANTISSA_TRY(validate(o));
  if (offerings_.count(o.name) != 0)
    return error{errc::already_exists,
                 "an offering named '" + o.name + "' is already registered"};
  for (auto& [name, other] : offerings_) {
    for (auto& p : o.installable_powerups)
      for (auto& q : other.installable_powerups)
        if (p.name == q.name)
          return error{errc::already_exists,
                       "offering '" + o.name + "': installable powerup '"
                         + p.name + "' is already offered by '" + name + "'"};
    for (auto& h : o.handlers)
      for (auto& g : other.handlers)
        if (h.name == g.name)
          return error{errc::already_exists,
                       "offering '" + o.name + "': handler '" + h.name
                         + "' is already registered by '" + name + "'"};
    for (auto& p : o.products)
      for (auto& q : other.products)
        if (p.name == q.name)
          return error{errc::already_exists,
                       "offering '" + o.name + "': product '" + p.name
                         + "' is already shipped by '" + name + "'"};
  }
  offerings_.emplace(o.name, o);
  return {};
}

store::result<std::string>
offering_registry::load_plugin(const std::filesystem::path& path) {
  auto where = "offering plugin " + path.string();
  // dlopen searches the library path for a bare name; a plugin is always
  // named by its path.
  if (path.empty() || !path.has_parent_path())
    return error{errc::invalid_value, where
                                        + ": give the plugin's path (e.g. ./"
                                        + path.string() + "), not a bare name"};
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return error{errc::io_error, where + ": no such file"};
  dlerror();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return error{errc::invalid_value,
                 "cannot load " + where + ": "
                   + (why != nullptr ? why : "not a loadable library")};
  }
  auto refuse = [&](std::string message) -> error {
    ::dlclose(handle);
    return error{errc::invalid_value, std::move(message)};
  };
  using version_fn = int (*)();
  using offering_fn = const offering* (*)();
  auto* version_sym = ::dlsym(handle, "mantissa_offering_api_version");
  if (version_sym == nullptr)
    return refuse(where
                  + " is not a Mantissa offering: it exports no "
                    "mantissa_offering_api_version()");
  int version = reinterpret_cast<version_fn>(version_sym)();
  if (version != api_version)
    return refuse(where + " was built for offering API version "
                  + std::to_string(version) + ", but this Mantissa speaks "
                  + "offering API version " + std::to_string(api_version)
                  + "; rebuild the plugin against this Mantissa");
  // Optional: plugins made with MANTISSA_EXPORT_OFFERING report the size of
  // `offering` they were compiled with.
  using size_fn = std::size_t (*)();
  if (auto* size_sym = ::dlsym(handle, "mantissa_offering_size")) {
    auto size = reinterpret_cast<size_fn>(size_sym)();
    if (size != sizeof(offering))
      return refuse(where + " was built against other offering headers of "
                    + "API version " + std::to_string(api_version)
                    + " (offering is " + std::to_string(size) + " bytes there, "
                    + std::to_string(sizeof(offering))
                    + " here); rebuild the plugin against this Mantissa");
  }
  auto* offering_sym = ::dlsym(handle, "mantissa_offering");
  if (offering_sym == nullptr)
    return refuse(where
                  + " is not a Mantissa offering: it exports no "
                    "mantissa_offering()");
  const offering* o = reinterpret_cast<offering_fn>(offering_sym)();
  if (o == nullptr)
    return refuse(where + ": mantissa_offering() returned no offering");
  if (auto r = add(*o); !r)
    return refuse(where + ": " + r.error_value().message);
  plugins_.push_back(std::make_unique<plugin>(plugin{path, handle}));
  return o->name;
}

const offering* offering_registry::find(std::string_view name) const {
  auto i = offerings_.find(name);
  return i == offerings_.end() ? nullptr : &i->second;
}

std::vector<const offering*> offering_registry::all() const {
  std::vector<const offering*> out;
  for (auto& [name, o] : offerings_)
    out.push_back(&o);
  return out;
}

std::pair<const offering*, const installable_powerup*>
offering_registry::find_powerup(std::string_view name) const {
  for (auto& [oname, o] : offerings_)
    for (auto& p : o.installable_powerups)
      if (p.name == name)
        return {&o, &p};
  return {nullptr, nullptr};
}

const html_view*
offering_registry::find_html_view(std::string_view type) const {
  for (auto& [name, o] : offerings_)
    if (auto i = o.html_views.find(std::string{type}); i != o.html_views.end())
      return &i->second;
  return nullptr;
}

store::result<void>
offering_registry::register_types(store::type_registry& types) const {
  for (auto& [name, o] : offerings_)
    if (o.register_types)
      if (auto r = o.register_types(types); !r)
        return error{r.code(),
                     "offering '" + name + "': " + r.error_value().message};
  return {};
}

store::result<void>
offering_registry::register_handlers(actors::handler_registry& handlers) const {
  for (auto& [name, o] : offerings_)
    for (auto& h : o.handlers)
      if (auto r = handlers.add(h.name, h.handler); !r)
        return error{r.code(),
                     "offering '" + name + "': " + r.error_value().message};
  for (auto& [name, o] : offerings_)
    for (auto& m : o.message_types)
      if (auto r = handlers.add_message_type(m.type, m.handling); !r)
        return error{r.code(),
                     "offering '" + name + "': " + r.error_value().message};
  return {};
}

} // namespace mantissa::offerings
