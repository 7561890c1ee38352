#include "actors/site_config.hpp"

#include <algorithm>
#include <utility>

namespace mantissa::actors {

namespace {

using store::errc;
using store::error;

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
         || c == '.' || c == '-';
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':';
}

std::string lower(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

store::condition service_is(std::string_view kind, std::string_view host,
                            std::int64_t port) {
  return store::and_(
    {store::cmp("kind", store::compare_op::eq, store::value{std::string{kind}}),
     store::cmp("host", store::compare_op::eq, store::value{lower(host)}),
     store::cmp("port", store::compare_op::eq, store::value{port})});
}

store::condition key_is(std::string_view key) {
  return store::cmp("key", store::compare_op::eq,
                    store::value{std::string{key}});
}

store::result<std::optional<setting>> find_setting(store::store& site,
                                                   std::string_view key) {
  store::query q;
  q.where = key_is(key);
  q.limit = 1;
  auto found = setting_item_type().select(site, std::move(q));
  if (!found)
    return std::move(found).error_value();
  if (found->empty())
    return std::optional<setting>{};
  return std::optional<setting>{std::move(found->front())};
}

error no_setting(std::string_view key) {
  return {errc::no_such_item, "setting " + std::string{key} + " is not set"};
}

std::string describe_service(std::string_view kind, std::string_view host,
                             std::int64_t port) {
  return std::string{kind} + " service on " + std::string{host} + ":"
         + std::to_string(port);
}

} // namespace

const store::item_type<service>& service_item_type() {
  static const auto t
    = store::item_type<service>{std::string{service_type_name}, 1}
        .attribute("kind", &service::kind, {.max_size = 16})
        .attribute("host", &service::host, {.max_size = max_service_host_size})
        .attribute("port", &service::port)
        .attribute("enabled", &service::enabled);
  return t;
}

const store::item_type<setting>& setting_item_type() {
  static const auto t
    = store::item_type<setting>{std::string{setting_type_name}, 1}
        .attribute("key", &setting::key,
                   {.indexed = true, .max_size = max_setting_key_size})
        .attribute("value", &setting::value,
                   {.max_size = max_setting_value_size})
        .attribute("secret", &setting::secret);
  return t;
}

store::result<void> register_site_config_types(store::type_registry& registry) {
  MANTISSA_TRY(registry.add(service_item_type().decl()));
  return registry.add(setting_item_type().decl());
}

store::result<void> validate_setting_key(std::string_view key) {
  if (key.empty())
    return error{errc::invalid_name, "setting key is empty"};
  if (key.size() > max_setting_key_size)
    return error{errc::invalid_name, "setting key is longer than "
                                       + std::to_string(max_setting_key_size)
                                       + " bytes"};
  if (!std::all_of(key.begin(), key.end(), is_key_char))
    return error{errc::invalid_name,
                 "setting key may hold only a-z 0-9 _ . - (got a key of "
                   + std::to_string(key.size()) + " bytes with others)"};
  return {};
}

store::result<void> validate_service(const service& svc) {
  if (svc.kind != "http" && svc.kind != "smtp" && svc.kind != "listen")
    return error{errc::invalid_value,
                 "service kind must be http, smtp or listen"};
  if (svc.host.empty())
    return error{errc::invalid_value, "service host is empty"};
  if (svc.host.size() > max_service_host_size)
    return error{errc::invalid_value, "service host is longer than "
                                        + std::to_string(max_service_host_size)
                                        + " bytes"};
  if (!std::all_of(svc.host.begin(), svc.host.end(), is_host_char))
    return error{errc::invalid_value,
                 "service host may hold only letters, digits, '.', '-' and "
                 "':' (IPv6, without brackets)"};
  if (svc.port < 0 || svc.port > 65535)
    return error{errc::invalid_value, "service port " + std::to_string(svc.port)
                                        + " is outside 0..65535"};
  return {};
}

store::result<service> add_service(store::store& site, service svc) {
  MANTISSA_TRY(validate_service(svc));
  svc.id = 0;
  svc.host = lower(svc.host);
  return site.transact([&]() -> store::result<service> {
    auto n = site.count(std::string{service_type_name},
                        service_is(svc.kind, svc.host, svc.port));
    if (!n)
      return std::move(n).error_value();
    if (*n > 0)
      return error{errc::already_exists,
                   describe_service(svc.kind, svc.host, svc.port)
                     + " exists already"};
    MANTISSA_TRY(service_item_type().insert(site, svc));
    return svc;
  });
}

store::result<std::vector<service>> list_services(store::store& site) {
  store::query q;
  q.sort = {{"kind", false}, {"host", false}, {"port", false}};
  return service_item_type().select(site, std::move(q));
}

store::result<void> remove_service(store::store& site, std::string_view kind,
                                   std::string_view host, std::int64_t port) {
  return site.transact([&]() -> store::result<void> {
    auto n = site.remove_where(std::string{service_type_name},
                               service_is(kind, host, port));
    if (!n)
      return std::move(n).error_value();
    if (*n == 0)
      return error{errc::no_such_item,
                   "no " + describe_service(kind, lower(host), port)};
    return {};
  });
}

store::result<setting> set_setting(store::store& site, std::string_view key,
                                   std::string_view value, bool secret) {
  MANTISSA_TRY(validate_setting_key(key));
  if (value.size() > max_setting_value_size)
    return error{errc::invalid_value,
                 "value of setting " + std::string{key} + " is longer than "
                   + std::to_string(max_setting_value_size) + " bytes"};
  return site.transact([&]() -> store::result<setting> {
    auto found = find_setting(site, key);
    if (!found)
      return std::move(found).error_value();
    setting s = found->value_or(setting{});
    s.key = std::string{key};
    s.value = std::string{value};
    s.secret = secret;
    if (s.id == 0) {
      MANTISSA_TRY(setting_item_type().insert(site, s));
    } else {
      MANTISSA_TRY(setting_item_type().update(site, s));
    }
    return s;
  });
}

store::result<setting> get_setting(store::store& site, std::string_view key) {
  MANTISSA_TRY(validate_setting_key(key));
  auto found = find_setting(site, key);
  if (!found)
    return std::move(found).error_value();
  if (!*found)
    return no_setting(key);
  return std::move(**found);
}

store::result<std::vector<setting>> list_settings(store::store& site) {
  store::query q;
  q.sort = {{"key", false}};
  return setting_item_type().select(site, std::move(q));
}

store::result<void> remove_setting(store::store& site, std::string_view key) {
  MANTISSA_TRY(validate_setting_key(key));
  return site.transact([&]() -> store::result<void> {
    auto n = site.remove_where(std::string{setting_type_name}, key_is(key));
    if (!n)
      return std::move(n).error_value();
    if (*n == 0)
      return no_setting(key);
    return {};
  });
}

std::string masked(const setting& s) {
  if (!s.secret)
    return s.value;
  auto shown = [](char c) { return c > 0x20 && c < 0x7f; };
  if (s.value.size() < 12 || !shown(s.value[0]) || !shown(s.value[1]))
    return "********";
  return s.value.substr(0, 2) + "\u2026 (" + std::to_string(s.value.size())
         + " bytes)";
}

} // namespace mantissa::actors
