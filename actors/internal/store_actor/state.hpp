#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/internal/store_actor/access_cache.hpp"
#include "actors/internal/store_actor/backup_queue.hpp"
#include "actors/internal/store_actor/commit_pipeline.hpp"
#include "actors/internal/store_actor/due_times.hpp"
#include "actors/internal/store_actor/item_cache.hpp"
#include "actors/internal/store_actor/messaging_state.hpp"
#include "actors/internal/store_actor/move_state.hpp"
#include "store/store.hpp"

namespace mantissa::actors::internal {
struct runtime;
} // namespace mantissa::actors::internal

namespace mantissa::actors::internal::store_parts {

using clock_type = std::chrono::steady_clock;

/// The state of one store actor: who it is and whether it is open, plus
/// one component per concern, each with its own fields and invariants
/// (see each component's header). Used only by the owning store actor.
struct store_state {
  static inline const char* name = "mantissa.store";

  runtime* rt = nullptr;
  std::string address;
  std::filesystem::path path;
  caf::actor manager;
  std::unique_ptr<store::store> db; // set while open
  std::string owner_role; // "user:ADDRESS" for a user store, else empty
  item_cache cache{0};
  access_cache access;
  commit_pipeline commit;
  due_times due;
  messaging_state msg;
  backup_queue backup;
  move_state moves;
  clock_type::time_point last_activity = clock_type::now();
  bool closing = false;
  bool served = false; // handled a request since activation
  /// Read when the store opened (store_behavior::ensure_open).
  struct {
    bool outbox_used = true; // it ever queued a reliable message
    std::int64_t next_due = -1;
    std::int64_t changes = -1; // total_changes() then; -1: not read
  } opened;
  std::shared_ptr<void> behavior_impl; // keeps the handlers' target alive
};

using store_actor = caf::stateful_actor<store_state>;

} // namespace mantissa::actors::internal::store_parts
