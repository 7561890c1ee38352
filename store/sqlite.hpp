#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "store/error.hpp"
#include "store/value.hpp"

struct sqlite3;
struct sqlite3_stmt;

/// A thin RAII layer over the SQLite C API. `<sqlite3.h>` is included only by
/// `sqlite.cpp`. Every object here is single-threaded: it belongs to the one
/// store (and so the one actor) that owns the connection.
namespace mantissa::store::sqlite {

enum class synchronous_mode : std::uint8_t { off, normal, full, extra };

struct open_options {
  bool create = true;       ///< create the file when missing
  bool read_only = false;
  synchronous_mode synchronous = synchronous_mode::full;
  int busy_timeout_ms = 5000;
};

class connection;

/// A prepared statement. Columns and parameters are 0-based here (SQLite's
/// parameters are 1-based; the wrapper adds one).
class statement {
 public:
  statement(connection& db, sqlite3_stmt* stmt) noexcept
    : db_(&db), stmt_(stmt) {}
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  /// Binds a store value in its storage form (bool as 0/1, timestamp as
  /// micros, JSON as text, reference as its id, null as NULL).
  void bind(int index, const value& v);
  void bind_null(int index);
  void bind_int64(int index, std::int64_t v);
  void bind_double(int index, double v);
  /// Binds text without copying: `v` must outlive the next step/reset.
  void bind_text(int index, std::string_view v);
  /// Binds bytes without copying: `v` must outlive the next step/reset.
  void bind_blob(int index, std::string_view v);

  /// Binds `args` to parameters 0, 1, ... in order: integers (and bool) as
  /// int64, floating point as double, `nullptr` as NULL, anything that
  /// converts to `std::string_view` as text — without copying, so text must
  /// outlive the next step/reset.
  template <class... Args>
  void bind_all(const Args&... args) {
    int index = 0;
    (bind_arg(index++, args), ...);
  }

  /// Runs one step: true when a row is available, false when done.
  [[nodiscard]] result<bool> step();
  /// Steps until done; for statements that return no rows.
  [[nodiscard]] result<void> run();
  /// Steps until done, calling `f()` at each row (it reads the columns).
  /// This is the one loop over rows: when `f` returns a `result<void>`, its
  /// first error ends the loop and is returned.
  template <class F>
  [[nodiscard]] result<void> for_each_row(F&& f) {
    for (;;) {
      auto row = step();
      if (!row)
        return std::move(row).error_value();
      if (!*row)
        return {};
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
      } else {
        MANTISSA_TRY(f());
      }
    }
  }
  /// Resets the statement and clears its bindings for reuse.
  void reset() noexcept;

  [[nodiscard]] int column_count() const noexcept;
  [[nodiscard]] bool column_is_null(int col) const noexcept;
  [[nodiscard]] std::int64_t column_int64(int col) const noexcept;
  [[nodiscard]] double column_double(int col) const noexcept;
  /// Valid until the next step, reset or column access of another type.
  [[nodiscard]] std::string_view column_text(int col) const noexcept;
  [[nodiscard]] std::string_view column_blob(int col) const noexcept;

  [[nodiscard]] sqlite3_stmt* handle() const noexcept { return stmt_; }

 private:
  template <class T>
  void bind_arg(int index, const T& v) {
    if constexpr (std::is_same_v<T, std::nullptr_t>)
      bind_null(index);
    else if constexpr (std::is_integral_v<T>)
      bind_int64(index, static_cast<std::int64_t>(v));
    else if constexpr (std::is_floating_point_v<T>)
      bind_double(index, static_cast<double>(v));
    else
      bind_text(index, std::string_view{v});
  }

  friend class connection;
  friend class cached_statement;
  connection* db_;
  sqlite3_stmt* stmt_;
  bool in_use_ = false;
};

/// A row count for a `LIMIT ?` parameter (SQLite's integers are signed).
[[nodiscard]] inline std::int64_t sql_limit(std::size_t limit) noexcept {
  constexpr auto max
    = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(limit > max ? max : limit);
}

/// A statement borrowed from a connection's cache; reset and returned to
/// the cache on destruction.
class cached_statement {
 public:
  cached_statement() = default;
  explicit cached_statement(statement* s, std::unique_ptr<statement> owned
                                          = nullptr) noexcept
    : stmt_(s), owned_(std::move(owned)) {}
  cached_statement(cached_statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      owned_(std::move(other.owned_)) {}
  cached_statement& operator=(cached_statement&&) = delete;
  ~cached_statement();

  statement* operator->() const noexcept { return stmt_; }
  statement& operator*() const noexcept { return *stmt_; }

 private:
  statement* stmt_ = nullptr;
  std::unique_ptr<statement> owned_;  // set when the cached one was busy
};

/// One open database file.
class connection {
 public:
  /// Opens (or creates) `path`, sets WAL mode, the synchronous level,
  /// foreign keys and the busy timeout, and checks that the file really is
  /// an SQLite database. Errors name the file.
  [[nodiscard]] static result<std::unique_ptr<connection>>
  open(const std::filesystem::path& path, const open_options& opts = {});

  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Runs one or more SQL statements that return no rows.
  [[nodiscard]] result<void> exec(std::string_view sql);

  /// Prepares `sql` once and caches it by its text. If the cached statement
  /// is in use (a nested call), a fresh uncached one is prepared instead.
  [[nodiscard]] result<cached_statement> prepare(const std::string& sql);

  /// `prepare(sql)` with `args` bound (see `statement::bind_all`; text
  /// arguments must outlive the statement's steps).
  template <class... Args>
  [[nodiscard]] result<cached_statement> query(const std::string& sql,
                                               const Args&... args) {
    auto st = prepare(sql);
    if (st)
      (*st)->bind_all(args...);
    return st;
  }

  /// Prepares `sql`, binds `args` and runs it; for statements that return
  /// no rows.
  template <class... Args>
  [[nodiscard]] result<void> run(const std::string& sql, const Args&... args) {
    auto st = query(sql, args...);
    if (!st)
      return std::move(st).error_value();
    return (*st)->run();
  }

  /// Prepares a statement that is not cached.
  [[nodiscard]] result<std::unique_ptr<statement>>
  prepare_uncached(std::string_view sql);

  [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
  [[nodiscard]] int changes() const noexcept;
  /// Rows inserted, updated or deleted through this connection since it
  /// opened (triggers included): unchanged means nothing was written.
  [[nodiscard]] std::int64_t total_changes() const noexcept;
  [[nodiscard]] bool in_transaction() const noexcept;

  /// The error for the connection's last failed call, prefixed by `what`.
  [[nodiscard]] error last_error(std::string_view what) const;

  [[nodiscard]] const std::filesystem::path& path() const noexcept {
    return path_;
  }
  [[nodiscard]] sqlite3* handle() const noexcept { return db_; }

  /// Gives back the memory of the page cache that is not in use
  /// (`sqlite3_db_release_memory`), e.g. after a large write.
  void release_memory() noexcept;

  /// Drops every cached statement (e.g. after the schema changed).
  void clear_cache() noexcept;

 private:
  connection(sqlite3* db, std::filesystem::path path) noexcept
    : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::filesystem::path path_;
  std::unordered_map<std::string, std::unique_ptr<statement>> cache_;
};

/// Maps an SQLite result code to the store's error code.
[[nodiscard]] errc map_error(int sqlite_code) noexcept;

/// Quotes an identifier for SQL: `"name"` with inner quotes doubled.
[[nodiscard]] std::string quote_identifier(std::string_view name);

} // namespace mantissa::store::sqlite
