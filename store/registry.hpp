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

class store;  // store/store.hpp

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

/// Code an offering runs inside the store whenever an item of one type is
/// created, updated or deleted, whichever path writes it (docs/store.md,
/// "Item hooks"). Every member is optional. A hook runs in the same
/// transaction as the write: when it returns an error the write fails with
/// that error and nothing of it, the hook's own writes included, stays.
/// Hooks may read and write other items of the store; those writes fire
/// their own types' hooks, nested at most `max_hook_depth` deep. The
/// items a delete's `nullify` policy changes are updated through their
/// hooks; upgrades of old items fire none.
struct item_hooks {
  /// Before an insert, with the checked values (`next.id` is still 0):
  /// may change `next`'s values, which are checked again afterwards.
  std::function<result<void>(store&, item& next)> before_create;
  /// After the insert; `created.id` is set.
  std::function<result<void>(store&, const item& created)> after_create;
  /// Before an update, with the stored item and the checked new values:
  /// may change `next`'s values (not its id).
  std::function<result<void>(store&, const item& old, item& next)>
    before_update;
  /// After the update, with the item as it was and as it is now.
  std::function<result<void>(store&, const item& old, const item& next)>
    after_update;
  /// Before a delete (also one cascaded from another item's delete), with
  /// the item still stored: an error refuses the delete.
  std::function<result<void>(store&, const item& old)> before_delete;
  /// After the row is gone, with the item as it was.
  std::function<result<void>(store&, const item& old)> after_delete;
};

/// How deeply hooks may nest (a hook writing an item whose hooks write
/// again, ...): one level more fails the outermost write with `internal`.
inline constexpr int max_hook_depth = 8;

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

  /// Adds hooks for the current type `type` (declared already, else
  /// `no_such_type`). Several sets of hooks for one type run in the order
  /// they were added.
  [[nodiscard]] result<void> add_hooks(std::string_view type,
                                       item_hooks hooks);

  /// The hooks of `type`, in the order added; empty when it has none.
  [[nodiscard]] const std::vector<item_hooks>&
  hooks(std::string_view type) const noexcept;

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
    std::vector<item_hooks> hooks;
  };
  std::map<std::string, entry, std::less<>> types_;
  std::map<std::string, std::vector<const type_decl*>, std::less<>> referrers_;
};

} // namespace mantissa::store
