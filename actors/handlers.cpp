#include "actors/handlers.hpp"

namespace mantissa::actors {

namespace {

/// The value under `key` in `map`, or nullptr.
template<class Map>
const typename Map::mapped_type* find_in(const Map& map,
                                         std::string_view key) {
  auto i = map.find(key);
  return i == map.end() ? nullptr : &i->second;
}

/// Inserts `value` under `key`, which must be new to `map`; otherwise
/// `already_exists` with the message "<what> '<key>' <taken>".
template<class Map, class Value>
store::result<void> insert_new(Map& map, std::string key, Value value,
                               const char* what, const char* taken) {
  if (map.count(key) != 0)
    return {store::errc::already_exists,
            std::string{what} + " '" + key + "' " + taken};
  map.emplace(std::move(key), std::move(value));
  return {};
}

} // namespace

store::result<void> handler_registry::add(std::string name, store_handler h,
                                          std::string interface) {
  if (handlers_.count(name) != 0 || requesting_.count(name) != 0)
    return {store::errc::already_exists,
            "a handler named '" + name + "' is already registered"};
  if (!interface.empty())
    interfaces_.emplace(name, std::move(interface));
  handlers_.emplace(std::move(name), std::move(h));
  return {};
}

std::string_view
handler_registry::interface_of(std::string_view name) const {
  auto* i = find_in(interfaces_, name);
  return i == nullptr ? std::string_view{} : std::string_view{*i};
}

const store_handler* handler_registry::find(std::string_view name) const {
  return find_in(handlers_, name);
}

store::result<void>
handler_registry::add_requesting(std::string name, requesting_handler h,
                                 std::string interface) {
  if (!h)
    return {store::errc::invalid_value,
            "the handler '" + name + "' is empty"};
  if (handlers_.count(name) != 0)
    return {store::errc::already_exists,
            "a handler named '" + name + "' is already registered"};
  auto copy = name;
  MANTISSA_TRY(insert_new(requesting_, std::move(name), std::move(h),
                          "a handler named", "is already registered"));
  if (!interface.empty())
    interfaces_.emplace(std::move(copy), std::move(interface));
  return {};
}

const requesting_handler*
handler_registry::find_requesting(std::string_view name) const {
  return find_in(requesting_, name);
}

store::result<void>
handler_registry::add_payload(std::string name, payload_handler h) {
  if (!h)
    return {store::errc::invalid_value,
            "the handler '" + name + "' is empty"};
  return insert_new(payload_, std::move(name), std::move(h),
                    "a payload handler named", "is already registered");
}

const payload_handler*
handler_registry::find_payload(std::string_view name) const {
  return find_in(payload_, name);
}

store::result<void> handler_registry::add_runnable(std::string type,
                                                   runnable_type r) {
  if (!r.run)
    return {store::errc::invalid_value,
            "the runnable for '" + type + "' has no run function"};
  return insert_new(runnables_, std::move(type), std::move(r),
                    "items of type", "are already runnable");
}

const runnable_type*
handler_registry::find_runnable(std::string_view type) const {
  return find_in(runnables_, type);
}

store::result<void> handler_registry::add_message_type(std::string type,
                                                       message_type m) {
  if (type.empty())
    return {store::errc::invalid_name, "a message type needs a name"};
  return insert_new(message_types_, std::move(type), std::move(m),
                    "messages of type", "are already handled");
}

const message_type*
handler_registry::find_message_type(std::string_view type) const {
  return find_in(message_types_, type);
}

} // namespace mantissa::actors
