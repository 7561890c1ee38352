#include "actors/handlers.hpp"

namespace mantissa::actors {

store::result<void> handler_registry::add(std::string name, store_handler h) {
  if (handlers_.count(name) != 0 || requesting_.count(name) != 0)
    return {store::errc::already_exists,
            "a handler named '" + name + "' is already registered"};
  handlers_.emplace(std::move(name), std::move(h));
  return {};
}

const store_handler* handler_registry::find(std::string_view name) const {
  auto i = handlers_.find(name);
  return i == handlers_.end() ? nullptr : &i->second;
}

store::result<void>
handler_registry::add_requesting(std::string name, requesting_handler h) {
  if (!h)
    return {store::errc::invalid_value,
            "the handler '" + name + "' is empty"};
  if (handlers_.count(name) != 0 || requesting_.count(name) != 0)
    return {store::errc::already_exists,
            "a handler named '" + name + "' is already registered"};
  requesting_.emplace(std::move(name), std::move(h));
  return {};
}

const requesting_handler*
handler_registry::find_requesting(std::string_view name) const {
  auto i = requesting_.find(name);
  return i == requesting_.end() ? nullptr : &i->second;
}

store::result<void>
handler_registry::add_payload(std::string name, payload_handler h) {
  if (!h)
    return {store::errc::invalid_value,
            "the handler '" + name + "' is empty"};
  if (payload_.count(name) != 0)
    return {store::errc::already_exists,
            "a payload handler named '" + name + "' is already registered"};
  payload_.emplace(std::move(name), std::move(h));
  return {};
}

const payload_handler*
handler_registry::find_payload(std::string_view name) const {
  auto i = payload_.find(name);
  return i == payload_.end() ? nullptr : &i->second;
}

store::result<void> handler_registry::add_runnable(std::string type,
                                                   runnable_type r) {
  if (!r.run)
    return {store::errc::invalid_value,
            "the runnable for '" + type + "' has no run function"};
  if (runnables_.count(type) != 0)
    return {store::errc::already_exists,
            "items of type '" + type + "' are already runnable"};
  runnables_.emplace(std::move(type), std::move(r));
  return {};
}

const runnable_type*
handler_registry::find_runnable(std::string_view type) const {
  auto i = runnables_.find(type);
  return i == runnables_.end() ? nullptr : &i->second;
}

store::result<void> handler_registry::add_message_type(std::string type,
                                                       message_type m) {
  if (type.empty())
    return {store::errc::invalid_name, "a message type needs a name"};
  if (message_types_.count(type) != 0)
    return {store::errc::already_exists,
            "messages of type '" + type + "' are already handled"};
  message_types_.emplace(std::move(type), std::move(m));
  return {};
}

const message_type*
handler_registry::find_message_type(std::string_view type) const {
  auto i = message_types_.find(type);
  return i == message_types_.end() ? nullptr : &i->second;
}

} // namespace mantissa::actors
