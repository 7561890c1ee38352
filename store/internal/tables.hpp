#pragma once

namespace mantissa::store::internal {

/// One group of the catalogue's tables, kept beside the feature that owns
/// them. `store::open` creates every group, in the order of `all_tables`,
/// in one transaction (catalogue.cpp); the statements are idempotent.
struct table_group {
  const char* sql;     ///< CREATE statements, as SQLite keeps them
  const char* marker;  ///< the last object `sql` creates; null: none needed
};

extern const table_group meta_tables;      // catalogue.cpp: meta, types
extern const table_group powerup_tables;   // powerups.cpp
extern const table_group sharing_tables;   // sharing.cpp: members, shares
extern const table_group schedule_tables;  // scheduler.cpp
extern const table_group message_tables;   // messaging.cpp: outbox, inbox

} // namespace mantissa::store::internal
