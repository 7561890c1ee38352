#include "store/sharing.hpp"

#include <set>
#include <utility>

#include "store/internal/sharing.hpp"
#include "store/internal/tables.hpp"
#include "store/internal/try.hpp"

namespace mantissa::store {

/// The sharing tables: group memberships and shares (see sharing.hpp).
const internal::table_group internal::sharing_tables{
  .sql = R"sql(
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
)sql",
  .marker = "mantissa_shares_by_visibility"};

namespace {

/// The key of the default share id in `mantissa_meta`.
constexpr const char* default_share_key = "default_share";

bool is_lower_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/// Whether `s` is 1 to `max` bytes, each `[a-z0-9]` or one of `extra`.
bool all_of(std::string_view s, std::size_t max, std::string_view extra) {
  if (s.empty() || s.size() > max)
    return false;
  for (char c : s)
    if (!is_lower_or_digit(c) && extra.find(c) == std::string_view::npos)
      return false;
  return true;
}

/// `s` quoted for a message: at most 64 bytes, non-printable bytes as `?`.
std::string printable(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 64))
    out += c >= 0x20 && c < 0x7f ? c : '?';
  return out + (s.size() > 64 ? "...'" : "'");
}

/// `?, ?, ...` with `n` marks.
std::string marks(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out += i == 0 ? "?" : ", ?";
  return out;
}

/// Binds `roles` from index `n` on; they must outlive the statement's use.
void bind_roles(sqlite::statement& st, int n,
                const std::vector<std::string>& roles) {
  for (auto& r : roles)
    st.bind_text(n++, r);
}

/// `SELECT DISTINCT <columns> FROM mantissa_shares WHERE <key> = ? AND role
/// IN (<roles>) ORDER BY interface`, prepared with `roles` bound from
/// parameter 1 on; the caller binds the key (parameter 0).
result<sqlite::cached_statement>
shares_for_roles(store& s, const char* columns, const char* key,
                 const std::vector<std::string>& roles) {
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().prepare(
               std::string{"SELECT DISTINCT "} + columns
               + " FROM mantissa_shares WHERE " + key + " = ? AND role IN ("
               + marks(roles.size()) + ") ORDER BY interface"));
  bind_roles(*st, 1, roles);
  return result<sqlite::cached_statement>{std::move(st)};
}

/// Steps `st` to the end, collecting column 0 as text.
result<std::vector<std::string>> text_column(sqlite::statement& st) {
  std::vector<std::string> out;
  MANTISSA_TRY(st.for_each_row([&] { out.emplace_back(st.column_text(0)); }));
  return out;
}

result<void> validate_group(std::string_view group) {
  MANTISSA_TRY(validate_role(group));
  if (!group.starts_with(group_role_prefix))
    return {errc::invalid_name, "role " + printable(group) + " is not a group"};
  return {};
}

/// Sorted, unique, valid interface names (`invalid_value` otherwise).
result<std::vector<std::string>>
checked_interfaces(const std::vector<std::string>& interfaces) {
  if (interfaces.empty())
    return error{errc::invalid_value, "a share needs at least one interface"};
  std::set<std::string> out;
  for (auto& i : interfaces) {
    if (auto r = validate_attribute_name(i); !r)
      return error{errc::invalid_value, r.error_value().message};
    out.insert(i);
  }
  return std::vector<std::string>{out.begin(), out.end()};
}

/// The share id `item` is shared under as `share_id`: a fresh random one
/// when empty; `already_exists` when it names another item.
result<std::string> share_id_for(store& s, const item_ref& item,
                                 std::string_view share_id) {
  auto& db = s.connection();
  std::string id{share_id};
  if (id.empty()) {
    // SQLite's generator is seeded from the operating system.
    MANTISSA_TRY_ASSIGN(auto st,
                        db.prepare("SELECT lower(hex(randomblob(16)))"));
    MANTISSA_TRY(st->step());
    id = st->column_text(0);
  }
  MANTISSA_TRY_ASSIGN(
    auto st,
    db.query("SELECT item_id FROM mantissa_shares WHERE share_id = ? LIMIT 1",
             id));
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  if (row && st->column_int64(0) != item.id)
    return error{errc::already_exists, "share id " + printable(id)
                                         + " already names another item"};
  return id;
}

result<std::vector<share>> read_shares(sqlite::statement& st) {
  std::vector<share> out;
  MANTISSA_TRY(st.for_each_row([&] {
    auto id = st.column_text(0);
    auto role = st.column_text(1);
    if (out.empty() || out.back().share_id != id || out.back().role != role)
      out.push_back({std::string{id}, std::string{role},
                     {std::string{st.column_text(3)}, st.column_int64(2)},
                     {}});
    out.back().interfaces.emplace_back(st.column_text(4));
  }));
  return out;
}

} // namespace

// -- the store's own queries -------------------------------------------------

std::string internal::visibility_sql(std::size_t roles) {
  return " AND \"id\" IN (SELECT item_id FROM mantissa_shares "
         "WHERE item_type = ? AND interface = ? AND role IN ("
         + marks(roles) + "))";
}

int internal::bind_visibility(sqlite::statement& st, int n,
                              const std::string& type, const visibility& vis) {
  st.bind_text(n++, type);
  st.bind_text(n++, vis.interface);
  bind_roles(st, n, vis.roles);
  return n + static_cast<int>(vis.roles.size());
}

result<void> internal::remove_shares_of(sqlite::connection& db, item_id id) {
  return db.run("DELETE FROM mantissa_shares WHERE item_id = ?", id);
}

result<void> validate_role(std::string_view role) {
  if (role == everyone_role || role == authenticated_role)
    return {};
  if (role.starts_with(user_role_prefix)
      && all_of(role.substr(user_role_prefix.size()), 320, "._+@-"))
    return {};
  if (role.starts_with(group_role_prefix)
      && all_of(role.substr(group_role_prefix.size()), 64, "._-"))
    return {};
  return {errc::invalid_name,
          "invalid role " + printable(role)
            + ": roles are 'everyone', 'authenticated', 'user:<address>' or "
              "'group:<name>'"};
}

result<void> validate_share_id(std::string_view share_id) {
  bool ok = !share_id.empty() && share_id.size() <= max_share_id_size;
  for (char c : share_id)
    ok = ok
         && (is_lower_or_digit(c) || (c >= 'A' && c <= 'Z') || c == '_'
             || c == '-');
  if (!ok)
    return {errc::invalid_name, "invalid share id " + printable(share_id)
                                  + ": 1 to 64 characters of [A-Za-z0-9_-]"};
  return {};
}

std::string user_role(std::string_view address) {
  return std::string{user_role_prefix} + std::string{address};
}

// -- shares ------------------------------------------------------------------

result<std::string> share_item(store& s, const item_ref& item,
                               std::string_view role,
                               const std::vector<std::string>& interfaces,
                               std::string_view share_id) {
  s.note_sharing_change();
  MANTISSA_TRY(validate_role(role));
  if (!share_id.empty())
    MANTISSA_TRY(validate_share_id(share_id));
  MANTISSA_TRY_ASSIGN(auto ifaces, checked_interfaces(interfaces));
  return s.atomically([&]() -> result<std::string> {
    MANTISSA_TRY(s.get(item.type, item.id));
    auto id = share_id_for(s, item, share_id);
    if (!id)
      return id;
    auto& db = s.connection();
    MANTISSA_TRY(db.run(
      "DELETE FROM mantissa_shares WHERE share_id = ? AND role = ?", *id, role));
    MANTISSA_TRY_ASSIGN(
      auto ins, db.prepare("INSERT INTO mantissa_shares(share_id, role, "
                           "item_id, item_type, interface) VALUES (?, ?, ?, "
                           "?, ?)"));
    for (auto& iface : ifaces) {
      ins->bind_all(*id, role, item.id, item.type, iface);
      MANTISSA_TRY(ins->run());
      ins->reset();
    }
    return id;
  });
}

result<std::int64_t> unshare(store& s, std::string_view share_id,
                             std::string_view role) {
  s.note_sharing_change();
  MANTISSA_TRY(validate_share_id(share_id));
  if (!role.empty())
    MANTISSA_TRY(validate_role(role));
  // Every role when `role` is empty. (An empty view is not bound: SQLite
  // would take its null pointer for NULL.)
  std::string where = " WHERE share_id = ?";
  if (!role.empty())
    where += " AND role = ?";
  auto bind_where = [&](sqlite::statement& st) {
    st.bind_text(0, share_id);
    if (!role.empty())
      st.bind_text(1, role);
  };
  return s.atomically([&]() -> result<std::int64_t> {
    auto& db = s.connection();
    std::int64_t removed = 0;
    {
      MANTISSA_TRY_ASSIGN(
        auto n,
        db.prepare("SELECT count(DISTINCT role) FROM mantissa_shares" + where));
      bind_where(*n);
      MANTISSA_TRY(n->step());
      removed = n->column_int64(0);
    }
    MANTISSA_TRY_ASSIGN(auto del,
                        db.prepare("DELETE FROM mantissa_shares" + where));
    bind_where(*del);
    MANTISSA_TRY(del->run());
    return removed;
  });
}

result<std::vector<share>> list_shares(store& s, std::optional<item_id> item) {
  if (!s.has_sharing_tables())
    return std::vector<share>{};
  std::string sql = "SELECT share_id, role, item_id, item_type, interface "
                    "FROM mantissa_shares";
  if (item)
    sql += " WHERE item_id = ?";
  MANTISSA_TRY_ASSIGN(auto st, s.connection().prepare(
                                 sql + " ORDER BY share_id, role, interface"));
  if (item)
    st->bind_int64(0, *item);
  return read_shares(*st);
}

// -- membership --------------------------------------------------------------

result<void> add_member(store& s, std::string_view member,
                        std::string_view group) {
  s.note_sharing_change();
  MANTISSA_TRY(validate_role(member));
  if (member == everyone_role || member == authenticated_role)
    return {errc::invalid_name, "'" + std::string{member}
                                  + "' cannot be made a member of a group"};
  MANTISSA_TRY(validate_group(group));
  return s.atomically([&]() -> result<void> {
    return s.connection().run(
      "INSERT OR IGNORE INTO mantissa_members(member, grp) VALUES (?, ?)",
      member, group);
  });
}

result<bool> remove_member(store& s, std::string_view member,
                           std::string_view group) {
  s.note_sharing_change();
  MANTISSA_TRY(validate_role(member));
  MANTISSA_TRY(validate_group(group));
  return s.atomically([&]() -> result<bool> {
    MANTISSA_TRY(s.connection().run(
      "DELETE FROM mantissa_members WHERE member = ? AND grp = ?", member,
      group));
    return s.connection().changes() > 0;
  });
}

result<std::vector<std::string>> members_of(store& s, std::string_view group) {
  MANTISSA_TRY(validate_group(group));
  if (!s.has_sharing_tables())
    return std::vector<std::string>{};
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().query(
      "SELECT member FROM mantissa_members WHERE grp = ? ORDER BY member",
      group));
  return text_column(*st);
}

result<std::vector<std::string>> role_closure(store& s, std::string_view role) {
  if (role.empty())
    return error{errc::invalid_name, "empty role"};
  std::set<std::string> out{std::string{role}, std::string{everyone_role}};
  if (role.starts_with(user_role_prefix))
    out.emplace(authenticated_role);
  if (s.has_sharing_tables()) {
    // UNION (not UNION ALL) drops roles already reached: cycles end.
    MANTISSA_TRY_ASSIGN(
      auto st,
      s.connection().query(
        "WITH RECURSIVE closure(r) AS (SELECT ? UNION SELECT grp FROM "
        "mantissa_members JOIN closure ON member = r) SELECT r FROM closure",
        role));
    MANTISSA_TRY_ASSIGN(auto groups, text_column(*st));
    out.insert(groups.begin(), groups.end());
  }
  return std::vector<std::string>{out.begin(), out.end()};
}

// -- access ------------------------------------------------------------------

result<std::vector<std::string>>
interfaces_for(store& s, const std::vector<std::string>& roles, item_id id) {
  if (roles.empty() || !s.has_sharing_tables())
    return std::vector<std::string>{};
  MANTISSA_TRY_ASSIGN(auto st,
                      shares_for_roles(s, "interface", "item_id", roles));
  st->bind_int64(0, id);
  return text_column(*st);
}

result<bool> shares_any(store& s, const std::vector<std::string>& roles) {
  if (roles.empty() || !s.has_sharing_tables())
    return false;
  MANTISSA_TRY_ASSIGN(auto st, s.connection().prepare(
                                 "SELECT 1 FROM mantissa_shares WHERE role IN ("
                                 + marks(roles.size()) + ") LIMIT 1"));
  bind_roles(*st, 0, roles);
  return st->step();
}

result<shared_item> get_share(store& s, const std::vector<std::string>& roles,
                              std::string_view share_id) {
  std::string id{share_id};
  if (id.empty()) {
    MANTISSA_TRY_ASSIGN(auto d, default_share(s));
    id = std::move(d);
  }
  error none{errc::no_such_item, "no such share"};
  if (id.empty())
    return none;
  MANTISSA_TRY(validate_share_id(id));
  if (roles.empty() || !s.has_sharing_tables())
    return none;
  MANTISSA_TRY_ASSIGN(
    auto st,
    shares_for_roles(s, "item_type, item_id, interface", "share_id", roles));
  st->bind_text(0, id);
  shared_item out;
  MANTISSA_TRY(st->for_each_row([&] {
    if (out.interfaces.empty())
      out.item = {std::string{st->column_text(0)}, st->column_int64(1)};
    out.interfaces.emplace_back(st->column_text(2));
  }));
  if (out.interfaces.empty())
    return none;
  out.share_id = std::move(id);
  return out;
}

// -- default share -----------------------------------------------------------

result<void> set_default_share(store& s, std::string_view share_id) {
  s.note_sharing_change();
  if (!share_id.empty())
    MANTISSA_TRY(validate_share_id(share_id));
  return s.atomically([&]() -> result<void> {
    MANTISSA_TRY_ASSIGN(
      auto st,
      s.connection().prepare(
        share_id.empty()
          ? "DELETE FROM mantissa_meta WHERE key = ?"
          : "INSERT OR REPLACE INTO mantissa_meta(key, value) VALUES (?, ?)"));
    st->bind_text(0, default_share_key);
    if (!share_id.empty())
      st->bind_text(1, share_id);
    return st->run();
  });
}

result<std::string> default_share(store& s) {
  if (!s.has_sharing_tables())
    return std::string{};
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().prepare("SELECT value FROM mantissa_meta WHERE key = ?"));
  st->bind_text(0, default_share_key);
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  return row ? std::string{st->column_text(0)} : std::string{};
}

} // namespace mantissa::store
