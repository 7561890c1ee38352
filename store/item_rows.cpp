// Single items as rows of their type's table: insert, get, update, and the
// checks of values and references they share.

#include <string>

#include "store/internal/try.hpp"
#include "store/internal/write_op.hpp"
#include "store/store.hpp"

namespace mantissa::store {

using sqlite::quote_identifier;

result<item> store::checked(const type_decl& decl, const item& it) {
  if (it.values.size() != decl.attributes.size())
    return error{errc::invalid_value,
                 "an item of " + decl.name + " needs "
                   + std::to_string(decl.attributes.size()) + " values, got "
                   + std::to_string(it.values.size())};
  item out;
  out.id = it.id;
  out.type = decl.name;
  out.values.reserve(it.values.size());
  for (std::size_t i = 0; i < it.values.size(); ++i) {
    auto v = coerce(decl.attributes[i], it.values[i], opts_.max_value_size);
    if (!v) {
      auto e = std::move(v).error_value();
      e.message = decl.name + ": " + e.message;
      return e;
    }
    out.values.push_back(std::move(*v));
  }
  return out;
}

result<bool> store::exists(const type_decl& decl, item_id id) {
  auto& ts = state_for(decl);
  if (!ts.table_exists)
    return false;
  MANTISSA_TRY_ASSIGN(
    auto st,
    db_->prepare("SELECT 1 FROM "
                 + quote_identifier(table_name(decl.name, decl.version))
                 + " WHERE \"id\" = ?"));
  st->bind_int64(0, id);
  return st->step();
}

result<void> store::check_references(const type_decl& decl, const item& it) {
  for (std::size_t i = 0; i < decl.attributes.size(); ++i) {
    auto& a = decl.attributes[i];
    if (a.type != attribute_type::reference || is_null(it.values[i]))
      continue;
    auto target = std::get<reference>(it.values[i]).id;
    MANTISSA_TRY_ASSIGN(auto tdecl, decl_for(a.target_type));
    if (!state_for(*tdecl).old_rows.empty())
      MANTISSA_TRY(upgrade_all(*tdecl));
    MANTISSA_TRY_ASSIGN(bool found, exists(*tdecl, target));
    if (!found)
      return {errc::invalid_value, decl.name + ": attribute '" + a.name
                                     + "' refers to " + a.target_type + " #"
                                     + std::to_string(target)
                                     + ", which does not exist"};
  }
  return {};
}

result<void>
store::run_hooks(const std::vector<item_hooks>& hooks, std::string_view type,
                 const std::function<result<void>(const item_hooks&)>& call) {
  if (hook_depth_ >= max_hook_depth)
    return {errc::internal,
            "hooks of " + std::string{type} + " nested more than "
              + std::to_string(max_hook_depth)
              + " deep: a hook writes items whose hooks write again"};
  ++hook_depth_;
  struct leave {
    int& depth;
    ~leave() { --depth; }
  } on_exit{hook_depth_};
  for (auto& h : hooks)
    MANTISSA_TRY(call(h));
  return {};
}

result<item_id> store::insert_impl(const type_decl& decl, item& it) {
  MANTISSA_TRY_ASSIGN(auto ok, checked(decl, it));
  auto& hooks = registry_->hooks(decl.name);
  if (!hooks.empty()) {
    MANTISSA_TRY(run_hooks(hooks, decl.name, [&](const item_hooks& h) {
      return h.before_create ? h.before_create(*this, ok) : result<void>{};
    }));
    // What the hooks set is checked like the caller's values.
    MANTISSA_TRY_ASSIGN(ok, checked(decl, ok));
  }
  MANTISSA_TRY(check_references(decl, ok));
  MANTISSA_TRY(ensure_table(decl));
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare(state_for(decl).insert_sql));
  auto id = next_id_;
  st->bind_int64(0, id);
  for (std::size_t i = 0; i < ok.values.size(); ++i)
    st->bind(static_cast<int>(i) + 1, ok.values[i]);
  MANTISSA_TRY(st->run());
  ++next_id_;
  ++item_writes_;
  ok.id = id;
  if (!hooks.empty())
    MANTISSA_TRY(run_hooks(hooks, decl.name, [&](const item_hooks& h) {
      return h.after_create ? h.after_create(*this, ok) : result<void>{};
    }));
  it.id = id;
  it.type = decl.name;
  it.values = std::move(ok.values);
  return id;
}

result<item_id> store::insert(item& it) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(it.type));
  // One INSERT statement is atomic; table creation needs its own savepoint,
  // and so do hooks, which write more.
  return write_op(!registry_->hooks(decl->name).empty(),
                  [&] { return insert_impl(*decl, it); });
}

result<item> store::read_row(const type_decl& decl,
                             const sqlite::statement& st) {
  item it;
  it.id = st.column_int64(0);
  it.type = decl.name;
  it.values.resize(decl.attributes.size());
  for (std::size_t i = 0; i < decl.attributes.size(); ++i) {
    int col = static_cast<int>(i) + 1;
    if (st.column_is_null(col))
      continue;
    auto& v = it.values[i];
    switch (decl.attributes[i].type) {
      case attribute_type::integer: v = st.column_int64(col); break;
      case attribute_type::real: v = st.column_double(col); break;
      case attribute_type::text: v = std::string{st.column_text(col)}; break;
      case attribute_type::bytes: v = blob{std::string{st.column_blob(col)}}; break;
      case attribute_type::boolean: v = st.column_int64(col) != 0; break;
      case attribute_type::timestamp: v = timestamp{st.column_int64(col)}; break;
      case attribute_type::reference: v = reference{st.column_int64(col)}; break;
      case attribute_type::json: {
        auto j = nlohmann::json::parse(st.column_text(col), nullptr, false);
        if (j.is_discarded())
          return error{errc::corrupt, decl.name + " #" + std::to_string(it.id)
                                        + ": attribute '"
                                        + decl.attributes[i].name
                                        + "' holds invalid JSON"};
        v = std::move(j);
        break;
      }
    }
  }
  return it;
}

result<item> store::get(std::string_view type, item_id id) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(type));
  auto& ts = state_for(*decl);
  if (ts.table_exists) {
    MANTISSA_TRY_ASSIGN(auto st,
                        db_->prepare(ts.select_sql + " WHERE \"id\" = ?"));
    st->bind_int64(0, id);
    MANTISSA_TRY_ASSIGN(bool row, st->step());
    if (row)
      return read_row(*decl, *st);
  }
  // Not at the current version: it may wait for an upgrade.
  auto versions = ts.old_rows;
  for (auto& [version, left] : versions) {
    if (left == 0)
      continue;
    MANTISSA_TRY_ASSIGN(auto up, upgrade_one(*decl, version, id));
    if (up)
      return std::move(*up);
  }
  return error{errc::no_such_item, "no " + std::string{type} + " with id "
                                     + std::to_string(id)};
}

result<void> store::update_row(const type_decl& decl, const item& ok) {
  auto& ts = state_for(decl);
  if (!ts.old_rows.empty()) {
    // Make sure the item is at the current version before replacing it.
    MANTISSA_TRY(get(decl.name, ok.id));
  }
  MANTISSA_TRY(check_references(decl, ok));
  if (!ts.table_exists)
    return {errc::no_such_item,
            "no " + decl.name + " with id " + std::to_string(ok.id)};
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare(ts.update_sql));
  int n = static_cast<int>(ok.values.size());
  for (int i = 0; i < n; ++i)
    st->bind(i, ok.values[static_cast<std::size_t>(i)]);
  st->bind_int64(n, ok.id);
  MANTISSA_TRY(st->run());
  if (db_->changes() == 0)
    return {errc::no_such_item,
            "no " + decl.name + " with id " + std::to_string(ok.id)};
  ++item_writes_;
  return {};
}

result<void> store::update_impl(const item& it, item* written) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(it.type));
  MANTISSA_TRY_ASSIGN(auto ok, checked(*decl, it));
  auto& hooks = registry_->hooks(decl->name);
  auto done = [&]() -> result<void> {
    if (written != nullptr)
      written->values = std::move(ok.values);
    return {};
  };
  if (hooks.empty()) {
    MANTISSA_TRY(write_op(false, [&] { return update_row(*decl, ok); }));
    return done();
  }
  MANTISSA_TRY(write_op(true, [&]() -> result<void> {
    MANTISSA_TRY_ASSIGN(auto old, get(decl->name, ok.id));
    auto id = ok.id;
    MANTISSA_TRY(run_hooks(hooks, decl->name, [&](const item_hooks& h) {
      return h.before_update ? h.before_update(*this, old, ok)
                             : result<void>{};
    }));
    MANTISSA_TRY_ASSIGN(ok, checked(*decl, ok));
    ok.id = id;
    MANTISSA_TRY(update_row(*decl, ok));
    return run_hooks(hooks, decl->name, [&](const item_hooks& h) {
      return h.after_update ? h.after_update(*this, old, ok) : result<void>{};
    });
  }));
  return done();
}

result<void> store::update(item& it) {
  return update_impl(it, &it);
}

result<void> store::update(const item& it) {
  return update_impl(it, nullptr);
}

} // namespace mantissa::store
