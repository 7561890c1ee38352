#include "store/scheduler.hpp"

#include "store/internal/scheduler.hpp"
#include "store/internal/tables.hpp"
#include "store/internal/try.hpp"

namespace mantissa::store {

/// The schedule tables: events due, and the latest failures (scheduler.hpp).
const internal::table_group internal::schedule_tables{
  .sql = R"sql(
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
)sql",
  .marker = "mantissa_schedule_by_due"};

result<void> internal::remove_events_of(sqlite::connection& db, item_id id) {
  return db.run("DELETE FROM mantissa_schedule WHERE item_id = ?", id);
}

namespace {

constexpr std::size_t max_failure_message = 4096;

error no_tables() {
  return error{errc::read_only,
               "this store file has no schedule tables (opened read-only)"};
}

result<void> check_item(store& s, const item_ref& item) {
  MANTISSA_TRY(s.get(item.type, item.id));
  return {};
}

result<std::vector<scheduled_event>> read_events(sqlite::statement& st) {
  std::vector<scheduled_event> out;
  MANTISSA_TRY(st.for_each_row([&] {
    out.push_back({st.column_int64(0),
                   {std::string{st.column_text(1)}, st.column_int64(2)},
                   {st.column_int64(3)}});
  }));
  return out;
}

} // namespace

result<scheduled_event> schedule(store& s, const item_ref& item,
                                 timestamp when) {
  if (!s.has_schedule_tables())
    return no_tables();
  return s.atomically([&]() -> result<scheduled_event> {
    MANTISSA_TRY(check_item(s, item));
    auto& db = s.connection();
    MANTISSA_TRY(db.run("INSERT INTO mantissa_schedule(item_type, item_id, "
                        "due) VALUES (?, ?, ?)",
                        item.type, item.id, when.micros));
    return scheduled_event{db.last_insert_rowid(), item, when};
  });
}

result<std::int64_t> unschedule(store& s, const item_ref& item) {
  if (!s.has_schedule_tables())
    return no_tables();
  return s.atomically([&]() -> result<std::int64_t> {
    auto& db = s.connection();
    MANTISSA_TRY(db.run("DELETE FROM mantissa_schedule WHERE item_id = ? AND "
                        "item_type = ?",
                        item.id, item.type));
    return static_cast<std::int64_t>(db.changes());
  });
}

result<scheduled_event> reschedule(store& s, const item_ref& item,
                                   timestamp when) {
  if (!s.has_schedule_tables())
    return no_tables();
  return s.atomically([&]() -> result<scheduled_event> {
    MANTISSA_TRY(unschedule(s, item));
    return schedule(s, item, when);
  });
}

result<std::vector<timestamp>> scheduled_times(store& s, const item_ref& item) {
  std::vector<timestamp> out;
  if (!s.has_schedule_tables())
    return out;
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query("SELECT due FROM mantissa_schedule WHERE "
                                  "item_id = ? AND item_type = ? ORDER BY due",
                                  item.id, item.type));
  MANTISSA_TRY(st->for_each_row([&] { out.push_back({st->column_int64(0)}); }));
  return out;
}

result<std::vector<scheduled_event>> scheduled_events(store& s,
                                                      std::size_t limit) {
  if (!s.has_schedule_tables())
    return std::vector<scheduled_event>{};
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().query(
      "SELECT id, item_type, item_id, due FROM mantissa_schedule ORDER BY due, "
      "id LIMIT ?",
      sqlite::sql_limit(limit)));
  return read_events(*st);
}

result<std::optional<timestamp>> next_due(store& s) {
  if (!s.has_schedule_tables())
    return std::optional<timestamp>{};
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query("SELECT min(due) FROM mantissa_schedule"));
  MANTISSA_TRY(st->step());
  if (st->column_is_null(0))
    return std::optional<timestamp>{};
  return std::optional<timestamp>{timestamp{st->column_int64(0)}};
}

result<std::optional<scheduled_event>> first_due(store& s, timestamp now) {
  if (!s.has_schedule_tables())
    return std::optional<scheduled_event>{};
  MANTISSA_TRY_ASSIGN(
    auto st, s.connection().query("SELECT id, item_type, item_id, due FROM "
                                  "mantissa_schedule WHERE due <= ? "
                                  "ORDER BY due, id LIMIT 1",
                                  now.micros));
  MANTISSA_TRY_ASSIGN(auto events, read_events(*st));
  if (events.empty())
    return std::optional<scheduled_event>{};
  return std::optional<scheduled_event>{std::move(events.front())};
}

result<void> remove_event(store& s, std::int64_t event_id) {
  if (!s.has_schedule_tables())
    return no_tables();
  return s.connection().run("DELETE FROM mantissa_schedule WHERE id = ?",
                            event_id);
}

result<void> move_event(store& s, std::int64_t event_id, timestamp when) {
  if (!s.has_schedule_tables())
    return no_tables();
  return s.connection().run("UPDATE mantissa_schedule SET due = ? WHERE id = ?",
                            when.micros, event_id);
}

result<void> record_failure(store& s, const scheduled_event& e, timestamp at,
                            std::string_view message) {
  if (!s.has_schedule_tables())
    return no_tables();
  if (message.size() > max_failure_message)
    message = message.substr(0, max_failure_message);
  return s.atomically([&]() -> result<void> {
    auto& db = s.connection();
    MANTISSA_TRY(db.run("INSERT INTO mantissa_schedule_failures(at, "
                        "item_type, item_id, due, message) VALUES (?, ?, ?, "
                        "?, ?)",
                        at.micros, e.item.type, e.item.id, e.due.micros,
                        message));
    auto newest = db.last_insert_rowid();
    return db.run("DELETE FROM mantissa_schedule_failures WHERE id <= ?",
                  newest - static_cast<std::int64_t>(max_schedule_failures));
  });
}

result<std::vector<schedule_failure>> schedule_failures(store& s,
                                                        std::size_t limit) {
  std::vector<schedule_failure> out;
  if (!s.has_schedule_tables())
    return out;
  MANTISSA_TRY_ASSIGN(
    auto st,
    s.connection().query("SELECT id, item_type, item_id, due, at, message FROM "
                         "mantissa_schedule_failures ORDER BY id DESC LIMIT ?",
                         sqlite::sql_limit(limit)));
  MANTISSA_TRY(st->for_each_row([&] {
    out.push_back({st->column_int64(0),
                   {std::string{st->column_text(1)}, st->column_int64(2)},
                   {st->column_int64(3)},
                   {st->column_int64(4)},
                   std::string{st->column_text(5)}});
  }));
  return out;
}

} // namespace mantissa::store
