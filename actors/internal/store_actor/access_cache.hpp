#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace mantissa::actors::internal::store_parts {

/// What roles may do in this store, cached: the closure of each caller role
/// (itself, its groups, everyone, authenticated) and the interfaces each
/// role has on each item it asked for. Cleared whenever memberships or
/// shares may have changed (a share, a membership, a delete, a handler).
class access_cache {
 public:
  const std::vector<std::string>* closure(const std::string& role) {
    auto i = closures_.find(role);
    return i == closures_.end() ? nullptr : &i->second;
  }
  const std::vector<std::string>& put_closure(const std::string& role,
                                              std::vector<std::string> roles) {
    if (closures_.size() >= max_entries)
      closures_.clear();
    return closures_[role] = std::move(roles);
  }
  const std::vector<std::string>* interfaces(const std::string& key) {
    auto i = interfaces_.find(key);
    return i == interfaces_.end() ? nullptr : &i->second;
  }
  const std::vector<std::string>& put_interfaces(std::string key,
                                                 std::vector<std::string> v) {
    if (interfaces_.size() >= max_entries)
      interfaces_.clear();
    return interfaces_[std::move(key)] = std::move(v);
  }
  void clear_interfaces() { interfaces_.clear(); }
  void clear() {
    closures_.clear();
    interfaces_.clear();
  }

 private:
  static constexpr std::size_t max_entries = 4096;
  std::unordered_map<std::string, std::vector<std::string>> closures_;
  std::unordered_map<std::string, std::vector<std::string>> interfaces_;
};

} // namespace mantissa::actors::internal::store_parts
