// Deleting items: the delete policies of references (nullify, cascade,
// disallow), the powerup installations, shares and scheduled events that
// go with an item.

#include <set>
#include <string>
#include <vector>

#include "store/internal/removal.hpp"
#include "store/internal/rows.hpp"
#include "store/internal/scheduler.hpp"
#include "store/internal/sharing.hpp"
#include "store/internal/try.hpp"
#include "store/internal/write_op.hpp"
#include "store/store.hpp"

namespace mantissa::store {

namespace {

using sqlite::quote_identifier;

/// Whether the file has a table named `table`.
result<bool> has_table(sqlite::connection& db, const std::string& table) {
  MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT 1 FROM sqlite_schema WHERE "
                                        "type = 'table' AND name = ?",
                                        table));
  return st->step();
}

/// Fails with `disallowed` when an item of `d` (in `table`) refers to one
/// of `removed` through its `disallow` reference `a`.
result<void> check_no_referrer(sqlite::connection& db, const type_decl& d,
                               const std::string& table,
                               const attribute_decl& a,
                               const std::set<item_id>& removed) {
  MANTISSA_TRY_ASSIGN(auto st, db.prepare("SELECT \"id\" FROM "
                                          + quote_identifier(table) + " WHERE "
                                          + quote_identifier(a.name)
                                          + " = ? LIMIT 1"));
  for (auto id : removed) {
    st->bind_int64(0, id);
    MANTISSA_TRY_ASSIGN(bool row, st->step());
    if (row)
      return {errc::disallowed,
              "cannot delete " + a.target_type + " #" + std::to_string(id)
                + ": " + d.name + " #" + std::to_string(st->column_int64(0))
                + " refers to it through '" + a.name
                + "' (on delete: disallow)"};
    st->reset();
  }
  return {};
}

/// Fails with `in_use` when an installed powerup depends on item `id`.
result<void> check_not_depended_on(sqlite::connection& db,
                                   const type_decl& decl, item_id id) {
  MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT dependent FROM "
                                        "mantissa_dependencies WHERE "
                                        "dependency = ? LIMIT 1",
                                        id));
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  if (row)
    return {errc::in_use, "cannot delete " + decl.name + " #"
                            + std::to_string(id) + ": powerup #"
                            + std::to_string(st->column_int64(0))
                            + " depends on it"};
  return {};
}

/// The ids of the items in `table` whose column `col` (quoted) is `id`.
result<std::vector<item_id>> referrers_of(sqlite::connection& db,
                                          const std::string& table,
                                          const std::string& col, item_id id) {
  MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT \"id\" FROM " + table
                                          + " WHERE " + col + " = ?",
                                        id));
  return internal::int_column(*st);
}

/// The targets powerup `id` is installed on; they no longer count it as
/// created for them, so that uninstalling it there does not delete it.
result<std::vector<item_id>> disown_installations(sqlite::connection& db,
                                                  item_id id) {
  std::vector<item_id> targets;
  {
    MANTISSA_TRY_ASSIGN(auto st, db.query("SELECT DISTINCT target FROM "
                                          "mantissa_powerups WHERE powerup = ?",
                                          id));
    MANTISSA_TRY_ASSIGN(targets, internal::int_column(*st));
  }
  if (!targets.empty())
    MANTISSA_TRY(db.run(
      "UPDATE mantissa_powerups SET created = 0 WHERE powerup = ?", id));
  return targets;
}

/// The powerups created for item `id` as a target.
result<std::vector<item_ref>> created_for(sqlite::connection& db,
                                          item_id id) {
  MANTISSA_TRY_ASSIGN(auto st,
                      db.query("SELECT DISTINCT powerup_type, powerup FROM "
                               "mantissa_powerups WHERE target = ? AND "
                               "created = 1",
                               id));
  std::vector<item_ref> out;
  MANTISSA_TRY(st->for_each_row([&] {
    out.push_back({std::string{st->column_text(0)}, st->column_int64(1)});
  }));
  return out;
}

/// Deletes the installations of item `id` and those on it, and what the
/// item owns in the other features' tables (present or not in the file).
result<void> forget_item(sqlite::connection& db, item_id id,
                         bool sharing_tables, bool schedule_tables) {
  MANTISSA_TRY(db.run(
    "DELETE FROM mantissa_powerups WHERE powerup = ?1 OR target = ?1", id));
  MANTISSA_TRY(db.run("DELETE FROM mantissa_dependencies "
                      "WHERE dependent = ?1 OR target = ?1",
                      id));
  // So do its shares (see sharing.hpp).
  if (sharing_tables)
    MANTISSA_TRY(internal::remove_shares_of(db, id));
  // And its scheduled events (see scheduler.hpp).
  if (schedule_tables)
    MANTISSA_TRY(internal::remove_events_of(db, id));
  return {};
}

} // namespace

result<void> internal::check_disallowed(sqlite::connection& db,
                                        const type_registry& reg,
                                        const std::set<item_id>& removed) {
  if (removed.empty())
    return {};
  for (auto* d : reg.types()) {
    auto table = table_name(d->name, d->version);
    bool table_known = false;
    for (auto& a : d->attributes) {
      if (a.type != attribute_type::reference
          || a.on_delete != delete_policy::disallow)
        continue;
      if (!table_known) {
        MANTISSA_TRY_ASSIGN(table_known, has_table(db, table));
        if (!table_known)
          break;
      }
      MANTISSA_TRY(check_no_referrer(db, *d, table, a, removed));
    }
  }
  return {};
}

result<void> store::remove(std::string_view type, item_id id) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(type));
  return write_op(true, [&]() -> result<void> {
    std::set<item_id> removing;
    MANTISSA_TRY(remove_impl(*decl, id, removing));
    return internal::check_disallowed(*db_, *registry_, removing);
  });
}

result<void> store::remove_impl(const type_decl& decl, item_id id,
                                std::set<item_id>& removing) {
  if (removing.count(id) != 0)
    return {};
  if (!state_for(decl).old_rows.empty())
    MANTISSA_TRY(upgrade_all(decl));
  MANTISSA_TRY_ASSIGN(bool found, exists(decl, id));
  if (!found)
    return {errc::no_such_item,
            "no " + decl.name + " with id " + std::to_string(id)};
  removing.insert(id);
  auto& hooks = registry_->hooks(decl.name);
  item old;
  if (!hooks.empty()) {
    MANTISSA_TRY_ASSIGN(old, get(decl.name, id));
    MANTISSA_TRY(run_hooks(hooks, decl.name, [&](const item_hooks& h) {
      return h.before_delete ? h.before_delete(*this, old) : result<void>{};
    }));
  }
  MANTISSA_TRY(check_not_depended_on(*db_, decl, id));
  for (auto* referrer : registry_->referrers(decl.name)) {
    if (!state_for(*referrer).old_rows.empty())
      MANTISSA_TRY(upgrade_all(*referrer));
    if (!state_for(*referrer).table_exists)
      continue;
    auto table = quote_identifier(table_name(referrer->name, referrer->version));
    for (auto& a : referrer->attributes) {
      if (a.type != attribute_type::reference || a.target_type != decl.name)
        continue;
      auto col = quote_identifier(a.name);
      // Disallow is checked once the whole delete is done (see
      // check_disallowed).
      if (a.on_delete == delete_policy::disallow)
        continue;
      if (a.on_delete == delete_policy::nullify) {
        if (registry_->hooks(referrer->name).empty()) {
          MANTISSA_TRY(db_->run("UPDATE " + table + " SET " + col
                                  + " = NULL WHERE " + col + " = ?",
                                id));
          continue;
        }
        // One update per item, so that the type's update hooks run.
        MANTISSA_TRY_ASSIGN(auto refs, referrers_of(*db_, table, col, id));
        for (auto ref : refs) {
          MANTISSA_TRY_ASSIGN(auto it, get(referrer->name, ref));
          it.values[static_cast<std::size_t>(referrer->index_of(a.name))]
            = value{};
          MANTISSA_TRY(update(it));
        }
        continue;
      }
      MANTISSA_TRY_ASSIGN(auto refs, referrers_of(*db_, table, col, id));
      for (auto ref : refs)
        MANTISSA_TRY(remove_impl(*referrer, ref, removing));
    }
  }
  // Wherever this item is installed it is uninstalled first, so that
  // dependencies installed only for it go too (the item itself is deleted
  // below, not by the uninstall).
  MANTISSA_TRY_ASSIGN(auto targets, disown_installations(*db_, id));
  for (auto target : targets)
    MANTISSA_TRY(uninstall_impl({decl.name, id}, target, true));
  // Powerups created for this item as a target are deleted after it.
  MANTISSA_TRY_ASSIGN(auto created_here, created_for(*db_, id));
  // Installations of this item, and installations on it, go with it.
  MANTISSA_TRY(forget_item(*db_, id, sharing_tables_, schedule_tables_));
  MANTISSA_TRY(db_->run("DELETE FROM "
                          + quote_identifier(table_name(decl.name, decl.version))
                          + " WHERE \"id\" = ?",
                        id));
  ++item_writes_;
  if (!hooks.empty())
    MANTISSA_TRY(run_hooks(hooks, decl.name, [&](const item_hooks& h) {
      return h.after_delete ? h.after_delete(*this, old) : result<void>{};
    }));
  for (auto& p : created_here) {
    MANTISSA_TRY_ASSIGN(auto pdecl, decl_for(p.type));
    MANTISSA_TRY_ASSIGN(bool still_there, exists(*pdecl, p.id));
    if (still_there)
      MANTISSA_TRY(remove_impl(*pdecl, p.id, removing));
  }
  return {};
}

result<std::int64_t> store::remove_where(std::string_view type,
                                         const condition& where) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(type));
  return write_op(true, [&]() -> result<std::int64_t> {
    std::vector<item_id> ids;
    query q;
    q.type = std::string{type};
    q.where = where;
    MANTISSA_TRY(for_each(q, [&](item&& it) { ids.push_back(it.id); }));
    std::set<item_id> removing;
    for (auto id : ids)
      MANTISSA_TRY(remove_impl(*decl, id, removing));
    MANTISSA_TRY(internal::check_disallowed(*db_, *registry_, removing));
    return static_cast<std::int64_t>(ids.size());
  });
}

} // namespace mantissa::store
