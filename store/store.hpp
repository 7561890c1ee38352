#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"
#include "store/item.hpp"
#include "store/query.hpp"
#include "store/registry.hpp"
#include "store/sqlite.hpp"

namespace mantissa::store {

struct visibility;  // store/sharing.hpp

/// How a store is opened.
struct store_options {
  sqlite::synchronous_mode synchronous = sqlite::synchronous_mode::full;
  bool create = true;      ///< create a missing file (and its catalogue)
  bool read_only = false;
  /// Largest text, bytes or JSON value accepted when the attribute sets no
  /// limit of its own.
  std::size_t max_value_size = 16 * 1024 * 1024;
};

/// Aggregate functions over one attribute.
enum class aggregate_fn : std::uint8_t { sum, min, max, avg };

/// One powerup installation: `powerup` is installed on `target` (0: the
/// store itself) under `interface` with `priority`.
struct installation {
  item_ref powerup;
  item_id target = 0;
  std::string interface;
  int priority = 0;
  bool explicit_install = true;  ///< false: installed as a dependency
};

/// One SQLite file of typed items: a site, user or app store.
///
/// Thread rule: single-threaded. A store is used only by the actor that owns
/// it; it has no locks because nothing else touches it.
///
/// Durability: a write made outside a transaction is committed (durably, at
/// the configured synchronous level) when the call returns; inside a
/// transaction it becomes durable when the outermost `commit` returns.
class store {
 public:
  /// Opens or creates the store at `path`. Checks the catalogue against the
  /// registry: a file written by a newer format or a newer version of a type
  /// is `version_too_new`; old items with no upgrade path are
  /// `no_upgrade_path` naming the type and versions. `registry` must outlive
  /// the store.
  [[nodiscard]] static result<std::unique_ptr<store>>
  open(const std::filesystem::path& path, const type_registry& registry,
       const store_options& opts = {});

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // -- transactions ----------------------------------------------------------

  /// Begins a transaction (BEGIN IMMEDIATE), or joins the one in progress.
  [[nodiscard]] result<void> begin();
  /// Ends the innermost `begin`; the outermost one commits. If a nested
  /// transaction failed, the outermost commit rolls back instead and
  /// returns an error.
  [[nodiscard]] result<void> commit();
  /// Abandons the innermost `begin`: the outermost rolls back at once;
  /// an inner one dooms the whole transaction (see `commit`).
  void rollback() noexcept;
  /// Whether a transaction is in progress.
  [[nodiscard]] bool in_transaction() const noexcept { return depth_ > 0; }

  /// Runs `f` in a transaction (joining an outer one): commits when `f`
  /// returns a value, rolls everything back when it returns an error or
  /// throws (the exception propagates).
  template <class F>
  auto transact(F&& f) -> decltype(f()) {
    MANTISSA_TRY(begin());
    try {
      auto r = f();
      if (!r) {
        rollback();
        return r;
      }
      MANTISSA_TRY(commit());
      return r;
    } catch (...) {
      rollback();
      throw;
    }
  }

  /// Runs `f` as one unit: inside a savepoint when a transaction is in
  /// progress (its failure undoes only its own writes, see `isolated`),
  /// else in a transaction of its own (see `transact`).
  template <class F>
  auto atomically(F&& f) -> decltype(f()) {
    if (in_transaction())
      return isolated(std::forward<F>(f));
    return transact(std::forward<F>(f));
  }

  /// Runs `f` inside a savepoint of the transaction in progress (which must
  /// exist): when `f` returns an error or throws, only `f`'s writes are
  /// undone and the enclosing transaction goes on, not doomed even if `f`
  /// used `transact` and failed. Used to run one handler of a group-commit
  /// batch.
  template <class F>
  auto isolated(F&& f) -> decltype(f()) {
    if (depth_ == 0)
      return error{errc::internal, "isolated() needs a transaction"};
    auto saved_depth = depth_;
    auto saved_doomed = doomed_;
    MANTISSA_TRY(savepoint());
    auto undo = [&] {
      rollback_savepoint();
      depth_ = saved_depth;
      doomed_ = saved_doomed;
    };
    try {
      auto r = f();
      if (!r || depth_ != saved_depth) {
        undo();
        if (r)
          return error{errc::internal, "unbalanced begin/commit inside a handler"};
        return r;
      }
      MANTISSA_TRY(release_savepoint());
      return r;
    } catch (...) {
      undo();
      throw;
    }
  }

  // -- items -----------------------------------------------------------------

  /// Inserts `it` (of a type declared in the registry) and sets `it.id` to
  /// its new id; `it` then holds the values written (as checked, and as the
  /// type's hooks set them). Values are checked against the declaration;
  /// references must point at existing items of their target type. The
  /// type's hooks (`item_hooks`, registry.hpp) run in the same transaction.
  [[nodiscard]] result<item_id> insert(item& it);

  /// Loads an item. Not found (or of another type) is `no_such_item`. An
  /// item stored at an older version is upgraded first.
  [[nodiscard]] result<item> get(std::string_view type, item_id id);

  /// Replaces every attribute of an existing item; `it` then holds the
  /// values written (the type's update hooks may have changed them).
  [[nodiscard]] result<void> update(item& it);
  /// The same for a value the caller keeps as it is.
  [[nodiscard]] result<void> update(const item& it);

  /// Deletes an item, applying the delete policies of references to it
  /// (nullify, cascade, disallow) and removing its powerup installations.
  /// The delete hooks of it and of every item cascaded run. On any error
  /// nothing changes.
  [[nodiscard]] result<void> remove(std::string_view type, item_id id);

  /// Runs a query. Items are sorted by the query's keys, then by id.
  [[nodiscard]] result<std::vector<item>> select(const query& q);

  /// Calls `f` for every item a query yields, without holding them all.
  [[nodiscard]] result<void>
  for_each(const query& q, const std::function<void(item&&)>& f);

  /// Number of items of `type` matching `where`.
  [[nodiscard]] result<std::int64_t> count(std::string_view type,
                                           const condition& where = {});

  // The same, restricted to the items `vis` makes visible: those shared
  // with one of `vis.roles` under `vis.interface` (sharing.hpp). The
  // restriction is part of the SQL, so sort, limit, offset and count apply
  // to visible items only. No roles (or a read-only file from before the
  // sharing tables): nothing is visible.

  /// `select` of the items `vis` makes visible.
  [[nodiscard]] result<std::vector<item>> select(const query& q,
                                                 const visibility& vis);
  /// `for_each` over the items `vis` makes visible.
  [[nodiscard]] result<void> for_each(const query& q,
                                      const std::function<void(item&&)>& f,
                                      const visibility& vis);
  /// `count` of the items `vis` makes visible.
  [[nodiscard]] result<std::int64_t> count(std::string_view type,
                                           const condition& where,
                                           const visibility& vis);

  /// `fn` over `attr` for the items matching `where`; null when none match.
  /// Sum and avg need an integer or real attribute.
  [[nodiscard]] result<value> aggregate(std::string_view type, aggregate_fn fn,
                                        std::string_view attr,
                                        const condition& where = {});

  /// The distinct values of `attr` among matching items, ascending.
  [[nodiscard]] result<std::vector<value>>
  distinct(std::string_view type, std::string_view attr,
           const condition& where = {});

  /// Deletes every matching item as `remove` does (policies honoured); all
  /// or nothing. Returns how many matched.
  [[nodiscard]] result<std::int64_t> remove_where(std::string_view type,
                                                  const condition& where);

  // -- powerups --------------------------------------------------------------

  /// Installs `powerup` on `target` (0: the store) under `interfaces`
  /// (default: its type's `powerup_interfaces`). Types the powerup's type
  /// requires are installed on the same target first: an installed item of
  /// that type is reused, else one is created with default values.
  /// Installing the same powerup under the same interface again is
  /// `already_exists`.
  [[nodiscard]] result<void>
  install(const item_ref& powerup, item_id target = 0,
          std::optional<std::vector<powerup_interface>> interfaces
          = std::nullopt);

  /// Removes `powerup` from `target` under every interface. Refused with
  /// `in_use` while another installed powerup depends on it. Dependencies
  /// installed only for it are uninstalled too (and deleted when they were
  /// created for it).
  [[nodiscard]] result<void> uninstall(const item_ref& powerup,
                                       item_id target = 0);

  /// The powerups installed on `target` under `interface`, highest priority
  /// first (ties: earliest installed first), loaded.
  [[nodiscard]] result<std::vector<item>>
  powerups_for(std::string_view interface, item_id target = 0);

  /// Every installation on `target`.
  [[nodiscard]] result<std::vector<installation>>
  installations(item_id target = 0);

  // -- maintenance -----------------------------------------------------------

  /// Upgrades at most `max_items` items stored at older versions; returns
  /// how many are left. Called in the background by the owner.
  [[nodiscard]] result<std::int64_t> upgrade_step(std::int64_t max_items);

  /// Number of items still stored at older versions.
  [[nodiscard]] std::int64_t pending_upgrades() const noexcept;

  /// Writes a consistent copy of the whole store to `target` (SQLite online
  /// backup); the copy opens as a store of its own.
  [[nodiscard]] result<void> backup_to(const std::filesystem::path& target);

  /// Runs SQLite's integrity check; returns "ok" or the problems found.
  [[nodiscard]] result<std::string> integrity_check();

  [[nodiscard]] const std::filesystem::path& path() const noexcept;
  [[nodiscard]] const type_registry& registry() const noexcept {
    return *registry_;
  }

  /// The connection, for layers that keep tables of their own in the store
  /// (scheduler, message queues). Use only from the owning actor.
  [[nodiscard]] sqlite::connection& connection() noexcept { return *db_; }

  /// Whether the file has the sharing tables (sharing.hpp). Always true
  /// when open read-write (they are created on open if missing); false for
  /// a file from before them opened read-only.
  [[nodiscard]] bool has_sharing_tables() const noexcept {
    return sharing_tables_;
  }

  /// Whether the file has the schedule tables (scheduler.hpp); as
  /// `has_sharing_tables`.
  /// Changes whenever shares, group memberships or the default share of
  /// this store change (through store/sharing.hpp), so that callers can
  /// keep what access checks found until it does.
  [[nodiscard]] std::uint64_t sharing_version() const noexcept {
    return sharing_version_;
  }
  /// Called by store/sharing.hpp's writers.
  void note_sharing_change() noexcept { ++sharing_version_; }

  [[nodiscard]] bool has_schedule_tables() const noexcept {
    return schedule_tables_;
  }

  /// How many items were inserted, updated or deleted through this object
  /// (hooks' writes and cascaded deletes included). A caller that keeps
  /// copies of items compares it around one write to learn whether other
  /// items changed too.
  [[nodiscard]] std::uint64_t item_writes() const noexcept {
    return item_writes_;
  }

 private:
  struct type_state {
    bool table_exists = false;  // current-version table is created
    std::map<int, std::int64_t> old_rows;  // version -> rows left to upgrade
    std::string select_sql;  // SELECT id, columns FROM table
    std::string insert_sql;
    std::string update_sql;
  };
  type_state& state_for(const type_decl& decl);

  store(std::unique_ptr<sqlite::connection> db, const type_registry& reg,
        const store_options& opts);

  result<void> init_catalogue();
  result<void> probe_sharing_tables();
  /// Reads `mantissa_meta` (format check, id counter, catalogue version);
  /// `missing_ok`: a file without it reads as catalogue 0.
  result<void> read_meta(bool missing_ok);
  result<void> load_types();
  result<void> load_catalogue();
  result<const type_decl*> decl_for(std::string_view type) const;
  result<void> ensure_table(const type_decl& decl);
  result<void> persist_next_id();
  result<item> read_row(const type_decl& decl, const sqlite::statement& st);
  result<item> checked(const type_decl& decl, const item& it);
  result<void> check_references(const type_decl& decl, const item& it);
  result<bool> exists(const type_decl& decl, item_id id);
  result<void> remove_impl(const type_decl& decl, item_id id,
                           std::set<item_id>& removing);
  result<void> for_each_impl(const query& q,
                             const std::function<void(item&&)>& f,
                             const visibility* vis);
  result<std::int64_t> count_impl(std::string_view type,
                                  const condition& where,
                                  const visibility* vis);
  bool sees_nothing(const visibility* vis) const noexcept;
  result<std::optional<item>> upgrade_one(const type_decl& cur, int version,
                                          std::optional<item_id> id);
  result<void> upgrade_all(const type_decl& decl);
  result<void> install_impl(const item_ref& powerup, item_id target,
                            const std::vector<powerup_interface>& interfaces,
                            bool explicit_install, bool created, int depth);
  result<item_id> insert_impl(const type_decl& decl, item& it);
  result<void> update_row(const type_decl& decl, const item& ok);
  /// `update`; on success `written` (may be `&it`, or null) gets the
  /// values written.
  result<void> update_impl(const item& it, item* written);
  /// Calls `call` with each set of `hooks` (of `type`), one nesting level
  /// deeper; past `max_hook_depth` it fails without calling them.
  result<void>
  run_hooks(const std::vector<item_hooks>& hooks, std::string_view type,
            const std::function<result<void>(const item_hooks&)>& call);
  template <class F>
  auto write_op(bool needs_savepoint, F&& f) -> decltype(f());
  result<void> uninstall_impl(const item_ref& powerup, item_id target,
                              bool force_dependency);
  result<void> savepoint();
  void rollback_savepoint() noexcept;
  result<void> release_savepoint();

  std::unique_ptr<sqlite::connection> db_;
  const type_registry* registry_;
  store_options opts_;
  int depth_ = 0;
  bool doomed_ = false;
  int savepoints_ = 0;
  item_id next_id_ = 1;
  item_id persisted_next_id_ = 1;
  bool sharing_tables_ = false;
  bool schedule_tables_ = false;
  std::int64_t catalogue_ = 0;  // mantissa_meta's 'catalogue' (0: not recorded)
  std::uint64_t sharing_version_ = 0;
  std::uint64_t item_writes_ = 0;
  int hook_depth_ = 0;  // hooks running now, nested
  std::map<std::string, type_state, std::less<>> types_;
};

} // namespace mantissa::store
