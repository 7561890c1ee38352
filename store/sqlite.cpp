#include "store/sqlite.hpp"

#include <mutex>

#include <sqlite3.h>

#include "store/internal/try.hpp"

namespace mantissa::store::sqlite {

namespace {

/// Process-wide SQLite settings, before the library's first use (later
/// calls of sqlite3_config fail harmlessly when something else initialized
/// it first). Every connection is used by one thread at a time (its store
/// actor), so SQLite's own locking is not needed; and its memory
/// statistics take a global mutex on every allocation, which the store
/// actors of a node would otherwise contend for (activation under a
/// fan-out: docs/benchmarks.md).
void configure_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  });
}

} // namespace

errc map_error(int code) noexcept {
  switch (code & 0xFF) {
    case SQLITE_CORRUPT: return errc::corrupt;
    case SQLITE_NOTADB: return errc::not_a_database;
    case SQLITE_READONLY: return errc::read_only;
    case SQLITE_PERM: return errc::read_only;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return errc::busy;
    case SQLITE_CONSTRAINT: return errc::constraint;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM: return errc::io_error;
    case SQLITE_TOOBIG: return errc::invalid_value;
    default: return errc::internal;
  }
}

std::string quote_identifier(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    out += c;
    if (c == '"')
      out += '"';
  }
  out += '"';
  return out;
}

// -- statement ---------------------------------------------------------------

statement::~statement() {
  sqlite3_finalize(stmt_);
}

void statement::bind(int index, const value& v) {
  struct visitor {
    statement* self;
    int i;
    void operator()(std::monostate) const { self->bind_null(i); }
    void operator()(std::int64_t x) const { self->bind_int64(i, x); }
    void operator()(double x) const { self->bind_double(i, x); }
    void operator()(const std::string& x) const { self->bind_text(i, x); }
    void operator()(const blob& x) const { self->bind_blob(i, x.data); }
    void operator()(bool x) const { self->bind_int64(i, x ? 1 : 0); }
    void operator()(timestamp x) const { self->bind_int64(i, x.micros); }
    void operator()(const nlohmann::json& x) const {
      auto text = x.dump(-1, ' ', false,
                         nlohmann::json::error_handler_t::replace);
      sqlite3_bind_text64(self->stmt_, i + 1, text.data(), text.size(),
                          SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    void operator()(reference x) const { self->bind_int64(i, x.id); }
  };
  std::visit(visitor{this, index}, v);
}

void statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index + 1);
}

void statement::bind_int64(int index, std::int64_t v) {
  sqlite3_bind_int64(stmt_, index + 1, v);
}

void statement::bind_double(int index, double v) {
  sqlite3_bind_double(stmt_, index + 1, v);
}

void statement::bind_text(int index, std::string_view v) {
  // A default-constructed view has a null data pointer, which SQLite would
  // bind as NULL: an empty text is still text.
  sqlite3_bind_text64(stmt_, index + 1, v.data() != nullptr ? v.data() : "",
                      v.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void statement::bind_blob(int index, std::string_view v) {
  // A zero-length blob must not be bound as NULL: pass a valid pointer.
  static const char empty = 0;
  sqlite3_bind_blob64(stmt_, index + 1, v.empty() ? &empty : v.data(),
                      v.size(), SQLITE_STATIC);
}

result<bool> statement::step() {
  auto rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  auto err = db_->last_error("statement failed");
  sqlite3_reset(stmt_);
  return err;
}

result<void> statement::run() {
  return for_each_row([] {});
}

void statement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int statement::column_count() const noexcept {
  return sqlite3_column_count(stmt_);
}

bool statement::column_is_null(int col) const noexcept {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::int64_t statement::column_int64(int col) const noexcept {
  return sqlite3_column_int64(stmt_, col);
}

double statement::column_double(int col) const noexcept {
  return sqlite3_column_double(stmt_, col);
}

std::string_view statement::column_text(int col) const noexcept {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  auto n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string_view{}
                      : std::string_view{p, static_cast<std::size_t>(n)};
}

std::string_view statement::column_blob(int col) const noexcept {
  auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  auto n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string_view{}
                      : std::string_view{p, static_cast<std::size_t>(n)};
}

// -- cached_statement ----------------------------------------------------------

cached_statement::~cached_statement() {
  if (stmt_ != nullptr) {
    stmt_->reset();
    stmt_->in_use_ = false;
  }
}

// -- connection --------------------------------------------------------------

result<std::unique_ptr<connection>>
connection::open(const std::filesystem::path& path, const open_options& opts) {
  configure_library();
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (opts.read_only)
    flags |= SQLITE_OPEN_READONLY;
  else
    flags |= SQLITE_OPEN_READWRITE | (opts.create ? SQLITE_OPEN_CREATE : 0);
  sqlite3* db = nullptr;
  auto rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open " + path.string() + ": "
                      + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return error{map_error(rc), std::move(msg)};
  }
  std::unique_ptr<connection> conn{new connection(db, path)};
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, opts.busy_timeout_ms);
  if (!opts.read_only) {
    // A store is opened and closed often (activation, passivation), by one
    // connection at a time (the data directory lock keeps other processes
    // out). Exclusive locking keeps the WAL index in memory (no -shm file,
    // one descriptor less), and a persistent, truncated WAL file spares the
    // file system from creating and deleting it on every activation — the
    // largest cost of a cold read before.
    if (auto r = conn->exec("PRAGMA locking_mode=EXCLUSIVE"); !r)
      return error{r.code(), "cannot open " + path.string() + ": "
                               + r.error_value().message};
  }
  // Reading the schema is the first access to the file: a file that is not
  // SQLite or is damaged fails here, before anything is written.
  if (auto r = conn->exec("SELECT count(*) FROM sqlite_schema"); !r)
    return error{r.code(), "cannot open " + path.string() + ": "
                             + r.error_value().message};
  if (!opts.read_only) {
    int persist = 1;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    static constexpr const char* sync_names[] = {"OFF", "NORMAL", "FULL",
                                                 "EXTRA"};
    // Any journal_size_limit makes the close truncate the persistent WAL to
    // zero bytes. While the store is open, 4 MiB (a little more than the
    // 1000 pages after which SQLite checkpoints) keeps the WAL at its size
    // when it restarts after a checkpoint: commits then overwrite blocks
    // the file already has instead of growing it, and their fsync has no
    // file size to write (10-15% faster commits of 64 small rows on ext4).
    std::string pragmas = "PRAGMA journal_mode=WAL;PRAGMA foreign_keys=ON;"
                          "PRAGMA journal_size_limit=4194304;"
                          "PRAGMA synchronous=";
    pragmas += sync_names[static_cast<int>(opts.synchronous)];
    pragmas += ";";
    if (auto r = conn->exec(pragmas); !r)
      return error{r.code(), "cannot open " + path.string() + ": "
                               + r.error_value().message};
  }
  return conn;
}

connection::~connection() {
  cache_.clear();
  sqlite3_close_v2(db_);
}

result<void> connection::exec(std::string_view sql) {
  std::string text{sql};
  char* msg = nullptr;
  auto rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string m = msg != nullptr ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    return error{map_error(sqlite3_extended_errcode(db_) != 0
                             ? sqlite3_extended_errcode(db_)
                             : rc),
                 std::move(m)};
  }
  return {};
}

result<std::unique_ptr<statement>>
connection::prepare_uncached(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  auto rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK)
    return last_error("cannot prepare statement");
  return std::make_unique<statement>(*this, stmt);
}

result<cached_statement> connection::prepare(const std::string& sql) {
  auto i = cache_.find(sql);
  if (i == cache_.end()) {
    MANTISSA_TRY_ASSIGN(auto s, prepare_uncached(sql));
    i = cache_.emplace(sql, std::move(s)).first;
  } else if (i->second->in_use_) {
    MANTISSA_TRY_ASSIGN(auto s, prepare_uncached(sql));
    auto* raw = s.get();
    raw->in_use_ = true;
    return cached_statement{raw, std::move(s)};
  }
  i->second->in_use_ = true;
  return cached_statement{i->second.get()};
}

std::int64_t connection::last_insert_rowid() const noexcept {
  return sqlite3_last_insert_rowid(db_);
}

int connection::changes() const noexcept {
  return sqlite3_changes(db_);
}

std::int64_t connection::total_changes() const noexcept {
  return sqlite3_total_changes64(db_);
}

bool connection::in_transaction() const noexcept {
  return sqlite3_get_autocommit(db_) == 0;
}

error connection::last_error(std::string_view what) const {
  auto code = sqlite3_extended_errcode(db_);
  return {map_error(code), std::string{what} + ": " + sqlite3_errmsg(db_)
                             + " (" + path_.string() + ")"};
}

void connection::clear_cache() noexcept {
  for (auto i = cache_.begin(); i != cache_.end();) {
    if (i->second->in_use_)
      ++i;
    else
      i = cache_.erase(i);
  }
}

void connection::release_memory() noexcept {
  if (db_ != nullptr)
    sqlite3_db_release_memory(db_);
}

} // namespace mantissa::store::sqlite
