// The store's catalogue: the tables every feature keeps in the file
// (created on open), mantissa_meta and the declarations of item types
// (mantissa_types), and each type's table.

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "store/internal/catalogue.hpp"
#include "store/internal/tables.hpp"
#include "store/internal/try.hpp"
#include "store/internal/write_op.hpp"
#include "store/store.hpp"

namespace mantissa::store {

namespace internal {

/// The store's own tables: its settings and the declarations of item types.
extern const table_group meta_tables{
  .sql = R"sql(
CREATE TABLE IF NOT EXISTS mantissa_meta(
  key TEXT PRIMARY KEY,
  value ANY
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO mantissa_meta(key, value) VALUES ('format', 1), ('next_id', 1);
CREATE TABLE IF NOT EXISTS mantissa_types(
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  table_name TEXT NOT NULL,
  declaration TEXT NOT NULL,
  PRIMARY KEY (name, version)
) STRICT, WITHOUT ROWID;
)sql",
  .marker = nullptr};

} // namespace internal

namespace {

using sqlite::quote_identifier;

/// Version of the catalogue layout. A file with a larger number was written
/// by a newer Mantissa and is refused.
constexpr std::int64_t format_version = 1;

/// Every group of the catalogue's tables, in the order they are created.
/// Files made before a group was added lack it and get it on their first
/// read-write open.
const internal::table_group* const all_tables[] = {
  &internal::meta_tables, &internal::powerup_tables, &internal::sharing_tables,
  &internal::schedule_tables, &internal::message_tables};

/// What mantissa_meta's `catalogue` says once all of `all_tables` is
/// there: an activation that reads it skips looking for the markers. Raise
/// it with every group of tables added to `all_tables`.
constexpr std::int64_t catalogue_version = 3;

/// The CREATE statements of every group, in order.
std::string catalogue_sql() {
  std::string sql;
  for (auto* group : all_tables)
    sql += group->sql;
  return sql;
}

/// Records `catalogue_version` (init_catalogue, once the catalogue is whole).
std::string record_catalogue_sql() {
  return "INSERT OR REPLACE INTO mantissa_meta(key, value) VALUES "
         "('catalogue', "
         + std::to_string(catalogue_version) + ");";
}

/// Counts the markers of `all_tables` (the last object each group added
/// over time creates) present in the file: when all are, the whole
/// catalogue is there (it is created in one transaction).
std::string count_markers_sql() {
  std::string names;
  for (auto* group : all_tables) {
    if (group->marker == nullptr)
      continue;
    names += names.empty() ? "('" : ", '";
    names += group->marker;
    names += "'";
  }
  return "SELECT count(*) FROM sqlite_schema WHERE name IN " + names + ")";
}

std::int64_t marker_count() {
  return std::count_if(std::begin(all_tables), std::end(all_tables),
                       [](auto* group) { return group->marker != nullptr; });
}

const char* column_type(attribute_type t) {
  switch (t) {
    case attribute_type::real: return "REAL";
    case attribute_type::text:
    case attribute_type::json: return "TEXT";
    case attribute_type::bytes: return "BLOB";
    default: return "INTEGER";
  }
}

/// The structural part of a declaration: what must not change without a
/// new version (names, types, nullability, reference targets).
nlohmann::json structure_json(const type_decl& d) {
  auto attrs = nlohmann::json::array();
  for (auto& a : d.attributes) {
    nlohmann::json j{{"name", a.name}, {"type", to_string(a.type)},
                     {"nullable", a.nullable}};
    if (a.type == attribute_type::reference)
      j["target"] = a.target_type;
    attrs.push_back(std::move(j));
  }
  return attrs;
}

/// `structure_json` of a declaration as kept in the file.
nlohmann::json stored_structure_json(const nlohmann::json& stored) {
  auto attrs = nlohmann::json::array();
  for (auto& a : stored["attributes"]) {
    nlohmann::json j{{"name", a.value("name", "")},
                     {"type", a.value("type", "")},
                     {"nullable", a.value("nullable", true)}};
    if (a.contains("target"))
      j["target"] = a["target"];
    attrs.push_back(std::move(j));
  }
  return attrs;
}

/// The whole declaration, as kept in `mantissa_types.declaration` so that
/// the file describes itself.
nlohmann::json decl_json(const type_decl& d) {
  auto attrs = nlohmann::json::array();
  for (auto& a : d.attributes) {
    nlohmann::json j{{"name", a.name},
                     {"type", to_string(a.type)},
                     {"indexed", a.indexed},
                     {"nullable", a.nullable}};
    if (!is_null(a.default_value))
      j["default"] = value_to_json(a.default_value);
    if (a.type == attribute_type::reference) {
      j["target"] = a.target_type;
      j["on_delete"] = to_string(a.on_delete);
    }
    if (a.max_size != 0)
      j["max_size"] = a.max_size;
    attrs.push_back(std::move(j));
  }
  auto ifaces = nlohmann::json::array();
  for (auto& p : d.powerup_interfaces)
    ifaces.push_back({{"interface", p.interface}, {"priority", p.priority}});
  return {{"name", d.name},
          {"version", d.version},
          {"attributes", std::move(attrs)},
          {"indexes", d.compound_indexes},
          {"powerup_interfaces", std::move(ifaces)},
          {"requires", d.requires_types}};
}

std::string index_name(const std::string& table,
                       const std::vector<std::string>& cols) {
  std::string name = "idx_" + table;
  for (auto& c : cols)
    name += "_" + c;
  return name;
}

std::string create_indexes_sql(const type_decl& d, const std::string& table) {
  std::string sql;
  auto add = [&](const std::vector<std::string>& cols) {
    sql += "CREATE INDEX IF NOT EXISTS " + quote_identifier(index_name(table, cols))
           + " ON " + quote_identifier(table) + "(";
    for (std::size_t i = 0; i < cols.size(); ++i) {
      if (i > 0)
        sql += ", ";
      sql += quote_identifier(cols[i]);
    }
    sql += ");";
  };
  for (auto& a : d.attributes)
    if (a.indexed || a.type == attribute_type::reference)
      add({a.name});
  for (auto& idx : d.compound_indexes)
    add(idx);
  return sql;
}

/// The table of `decl` (named `table`) and its indexes.
std::string create_table_sql(const type_decl& decl, const std::string& table) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_identifier(table)
                    + "(\"id\" INTEGER PRIMARY KEY";
  for (auto& a : decl.attributes) {
    sql += ", " + quote_identifier(a.name) + " " + column_type(a.type);
    if (!a.nullable)
      sql += " NOT NULL";
  }
  sql += ") STRICT;";
  return sql + create_indexes_sql(decl, table);
}

/// One row of mantissa_types.
struct stored_type {
  std::string name;
  int version = 0;
  std::string table;
  std::string declaration;
};

result<std::vector<stored_type>> read_stored_types(sqlite::connection& db) {
  MANTISSA_TRY_ASSIGN(auto st, db.prepare("SELECT name, version, table_name, "
                                          "declaration FROM mantissa_types"));
  std::vector<stored_type> rows;
  MANTISSA_TRY(st->for_each_row([&] {
    rows.push_back({std::string{st->column_text(0)},
                    static_cast<int>(st->column_int64(1)),
                    std::string{st->column_text(2)},
                    std::string{st->column_text(3)}});
  }));
  return rows;
}

/// Compares the declaration `row` keeps in the file `db` with `cur`, the
/// current one of the same version: false when equal, true when only
/// indexes, defaults or limits differ; `no_upgrade_path` when attributes
/// differ.
result<bool> declaration_changed(const sqlite::connection& db,
                                 const stored_type& row, const type_decl& cur) {
  auto stored = nlohmann::json::parse(row.declaration, nullptr, false);
  if (stored.is_discarded() || !stored.contains("attributes"))
    return error{errc::corrupt, db.path().string()
                                  + ": unreadable declaration of " + row.name};
  if (stored == decl_json(cur))
    return false;
  if (stored_structure_json(stored) != structure_json(cur))
    return error{errc::no_upgrade_path,
                 db.path().string() + ": " + row.name + " version "
                   + std::to_string(row.version)
                   + " in the store has other attributes than its declaration;"
                     " declare a new version with an upgrader"};
  return true;
}

/// Applies a changed declaration of the same version (its indexes) and
/// keeps it in mantissa_types.
result<void> update_declaration(sqlite::connection& db, const stored_type& row,
                                const type_decl& cur) {
  MANTISSA_TRY(db.exec(create_indexes_sql(cur, row.table)));
  MANTISSA_TRY_ASSIGN(auto up, db.prepare("UPDATE mantissa_types SET "
                                          "declaration = ? WHERE name = ? "
                                          "AND version = ?"));
  auto text = decl_json(cur).dump();
  up->bind_text(0, text);
  up->bind_text(1, row.name);
  up->bind_int64(2, row.version);
  return up->run();
}

result<std::int64_t> count_rows(sqlite::connection& db,
                                const std::string& table) {
  MANTISSA_TRY_ASSIGN(
    auto count, db.prepare("SELECT count(*) FROM " + quote_identifier(table)));
  MANTISSA_TRY(count->step());
  return count->column_int64(0);
}

} // namespace

std::string internal::column_list(const type_decl& d) {
  std::string cols = "\"id\"";
  for (auto& a : d.attributes)
    cols += ", " + quote_identifier(a.name);
  return cols;
}

result<void> store::init_catalogue() {
  // Creating the catalogue is idempotent; skip the write lock when it is
  // already there (the common case when a store is activated).
  MANTISSA_TRY_ASSIGN(auto probe, db_->prepare(count_markers_sql()));
  MANTISSA_TRY(probe->step());
  if (probe->column_int64(0) == marker_count()) {
    // Complete, from before the version was recorded: record it, so that
    // the next activation skips this look.
    sharing_tables_ = true;
    schedule_tables_ = true;
    probe->reset();
    if (auto r = db_->exec(record_catalogue_sql()); !r)
      return error{r.code(), "cannot record the catalogue of "
                               + db_->path().string() + ": "
                               + r.error_value().message};
    return {};
  }
  if (auto r = db_->exec("BEGIN IMMEDIATE;" + catalogue_sql()
                         + record_catalogue_sql() + "COMMIT;");
      !r) {
    (void) db_->exec("ROLLBACK");
    return error{r.code(), "cannot create the catalogue of "
                             + db_->path().string() + ": "
                             + r.error_value().message};
  }
  sharing_tables_ = true;
  schedule_tables_ = true;
  return {};
}

result<std::unique_ptr<store>>
store::open(const std::filesystem::path& path, const type_registry& registry,
            const store_options& opts) {
  sqlite::open_options o;
  o.create = opts.create;
  o.read_only = opts.read_only;
  o.synchronous = opts.synchronous;
  MANTISSA_TRY_ASSIGN(auto conn, sqlite::connection::open(path, o));
  std::unique_ptr<store> s{new store(std::move(conn), registry, opts)};
  if (!opts.read_only) {
    // The meta table first: a file of a newer format is refused before
    // anything is written, and a complete catalogue (the common case of an
    // activation) needs no look at the schema.
    MANTISSA_TRY(s->read_meta(true));
    if (s->catalogue_ >= catalogue_version) {
      s->sharing_tables_ = true;
      s->schedule_tables_ = true;
    } else {
      MANTISSA_TRY(s->init_catalogue());
      MANTISSA_TRY(s->read_meta(false));
    }
  } else {
    MANTISSA_TRY(s->probe_sharing_tables());
    MANTISSA_TRY(s->read_meta(true));
  }
  MANTISSA_TRY(s->load_types());
  return s;
}

result<void> store::probe_sharing_tables() {
  MANTISSA_TRY_ASSIGN(
    auto st,
    db_->prepare(
      "SELECT count(name IN ('mantissa_members', 'mantissa_shares') OR NULL), "
      "count(name = 'mantissa_schedule' OR NULL) FROM sqlite_schema WHERE "
      "type = 'table'"));
  MANTISSA_TRY(st->step());
  sharing_tables_ = st->column_int64(0) == 2;
  schedule_tables_ = st->column_int64(1) == 1;
  return {};
}

result<void> store::load_catalogue() {
  MANTISSA_TRY(read_meta(opts_.read_only));
  return load_types();
}

result<void> store::read_meta(bool missing_ok) {
  catalogue_ = 0;
  auto meta = db_->prepare("SELECT key, value FROM mantissa_meta");
  if (!meta) {
    // A file without catalogue: an empty store (read-only), or one whose
    // catalogue is created next.
    if (missing_ok)
      return {};
    return std::move(meta).error_value();
  }
  auto& st = **meta;
  return st.for_each_row([&]() -> result<void> {
    auto key = st.column_text(0);
    auto val = st.column_int64(1);
    if (key == "format" && val > format_version)
      return {errc::version_too_new,
              db_->path().string() + " was written by a newer Mantissa (store "
                "format " + std::to_string(val) + ", this one reads up to "
                + std::to_string(format_version) + ")"};
    if (key == "next_id")
      next_id_ = persisted_next_id_ = std::max<item_id>(1, val);
    if (key == "catalogue")
      catalogue_ = val;
    return {};
  });
}

result<void> store::load_types() {
  types_.clear();
  MANTISSA_TRY_ASSIGN(auto rows, read_stored_types(*db_));
  for (auto& row : rows) {
    auto* cur = registry_->current(row.name);
    if (cur == nullptr)
      continue;  // a type this process does not know: left alone
    if (row.version > cur->version)
      return {errc::version_too_new,
              db_->path().string() + " holds " + row.name + " version "
                + std::to_string(row.version)
                + ", newer than the declared version "
                + std::to_string(cur->version)};
    auto& ts = state_for(*cur);
    if (row.version == cur->version) {
      ts.table_exists = true;
      MANTISSA_TRY_ASSIGN(bool changed, declaration_changed(*db_, row, *cur));
      // Only indexes, defaults or limits changed: apply them.
      if (changed && !opts_.read_only)
        MANTISSA_TRY(update_declaration(*db_, row, *cur));
      continue;
    }
    // An older version: count what is left to upgrade.
    MANTISSA_TRY_ASSIGN(auto n, count_rows(*db_, row.table));
    if (n == 0)
      continue;
    if (!registry_->has_path(row.name, row.version))
      return {errc::no_upgrade_path,
              db_->path().string() + " holds " + std::to_string(n) + " "
                + row.name + " item(s) at version "
                + std::to_string(row.version)
                + " and there is no upgrade path to version "
                + std::to_string(cur->version)};
    ts.old_rows[row.version] = n;
  }
  return {};
}

store::type_state& store::state_for(const type_decl& decl) {
  auto i = types_.find(decl.name);
  if (i != types_.end())
    return i->second;
  auto& ts = types_[decl.name];
  auto table = quote_identifier(table_name(decl.name, decl.version));
  auto cols = internal::column_list(decl);
  ts.select_sql = "SELECT " + cols + " FROM " + table;
  std::string marks = "?";
  for (std::size_t k = 0; k < decl.attributes.size(); ++k)
    marks += ", ?";
  ts.insert_sql = "INSERT INTO " + table + "(" + cols + ") VALUES (" + marks + ")";
  ts.update_sql = "UPDATE " + table + " SET ";
  for (std::size_t k = 0; k < decl.attributes.size(); ++k) {
    if (k > 0)
      ts.update_sql += ", ";
    ts.update_sql += quote_identifier(decl.attributes[k].name) + " = ?";
  }
  if (decl.attributes.empty())
    ts.update_sql += "\"id\" = \"id\"";
  ts.update_sql += " WHERE \"id\" = ?";
  return ts;
}

result<const type_decl*> store::decl_for(std::string_view type) const {
  auto* d = registry_->current(type);
  if (d == nullptr)
    return error{errc::no_such_type,
                 "no item type named '" + std::string{type.substr(0, 128)}
                   + "' is declared"};
  return d;
}

result<void> store::ensure_table(const type_decl& decl) {
  auto& ts = state_for(decl);
  if (ts.table_exists)
    return {};
  if (opts_.read_only)
    return {errc::read_only, db_->path().string() + " is open read-only"};
  auto table = table_name(decl.name, decl.version);
  auto sql = create_table_sql(decl, table);
  MANTISSA_TRY(write_op(true, [&]() -> result<void> {
    MANTISSA_TRY(db_->exec(sql));
    MANTISSA_TRY_ASSIGN(auto st,
                        db_->prepare("INSERT OR REPLACE INTO mantissa_types("
                                     "name, version, table_name, declaration) "
                                     "VALUES (?, ?, ?, ?)"));
    auto text = decl_json(decl).dump();
    st->bind_text(0, decl.name);
    st->bind_int64(1, decl.version);
    st->bind_text(2, table);
    st->bind_text(3, text);
    return st->run();
  }));
  ts.table_exists = true;
  return {};
}

} // namespace mantissa::store
