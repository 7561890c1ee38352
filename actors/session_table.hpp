#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/auth_options.hpp"

namespace mantissa::actors {

/// A logged-in caller.
struct session {
  std::string address;  ///< "alice@example.com", or "system"
  std::string role;     ///< "user:alice@example.com", or "system"
  std::int64_t created_ms = 0;    ///< Unix time in milliseconds
  std::int64_t last_seen_ms = 0;  ///< Unix time in milliseconds
};

/// Set when a session bound to a connection (a login on the node's port)
/// ends: revoked, or its account disabled or given a new password. The
/// port's session and forwarders read it on every message (one atomic
/// load); the connection's end sets it too.
using session_end_flag = std::shared_ptr<std::atomic<bool>>;

/// Live sessions by the hash of their token, in memory: validating a token
/// never touches the disk. Thread-safe.
class session_table {
 public:
  explicit session_table(const auth_options& opts) : opts_(opts) {}

  /// A fresh random token (256 bits, base64url without padding).
  [[nodiscard]] static std::string new_token();
  /// What is stored instead of a token: hex of its BLAKE2b-256 hash.
  [[nodiscard]] static std::string hash_token(std::string_view token);

  /// Adds a session under the hash of its token.
  void add(const std::string& token_hash, session s, std::int64_t item_id = 0);
  /// Adds a session bound to a connection: it does not expire by time; it
  /// ends when `ended` is set by its connection, or by a removal here
  /// (which sets `ended`).
  void add_bound(const std::string& token_hash, session s,
                 session_end_flag ended);
  /// The session of `token` if it is live at `now_ms`; marks it used.
  /// Expired sessions found here are dropped (and reported by `sweep`).
  [[nodiscard]] std::optional<session> validate(std::string_view token,
                                                std::int64_t now_ms);
  /// Removes the session of `token`; returns its stored item id (0: none
  /// stored) or nullopt when there was no such session.
  std::optional<std::int64_t> remove(std::string_view token);
  /// Removes every session of `address`; returns their item ids.
  std::vector<std::int64_t> remove_address(std::string_view address);
  /// Sets the stored item id of a session (once it is persisted).
  void set_item_id(const std::string& token_hash, std::int64_t item_id);

  struct sweep_result {
    std::vector<std::int64_t> expired;  ///< item ids of dropped sessions
    /// (item id, last seen) of sessions used since the previous sweep.
    std::vector<std::pair<std::int64_t, std::int64_t>> touched;
  };
  /// Drops sessions expired at `now_ms`; reports them and the used ones.
  [[nodiscard]] sweep_result sweep(std::int64_t now_ms);
  [[nodiscard]] std::size_t size() const;

 private:
  struct entry {
    session s;
    std::int64_t item_id = 0;
    bool touched = false;
    session_end_flag ended;  ///< a connection's session
  };
  /// Erases `i`, telling a connection's session that it ended.
  std::unordered_map<std::string, entry>::iterator
  erase(std::unordered_map<std::string, entry>::iterator i);
  [[nodiscard]] bool live(const entry& e, std::int64_t now_ms) const;

  auth_options opts_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, entry> by_hash_;
  std::vector<std::int64_t> dropped_;  // item ids expired in validate()
};

} // namespace mantissa::actors
