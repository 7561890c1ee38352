// Items stored at older versions of their type: upgraded one at a time
// through the registry's upgraders, on access or in the background.

#include <optional>
#include <string>

#include "store/internal/catalogue.hpp"
#include "store/internal/try.hpp"
#include "store/internal/write_op.hpp"
#include "store/store.hpp"

namespace mantissa::store {

using sqlite::quote_identifier;

namespace {

/// Runs the upgraders of `cur`'s type on `current`, an item stored at
/// `version`, one version at a time up to `cur.version`.
result<item> run_upgraders(const type_registry& registry, const type_decl& cur,
                           int version, item current) {
  for (int v = version; v != cur.version;) {
    auto* step = registry.step_from(cur.name, v);
    auto* next = step ? registry.find(cur.name, step->to) : nullptr;
    auto* from_decl = registry.find(cur.name, v);
    if (step == nullptr || next == nullptr || from_decl == nullptr)
      return error{errc::no_upgrade_path,
                   "no upgrade path for " + cur.name + " from version "
                     + std::to_string(v)};
    item up = make_item(*next);
    up.id = current.id;
    if (step->copy_attributes) {
      for (std::size_t j = 0; j < next->attributes.size(); ++j) {
        auto& na = next->attributes[j];
        auto k = from_decl->index_of(na.name);
        if (k >= 0 && from_decl->attributes[static_cast<std::size_t>(k)].type
                        == na.type)
          up.values[j] = current.values[static_cast<std::size_t>(k)];
      }
    }
    if (step->fn) {
      if (auto r = step->fn(current, up); !r) {
        auto e = std::move(r).error_value();
        e.message = "upgrading " + cur.name + " #" + std::to_string(current.id)
                    + " from version " + std::to_string(v) + " to "
                    + std::to_string(step->to) + " failed: " + e.message;
        return e;
      }
    }
    current = std::move(up);
    v = step->to;
  }
  return current;
}

} // namespace

result<std::optional<item>> store::upgrade_one(const type_decl& cur,
                                               int version,
                                               std::optional<item_id> id) {
  auto* old_decl = registry_->find(cur.name, version);
  if (old_decl == nullptr)
    return error{errc::no_upgrade_path,
                 "no declaration of " + cur.name + " version "
                   + std::to_string(version)};
  auto old_table = quote_identifier(table_name(cur.name, version));
  std::optional<item> old;
  {
    std::string sql
      = "SELECT " + internal::column_list(*old_decl) + " FROM " + old_table;
    sql += id ? " WHERE \"id\" = ?" : " LIMIT 1";
    MANTISSA_TRY_ASSIGN(auto st, db_->prepare(sql));
    if (id)
      st->bind_int64(0, *id);
    MANTISSA_TRY_ASSIGN(bool row, st->step());
    if (!row)
      return std::optional<item>{};
    MANTISSA_TRY_ASSIGN(old, read_row(*old_decl, *st));
  }
  MANTISSA_TRY_ASSIGN(item current,
                      run_upgraders(*registry_, cur, version, *old));
  auto ok = checked(cur, current);
  if (!ok) {
    auto e = std::move(ok).error_value();
    e.message = "upgraded " + cur.name + " #" + std::to_string(current.id)
                + " is invalid: " + e.message;
    return e;
  }
  if (opts_.read_only)
    return std::optional<item>{std::move(*ok)};
  MANTISSA_TRY(write_op(true, [&]() -> result<void> {
    MANTISSA_TRY(ensure_table(cur));
    MANTISSA_TRY_ASSIGN(auto ins, db_->prepare(state_for(cur).insert_sql));
    ins->bind_int64(0, ok->id);
    for (std::size_t i = 0; i < ok->values.size(); ++i)
      ins->bind(static_cast<int>(i) + 1, ok->values[i]);
    MANTISSA_TRY(ins->run());
    MANTISSA_TRY_ASSIGN(
      auto del, db_->prepare("DELETE FROM " + old_table + " WHERE \"id\" = ?"));
    del->bind_int64(0, ok->id);
    MANTISSA_TRY(del->run());
    auto& ts = state_for(cur);
    if (--ts.old_rows[version] <= 0) {
      ts.old_rows.erase(version);
      MANTISSA_TRY(db_->exec("DROP TABLE " + old_table));
      MANTISSA_TRY_ASSIGN(
        auto cat,
        db_->prepare(
          "DELETE FROM mantissa_types WHERE name = ? AND version = ?"));
      cat->bind_text(0, cur.name);
      cat->bind_int64(1, version);
      MANTISSA_TRY(cat->run());
      db_->clear_cache();
    }
    return {};
  }));
  return std::optional<item>{std::move(*ok)};
}

result<void> store::upgrade_all(const type_decl& decl) {
  for (;;) {
    auto& ts = state_for(decl);
    if (ts.old_rows.empty())
      return {};
    auto version = ts.old_rows.begin()->first;
    MANTISSA_TRY_ASSIGN(auto r, upgrade_one(decl, version, std::nullopt));
    if (!r) {
      // The counter was off (rows removed elsewhere): nothing left there.
      state_for(decl).old_rows.erase(version);
    }
  }
}

result<std::int64_t> store::upgrade_step(std::int64_t max_items) {
  std::int64_t done = 0;
  for (auto* decl : registry_->types()) {
    while (done < max_items && !state_for(*decl).old_rows.empty()) {
      auto version = state_for(*decl).old_rows.begin()->first;
      MANTISSA_TRY_ASSIGN(auto r, upgrade_one(*decl, version, std::nullopt));
      if (!r)
        state_for(*decl).old_rows.erase(version);
      ++done;
    }
  }
  return pending_upgrades();
}

std::int64_t store::pending_upgrades() const noexcept {
  std::int64_t n = 0;
  for (auto& [name, ts] : types_)
    for (auto& [version, left] : ts.old_rows)
      n += left;
  return n;
}

} // namespace mantissa::store
