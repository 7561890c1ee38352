// Powerups: items installed on a target item (or on the store) under
// interfaces, with the types they require installed as dependencies.

#include <set>
#include <string>
#include <vector>

#include "store/internal/removal.hpp"
#include "store/internal/rows.hpp"
#include "store/internal/tables.hpp"
#include "store/internal/try.hpp"
#include "store/internal/write_op.hpp"
#include "store/store.hpp"

namespace mantissa::store {

/// The powerup tables: installations and the dependencies between them.
const internal::table_group internal::powerup_tables{
  .sql = R"sql(
CREATE TABLE IF NOT EXISTS mantissa_powerups(
  target INTEGER NOT NULL,
  interface TEXT NOT NULL,
  powerup INTEGER NOT NULL,
  powerup_type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  explicit INTEGER NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY (target, interface, powerup)
) STRICT;
CREATE INDEX IF NOT EXISTS mantissa_powerups_by_powerup
  ON mantissa_powerups(powerup);
CREATE TABLE IF NOT EXISTS mantissa_dependencies(
  target INTEGER NOT NULL,
  dependent INTEGER NOT NULL,
  dependency INTEGER NOT NULL,
  PRIMARY KEY (target, dependent, dependency)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mantissa_dependencies_by_dependency
  ON mantissa_dependencies(target, dependency);
)sql",
  .marker = nullptr};

namespace {

/// A powerup of type `type` installed on `target`, or 0 when none is.
result<item_id> installed_of_type(sqlite::connection& db, item_id target,
                                  const std::string& type) {
  MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT powerup FROM mantissa_powerups "
                                        "WHERE target = ? AND powerup_type = "
                                        "? LIMIT 1",
                                        target, type));
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  return row ? st->column_int64(0) : item_id{0};
}

/// Installs `powerup` on `target` under `p`. Already installed there: an
/// explicit install is `already_exists` when the earlier one was explicit
/// too, and else claims it (no longer deleted with its uninstall).
result<void> install_under(sqlite::connection& db, const item_ref& powerup,
                           item_id target, const powerup_interface& p,
                           bool explicit_install, bool created) {
  MANTISSA_TRY_ASSIGN(auto existing,
                      db.query("SELECT explicit FROM mantissa_powerups WHERE "
                               "target = ? AND interface = ? AND powerup = ?",
                               target, p.interface, powerup.id));
  MANTISSA_TRY_ASSIGN(bool row, existing->step());
  if (row) {
    bool was_explicit = existing->column_int64(0) != 0;
    if (explicit_install && was_explicit)
      return {errc::already_exists,
              powerup.type + " #" + std::to_string(powerup.id)
                + " is already installed under '" + p.interface + "'"};
    if (!explicit_install)
      return {};
    // Claimed explicitly, it is no longer the store's to delete when it is
    // uninstalled.
    return db.run("UPDATE mantissa_powerups SET explicit = 1, created = 0 "
                  "WHERE target = ? AND powerup = ?",
                  target, powerup.id);
  }
  return db.run(
    "INSERT INTO mantissa_powerups(target, interface, powerup, powerup_type, "
    "priority, explicit, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
    target, p.interface, powerup.id, powerup.type, p.priority,
    explicit_install ? 1 : 0, created ? 1 : 0);
}

/// Whether `powerup` was created for `target` (to be deleted with its
/// uninstall); `no_such_item` when it is not installed there.
result<bool> created_on(sqlite::connection& db, const item_ref& powerup,
                        item_id target) {
  MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT max(created), count(*) FROM "
                                        "mantissa_powerups WHERE target = ? "
                                        "AND powerup = ?",
                                        target, powerup.id));
  MANTISSA_TRY(st->step());
  if (st->column_int64(1) == 0)
    return error{errc::no_such_item, powerup.type + " #"
                                       + std::to_string(powerup.id)
                                       + " is not installed there"};
  return st->column_int64(0) != 0;
}

/// Fails with `in_use` while a powerup installed on `target` depends on
/// `powerup`.
result<void> check_no_dependent(sqlite::connection& db,
                                const item_ref& powerup, item_id target) {
  MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT dependent FROM "
                                        "mantissa_dependencies WHERE target = "
                                        "? AND dependency = ? LIMIT 1",
                                        target, powerup.id));
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  if (row)
    return {errc::in_use, "cannot uninstall " + powerup.type + " #"
                            + std::to_string(powerup.id) + ": powerup #"
                            + std::to_string(st->column_int64(0))
                            + " depends on it"};
  return {};
}

/// What `dependent`, installed on `target`, depends on.
result<std::vector<item_id>> dependencies_of(sqlite::connection& db,
                                             item_id target,
                                             item_id dependent) {
  MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT dependency FROM "
                                        "mantissa_dependencies WHERE target = "
                                        "? AND dependent = ?",
                                        target, dependent));
  return internal::int_column(*st);
}

/// A dependency as its dependent's uninstall finds it.
struct dependency_state {
  bool still_needed = false;  ///< another powerup depends on it
  bool explicit_dep = false;  ///< it was also installed explicitly
  bool installed = false;
  std::string type;
};

result<dependency_state> read_dependency(sqlite::connection& db,
                                         item_id target, item_id dep) {
  MANTISSA_TRY_ASSIGN(
    auto st,
    db.query("SELECT (SELECT count(*) FROM mantissa_dependencies WHERE target "
             "= ?1 AND dependency = ?2), (SELECT max(explicit) FROM "
             "mantissa_powerups WHERE target = ?1 AND powerup = ?2), (SELECT "
             "powerup_type FROM mantissa_powerups WHERE target = ?1 AND "
             "powerup = ?2 LIMIT 1)",
             target, dep));
  MANTISSA_TRY(st->step());
  return dependency_state{st->column_int64(0) > 0, st->column_int64(1) != 0,
                          !st->column_is_null(2),
                          std::string{st->column_text(2)}};
}

} // namespace

result<void>
store::install(const item_ref& powerup, item_id target,
               std::optional<std::vector<powerup_interface>> interfaces) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(powerup.type));
  auto ifaces = interfaces ? std::move(*interfaces)
                           : decl->powerup_interfaces;
  return write_op(true, [&] {
    return install_impl(powerup, target, ifaces, true, false, 0);
  });
}

result<void>
store::install_impl(const item_ref& powerup, item_id target,
                    const std::vector<powerup_interface>& interfaces,
                    bool explicit_install, bool created, int depth) {
  if (depth > 16)
    return {errc::invalid_value,
            "powerup requirements of " + powerup.type + " form a cycle"};
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(powerup.type));
  MANTISSA_TRY_ASSIGN(bool found, exists(*decl, powerup.id));
  if (!found)
    return {errc::no_such_item, "no " + powerup.type + " with id "
                                  + std::to_string(powerup.id)};
  if (interfaces.empty())
    return {errc::invalid_value, "type " + powerup.type
                                   + " declares no powerup interface; name one"};
  for (auto& p : interfaces)
    MANTISSA_TRY(validate_attribute_name(p.interface));
  for (auto& required : decl->requires_types) {
    MANTISSA_TRY_ASSIGN(auto rdecl, decl_for(required));
    MANTISSA_TRY_ASSIGN(item_id dep, installed_of_type(*db_, target, required));
    if (dep == 0) {
      item it = make_item(*rdecl);
      auto id = insert_impl(*rdecl, it);
      if (!id) {
        auto e = std::move(id).error_value();
        e.message = "cannot create " + required + " required by "
                    + powerup.type + ": " + e.message;
        return e;
      }
      MANTISSA_TRY(install_impl({required, *id}, target,
                                rdecl->powerup_interfaces, false, true,
                                depth + 1));
      dep = *id;
    }
    MANTISSA_TRY(db_->run("INSERT OR IGNORE INTO mantissa_dependencies"
                          "(target, dependent, dependency) VALUES (?, ?, ?)",
                          target, powerup.id, dep));
  }
  for (auto& p : interfaces)
    MANTISSA_TRY(
      install_under(*db_, powerup, target, p, explicit_install, created));
  return {};
}

result<void> store::uninstall(const item_ref& powerup, item_id target) {
  return write_op(true,
                  [&] { return uninstall_impl(powerup, target, false); });
}

result<void> store::uninstall_impl(const item_ref& powerup, item_id target,
                                   bool force_dependency) {
  MANTISSA_TRY_ASSIGN(bool created, created_on(*db_, powerup, target));
  if (!force_dependency)
    MANTISSA_TRY(check_no_dependent(*db_, powerup, target));
  MANTISSA_TRY_ASSIGN(auto deps, dependencies_of(*db_, target, powerup.id));
  for (const char* sql :
       {"DELETE FROM mantissa_powerups WHERE target = ? AND powerup = ?",
        "DELETE FROM mantissa_dependencies WHERE target = ? AND dependent = ?"})
    MANTISSA_TRY(db_->run(sql, target, powerup.id));
  for (auto dep : deps) {
    MANTISSA_TRY_ASSIGN(auto d, read_dependency(*db_, target, dep));
    if (d.still_needed || d.explicit_dep || !d.installed)
      continue;
    MANTISSA_TRY(uninstall_impl({d.type, dep}, target, true));
  }
  if (created) {
    MANTISSA_TRY_ASSIGN(auto decl, decl_for(powerup.type));
    std::set<item_id> removing;
    MANTISSA_TRY(remove_impl(*decl, powerup.id, removing));
    MANTISSA_TRY(internal::check_disallowed(*db_, *registry_, removing));
  }
  return {};
}

result<std::vector<item>> store::powerups_for(std::string_view interface,
                                              item_id target) {
  std::vector<item_ref> refs;
  {
    MANTISSA_TRY_ASSIGN(
      auto st,
      db_->query("SELECT powerup_type, powerup FROM mantissa_powerups WHERE "
                 "target = ? AND interface = ? ORDER BY priority DESC, rowid",
                 target, interface));
    MANTISSA_TRY(st->for_each_row([&] {
      refs.push_back({std::string{st->column_text(0)}, st->column_int64(1)});
    }));
  }
  std::vector<item> out;
  out.reserve(refs.size());
  for (auto& r : refs) {
    MANTISSA_TRY_ASSIGN(auto it, get(r.type, r.id));
    out.push_back(std::move(it));
  }
  return out;
}

result<std::vector<installation>> store::installations(item_id target) {
  MANTISSA_TRY_ASSIGN(
    auto st,
    db_->query("SELECT powerup_type, powerup, interface, priority, explicit "
               "FROM mantissa_powerups WHERE target = ? ORDER BY interface, "
               "priority DESC, rowid",
               target));
  std::vector<installation> out;
  MANTISSA_TRY(st->for_each_row([&] {
    out.push_back({{std::string{st->column_text(0)}, st->column_int64(1)},
                   target,
                   std::string{st->column_text(2)},
                   static_cast<int>(st->column_int64(3)),
                   st->column_int64(4) != 0});
  }));
  return out;
}

} // namespace mantissa::store
