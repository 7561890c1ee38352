#pragma once

#include <chrono>
#include <cstddef>

namespace mantissa::actors {

/// How sessions expire and how failures are slowed down.
struct auth_options {
  /// A session unused for this long is gone.
  std::chrono::milliseconds session_idle{std::chrono::hours(12)};
  /// A session older than this is gone, used or not.
  std::chrono::milliseconds session_lifetime{std::chrono::hours(24 * 14)};
  /// Failed logins (per account, and per client address) answered at full
  /// speed; each one beyond doubles the wait before the next attempt is
  /// checked, starting at `base_delay`, up to `max_delay`.
  int free_failures = 5;
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{30'000};
  /// Failures are forgotten this long after the last one.
  std::chrono::milliseconds forget_after{15 * 60 * 1000};
  /// Threads that verify passwords (argon2id, 64 MiB each while running).
  unsigned workers = 2;
  /// Failed logins of one account from all clients together answered at
  /// full speed (failures per client and per account-and-client use
  /// `free_failures`): one client's guesses slow that client and its
  /// attempts at the account, a crowd's guesses the account.
  int account_free_failures = 50;
  /// Logins waiting beyond this many are refused at once (`busy`).
  std::size_t max_pending = 4096;
  /// Logins of one client waiting beyond this many are refused at once
  /// (`busy`). Workers take the clients in turn, so one client's pile of
  /// attempts delays that client only.
  std::size_t max_pending_per_client = 8;
};

} // namespace mantissa::actors
