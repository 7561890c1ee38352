#include "store/messaging.hpp"

#include <nlohmann/json.hpp>

#include "store/internal/tables.hpp"
#include "store/internal/try.hpp"

namespace mantissa::store {

/// The message tables: outbox, its targets, inbox (messaging.hpp).
const internal::table_group internal::message_tables{
  .sql = R"sql(
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
)sql",
  .marker = "mantissa_outbox_by_target"};

namespace {

error no_tables() {
  return error{errc::read_only,
               "this store file has no message tables (opened read-only)"};
}

constexpr const char* outgoing_columns
  = "SELECT seq, target, share_id, type, payload, queued, answer FROM "
    "mantissa_outbox ";

result<std::vector<outgoing>> read_outgoing(sqlite::statement& st) {
  std::vector<outgoing> out;
  MANTISSA_TRY(st.for_each_row([&] {
    outgoing m;
    m.seq = st.column_int64(0);
    m.target = std::string{st.column_text(1)};
    m.share_id = std::string{st.column_text(2)};
    m.type = std::string{st.column_text(3)};
    m.payload = std::string{st.column_text(4)};
    m.queued = timestamp{st.column_int64(5)};
    if (!st.column_is_null(6))
      m.answer = std::string{st.column_text(6)};
    out.push_back(std::move(m));
  }));
  return out;
}

result<std::optional<std::int64_t>> single_int(sqlite::statement& st) {
  MANTISSA_TRY_ASSIGN(bool row, st.step());
  if (!row || st.column_is_null(0))
    return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>{st.column_int64(0)};
}

} // namespace

result<std::int64_t> queue_message(store& s, std::string_view target,
                                   std::string_view share_id,
                                   std::string_view type,
                                   std::string_view payload, timestamp now) {
  if (!s.has_schedule_tables())
    return no_tables();
  if (target.empty())
    return error{errc::invalid_name, "a message needs a target store"};
  if (type.empty() || type.size() > 128)
    return error{errc::invalid_name, "a message type is 1 to 128 characters"};
  if (payload.size() > max_payload_size)
    return error{errc::invalid_value,
                 "a message payload is at most 1 MiB of JSON (this one is "
                   + std::to_string(payload.size()) + " bytes)"};
  if (payload.empty() || !nlohmann::json::accept(payload))
    return error{errc::invalid_value, "a message payload must be JSON text"};
  return s.atomically([&]() -> result<std::int64_t> {
    auto& db = s.connection();
    MANTISSA_TRY(db.run("INSERT INTO mantissa_outbox(target, share_id, type, "
                        "payload, queued) VALUES (?, ?, ?, ?, ?)",
                        target, share_id, type, payload, now.micros));
    auto seq = db.last_insert_rowid();
    // A target with nothing in flight is due now; one with a delivery or a
    // retry pending keeps its time (the delivery in progress picks this
    // message up when it is answered).
    MANTISSA_TRY(db.run(
      "INSERT INTO mantissa_outbox_targets(target, next_attempt) VALUES (?, ?) "
      "ON CONFLICT(target) DO UPDATE SET next_attempt = "
      "coalesce(next_attempt, excluded.next_attempt)",
      target, now.micros));
    return seq;
  });
}

result<std::vector<outgoing>> unanswered(store& s, std::string_view target,
                                         std::int64_t max_seq,
                                         std::size_t limit) {
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query(std::string{outgoing_columns}
                                    + "WHERE target = ? AND answer IS NULL AND "
                                      "seq <= ? ORDER BY seq LIMIT ?",
                                  target, max_seq, sqlite::sql_limit(limit)));
  return read_outgoing(*st);
}

result<bool> has_unanswered(store& s, std::string_view target) {
  MANTISSA_TRY_ASSIGN(auto st, s.connection().query(
                                 "SELECT 1 FROM mantissa_outbox WHERE target = "
                                 "? AND answer IS NULL LIMIT 1",
                                 target));
  return st->step();
}

result<std::int64_t> unanswered_count(store& s) {
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query(
               "SELECT count(*) FROM mantissa_outbox WHERE answer IS NULL"));
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  return row ? st->column_int64(0) : 0;
}

result<std::vector<outgoing>> outbox(store& s, std::size_t limit) {
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().query(std::string{outgoing_columns} + "ORDER BY seq LIMIT ?",
                         sqlite::sql_limit(limit)));
  return read_outgoing(*st);
}

result<std::optional<outgoing>> find_outgoing(store& s, std::int64_t seq) {
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().query(std::string{outgoing_columns} + "WHERE seq = ?", seq));
  MANTISSA_TRY_ASSIGN(auto rows, read_outgoing(*st));
  if (rows.empty())
    return std::optional<outgoing>{};
  return std::optional<outgoing>{std::move(rows.front())};
}

result<void> remove_outgoing(store& s, std::int64_t seq) {
  return s.connection().run("DELETE FROM mantissa_outbox WHERE seq = ?", seq);
}

result<void> keep_answer(store& s, std::int64_t seq, std::string_view answer,
                         timestamp retry) {
  return s.connection().run(
    "UPDATE mantissa_outbox SET answer = ?, retry_at = ? WHERE seq = ?", answer,
    retry.micros, seq);
}

result<std::vector<outgoing>> answers_due(store& s, timestamp now,
                                          std::size_t limit) {
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query(
               std::string{outgoing_columns}
                 + "WHERE retry_at <= ? ORDER BY retry_at, seq LIMIT ?",
               now.micros, sqlite::sql_limit(limit)));
  return read_outgoing(*st);
}

result<std::vector<target_state>> active_targets(store& s) {
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query(
               "SELECT target, next_attempt, attempts, acked FROM "
               "mantissa_outbox_targets WHERE next_attempt IS NOT NULL ORDER "
               "BY next_attempt"));
  std::vector<target_state> out;
  auto& row = *st;
  MANTISSA_TRY(row.for_each_row([&] {
    out.push_back({std::string{row.column_text(0)},
                   timestamp{row.column_int64(1)}, row.column_int64(2),
                   row.column_int64(3)});
  }));
  return out;
}

result<target_state> get_target(store& s, std::string_view target) {
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().query(
      "SELECT next_attempt, attempts, acked FROM mantissa_outbox_targets WHERE "
      "target = ?",
      target));
  target_state t;
  t.target = std::string{target};
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  if (row) {
    if (!st->column_is_null(0))
      t.next_attempt = timestamp{st->column_int64(0)};
    t.attempts = st->column_int64(1);
    t.acked = st->column_int64(2);
  }
  return t;
}

result<void> put_target(store& s, const target_state& t) {
  auto& db = s.connection();
  if (t.next_attempt)
    return db.run(
      "INSERT OR REPLACE INTO mantissa_outbox_targets(target, next_attempt, "
      "attempts, acked) VALUES (?, ?, ?, ?)",
      t.target, t.next_attempt->micros, t.attempts, t.acked);
  return db.run("INSERT OR REPLACE INTO mantissa_outbox_targets(target, "
                "next_attempt, attempts, acked) VALUES (?, NULL, ?, ?)",
                t.target, t.attempts, t.acked);
}

result<std::int64_t> last_queued(store& s) {
  if (!s.has_schedule_tables())
    return std::int64_t{0};
  // sqlite_sequence keeps the highest seq ever queued, even after answered
  // messages are removed (apply_changeset keeps it current in copies).
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().query(
      "SELECT seq FROM sqlite_sequence WHERE name = 'mantissa_outbox'"));
  MANTISSA_TRY_ASSIGN(auto v, single_int(*st));
  return v.value_or(0);
}

result<std::optional<timestamp>> outbox_due(store& s) {
  if (!s.has_schedule_tables())
    return std::optional<timestamp>{};
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query(
               "SELECT min(t) FROM (SELECT min(next_attempt) AS t FROM "
               "mantissa_outbox_targets UNION ALL SELECT min(retry_at) FROM "
               "mantissa_outbox)"));
  MANTISSA_TRY_ASSIGN(auto v, single_int(*st));
  if (!v)
    return std::optional<timestamp>{};
  return std::optional<timestamp>{timestamp{*v}};
}

result<std::optional<std::string>>
find_received(store& s, std::string_view sender, std::int64_t seq) {
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query(
               "SELECT answer FROM mantissa_inbox WHERE sender = ? AND seq = ?",
               sender, seq));
  MANTISSA_TRY_ASSIGN(bool row, st->step());
  if (!row)
    return std::optional<std::string>{};
  return std::optional<std::string>{std::string{st->column_text(0)}};
}

result<void> record_received(store& s, std::string_view sender,
                             std::int64_t seq, std::string_view answer) {
  return s.connection().run(
    "INSERT INTO mantissa_inbox(sender, seq, answer) VALUES (?, ?, ?)", sender,
    seq, answer);
}

result<std::int64_t> forget_received(store& s, std::string_view sender,
                                     std::int64_t seq) {
  auto& db = s.connection();
  MANTISSA_TRY(db.run("DELETE FROM mantissa_inbox WHERE sender = ? AND seq <= ?",
                      sender, seq));
  return static_cast<std::int64_t>(db.changes());
}

result<std::int64_t> received_count(store& s, std::string_view sender) {
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query(
               "SELECT count(*) FROM mantissa_inbox WHERE sender = ?", sender));
  MANTISSA_TRY_ASSIGN(auto v, single_int(*st));
  return v.value_or(0);
}

} // namespace mantissa::store
