#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>
#include <string>
#include <unordered_map>

namespace mantissa::actors::internal::store_parts {

/// A small LRU cache of serialized items, by id (ids are unique across the
/// types of one store). Holds committed or about-to-commit values only: the
/// actor clears it when a batch rolls back.
class item_cache {
 public:
  explicit item_cache(std::size_t capacity) : capacity_(capacity) {}

  const std::string* find(std::int64_t id, const std::string& type) {
    auto i = index_.find(id);
    if (i == index_.end() || i->second->type != type)
      return nullptr;
    order_.splice(order_.begin(), order_, i->second);
    return &i->second->json;
  }

  /// Caches a copy of `json`. Once full, the least recently used entry and
  /// its index node are reused, so a put allocates only when the text
  /// outgrows the reused entry's.
  void put(std::int64_t id, const std::string& type, const std::string& json) {
    if (capacity_ == 0)
      return;
    if (auto i = index_.find(id); i != index_.end()) {
      i->second->type = type;
      i->second->json = json;
      order_.splice(order_.begin(), order_, i->second);
      return;
    }
    if (order_.size() < capacity_) {
      order_.push_front({id, type, json});
      index_.emplace(id, order_.begin());
      return;
    }
    auto node = index_.extract(order_.back().id);
    order_.splice(order_.begin(), order_, std::prev(order_.end()));
    auto& e = order_.front();
    e.id = id;
    e.type = type;
    e.json = json;
    node.key() = id;
    node.mapped() = order_.begin();
    index_.insert(std::move(node));
  }

  void erase(std::int64_t id) {
    if (auto i = index_.find(id); i != index_.end()) {
      order_.erase(i->second);
      index_.erase(i);
    }
  }

  void clear() {
    index_.clear();
    order_.clear();
  }

 private:
  struct entry {
    std::int64_t id;
    std::string type;
    std::string json;
  };
  std::size_t capacity_;
  std::list<entry> order_;
  std::unordered_map<std::int64_t, std::list<entry>::iterator> index_;
};

} // namespace mantissa::actors::internal::store_parts
