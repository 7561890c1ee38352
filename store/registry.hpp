#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"
#include "store/item.hpp"
#include "store/type.hpp"

namespace mantissa::store {

/// Converts an item of an older version into the next version. `upgraded`
/// arrives holding the new version's defaults (and, for copy upgraders, the
/// attributes copied by name); the function fills in the rest. An error
/// leaves the old item untouched.
using upgrader_fn = std::function<result<void>(const item& old, item& upgraded)>;

/// One step of a type's upgrade path.
struct upgrader {
  int from = 0;
  int to = 0;
  /// Copy attributes whose name and type are the same in both versions
  /// before running `fn`.
  bool copy_attributes = false;
  upgrader_fn fn;  ///< may be empty for a plain copy upgrader
};

/// Every item type a process knows: the current declaration of each type,
/// the older (legacy) declarations still found in stores, and the upgraders
/// between them.
///
/// Thread rule: filled at start-up, then only read; reads from several
/// threads are safe once no thread adds to it.
class type_registry {
 public:
  /// Adds the current declaration of a type. Adding a second current
  /// declaration for a name is `already_exists`.
  [[nodiscard]] result<void> add(type_decl decl);

  /// Adds an older version of a type, so stores holding it can be upgraded.
  [[nodiscard]] result<void> add_legacy(type_decl decl);

  /// Adds an upgrade step `from` → `to` (to > from) for `type`.
  [[nodiscard]] result<void> add_upgrader(std::string_view type, int from,
                                          int to, upgrader_fn fn);

  /// Adds a step that copies same-named attributes, then runs `hook` if set.
  [[nodiscard]] result<void> add_copy_upgrader(std::string_view type, int from,
                                               int to, upgrader_fn hook = {});

  /// The current declaration of `name`, or nullptr.
  [[nodiscard]] const type_decl* current(std::string_view name) const noexcept;

  /// The declaration of `name` at `version` (current or legacy), or nullptr.
  [[nodiscard]] const type_decl* find(std::string_view name,
                                      int version) const noexcept;

  /// The upgrade step that starts at `from`, or nullptr.
  [[nodiscard]] const upgrader* step_from(std::string_view name,
                                          int from) const noexcept;

  /// Whether items at `from` can reach the current version.
  [[nodiscard]] bool has_path(std::string_view name, int from) const noexcept;

  /// Every current declaration, sorted by name.
  [[nodiscard]] std::vector<const type_decl*> types() const;

  /// Current types with a reference attribute whose target is `name`.
  [[nodiscard]] const std::vector<const type_decl*>&
  referrers(std::string_view name) const;

 private:
  struct entry {
    std::unique_ptr<type_decl> current;
    std::map<int, std::unique_ptr<type_decl>> legacy;
    std::map<int, upgrader> steps;  // by `from`
  };
  std::map<std::string, entry, std::less<>> types_;
  std::map<std::string, std::vector<const type_decl*>, std::less<>> referrers_;
};

} // namespace mantissa::store
