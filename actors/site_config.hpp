#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"
#include "store/registry.hpp"
#include "store/store.hpp"
#include "store/typed.hpp"

/// Site configuration kept in the site store: the network services a node
/// runs and site-wide settings (domains, API keys, other secrets).
///
/// Thread rule: every function taking a `store::store&` is called only by
/// the actor that owns the site store.
namespace mantissa::actors {

/// Type name of the service item.
inline constexpr std::string_view service_type_name = "mantissa.service";
/// Type name of the setting item.
inline constexpr std::string_view setting_type_name = "mantissa.setting";

/// Longest accepted setting key, in bytes.
inline constexpr std::size_t max_setting_key_size = 128;
/// Longest accepted setting value, in bytes.
inline constexpr std::size_t max_setting_value_size = 64 * 1024;
/// Longest accepted service host, in bytes.
inline constexpr std::size_t max_service_host_size = 253;

/// A listener the node starts (`mantissa.service`). `kind` is `"http"`,
/// `"smtp"` or `"listen"` (the node's own network port for other nodes and
/// custom actors). One service per kind, host and port.
struct service {
  store::item_id id = 0;
  std::string kind = "http";
  std::string host;      ///< a host name or an IP address, without brackets
  std::int64_t port = 0; ///< 0..65535; 0 lets the system pick one
  bool enabled = true;
  friend bool operator==(const service&, const service&) = default;
};

/// A site-wide setting (`mantissa.setting`). A secret setting is stored as
/// given (the site store is the node's own file) but never shown in full:
/// print it through `masked`.
struct setting {
  store::item_id id = 0;
  std::string key;
  std::string value;
  bool secret = false;
  friend bool operator==(const setting&, const setting&) = default;
};

[[nodiscard]] const store::item_type<service>& service_item_type();
[[nodiscard]] const store::item_type<setting>& setting_item_type();

/// Adds the service and setting types to `registry` (the site store's).
/// Registering twice is `already_exists`.
[[nodiscard]] store::result<void>
register_site_config_types(store::type_registry& registry);

/// Checks a setting key: 1–128 bytes of `[a-z0-9_.-]`; `invalid_name`
/// naming the problem otherwise.
[[nodiscard]] store::result<void> validate_setting_key(std::string_view key);

/// Checks a service: a known kind, a host of `[A-Za-z0-9.:-]` (1–253
/// bytes; `:` only for IPv6), a port in 0..65535. `invalid_value` naming
/// the problem otherwise.
[[nodiscard]] store::result<void> validate_service(const service& svc);

/// Adds a service after checking it; the host is stored lower case. A
/// service with the same kind, host and port is `already_exists`. Returns
/// it with its id.
[[nodiscard]] store::result<service> add_service(store::store& site,
                                                 service svc);

/// Every service, sorted by kind, host, port.
[[nodiscard]] store::result<std::vector<service>>
list_services(store::store& site);

/// Removes the service with this kind, host and port; `no_such_item` if
/// there is none.
[[nodiscard]] store::result<void> remove_service(store::store& site,
                                                 std::string_view kind,
                                                 std::string_view host,
                                                 std::int64_t port);

/// Creates or replaces the setting `key`. Returns it with its id.
[[nodiscard]] store::result<setting> set_setting(store::store& site,
                                                 std::string_view key,
                                                 std::string_view value,
                                                 bool secret = false);

/// The setting `key`; `no_such_item` if it is not set.
[[nodiscard]] store::result<setting> get_setting(store::store& site,
                                                 std::string_view key);

/// Every setting, sorted by key. Secret values are included: mask them
/// with `masked` before showing them.
[[nodiscard]] store::result<std::vector<setting>>
list_settings(store::store& site);

/// Removes the setting `key`; `no_such_item` if it is not set.
[[nodiscard]] store::result<void> remove_setting(store::store& site,
                                                 std::string_view key);

/// The value for display: a plain setting in full; a secret never in full:
/// `"********"` when shorter than 12 bytes or not starting with two
/// printable ASCII characters, else those two characters, `"…"` and the
/// length (`"sk… (40 bytes)"`).
[[nodiscard]] std::string masked(const setting& s);

} // namespace mantissa::actors
