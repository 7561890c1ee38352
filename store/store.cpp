// The store's life and its transactions: construction, BEGIN/COMMIT,
// savepoints, the id counter, and whole-file maintenance. The catalogue
// and open are in catalogue.cpp; items, queries, deletes, upgrades and
// powerups each in a file of their own.

#include "store/store.hpp"

#include <algorithm>
#include <sqlite3.h>

#include "store/internal/try.hpp"

namespace mantissa::store {

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

// -- transactions ------------------------------------------------------------

result<void> store::begin() {
  if (opts_.read_only)
    return {errc::read_only, db_->path().string() + " is open read-only"};
  if (depth_ > 0) {
    ++depth_;
    return {};
  }
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare("BEGIN IMMEDIATE"));
  MANTISSA_TRY(st->run());
  depth_ = 1;
  doomed_ = false;
  return {};
}

result<void> store::persist_next_id() {
  if (next_id_ == persisted_next_id_)
    return {};
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare("UPDATE mantissa_meta SET value = "
                                            "? WHERE key = 'next_id'"));
  st->bind_int64(0, next_id_);
  return st->run();
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
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare("SAVEPOINT mantissa_op"));
  MANTISSA_TRY(st->run());
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
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare("RELEASE mantissa_op"));
  MANTISSA_TRY(st->run());
  --savepoints_;
  return {};
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
  MANTISSA_TRY_ASSIGN(auto st, db_->prepare("PRAGMA integrity_check"));
  std::string out;
  MANTISSA_TRY(st->for_each_row([&] {
    if (!out.empty())
      out += '\n';
    out += st->column_text(0);
  }));
  return out;
}

const std::filesystem::path& store::path() const noexcept {
  return db_->path();
}

} // namespace mantissa::store
