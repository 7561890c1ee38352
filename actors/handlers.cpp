#include "actors/handlers.hpp"

namespace mantissa::actors {

store::result<void> handler_registry::add(std::string name, store_handler h) {
  if (handlers_.count(name) != 0)
    return {store::errc::already_exists,
            "a handler named '" + name + "' is already registered"};
  handlers_.emplace(std::move(name), std::move(h));
  return {};
}

const store_handler* handler_registry::find(std::string_view name) const {
  auto i = handlers_.find(name);
  return i == handlers_.end() ? nullptr : &i->second;
}

} // namespace mantissa::actors
