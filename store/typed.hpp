#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/item.hpp"
#include "store/query.hpp"
#include "store/store.hpp"
#include "store/type.hpp"

namespace mantissa::store {

/// Options of one attribute declared through `item_type<T>::attribute`.
struct attribute_options {
  bool indexed = false;
  /// For references: the type referred to and the delete policy.
  std::string target;
  delete_policy on_delete = delete_policy::nullify;
  std::size_t max_size = 0;
};

namespace detail {

template <class M>
struct member_traits;

#define MANTISSA_MEMBER_TRAIT(cpp_type, attr_type)                             \
  template <>                                                                  \
  struct member_traits<cpp_type> {                                             \
    static constexpr attribute_type type = attribute_type::attr_type;          \
    static constexpr bool nullable = false;                                    \
  }
MANTISSA_MEMBER_TRAIT(std::int64_t, integer);
MANTISSA_MEMBER_TRAIT(int, integer);
MANTISSA_MEMBER_TRAIT(double, real);
MANTISSA_MEMBER_TRAIT(std::string, text);
MANTISSA_MEMBER_TRAIT(blob, bytes);
MANTISSA_MEMBER_TRAIT(bool, boolean);
MANTISSA_MEMBER_TRAIT(timestamp, timestamp);
MANTISSA_MEMBER_TRAIT(nlohmann::json, json);
MANTISSA_MEMBER_TRAIT(reference, reference);
#undef MANTISSA_MEMBER_TRAIT

template <class M>
struct member_traits<std::optional<M>> {
  static constexpr attribute_type type = member_traits<M>::type;
  static constexpr bool nullable = true;
};

template <class M>
value to_value(const M& m) {
  if constexpr (std::is_same_v<M, int>)
    return value{static_cast<std::int64_t>(m)};
  else
    return value{m};
}

template <class M>
value to_value(const std::optional<M>& m) {
  return m ? to_value(*m) : value{};
}

template <class M>
void from_value(const value& v, M& out) {
  if constexpr (std::is_same_v<M, int>)
    out = static_cast<int>(std::get<std::int64_t>(v));
  else
    out = std::get<M>(v);
}

template <class M>
void from_value(const value& v, std::optional<M>& out) {
  if (is_null(v)) {
    out.reset();
    return;
  }
  M m{};
  from_value(v, m);
  out = std::move(m);
}

} // namespace detail

/// Declares an item type whose items are read and written as the C++ struct
/// `T` — and, through the same declaration, as `item` and as JSON, with no
/// glue written per type. `T` must be default-constructible and have a
/// member `item_id id`; its default values become the attributes' defaults.
/// A member of type `std::optional<X>` is a nullable attribute.
///
/// ```
/// struct note { item_id id = 0; std::string title; std::string body; };
/// const auto note_type = item_type<note>{"notes.note", 1}
///   .attribute("title", &note::title, {.indexed = true})
///   .attribute("body", &note::body);
/// registry.add(note_type.decl());
/// ```
template <class T>
class item_type {
 public:
  item_type(std::string name, int version) {
    decl_.name = std::move(name);
    decl_.version = version;
  }

  /// Adds the attribute `name` stored in `T::*member`.
  template <class M>
  item_type& attribute(std::string name, M T::*member,
                       attribute_options opts = {}) & {
    using traits = detail::member_traits<M>;
    attribute_decl a;
    a.name = std::move(name);
    a.type = traits::type;
    a.nullable = traits::nullable;
    a.indexed = opts.indexed;
    a.target_type = std::move(opts.target);
    a.on_delete = opts.on_delete;
    a.max_size = opts.max_size;
    T defaults{};
    a.default_value = detail::to_value(defaults.*member);
    decl_.attributes.push_back(std::move(a));
    get_.push_back([member](const T& obj) { return detail::to_value(obj.*member); });
    set_.push_back(
      [member](const value& v, T& obj) { detail::from_value(v, obj.*member); });
    return *this;
  }

  template <class M>
  item_type&& attribute(std::string name, M T::*member,
                        attribute_options opts = {}) && {
    return std::move(attribute(std::move(name), member, std::move(opts)));
  }

  /// Adds an index over several attributes.
  item_type&& index(std::vector<std::string> attributes) && {
    decl_.compound_indexes.push_back(std::move(attributes));
    return std::move(*this);
  }

  /// Declares the interface the type is installed under as a powerup.
  item_type&& powerup(std::string interface, int priority = 0) && {
    decl_.powerup_interfaces.push_back({std::move(interface), priority});
    return std::move(*this);
  }

  /// Declares a type this powerup needs installed beside it.
  item_type&& requires_type(std::string type) && {
    decl_.requires_types.push_back(std::move(type));
    return std::move(*this);
  }

  [[nodiscard]] const type_decl& decl() const noexcept { return decl_; }
  [[nodiscard]] const std::string& name() const noexcept { return decl_.name; }

  [[nodiscard]] item to_item(const T& obj) const {
    item it;
    it.id = obj.id;
    it.type = decl_.name;
    it.values.reserve(get_.size());
    for (auto& g : get_)
      it.values.push_back(g(obj));
    return it;
  }

  /// Converts an item of this type. Fails with `invalid_value` when a value
  /// does not fit its member (a null for a non-optional member).
  [[nodiscard]] result<T> from_item(const item& it) const {
    if (it.type != decl_.name || it.values.size() != set_.size())
      return error{errc::invalid_value,
                   "item of " + it.type + " is not a " + decl_.name};
    T obj{};
    obj.id = it.id;
    for (std::size_t i = 0; i < set_.size(); ++i) {
      auto& v = it.values[i];
      if (!is_null(v) && !holds(v, decl_.attributes[i].type))
        return error{errc::invalid_value, decl_.name + ": attribute '"
                                            + decl_.attributes[i].name
                                            + "' holds " + describe(v)};
      if (is_null(v) && !decl_.attributes[i].nullable)
        return error{errc::invalid_value, decl_.name + ": attribute '"
                                            + decl_.attributes[i].name
                                            + "' is null"};
      set_[i](v, obj);
    }
    return obj;
  }

  [[nodiscard]] nlohmann::json to_json(const T& obj) const {
    return mantissa::store::to_json(decl_, to_item(obj));
  }

  [[nodiscard]] result<T> from_json(const nlohmann::json& j) const {
    auto it = item_from_json(decl_, j);
    if (!it)
      return std::move(it).error_value();
    if (j.is_object() && j.contains("id") && j["id"].is_number_integer())
      it->id = j["id"].template get<item_id>();
    return from_item(*it);
  }

  // -- store access ------------------------------------------------------------

  /// Inserts `obj`; `obj` then holds what was written: its new id, and
  /// any values the type's hooks set.
  [[nodiscard]] result<item_id> insert(store& s, T& obj) const {
    return write_back(obj, [&](item& it) { return s.insert(it); });
  }

  [[nodiscard]] result<T> get(store& s, item_id id) const {
    auto it = s.get(decl_.name, id);
    if (!it)
      return std::move(it).error_value();
    return from_item(*it);
  }

  /// Replaces the stored item with `obj`; `obj` then holds what was
  /// written (the type's hooks may change values).
  [[nodiscard]] result<void> update(store& s, T& obj) const {
    return write_back(obj, [&](item& it) { return s.update(it); });
  }

  [[nodiscard]] result<void> update(store& s, const T& obj) const {
    return s.update(to_item(obj));
  }

  /// Runs `q` (its `type` is set to this type) and converts the items.
  [[nodiscard]] result<std::vector<T>> select(store& s, query q = {}) const {
    q.type = decl_.name;
    std::vector<T> out;
    std::optional<error> failure;
    MANTISSA_TRY(s.for_each(q, [&](item&& it) {
      if (failure)
        return;
      auto obj = from_item(it);
      if (!obj)
        failure = std::move(obj).error_value();
      else
        out.push_back(std::move(*obj));
    }));
    if (failure)
      return std::move(*failure);
    return out;
  }

 private:
  /// Runs `write` (an insert or update of `obj` as an item); when it
  /// succeeds, copies what the store wrote back into `obj`'s id and
  /// attribute members (other members stay as they are).
  template <class Write>
  auto write_back(T& obj, Write&& write) const {
    auto it = to_item(obj);
    auto r = write(it);
    if (r && from_item(it)) {  // from_item: the store wrote checked values
      obj.id = it.id;
      for (std::size_t i = 0; i < set_.size(); ++i)
        set_[i](it.values[i], obj);
    }
    return r;
  }

  type_decl decl_;
  std::vector<std::function<value(const T&)>> get_;
  std::vector<std::function<void(const value&, T&)>> set_;
};

} // namespace mantissa::store
