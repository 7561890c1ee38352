#ifndef SQLITE_ENABLE_SESSION
#define SQLITE_ENABLE_SESSION 1
#endif
#ifndef SQLITE_ENABLE_PREUPDATE_HOOK
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#endif

#include "store/changes.hpp"

#include <sqlite3.h>

#include "store/sqlite.hpp"

namespace mantissa::store {

struct change_recorder::impl {
  sqlite3_session* session = nullptr;
  ~impl() {
    if (session != nullptr)
      sqlite3session_delete(session);
  }
};

change_recorder::change_recorder(std::unique_ptr<impl> d)
  : impl_(std::move(d)) {
}

change_recorder::~change_recorder() = default;

result<std::unique_ptr<change_recorder>>
change_recorder::start(sqlite::connection& conn) {
  auto d = std::make_unique<impl>();
  auto rc = sqlite3session_create(conn.handle(), "main", &d->session);
  if (rc != SQLITE_OK)
    return error{sqlite::map_error(rc),
                 std::string{"cannot record changes: "} + sqlite3_errstr(rc)};
  // Every table, including those created later.
  rc = sqlite3session_attach(d->session, nullptr);
  if (rc != SQLITE_OK)
    return error{sqlite::map_error(rc),
                 std::string{"cannot record changes: "} + sqlite3_errstr(rc)};
  return std::unique_ptr<change_recorder>{new change_recorder(std::move(d))};
}

result<std::string> change_recorder::changeset() {
  int size = 0;
  void* data = nullptr;
  auto rc = sqlite3session_changeset(impl_->session, &size, &data);
  if (rc != SQLITE_OK)
    return error{sqlite::map_error(rc),
                 std::string{"cannot read the recorded changes: "}
                   + sqlite3_errstr(rc)};
  std::string out{static_cast<const char*>(data), static_cast<std::size_t>(size)};
  sqlite3_free(data);
  return out;
}

namespace {

struct apply_state {
  int conflicts = 0;
};

int on_conflict(void* ctx, int, sqlite3_changeset_iter*) {
  ++static_cast<apply_state*>(ctx)->conflicts;
  return SQLITE_CHANGESET_ABORT;
}

result<void> apply_rows(sqlite::connection& conn, const std::string& changeset) {
  apply_state st;
  auto rc = sqlite3changeset_apply(
    conn.handle(), static_cast<int>(changeset.size()),
    const_cast<char*>(changeset.data()), nullptr, on_conflict, &st);
  if (st.conflicts > 0)
    return error{errc::corrupt,
                 "the changes do not fit this copy of the store ("
                   + std::to_string(st.conflicts)
                   + " conflicting row(s)); nothing was applied"};
  if (rc != SQLITE_OK)
    return error{sqlite::map_error(rc),
                 std::string{"cannot apply the changes: "}
                   + sqlite3_errmsg(conn.handle())};
  return {};
}

} // namespace

result<void> apply_changeset(sqlite::connection& conn,
                             const std::string& changeset) {
  if (changeset.empty())
    return {};
  // The rows and the outbox's counter (catch_up_sequences) in one
  // transaction: the caller's, or one of its own.
  bool own = !conn.in_transaction();
  if (own)
    MANTISSA_TRY(conn.exec("BEGIN IMMEDIATE"));
  auto r = apply_rows(conn, changeset);
  if (r)
    r = catch_up_sequences(conn);
  if (own) {
    if (r)
      r = conn.exec("COMMIT");
    if (!r)
      (void) conn.exec("ROLLBACK");
  }
  return r;
}

result<void> catch_up_sequences(sqlite::connection& conn) {
  // A session records tables with a primary key only: sqlite_sequence,
  // where AUTOINCREMENT keeps the highest seq ever handed out, is not in a
  // changeset. The outbox is the one such table; its counter must cover
  // the rows the changes added (last_queued reads it at activation).
  if (sqlite3_table_column_metadata(conn.handle(), "main", "mantissa_outbox",
                                    "seq", nullptr, nullptr, nullptr, nullptr,
                                    nullptr)
      != SQLITE_OK)
    return {};
  return conn.exec(
    "UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM mantissa_outbox) "
    "WHERE name = 'mantissa_outbox' AND seq < (SELECT max(seq) FROM "
    "mantissa_outbox);"
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'mantissa_outbox', "
    "max(seq) FROM mantissa_outbox HAVING max(seq) IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM sqlite_sequence WHERE name = 'mantissa_outbox');");
}

} // namespace mantissa::store
