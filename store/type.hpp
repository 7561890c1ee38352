#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/error.hpp"
#include "store/value.hpp"

namespace mantissa::store {

/// What happens to items referring to an item that is deleted.
enum class delete_policy : std::uint8_t {
  nullify,   ///< The reference becomes null (the attribute must be nullable).
  cascade,   ///< The referring item is deleted as well (recursively).
  disallow,  ///< The delete fails with `errc::disallowed` and changes nothing.
};

[[nodiscard]] const char* to_string(delete_policy p) noexcept;

/// Declaration of one attribute of an item type.
struct attribute_decl {
  /// `[a-z][a-z0-9_]*`, at most 64 characters, not `id` or `type`.
  std::string name;
  attribute_type type = attribute_type::integer;
  /// Creates an SQLite index on the column.
  bool indexed = false;
  /// Whether null is a valid value. A non-nullable attribute without a
  /// default must be given on insert.
  bool nullable = true;
  /// Value used when an insert omits the attribute (null: none).
  value default_value;
  /// For references: the name of the type referred to.
  std::string target_type;
  /// For references: what deleting the referred item does to this one.
  delete_policy on_delete = delete_policy::nullify;
  /// For text, bytes and JSON: the largest accepted size in bytes (0 means
  /// the store's default limit, see `store_options::max_value_size`).
  std::size_t max_size = 0;
};

/// How a powerup type is installed by default: under which interface, with
/// which priority (higher runs first).
struct powerup_interface {
  std::string interface;
  int priority = 0;
};

/// Declaration of an item type at one schema version.
struct type_decl {
  /// Dotted lower-case name such as `notes.note`: segments `[a-z][a-z0-9_]*`
  /// separated by single dots, at most 128 characters, no `__`.
  std::string name;
  /// Schema version, starting at 1.
  int version = 1;
  std::vector<attribute_decl> attributes;
  /// Indexes over several attributes, by attribute name.
  std::vector<std::vector<std::string>> compound_indexes;
  /// Interfaces an item of this type is installed under when it is used as a
  /// powerup and none is given explicitly.
  std::vector<powerup_interface> powerup_interfaces;
  /// Types whose items this powerup needs installed on the same target;
  /// installing it installs them (creating one with default values when
  /// none is installed) and they stay while something depends on them.
  std::vector<std::string> requires_types;

  /// Index of the attribute named `name`, or -1.
  [[nodiscard]] int index_of(std::string_view attr) const noexcept;
  /// The attribute named `name`, or nullptr.
  [[nodiscard]] const attribute_decl* find(std::string_view attr) const noexcept;
};

/// Checks a type name, attribute names, defaults and index declarations.
[[nodiscard]] result<void> validate(const type_decl& decl);

/// Checks a type name alone.
[[nodiscard]] result<void> validate_type_name(std::string_view name);

/// Checks an attribute or interface name alone (`[a-z][a-z0-9_]*`, ≤ 64).
[[nodiscard]] result<void> validate_attribute_name(std::string_view name);

/// The SQLite table that holds items of `name` at `version`:
/// `item_<name with '.' replaced by "__">_v<version>`.
[[nodiscard]] std::string table_name(std::string_view name, int version);

} // namespace mantissa::store
