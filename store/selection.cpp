// Queries over a type's items: for_each, select, count, aggregate and
// distinct, with or without a visibility restriction (sharing.hpp).

#include <string>
#include <vector>

#include "store/internal/sharing.hpp"
#include "store/internal/try.hpp"
#include "store/sharing.hpp"
#include "store/store.hpp"

namespace mantissa::store {

using internal::bind_visibility;
using internal::visibility_sql;
using sqlite::quote_identifier;

result<void> store::for_each(const query& q,
                             const std::function<void(item&&)>& f) {
  return for_each_impl(q, f, nullptr);
}

result<void> store::for_each(const query& q,
                             const std::function<void(item&&)>& f,
                             const visibility& vis) {
  return for_each_impl(q, f, &vis);
}

bool store::sees_nothing(const visibility* vis) const noexcept {
  return vis != nullptr && (vis->roles.empty() || !sharing_tables_);
}

result<void> store::for_each_impl(const query& q,
                                  const std::function<void(item&&)>& f,
                                  const visibility* vis) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(q.type));
  if (q.limit < -1 || q.offset < 0)
    return {errc::invalid_query, "limit and offset must not be negative"};
  MANTISSA_TRY_ASSIGN(auto c, compile(*decl, q.where, q.sort));
  auto& ts = state_for(*decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(*decl));
  if (!ts.table_exists || sees_nothing(vis))
    return {};
  std::string sql = ts.select_sql + " WHERE " + c.where_sql;
  if (vis != nullptr)
    sql += visibility_sql(vis->roles.size());
  sql += " ORDER BY " + c.order_sql;
  if (q.limit >= 0 || q.offset > 0)
    sql += " LIMIT ? OFFSET ?";
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare(sql));
  int n = 0;
  for (auto& p : c.params)
    st->bind(n++, p);
  if (vis != nullptr)
    n = bind_visibility(*st, n, decl->name, *vis);
  if (q.limit >= 0 || q.offset > 0) {
    st->bind_int64(n++, q.limit);
    st->bind_int64(n++, q.offset);
  }
  return st->for_each_row([&]() -> result<void> {
    MANTISSA_TRY_ASSIGN(auto it, read_row(*decl, *st));
    f(std::move(it));
    return {};
  });
}

result<std::vector<item>> store::select(const query& q) {
  std::vector<item> out;
  MANTISSA_TRY(for_each(q, [&](item&& it) { out.push_back(std::move(it)); }));
  return out;
}

result<std::vector<item>> store::select(const query& q,
                                        const visibility& vis) {
  std::vector<item> out;
  MANTISSA_TRY(for_each(
    q, [&](item&& it) { out.push_back(std::move(it)); }, vis));
  return out;
}

result<std::int64_t> store::count(std::string_view type,
                                  const condition& where) {
  return count_impl(type, where, nullptr);
}

result<std::int64_t> store::count(std::string_view type,
                                  const condition& where,
                                  const visibility& vis) {
  return count_impl(type, where, &vis);
}

result<std::int64_t> store::count_impl(std::string_view type,
                                       const condition& where,
                                       const visibility* vis) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(type));
  MANTISSA_TRY_ASSIGN(auto c, compile(*decl, where, {}));
  auto& ts = state_for(*decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(*decl));
  if (!ts.table_exists || sees_nothing(vis))
    return std::int64_t{0};
  auto sql = "SELECT count(*) FROM "
             + quote_identifier(table_name(decl->name, decl->version))
             + " WHERE " + c.where_sql;
  if (vis != nullptr)
    sql += visibility_sql(vis->roles.size());
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare(sql));
  int n = 0;
  for (auto& p : c.params)
    st->bind(n++, p);
  if (vis != nullptr)
    bind_visibility(*st, n, decl->name, *vis);
  MANTISSA_TRY(st->step());
  return st->column_int64(0);
}

result<value> store::aggregate(std::string_view type, aggregate_fn fn,
                               std::string_view attr, const condition& where) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(type));
  const attribute_decl* a = decl->find(attr);
  attribute_decl id_attr;
  id_attr.name = "id";
  if (attr == "id")
    a = &id_attr;
  if (a == nullptr)
    return error{errc::no_such_attribute,
                 "type " + decl->name + " has no attribute '"
                   + std::string{attr.substr(0, 80)} + "'"};
  bool numeric = a->type == attribute_type::integer
                 || a->type == attribute_type::real;
  if ((fn == aggregate_fn::sum || fn == aggregate_fn::avg) && !numeric)
    return error{errc::invalid_query, "sum and avg need an integer or real "
                                      "attribute; '" + a->name + "' is "
                                      + to_string(a->type)};
  if (a->type == attribute_type::json || a->type == attribute_type::bytes)
    return error{errc::invalid_query, "cannot aggregate attribute '" + a->name
                                        + "' of type " + to_string(a->type)};
  MANTISSA_TRY_ASSIGN(auto c, compile(*decl, where, {}));
  auto& ts = state_for(*decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(*decl));
  if (!ts.table_exists)
    return value{};
  static constexpr const char* names[] = {"sum", "min", "max", "avg"};
  MANTISSA_TRY_ASSIGN(
    auto st,
    db_->prepare(std::string{"SELECT "} + names[static_cast<int>(fn)] + "("
                 + quote_identifier(a->name) + ") FROM "
                 + quote_identifier(table_name(decl->name, decl->version))
                 + " WHERE " + c.where_sql));
  int n = 0;
  for (auto& p : c.params)
    st->bind(n++, p);
  MANTISSA_TRY(st->step());
  if (st->column_is_null(0))
    return value{};
  if (fn == aggregate_fn::avg)
    return value{st->column_double(0)};
  if (fn == aggregate_fn::sum)
    return a->type == attribute_type::integer ? value{st->column_int64(0)}
                                              : value{st->column_double(0)};
  switch (a->type) {
    case attribute_type::integer: return value{st->column_int64(0)};
    case attribute_type::real: return value{st->column_double(0)};
    case attribute_type::text: return value{std::string{st->column_text(0)}};
    case attribute_type::boolean: return value{st->column_int64(0) != 0};
    case attribute_type::timestamp:
      return value{timestamp{st->column_int64(0)}};
    case attribute_type::reference:
      return value{reference{st->column_int64(0)}};
    default: return value{};
  }
}

result<std::vector<value>> store::distinct(std::string_view type,
                                           std::string_view attr,
                                           const condition& where) {
  MANTISSA_TRY_ASSIGN(auto decl, decl_for(type));
  auto idx = decl->index_of(attr);
  if (idx < 0)
    return error{errc::no_such_attribute,
                 "type " + decl->name + " has no attribute '"
                   + std::string{attr.substr(0, 80)} + "'"};
  MANTISSA_TRY_ASSIGN(auto c, compile(*decl, where, {}));
  auto& ts = state_for(*decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(*decl));
  std::vector<value> out;
  if (!ts.table_exists)
    return out;
  auto col
    = quote_identifier(decl->attributes[static_cast<std::size_t>(idx)].name);
  // Reuse read_row by selecting the value into a one-attribute declaration.
  type_decl one;
  one.name = decl->name;
  one.attributes.push_back(decl->attributes[static_cast<std::size_t>(idx)]);
  MANTISSA_TRY_ASSIGN(
    auto st,
    db_->prepare("SELECT DISTINCT 0, " + col + " FROM "
                 + quote_identifier(table_name(decl->name, decl->version))
                 + " WHERE " + c.where_sql + " ORDER BY " + col));
  int n = 0;
  for (auto& p : c.params)
    st->bind(n++, p);
  MANTISSA_TRY(st->for_each_row([&]() -> result<void> {
    MANTISSA_TRY_ASSIGN(auto it, read_row(one, *st));
    out.push_back(std::move(it.values[0]));
    return {};
  }));
  return out;
}

} // namespace mantissa::store
