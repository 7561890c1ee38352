#include "store/store.hpp"

#include <algorithm>
#include <sqlite3.h>

#include "store/sharing.hpp"

namespace mantissa::store {

namespace {

/// Version of the catalogue layout. A file with a larger number was written
/// by a newer Mantissa and is refused.
constexpr std::int64_t format_version = 1;

constexpr const char* catalogue_sql = R"sql(
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
CREATE TABLE IF NOT EXISTS mantissa_members(
  member TEXT NOT NULL,
  grp TEXT NOT NULL,
  PRIMARY KEY (member, grp)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mantissa_members_by_group
  ON mantissa_members(grp);
CREATE TABLE IF NOT EXISTS mantissa_shares(
  share_id TEXT NOT NULL,
  role TEXT NOT NULL,
  item_id INTEGER NOT NULL,
  item_type TEXT NOT NULL,
  interface TEXT NOT NULL,
  PRIMARY KEY (share_id, role, interface)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mantissa_shares_by_item
  ON mantissa_shares(item_id);
CREATE INDEX IF NOT EXISTS mantissa_shares_by_visibility
  ON mantissa_shares(item_type, interface, role, item_id);
CREATE TABLE IF NOT EXISTS mantissa_schedule(
  id INTEGER PRIMARY KEY,
  item_type TEXT NOT NULL,
  item_id INTEGER NOT NULL,
  due INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS mantissa_schedule_by_item
  ON mantissa_schedule(item_id);
CREATE TABLE IF NOT EXISTS mantissa_schedule_failures(
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  item_type TEXT NOT NULL,
  item_id INTEGER NOT NULL,
  due INTEGER NOT NULL,
  message TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS mantissa_schedule_by_due
  ON mantissa_schedule(due, id);
CREATE TABLE IF NOT EXISTS mantissa_outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  target TEXT NOT NULL,
  share_id TEXT NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  queued INTEGER NOT NULL,
  answer TEXT,
  retry_at INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS mantissa_outbox_targets(
  target TEXT PRIMARY KEY,
  next_attempt INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  acked INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mantissa_inbox(
  sender TEXT NOT NULL,
  seq INTEGER NOT NULL,
  answer TEXT NOT NULL,
  PRIMARY KEY (sender, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mantissa_outbox_by_target
  ON mantissa_outbox(target, seq) WHERE answer IS NULL;
)sql";

/// What mantissa_meta's `catalogue` says once all of `catalogue_sql` is
/// there: an activation that reads it skips looking for the markers. Raise
/// it with every group of tables added to `catalogue_sql`.
constexpr std::int64_t catalogue_version = 3;

/// Records `catalogue_version` (init_catalogue, once the catalogue is whole).
std::string record_catalogue_sql() {
  return "INSERT OR REPLACE INTO mantissa_meta(key, value) VALUES "
         "('catalogue', "
         + std::to_string(catalogue_version) + ");";
}

/// The last object `catalogue_sql` creates for each group of tables added
/// over time (sharing, schedule, then messages). When all are present the whole
/// catalogue is there (it is created in one transaction); files made before
/// a group lack its marker and get the group on their first read-write open.
constexpr const char* catalogue_markers
  = "('mantissa_shares_by_visibility', 'mantissa_schedule_by_due', "
    "'mantissa_outbox_by_target')";
constexpr int catalogue_marker_count = 3;

const char* column_type(attribute_type t) {
  switch (t) {
    case attribute_type::real: return "REAL";
    case attribute_type::text:
    case attribute_type::json: return "TEXT";
    case attribute_type::bytes: return "BLOB";
    default: return "INTEGER";
  }
}

using sqlite::quote_identifier;

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

std::string column_list(const type_decl& d) {
  std::string cols = "\"id\"";
  for (auto& a : d.attributes)
    cols += ", " + quote_identifier(a.name);
  return cols;
}

/// Fails with `disallowed` when an item that is left refers, through a
/// `disallow` reference, to one of the `removed` items. Run after a delete
/// and all its cascades, so that a referrer deleted by the same cascade
/// does not refuse it whatever the order in which the cascade met them;
/// the caller rolls the delete back on error.
result<void> check_disallowed(sqlite::connection& db, const type_registry& reg,
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
        auto st = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' "
                             "AND name = ?");
        if (!st)
          return std::move(st).error_value();
        (*st)->bind_text(0, table);
        auto row = (*st)->step();
        if (!row)
          return std::move(row).error_value();
        if (!*row)
          break;
        table_known = true;
      }
      auto st = db.prepare("SELECT \"id\" FROM " + quote_identifier(table)
                           + " WHERE " + quote_identifier(a.name)
                           + " = ? LIMIT 1");
      if (!st)
        return std::move(st).error_value();
      for (auto id : removed) {
        (*st)->bind_int64(0, id);
        auto row = (*st)->step();
        if (!row)
          return std::move(row).error_value();
        if (*row)
          return {errc::disallowed,
                  "cannot delete " + a.target_type + " #" + std::to_string(id)
                    + ": " + d->name + " #"
                    + std::to_string((*st)->column_int64(0))
                    + " refers to it through '" + a.name
                    + "' (on delete: disallow)"};
        (*st)->reset();
      }
    }
  }
  return {};
}

/// ` AND "id" IN (...)`: keeps the items shared under an interface with one
/// of `roles` roles (a count). Its parameters are the item type, the
/// interface, then each role (`bind_visibility`); no name is ever part of
/// the SQL text.
std::string visibility_sql(std::size_t roles) {
  std::string sql = " AND \"id\" IN (SELECT item_id FROM mantissa_shares "
                    "WHERE item_type = ? AND interface = ? AND role IN (";
  for (std::size_t i = 0; i < roles; ++i)
    sql += i == 0 ? "?" : ", ?";
  return sql + "))";
}

/// Binds the parameters of `visibility_sql` from index `n`; returns the
/// next free index. `type` and `vis` must outlive the statement's use.
int bind_visibility(sqlite::statement& st, int n, const std::string& type,
                    const visibility& vis) {
  st.bind_text(n++, type);
  st.bind_text(n++, vis.interface);
  for (auto& role : vis.roles)
    st.bind_text(n++, role);
  return n;
}

} // namespace

// -- construction --------------------------------------------------------------

store::store(std::unique_ptr<sqlite::connection> db, const type_registry& reg,
             const store_options& opts)
  : db_(std::move(db)), registry_(&reg), opts_(opts) {
}

store::~store() {
  if (depth_ > 0) {
    depth_ = 1;
    rollback();
  }
}

result<std::unique_ptr<store>>
store::open(const std::filesystem::path& path, const type_registry& registry,
            const store_options& opts) {
  sqlite::open_options o;
  o.create = opts.create;
  o.read_only = opts.read_only;
  o.synchronous = opts.synchronous;
  auto conn = sqlite::connection::open(path, o);
  if (!conn)
    return std::move(conn).error_value();
  std::unique_ptr<store> s{new store(std::move(*conn), registry, opts)};
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

result<void> store::init_catalogue() {
  // Creating the catalogue is idempotent; skip the write lock when it is
  // already there (the common case when a store is activated).
  auto probe = db_->prepare(
    std::string{"SELECT count(*) FROM sqlite_schema WHERE name IN "}
    + catalogue_markers);
  if (!probe)
    return std::move(probe).error_value();
  auto has = (*probe)->step();
  if (!has)
    return std::move(has).error_value();
  if ((*probe)->column_int64(0) == catalogue_marker_count) {
    // Complete, from before the version was recorded: record it, so that
    // the next activation skips this look.
    sharing_tables_ = true;
    schedule_tables_ = true;
    (*probe)->reset();
    if (auto r = db_->exec(record_catalogue_sql()); !r)
      return error{r.code(), "cannot record the catalogue of "
                               + db_->path().string() + ": "
                               + r.error_value().message};
    return {};
  }
  if (auto r = db_->exec(std::string{"BEGIN IMMEDIATE;"} + catalogue_sql
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

result<void> store::probe_sharing_tables() {
  auto st = db_->prepare(
    "SELECT count(name IN ('mantissa_members', 'mantissa_shares') OR NULL), "
    "count(name = 'mantissa_schedule' OR NULL) FROM sqlite_schema WHERE "
    "type = 'table'");
  if (!st)
    return std::move(st).error_value();
  auto row = (*st)->step();
  if (!row)
    return std::move(row).error_value();
  sharing_tables_ = (*st)->column_int64(0) == 2;
  schedule_tables_ = (*st)->column_int64(1) == 1;
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
  for (;;) {
    auto row = (*meta)->step();
    if (!row)
      return std::move(row).error_value();
    if (!*row)
      break;
    auto key = (*meta)->column_text(0);
    auto val = (*meta)->column_int64(1);
    if (key == "format" && val > format_version)
      return {errc::version_too_new,
              db_->path().string() + " was written by a newer Mantissa (store "
                "format " + std::to_string(val) + ", this one reads up to "
                + std::to_string(format_version) + ")"};
    if (key == "next_id")
      next_id_ = persisted_next_id_ = std::max<item_id>(1, val);
    if (key == "catalogue")
      catalogue_ = val;
  }
  return {};
}

result<void> store::load_types() {
  types_.clear();
  auto st = db_->prepare(
    "SELECT name, version, table_name, declaration FROM mantissa_types");
  if (!st)
    return std::move(st).error_value();
  std::vector<std::tuple<std::string, int, std::string, std::string>> rows;
  for (;;) {
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (!*row)
      break;
    rows.emplace_back(std::string{(*st)->column_text(0)},
                      static_cast<int>((*st)->column_int64(1)),
                      std::string{(*st)->column_text(2)},
                      std::string{(*st)->column_text(3)});
  }
  for (auto& [name, version, table, declaration] : rows) {
    auto* cur = registry_->current(name);
    if (cur == nullptr)
      continue;  // a type this process does not know: left alone
    if (version > cur->version)
      return {errc::version_too_new,
              db_->path().string() + " holds " + name + " version "
                + std::to_string(version) + ", newer than the declared version "
                + std::to_string(cur->version)};
    auto& ts = state_for(*cur);
    if (version == cur->version) {
      ts.table_exists = true;
      auto stored = nlohmann::json::parse(declaration, nullptr, false);
      if (stored.is_discarded() || !stored.contains("attributes"))
        return {errc::corrupt, db_->path().string()
                                 + ": unreadable declaration of " + name};
      auto mine = decl_json(*cur);
      if (stored == mine)
        continue;
      auto stored_structure = nlohmann::json::array();
      for (auto& a : stored["attributes"]) {
        nlohmann::json j{{"name", a.value("name", "")},
                         {"type", a.value("type", "")},
                         {"nullable", a.value("nullable", true)}};
        if (a.contains("target"))
          j["target"] = a["target"];
        stored_structure.push_back(std::move(j));
      }
      if (stored_structure != structure_json(*cur))
        return {errc::no_upgrade_path,
                db_->path().string() + ": " + name + " version "
                  + std::to_string(version)
                  + " in the store has other attributes than its declaration;"
                    " declare a new version with an upgrader"};
      // Only indexes, defaults or limits changed: apply them.
      if (!opts_.read_only) {
        MANTISSA_TRY(db_->exec(create_indexes_sql(*cur, table)));
        auto up = db_->prepare("UPDATE mantissa_types SET declaration = ? "
                               "WHERE name = ? AND version = ?");
        if (!up)
          return std::move(up).error_value();
        auto text = mine.dump();
        (*up)->bind_text(0, text);
        (*up)->bind_text(1, name);
        (*up)->bind_int64(2, version);
        MANTISSA_TRY((*up)->run());
      }
      continue;
    }
    // An older version: count what is left to upgrade.
    auto count = db_->prepare("SELECT count(*) FROM " + quote_identifier(table));
    if (!count)
      return std::move(count).error_value();
    auto row = (*count)->step();
    if (!row)
      return std::move(row).error_value();
    auto n = (*count)->column_int64(0);
    if (n == 0)
      continue;
    if (!registry_->has_path(name, version))
      return {errc::no_upgrade_path,
              db_->path().string() + " holds " + std::to_string(n) + " " + name
                + " item(s) at version " + std::to_string(version)
                + " and there is no upgrade path to version "
                + std::to_string(cur->version)};
    ts.old_rows[version] = n;
  }
  return {};
}

store::type_state& store::state_for(const type_decl& decl) {
  auto i = types_.find(decl.name);
  if (i != types_.end())
    return i->second;
  auto& ts = types_[decl.name];
  auto table = quote_identifier(table_name(decl.name, decl.version));
  auto cols = column_list(decl);
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
  std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_identifier(table)
                    + "(\"id\" INTEGER PRIMARY KEY";
  for (auto& a : decl.attributes) {
    sql += ", " + quote_identifier(a.name) + " " + column_type(a.type);
    if (!a.nullable)
      sql += " NOT NULL";
  }
  sql += ") STRICT;";
  sql += create_indexes_sql(decl, table);
  MANTISSA_TRY(write_op(true, [&]() -> result<void> {
    MANTISSA_TRY(db_->exec(sql));
    auto st = db_->prepare("INSERT OR REPLACE INTO mantissa_types(name, version, "
                           "table_name, declaration) VALUES (?, ?, ?, ?)");
    if (!st)
      return std::move(st).error_value();
    auto text = decl_json(decl).dump();
    (*st)->bind_text(0, decl.name);
    (*st)->bind_int64(1, decl.version);
    (*st)->bind_text(2, table);
    (*st)->bind_text(3, text);
    return (*st)->run();
  }));
  ts.table_exists = true;
  return {};
}

// -- transactions ------------------------------------------------------------

template <class F>
auto store::write_op(bool needs_savepoint, F&& f) -> decltype(f()) {
  if (opts_.read_only)
    return error{errc::read_only, db_->path().string() + " is open read-only"};
  if (depth_ == 0) {
    if (auto b = begin(); !b)
      return std::move(b).error_value();
    auto r = f();
    if (!r) {
      rollback();
      return r;
    }
    if (auto c = commit(); !c)
      return std::move(c).error_value();
    return r;
  }
  if (!needs_savepoint)
    return f();
  if (auto s = savepoint(); !s)
    return std::move(s).error_value();
  auto r = f();
  if (!r) {
    rollback_savepoint();
    return r;
  }
  if (auto rel = release_savepoint(); !rel)
    return std::move(rel).error_value();
  return r;
}

result<void> store::begin() {
  if (opts_.read_only)
    return {errc::read_only, db_->path().string() + " is open read-only"};
  if (depth_ > 0) {
    ++depth_;
    return {};
  }
  auto st = db_->prepare("BEGIN IMMEDIATE");
  if (!st)
    return std::move(st).error_value();
  MANTISSA_TRY((*st)->run());
  depth_ = 1;
  doomed_ = false;
  return {};
}

result<void> store::persist_next_id() {
  if (next_id_ == persisted_next_id_)
    return {};
  auto st = db_->prepare(
    "UPDATE mantissa_meta SET value = ? WHERE key = 'next_id'");
  if (!st)
    return std::move(st).error_value();
  (*st)->bind_int64(0, next_id_);
  return (*st)->run();
}

result<void> store::commit() {
  if (depth_ == 0)
    return {errc::internal, "commit without a transaction"};
  if (depth_ > 1) {
    --depth_;
    return {};
  }
  if (doomed_) {
    rollback();
    return {errc::internal,
            "the transaction was rolled back because a nested one failed"};
  }
  if (auto p = persist_next_id(); !p) {
    rollback();
    return p;
  }
  auto st = db_->prepare("COMMIT");
  if (!st) {
    rollback();
    return std::move(st).error_value();
  }
  if (auto r = (*st)->run(); !r) {
    rollback();
    return r;
  }
  depth_ = 0;
  persisted_next_id_ = next_id_;
  return {};
}

void store::rollback() noexcept {
  if (depth_ == 0)
    return;
  if (depth_ > 1) {
    --depth_;
    doomed_ = true;
    return;
  }
  depth_ = 0;
  doomed_ = false;
  savepoints_ = 0;
  (void) db_->exec("ROLLBACK");
  // Tables created or dropped inside the transaction are gone again:
  // re-read what the catalogue says and forget prepared statements.
  db_->clear_cache();
  auto handed_out = next_id_;
  (void) load_catalogue();
  // Ids handed out in the rolled-back transaction are not reused: the next
  // commit persists the higher counter. (load_catalogue reset it.)
  next_id_ = std::max(next_id_, handed_out);
}

result<void> store::savepoint() {
  auto st = db_->prepare("SAVEPOINT mantissa_op");
  if (!st)
    return std::move(st).error_value();
  MANTISSA_TRY((*st)->run());
  ++savepoints_;
  return {};
}

void store::rollback_savepoint() noexcept {
  if (auto st = db_->prepare("ROLLBACK TO mantissa_op"); st)
    (void) (*st)->run();
  (void) release_savepoint();
  // Tables and counters of rows to upgrade may have changed inside the
  // savepoint: re-read them from the catalogue. That also reads the id
  // counter as of the last commit; ids handed out since, by this
  // transaction's earlier writes, must not be handed out again.
  db_->clear_cache();
  auto handed_out = next_id_;
  auto persisted = persisted_next_id_;
  (void) load_catalogue();
  next_id_ = std::max(next_id_, handed_out);
  persisted_next_id_ = persisted;
}

result<void> store::release_savepoint() {
  auto st = db_->prepare("RELEASE mantissa_op");
  if (!st)
    return std::move(st).error_value();
  MANTISSA_TRY((*st)->run());
  --savepoints_;
  return {};
}

// -- items ---------------------------------------------------------------------

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
  auto st = db_->prepare("SELECT 1 FROM "
                         + quote_identifier(table_name(decl.name, decl.version))
                         + " WHERE \"id\" = ?");
  if (!st)
    return std::move(st).error_value();
  (*st)->bind_int64(0, id);
  return (*st)->step();
}

result<void> store::check_references(const type_decl& decl, const item& it) {
  for (std::size_t i = 0; i < decl.attributes.size(); ++i) {
    auto& a = decl.attributes[i];
    if (a.type != attribute_type::reference || is_null(it.values[i]))
      continue;
    auto target = std::get<reference>(it.values[i]).id;
    auto tdecl = decl_for(a.target_type);
    if (!tdecl)
      return std::move(tdecl).error_value();
    if (!state_for(**tdecl).old_rows.empty())
      MANTISSA_TRY(upgrade_all(**tdecl));
    auto found = exists(**tdecl, target);
    if (!found)
      return std::move(found).error_value();
    if (!*found)
      return {errc::invalid_value, decl.name + ": attribute '" + a.name
                                     + "' refers to " + a.target_type + " #"
                                     + std::to_string(target)
                                     + ", which does not exist"};
  }
  return {};
}

result<item_id> store::insert_impl(const type_decl& decl, item& it) {
  auto ok = checked(decl, it);
  if (!ok)
    return std::move(ok).error_value();
  MANTISSA_TRY(check_references(decl, *ok));
  MANTISSA_TRY(ensure_table(decl));
  auto st = db_->prepare(state_for(decl).insert_sql);
  if (!st)
    return std::move(st).error_value();
  auto id = next_id_;
  (*st)->bind_int64(0, id);
  for (std::size_t i = 0; i < ok->values.size(); ++i)
    (*st)->bind(static_cast<int>(i) + 1, ok->values[i]);
  MANTISSA_TRY((*st)->run());
  ++next_id_;
  it.id = id;
  it.values = std::move(ok->values);
  return id;
}

result<item_id> store::insert(item& it) {
  auto decl = decl_for(it.type);
  if (!decl)
    return std::move(decl).error_value();
  // One INSERT statement is atomic; table creation needs its own savepoint.
  return write_op(false, [&] { return insert_impl(**decl, it); });
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
  auto decl = decl_for(type);
  if (!decl)
    return std::move(decl).error_value();
  auto& ts = state_for(**decl);
  if (ts.table_exists) {
    auto st = db_->prepare(ts.select_sql + " WHERE \"id\" = ?");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, id);
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (*row)
      return read_row(**decl, **st);
  }
  // Not at the current version: it may wait for an upgrade.
  auto versions = ts.old_rows;
  for (auto& [version, left] : versions) {
    if (left == 0)
      continue;
    auto up = upgrade_one(**decl, version, id);
    if (!up)
      return std::move(up).error_value();
    if (*up)
      return std::move(**up);
  }
  return error{errc::no_such_item, "no " + std::string{type} + " with id "
                                     + std::to_string(id)};
}

result<void> store::update(const item& it) {
  auto decl = decl_for(it.type);
  if (!decl)
    return std::move(decl).error_value();
  auto ok = checked(**decl, it);
  if (!ok)
    return std::move(ok).error_value();
  return write_op(false, [&]() -> result<void> {
    auto& ts = state_for(**decl);
    if (!ts.old_rows.empty()) {
      // Make sure the item is at the current version before replacing it.
      auto cur = get(it.type, it.id);
      if (!cur)
        return std::move(cur).error_value();
    }
    MANTISSA_TRY(check_references(**decl, *ok));
    if (!ts.table_exists)
      return {errc::no_such_item,
              "no " + it.type + " with id " + std::to_string(it.id)};
    auto st = db_->prepare(ts.update_sql);
    if (!st)
      return std::move(st).error_value();
    int n = static_cast<int>(ok->values.size());
    for (int i = 0; i < n; ++i)
      (*st)->bind(i, ok->values[static_cast<std::size_t>(i)]);
    (*st)->bind_int64(n, it.id);
    MANTISSA_TRY((*st)->run());
    if (db_->changes() == 0)
      return {errc::no_such_item,
              "no " + it.type + " with id " + std::to_string(it.id)};
    return {};
  });
}

result<void> store::remove(std::string_view type, item_id id) {
  auto decl = decl_for(type);
  if (!decl)
    return std::move(decl).error_value();
  return write_op(true, [&]() -> result<void> {
    std::set<item_id> removing;
    MANTISSA_TRY(remove_impl(**decl, id, removing));
    return check_disallowed(*db_, *registry_, removing);
  });
}

result<void> store::remove_impl(const type_decl& decl, item_id id,
                                std::set<item_id>& removing) {
  if (removing.count(id) != 0)
    return {};
  if (!state_for(decl).old_rows.empty())
    MANTISSA_TRY(upgrade_all(decl));
  auto found = exists(decl, id);
  if (!found)
    return std::move(found).error_value();
  if (!*found)
    return {errc::no_such_item,
            "no " + decl.name + " with id " + std::to_string(id)};
  removing.insert(id);
  {
    auto st = db_->prepare("SELECT dependent FROM mantissa_dependencies "
                           "WHERE dependency = ? LIMIT 1");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, id);
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (*row)
      return {errc::in_use, "cannot delete " + decl.name + " #"
                              + std::to_string(id) + ": powerup #"
                              + std::to_string((*st)->column_int64(0))
                              + " depends on it"};
  }
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
        auto st = db_->prepare("UPDATE " + table + " SET " + col
                               + " = NULL WHERE " + col + " = ?");
        if (!st)
          return std::move(st).error_value();
        (*st)->bind_int64(0, id);
        MANTISSA_TRY((*st)->run());
        continue;
      }
      std::vector<item_id> refs;
      {
        auto st = db_->prepare("SELECT \"id\" FROM " + table + " WHERE " + col
                               + " = ?");
        if (!st)
          return std::move(st).error_value();
        (*st)->bind_int64(0, id);
        for (;;) {
          auto row = (*st)->step();
          if (!row)
            return std::move(row).error_value();
          if (!*row)
            break;
          refs.push_back((*st)->column_int64(0));
        }
      }
      for (auto ref : refs)
        MANTISSA_TRY(remove_impl(*referrer, ref, removing));
    }
  }
  // Wherever this item is installed it is uninstalled first, so that
  // dependencies installed only for it go too (the item itself is deleted
  // below, not by the uninstall).
  {
    std::vector<item_id> targets;
    auto st = db_->prepare("SELECT DISTINCT target FROM mantissa_powerups "
                           "WHERE powerup = ?");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, id);
    for (;;) {
      auto row = (*st)->step();
      if (!row)
        return std::move(row).error_value();
      if (!*row)
        break;
      targets.push_back((*st)->column_int64(0));
    }
    if (!targets.empty()) {
      auto up = db_->prepare(
        "UPDATE mantissa_powerups SET created = 0 WHERE powerup = ?");
      if (!up)
        return std::move(up).error_value();
      (*up)->bind_int64(0, id);
      MANTISSA_TRY((*up)->run());
    }
    for (auto target : targets)
      MANTISSA_TRY(uninstall_impl({decl.name, id}, target, true));
  }
  // Powerups created for this item as a target are deleted after it.
  std::vector<item_ref> created_here;
  {
    auto st = db_->prepare("SELECT DISTINCT powerup_type, powerup FROM "
                           "mantissa_powerups WHERE target = ? AND created = 1");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, id);
    for (;;) {
      auto row = (*st)->step();
      if (!row)
        return std::move(row).error_value();
      if (!*row)
        break;
      created_here.push_back({std::string{(*st)->column_text(0)},
                              (*st)->column_int64(1)});
    }
  }
  // Installations of this item, and installations on it, go with it.
  {
    auto st = db_->prepare(
      "DELETE FROM mantissa_powerups WHERE powerup = ?1 OR target = ?1");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, id);
    MANTISSA_TRY((*st)->run());
    auto dep = db_->prepare("DELETE FROM mantissa_dependencies "
                            "WHERE dependent = ?1 OR target = ?1");
    if (!dep)
      return std::move(dep).error_value();
    (*dep)->bind_int64(0, id);
    MANTISSA_TRY((*dep)->run());
  }
  // So do its shares (see sharing.hpp).
  if (sharing_tables_)
    MANTISSA_TRY(db_->run("DELETE FROM mantissa_shares WHERE item_id = ?", id));
  // And its scheduled events (see scheduler.hpp).
  if (schedule_tables_)
    MANTISSA_TRY(
      db_->run("DELETE FROM mantissa_schedule WHERE item_id = ?", id));
  {
    auto st = db_->prepare("DELETE FROM "
                           + quote_identifier(table_name(decl.name, decl.version))
                           + " WHERE \"id\" = ?");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, id);
    MANTISSA_TRY((*st)->run());
  }
  for (auto& p : created_here) {
    auto pdecl = decl_for(p.type);
    if (!pdecl)
      return std::move(pdecl).error_value();
    auto still_there = exists(**pdecl, p.id);
    if (!still_there)
      return std::move(still_there).error_value();
    if (*still_there)
      MANTISSA_TRY(remove_impl(**pdecl, p.id, removing));
  }
  return {};
}

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
  auto decl = decl_for(q.type);
  if (!decl)
    return std::move(decl).error_value();
  if (q.limit < -1 || q.offset < 0)
    return {errc::invalid_query, "limit and offset must not be negative"};
  auto c = compile(**decl, q.where, q.sort);
  if (!c)
    return std::move(c).error_value();
  auto& ts = state_for(**decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(**decl));
  if (!ts.table_exists || sees_nothing(vis))
    return {};
  std::string sql = ts.select_sql + " WHERE " + c->where_sql;
  if (vis != nullptr)
    sql += visibility_sql(vis->roles.size());
  sql += " ORDER BY " + c->order_sql;
  if (q.limit >= 0 || q.offset > 0)
    sql += " LIMIT ? OFFSET ?";
  auto st = db_->prepare(sql);
  if (!st)
    return std::move(st).error_value();
  int n = 0;
  for (auto& p : c->params)
    (*st)->bind(n++, p);
  if (vis != nullptr)
    n = bind_visibility(**st, n, (*decl)->name, *vis);
  if (q.limit >= 0 || q.offset > 0) {
    (*st)->bind_int64(n++, q.limit);
    (*st)->bind_int64(n++, q.offset);
  }
  for (;;) {
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (!*row)
      return {};
    auto it = read_row(**decl, **st);
    if (!it)
      return std::move(it).error_value();
    f(std::move(*it));
  }
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
  auto decl = decl_for(type);
  if (!decl)
    return std::move(decl).error_value();
  auto c = compile(**decl, where, {});
  if (!c)
    return std::move(c).error_value();
  auto& ts = state_for(**decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(**decl));
  if (!ts.table_exists || sees_nothing(vis))
    return std::int64_t{0};
  auto sql = "SELECT count(*) FROM "
             + quote_identifier(table_name((*decl)->name, (*decl)->version))
             + " WHERE " + c->where_sql;
  if (vis != nullptr)
    sql += visibility_sql(vis->roles.size());
  auto st = db_->prepare(sql);
  if (!st)
    return std::move(st).error_value();
  int n = 0;
  for (auto& p : c->params)
    (*st)->bind(n++, p);
  if (vis != nullptr)
    bind_visibility(**st, n, (*decl)->name, *vis);
  auto row = (*st)->step();
  if (!row)
    return std::move(row).error_value();
  return (*st)->column_int64(0);
}

result<value> store::aggregate(std::string_view type, aggregate_fn fn,
                               std::string_view attr, const condition& where) {
  auto decl = decl_for(type);
  if (!decl)
    return std::move(decl).error_value();
  const attribute_decl* a = (*decl)->find(attr);
  attribute_decl id_attr;
  id_attr.name = "id";
  if (attr == "id")
    a = &id_attr;
  if (a == nullptr)
    return error{errc::no_such_attribute, "type " + (*decl)->name
                                            + " has no attribute '"
                                            + std::string{attr.substr(0, 80)}
                                            + "'"};
  bool numeric = a->type == attribute_type::integer
                 || a->type == attribute_type::real;
  if ((fn == aggregate_fn::sum || fn == aggregate_fn::avg) && !numeric)
    return error{errc::invalid_query, "sum and avg need an integer or real "
                                      "attribute; '" + a->name + "' is "
                                      + to_string(a->type)};
  if (a->type == attribute_type::json || a->type == attribute_type::bytes)
    return error{errc::invalid_query, "cannot aggregate attribute '" + a->name
                                        + "' of type " + to_string(a->type)};
  auto c = compile(**decl, where, {});
  if (!c)
    return std::move(c).error_value();
  auto& ts = state_for(**decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(**decl));
  if (!ts.table_exists)
    return value{};
  static constexpr const char* names[] = {"sum", "min", "max", "avg"};
  auto st = db_->prepare(
    std::string{"SELECT "} + names[static_cast<int>(fn)] + "("
    + quote_identifier(a->name) + ") FROM "
    + quote_identifier(table_name((*decl)->name, (*decl)->version)) + " WHERE "
    + c->where_sql);
  if (!st)
    return std::move(st).error_value();
  int n = 0;
  for (auto& p : c->params)
    (*st)->bind(n++, p);
  auto row = (*st)->step();
  if (!row)
    return std::move(row).error_value();
  if ((*st)->column_is_null(0))
    return value{};
  if (fn == aggregate_fn::avg)
    return value{(*st)->column_double(0)};
  if (fn == aggregate_fn::sum)
    return a->type == attribute_type::integer
             ? value{(*st)->column_int64(0)}
             : value{(*st)->column_double(0)};
  switch (a->type) {
    case attribute_type::integer: return value{(*st)->column_int64(0)};
    case attribute_type::real: return value{(*st)->column_double(0)};
    case attribute_type::text: return value{std::string{(*st)->column_text(0)}};
    case attribute_type::boolean: return value{(*st)->column_int64(0) != 0};
    case attribute_type::timestamp:
      return value{timestamp{(*st)->column_int64(0)}};
    case attribute_type::reference:
      return value{reference{(*st)->column_int64(0)}};
    default: return value{};
  }
}

result<std::vector<value>> store::distinct(std::string_view type,
                                           std::string_view attr,
                                           const condition& where) {
  auto decl = decl_for(type);
  if (!decl)
    return std::move(decl).error_value();
  auto idx = (*decl)->index_of(attr);
  if (idx < 0)
    return error{errc::no_such_attribute, "type " + (*decl)->name
                                            + " has no attribute '"
                                            + std::string{attr.substr(0, 80)}
                                            + "'"};
  auto c = compile(**decl, where, {});
  if (!c)
    return std::move(c).error_value();
  auto& ts = state_for(**decl);
  if (!ts.old_rows.empty() && !opts_.read_only)
    MANTISSA_TRY(upgrade_all(**decl));
  std::vector<value> out;
  if (!ts.table_exists)
    return out;
  auto col = quote_identifier((*decl)->attributes[static_cast<std::size_t>(idx)].name);
  // Reuse read_row by selecting the value into a one-attribute declaration.
  type_decl one;
  one.name = (*decl)->name;
  one.attributes.push_back((*decl)->attributes[static_cast<std::size_t>(idx)]);
  auto st = db_->prepare(
    "SELECT DISTINCT 0, " + col + " FROM "
    + quote_identifier(table_name((*decl)->name, (*decl)->version)) + " WHERE "
    + c->where_sql + " ORDER BY " + col);
  if (!st)
    return std::move(st).error_value();
  int n = 0;
  for (auto& p : c->params)
    (*st)->bind(n++, p);
  for (;;) {
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (!*row)
      return out;
    auto it = read_row(one, **st);
    if (!it)
      return std::move(it).error_value();
    out.push_back(std::move(it->values[0]));
  }
}

result<std::int64_t> store::remove_where(std::string_view type,
                                         const condition& where) {
  auto decl = decl_for(type);
  if (!decl)
    return std::move(decl).error_value();
  return write_op(true, [&]() -> result<std::int64_t> {
    std::vector<item_id> ids;
    query q;
    q.type = std::string{type};
    q.where = where;
    MANTISSA_TRY(for_each(q, [&](item&& it) { ids.push_back(it.id); }));
    std::set<item_id> removing;
    for (auto id : ids)
      MANTISSA_TRY(remove_impl(**decl, id, removing));
    MANTISSA_TRY(check_disallowed(*db_, *registry_, removing));
    return static_cast<std::int64_t>(ids.size());
  });
}

// -- upgrades ------------------------------------------------------------------

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
    std::string sql = "SELECT " + column_list(*old_decl) + " FROM " + old_table;
    sql += id ? " WHERE \"id\" = ?" : " LIMIT 1";
    auto st = db_->prepare(sql);
    if (!st)
      return std::move(st).error_value();
    if (id)
      (*st)->bind_int64(0, *id);
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (!*row)
      return std::optional<item>{};
    auto it = read_row(*old_decl, **st);
    if (!it)
      return std::move(it).error_value();
    old = std::move(*it);
  }
  item current = *old;
  for (int v = version; v != cur.version;) {
    auto* step = registry_->step_from(cur.name, v);
    auto* next = step ? registry_->find(cur.name, step->to) : nullptr;
    auto* from_decl = registry_->find(cur.name, v);
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
    auto ins = db_->prepare(state_for(cur).insert_sql);
    if (!ins)
      return std::move(ins).error_value();
    (*ins)->bind_int64(0, ok->id);
    for (std::size_t i = 0; i < ok->values.size(); ++i)
      (*ins)->bind(static_cast<int>(i) + 1, ok->values[i]);
    MANTISSA_TRY((*ins)->run());
    auto del = db_->prepare("DELETE FROM " + old_table + " WHERE \"id\" = ?");
    if (!del)
      return std::move(del).error_value();
    (*del)->bind_int64(0, ok->id);
    MANTISSA_TRY((*del)->run());
    auto& ts = state_for(cur);
    if (--ts.old_rows[version] <= 0) {
      ts.old_rows.erase(version);
      MANTISSA_TRY(db_->exec("DROP TABLE " + old_table));
      auto cat = db_->prepare(
        "DELETE FROM mantissa_types WHERE name = ? AND version = ?");
      if (!cat)
        return std::move(cat).error_value();
      (*cat)->bind_text(0, cur.name);
      (*cat)->bind_int64(1, version);
      MANTISSA_TRY((*cat)->run());
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
    auto r = upgrade_one(decl, version, std::nullopt);
    if (!r)
      return std::move(r).error_value();
    if (!*r) {
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
      auto r = upgrade_one(*decl, version, std::nullopt);
      if (!r)
        return std::move(r).error_value();
      if (!*r)
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

// -- powerups ------------------------------------------------------------------

result<void>
store::install(const item_ref& powerup, item_id target,
               std::optional<std::vector<powerup_interface>> interfaces) {
  auto decl = decl_for(powerup.type);
  if (!decl)
    return std::move(decl).error_value();
  auto ifaces = interfaces ? std::move(*interfaces)
                           : (*decl)->powerup_interfaces;
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
  auto decl = decl_for(powerup.type);
  if (!decl)
    return std::move(decl).error_value();
  auto found = exists(**decl, powerup.id);
  if (!found)
    return std::move(found).error_value();
  if (!*found)
    return {errc::no_such_item, "no " + powerup.type + " with id "
                                  + std::to_string(powerup.id)};
  if (interfaces.empty())
    return {errc::invalid_value, "type " + powerup.type
                                   + " declares no powerup interface; name one"};
  for (auto& p : interfaces)
    MANTISSA_TRY(validate_attribute_name(p.interface));
  for (auto& required : (*decl)->requires_types) {
    auto rdecl = decl_for(required);
    if (!rdecl)
      return std::move(rdecl).error_value();
    item_id dep = 0;
    {
      auto st = db_->prepare("SELECT powerup FROM mantissa_powerups WHERE "
                             "target = ? AND powerup_type = ? LIMIT 1");
      if (!st)
        return std::move(st).error_value();
      (*st)->bind_int64(0, target);
      (*st)->bind_text(1, required);
      auto row = (*st)->step();
      if (!row)
        return std::move(row).error_value();
      if (*row)
        dep = (*st)->column_int64(0);
    }
    if (dep == 0) {
      item it = make_item(**rdecl);
      auto id = insert_impl(**rdecl, it);
      if (!id) {
        auto e = std::move(id).error_value();
        e.message = "cannot create " + required + " required by "
                    + powerup.type + ": " + e.message;
        return e;
      }
      MANTISSA_TRY(install_impl({required, *id}, target,
                                (*rdecl)->powerup_interfaces, false, true,
                                depth + 1));
      dep = *id;
    }
    auto st = db_->prepare("INSERT OR IGNORE INTO mantissa_dependencies"
                           "(target, dependent, dependency) VALUES (?, ?, ?)");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, target);
    (*st)->bind_int64(1, powerup.id);
    (*st)->bind_int64(2, dep);
    MANTISSA_TRY((*st)->run());
  }
  for (auto& p : interfaces) {
    auto existing = db_->prepare("SELECT explicit FROM mantissa_powerups WHERE "
                                 "target = ? AND interface = ? AND powerup = ?");
    if (!existing)
      return std::move(existing).error_value();
    (*existing)->bind_int64(0, target);
    (*existing)->bind_text(1, p.interface);
    (*existing)->bind_int64(2, powerup.id);
    auto row = (*existing)->step();
    if (!row)
      return std::move(row).error_value();
    if (*row) {
      bool was_explicit = (*existing)->column_int64(0) != 0;
      if (explicit_install && was_explicit)
        return {errc::already_exists,
                powerup.type + " #" + std::to_string(powerup.id)
                  + " is already installed under '" + p.interface + "'"};
      if (explicit_install) {
        // Claimed explicitly, it is no longer the store's to delete when
        // it is uninstalled.
        auto up = db_->prepare("UPDATE mantissa_powerups SET explicit = 1, "
                               "created = 0 WHERE target = ? AND powerup = ?");
        if (!up)
          return std::move(up).error_value();
        (*up)->bind_int64(0, target);
        (*up)->bind_int64(1, powerup.id);
        MANTISSA_TRY((*up)->run());
      }
      continue;
    }
    auto st = db_->prepare(
      "INSERT INTO mantissa_powerups(target, interface, powerup, powerup_type, "
      "priority, explicit, created) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, target);
    (*st)->bind_text(1, p.interface);
    (*st)->bind_int64(2, powerup.id);
    (*st)->bind_text(3, powerup.type);
    (*st)->bind_int64(4, p.priority);
    (*st)->bind_int64(5, explicit_install ? 1 : 0);
    (*st)->bind_int64(6, created ? 1 : 0);
    MANTISSA_TRY((*st)->run());
  }
  return {};
}

result<void> store::uninstall(const item_ref& powerup, item_id target) {
  return write_op(true,
                  [&] { return uninstall_impl(powerup, target, false); });
}

result<void> store::uninstall_impl(const item_ref& powerup, item_id target,
                                   bool force_dependency) {
  bool created = false;
  {
    auto st = db_->prepare("SELECT max(created), count(*) FROM mantissa_powerups "
                           "WHERE target = ? AND powerup = ?");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, target);
    (*st)->bind_int64(1, powerup.id);
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if ((*st)->column_int64(1) == 0)
      return {errc::no_such_item, powerup.type + " #"
                                    + std::to_string(powerup.id)
                                    + " is not installed there"};
    created = (*st)->column_int64(0) != 0;
  }
  if (!force_dependency) {
    auto st = db_->prepare("SELECT dependent FROM mantissa_dependencies "
                           "WHERE target = ? AND dependency = ? LIMIT 1");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, target);
    (*st)->bind_int64(1, powerup.id);
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (*row)
      return {errc::in_use, "cannot uninstall " + powerup.type + " #"
                              + std::to_string(powerup.id) + ": powerup #"
                              + std::to_string((*st)->column_int64(0))
                              + " depends on it"};
  }
  std::vector<item_id> deps;
  {
    auto st = db_->prepare("SELECT dependency FROM mantissa_dependencies "
                           "WHERE target = ? AND dependent = ?");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, target);
    (*st)->bind_int64(1, powerup.id);
    for (;;) {
      auto row = (*st)->step();
      if (!row)
        return std::move(row).error_value();
      if (!*row)
        break;
      deps.push_back((*st)->column_int64(0));
    }
  }
  for (const char* sql :
       {"DELETE FROM mantissa_powerups WHERE target = ? AND powerup = ?",
        "DELETE FROM mantissa_dependencies WHERE target = ? AND dependent = ?"}) {
    auto st = db_->prepare(sql);
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, target);
    (*st)->bind_int64(1, powerup.id);
    MANTISSA_TRY((*st)->run());
  }
  for (auto dep : deps) {
    bool still_needed = false, explicit_dep = false, installed = false;
    std::string dep_type;
    {
      auto st = db_->prepare(
        "SELECT (SELECT count(*) FROM mantissa_dependencies WHERE target = ?1 "
        "AND dependency = ?2), (SELECT max(explicit) FROM mantissa_powerups "
        "WHERE target = ?1 AND powerup = ?2), (SELECT powerup_type FROM "
        "mantissa_powerups WHERE target = ?1 AND powerup = ?2 LIMIT 1)");
      if (!st)
        return std::move(st).error_value();
      (*st)->bind_int64(0, target);
      (*st)->bind_int64(1, dep);
      auto row = (*st)->step();
      if (!row)
        return std::move(row).error_value();
      still_needed = (*st)->column_int64(0) > 0;
      explicit_dep = (*st)->column_int64(1) != 0;
      installed = !(*st)->column_is_null(2);
      dep_type = std::string{(*st)->column_text(2)};
    }
    if (still_needed || explicit_dep || !installed)
      continue;
    MANTISSA_TRY(uninstall_impl({dep_type, dep}, target, true));
  }
  if (created) {
    auto decl = decl_for(powerup.type);
    if (!decl)
      return std::move(decl).error_value();
    std::set<item_id> removing;
    MANTISSA_TRY(remove_impl(**decl, powerup.id, removing));
    MANTISSA_TRY(check_disallowed(*db_, *registry_, removing));
  }
  return {};
}

result<std::vector<item>> store::powerups_for(std::string_view interface,
                                              item_id target) {
  std::vector<item_ref> refs;
  {
    auto st = db_->prepare(
      "SELECT powerup_type, powerup FROM mantissa_powerups WHERE target = ? "
      "AND interface = ? ORDER BY priority DESC, rowid");
    if (!st)
      return std::move(st).error_value();
    (*st)->bind_int64(0, target);
    (*st)->bind_text(1, interface);
    for (;;) {
      auto row = (*st)->step();
      if (!row)
        return std::move(row).error_value();
      if (!*row)
        break;
      refs.push_back({std::string{(*st)->column_text(0)},
                      (*st)->column_int64(1)});
    }
  }
  std::vector<item> out;
  out.reserve(refs.size());
  for (auto& r : refs) {
    auto it = get(r.type, r.id);
    if (!it)
      return std::move(it).error_value();
    out.push_back(std::move(*it));
  }
  return out;
}

result<std::vector<installation>> store::installations(item_id target) {
  auto st = db_->prepare(
    "SELECT powerup_type, powerup, interface, priority, explicit FROM "
    "mantissa_powerups WHERE target = ? ORDER BY interface, priority DESC, "
    "rowid");
  if (!st)
    return std::move(st).error_value();
  (*st)->bind_int64(0, target);
  std::vector<installation> out;
  for (;;) {
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (!*row)
      return out;
    out.push_back({{std::string{(*st)->column_text(0)}, (*st)->column_int64(1)},
                   target,
                   std::string{(*st)->column_text(2)},
                   static_cast<int>((*st)->column_int64(3)),
                   (*st)->column_int64(4) != 0});
  }
}

// -- maintenance ---------------------------------------------------------------

result<void> store::backup_to(const std::filesystem::path& target) {
  if (depth_ > 0)
    return {errc::internal, "cannot back up inside a transaction"};
  sqlite3* dest = nullptr;
  auto rc = sqlite3_open_v2(target.c_str(), &dest,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot create backup " + target.string() + ": "
                      + (dest ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
    sqlite3_close_v2(dest);
    return {sqlite::map_error(rc), std::move(msg)};
  }
  auto* b = sqlite3_backup_init(dest, "main", db_->handle(), "main");
  if (b == nullptr) {
    std::string msg = "cannot back up to " + target.string() + ": "
                      + sqlite3_errmsg(dest);
    auto code = sqlite3_errcode(dest);
    sqlite3_close_v2(dest);
    return {sqlite::map_error(code), std::move(msg)};
  }
  do {
    rc = sqlite3_backup_step(b, 1024);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    std::string msg = "backup to " + target.string() + " failed: "
                      + sqlite3_errstr(rc);
    sqlite3_close_v2(dest);
    return {sqlite::map_error(rc), std::move(msg)};
  }
  sqlite3_close_v2(dest);
  return {};
}

result<std::string> store::integrity_check() {
  auto st = db_->prepare("PRAGMA integrity_check");
  if (!st)
    return std::move(st).error_value();
  std::string out;
  for (;;) {
    auto row = (*st)->step();
    if (!row)
      return std::move(row).error_value();
    if (!*row)
      return out;
    if (!out.empty())
      out += '\n';
    out += (*st)->column_text(0);
  }
}

const std::filesystem::path& store::path() const noexcept {
  return db_->path();
}

} // namespace mantissa::store
