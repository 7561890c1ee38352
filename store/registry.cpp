#include "store/registry.hpp"

namespace mantissa::store {

result<void> type_registry::add(type_decl decl) {
  MANTISSA_TRY(validate(decl));
  auto& e = types_[decl.name];
  if (e.current)
    return {errc::already_exists,
            "type " + decl.name + " is already declared (version "
              + std::to_string(e.current->version) + ")"};
  // Legacy versions may be added first: the current one must still be the
  // newest, or upgraders would lead away from it.
  if (!e.legacy.empty() && e.legacy.rbegin()->first >= decl.version)
    return {errc::already_exists,
            "type " + decl.name + " version " + std::to_string(decl.version)
              + " cannot be current: legacy version "
              + std::to_string(e.legacy.rbegin()->first)
              + " is declared and is not older"};
  e.current = std::make_unique<type_decl>(std::move(decl));
  for (auto& a : e.current->attributes)
    if (a.type == attribute_type::reference)
      referrers_[a.target_type].push_back(e.current.get());
  return {};
}

result<void> type_registry::add_legacy(type_decl decl) {
  MANTISSA_TRY(validate(decl));
  auto& e = types_[decl.name];
  if ((e.current && e.current->version <= decl.version)
      || e.legacy.count(decl.version) != 0)
    return {errc::already_exists,
            "type " + decl.name + ": legacy version "
              + std::to_string(decl.version)
              + " must be new and older than the current version"};
  auto version = decl.version;
  e.legacy.emplace(version, std::make_unique<type_decl>(std::move(decl)));
  return {};
}

result<void> type_registry::add_upgrader(std::string_view type, int from,
                                         int to, upgrader_fn fn) {
  auto i = types_.find(type);
  if (i == types_.end())
    return {errc::no_such_type,
            "cannot add an upgrader for undeclared type " + std::string{type}};
  if (to <= from || from < 1)
    return {errc::invalid_value, "upgrader for " + std::string{type}
                                   + " must go from an older to a newer version"};
  if (i->second.steps.count(from) != 0)
    return {errc::already_exists, "type " + std::string{type}
                                    + " already has an upgrader from version "
                                    + std::to_string(from)};
  i->second.steps.emplace(from, upgrader{from, to, false, std::move(fn)});
  return {};
}

result<void> type_registry::add_copy_upgrader(std::string_view type, int from,
                                              int to, upgrader_fn hook) {
  MANTISSA_TRY(add_upgrader(type, from, to, std::move(hook)));
  types_.find(type)->second.steps[from].copy_attributes = true;
  return {};
}

result<void> type_registry::add_hooks(std::string_view type,
                                      item_hooks hooks) {
  auto i = types_.find(type);
  if (i == types_.end() || !i->second.current)
    return {errc::no_such_type,
            "cannot add hooks for undeclared type " + std::string{type}};
  i->second.hooks.push_back(std::move(hooks));
  return {};
}

const std::vector<item_hooks>&
type_registry::hooks(std::string_view type) const noexcept {
  static const std::vector<item_hooks> none;
  auto i = types_.find(type);
  return i == types_.end() ? none : i->second.hooks;
}

const type_decl* type_registry::current(std::string_view name) const noexcept {
  auto i = types_.find(name);
  return i == types_.end() ? nullptr : i->second.current.get();
}

const type_decl* type_registry::find(std::string_view name,
                                     int version) const noexcept {
  auto i = types_.find(name);
  if (i == types_.end())
    return nullptr;
  if (i->second.current && i->second.current->version == version)
    return i->second.current.get();
  auto j = i->second.legacy.find(version);
  return j == i->second.legacy.end() ? nullptr : j->second.get();
}

const upgrader* type_registry::step_from(std::string_view name,
                                         int from) const noexcept {
  auto i = types_.find(name);
  if (i == types_.end())
    return nullptr;
  auto j = i->second.steps.find(from);
  return j == i->second.steps.end() ? nullptr : &j->second;
}

bool type_registry::has_path(std::string_view name, int from) const noexcept {
  auto* cur = current(name);
  if (cur == nullptr)
    return false;
  for (int v = from; v != cur->version;) {
    auto* step = step_from(name, v);
    if (step == nullptr || step->to > cur->version)
      return false;
    if (step->to != cur->version && find(name, step->to) == nullptr)
      return false;
    v = step->to;
  }
  return find(name, from) != nullptr;
}

std::vector<const type_decl*> type_registry::types() const {
  std::vector<const type_decl*> out;
  for (auto& [name, e] : types_)
    if (e.current)
      out.push_back(e.current.get());
  return out;
}

const std::vector<const type_decl*>&
type_registry::referrers(std::string_view name) const {
  static const std::vector<const type_decl*> none;
  auto i = referrers_.find(name);
  return i == referrers_.end() ? none : i->second;
}

} // namespace mantissa::store
