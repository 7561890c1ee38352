#pragma once

#include <memory>
#include <string>

#include "store/error.hpp"

/// Recording the changes made to a store's file, to replay them on a copy
/// of it: the piece a store move (and later a replica) ships after the
/// bulk copy (docs/operations.md, "Moving, rebalancing and replicating
/// stores"). Built on SQLite's session extension; every Mantissa table has
/// a primary key, which the extension needs (tables without one are not
/// recorded).
///
/// Thread rule: as `store` — only the owner of the connection uses these.
namespace mantissa::store {

namespace sqlite {
class connection;
} // namespace sqlite

/// Records every change to the tables of `main` on one connection from
/// its creation on, until destroyed.
class change_recorder {
 public:
  /// Starts recording on `conn`, which must outlive the recorder.
  [[nodiscard]] static result<std::unique_ptr<change_recorder>>
  start(sqlite::connection& conn);
  ~change_recorder();
  change_recorder(const change_recorder&) = delete;
  change_recorder& operator=(const change_recorder&) = delete;

  /// The changes so far as a changeset (opaque bytes, empty when nothing
  /// changed). Tables created after `start` are included.
  [[nodiscard]] result<std::string> changeset();

 private:
  struct impl;
  explicit change_recorder(std::unique_ptr<impl> d);
  std::unique_ptr<impl> impl_;
};

/// Applies `changeset` to `conn` in one transaction. A change that does
/// not fit the copy (a row changed or missing that the changeset expects
/// as it was) fails the whole changeset with `corrupt`: the copy is not
/// the file the changes were recorded on.
[[nodiscard]] result<void> apply_changeset(sqlite::connection& conn,
                                           const std::string& changeset);

/// Raises the outbox's AUTOINCREMENT counter to its highest row, which a
/// changeset cannot carry (apply_changeset calls it); a no-op for a file
/// without outbox.
[[nodiscard]] result<void> catch_up_sequences(sqlite::connection& conn);

} // namespace mantissa::store
