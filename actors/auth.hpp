#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "wire/error_code.hpp"
#include "store/error.hpp"
#include "store/registry.hpp"

namespace mantissa::store {
class store;
} // namespace mantissa::store

/// Authentication: password logins, sessions and the slowing down of
/// repeated failures. Shared by every front end (HTTP, SMTP, the node's
/// gateway for custom actors). The model, the parameters and the limits are
/// in docs/security.md.
///
/// Front ends only establish *who* is asking (a role); what that role may
/// do is decided by the store actors.
namespace mantissa::actors {

class node;
class handler_registry;

/// The role of every anonymous caller.
inline constexpr const char* anonymous_role = "everyone";

/// `"user:" + address`: the primary role of an account.
[[nodiscard]] std::string primary_role(std::string_view address);

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

/// Where a login comes from. `system` (the node key or the cluster key)
/// logs in on the node's network port only: over HTTP or SMTP it is an
/// unknown user like any other.
enum class login_channel : std::uint8_t { web, mail, port };

/// Counts failures per key (an account, a client address) and says how long
/// the next attempt must wait. Thread-safe.
class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit rate_limiter(const auth_options& opts,
                        std::size_t max_entries = 100'000);

  /// How long an attempt for `key` made at `now` waits before it is checked.
  [[nodiscard]] std::chrono::milliseconds delay(const std::string& key,
                                                clock::time_point now);
  /// The same with its own number of failures answered at full speed.
  [[nodiscard]] std::chrono::milliseconds
  delay(const std::string& key, clock::time_point now, int free_failures);
  void failure(const std::string& key, clock::time_point now);
  /// A success forgets the key's failures.
  void success(const std::string& key);
  [[nodiscard]] std::size_t size() const;

 private:
  struct entry {
    int failures = 0;
    clock::time_point last;
  };
  void sweep(clock::time_point now);

  auth_options opts_;
  std::size_t max_entries_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
};

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

/// The answer to a login.
struct login_result {
  bool ok = false;
  std::string token;  ///< when ok: give it back as the bearer token
  session who;        ///< when ok
  error_code code = error_code::unauthorized;
  std::string message;  ///< when not ok; never says which part was wrong
  /// When ok: `system` proven with the cluster key (not the node key).
  bool by_cluster_key = false;
  /// When ok over `login_channel::port`: set once the session has ended.
  session_end_flag ended;
};

/// Called once per login, on one of the authenticator's threads: do not
/// block in it.
using login_handler = std::function<void(login_result)>;

/// Logs callers in against the accounts of a node's site store and keeps
/// their sessions. Owned by the node (see `node::auth`).
///
/// Passwords are checked on worker threads of its own (argon2id is slow on
/// purpose); an unknown user, an artificial or disabled account and a wrong
/// password all cost one verification and get the same answer. Every
/// failure counts against the account and the client address; beyond the
/// free failures, attempts wait before they are checked (see
/// `auth_options`). Passwords and tokens are never logged.
///
/// Sessions are kept in memory and in the site store (`mantissa.session`,
/// token hashes only), so they survive a restart. The username `system`
/// with the node key (`<data>/node.key`) logs in as the `system` role; such
/// a session is not stored.
///
/// Thread rule: every function may be called from any thread.
class authenticator {
 public:
  authenticator(node& n, auth_options opts, std::string node_key);
  ~authenticator();  ///< calls `shutdown`
  authenticator(const authenticator&) = delete;
  authenticator& operator=(const authenticator&) = delete;

  /// Finishes the logins being checked, refuses the waiting ones and every
  /// later one (`busy`). Idempotent. Validation keeps working.
  void shutdown();

  /// Reads the stored sessions (blocking; called by the node at start).
  /// They are not valid until `verify_loaded` has checked them.
  [[nodiscard]] bool load(std::string& err);

  /// Brings back the sessions `load` read whose account is still enabled
  /// and has the password it had at login; deletes the others. Sessions
  /// whose account cannot be read now (the seed and the user's store out of
  /// reach) are left stored but not brought back. Blocking; called by the
  /// node once it can reach the accounts (after joining its cluster).
  void verify_loaded();

  /// Checks `password` for `username` (an address of a verified login
  /// method; case-insensitive) coming from `client` (an IP address, for
  /// rate limiting) over `channel`. Failures slow down the account and the
  /// client; failed `system` logins only the client (the node's tools log
  /// in as `system`, and no stranger may slow them down).
  void login(std::string username, std::string password, std::string client,
             login_handler done, login_channel channel = login_channel::web);
  /// The live session of `token`; never touches the disk.
  [[nodiscard]] std::optional<session> validate(std::string_view token);
  /// Ends the session of `token`; returns whether there was one.
  bool logout(std::string_view token);
  /// Ends every session of `address` (e.g. when it is disabled).
  std::size_t revoke(std::string_view address);
  /// Drops expired sessions and writes back when sessions were last used.
  /// The node calls it every minute.
  void sweep();

  /// Also accepts `key` (the cluster key, docs/cluster.md) for the username
  /// `system`. Call before the node serves anyone.
  void set_cluster_key(std::string key);

  [[nodiscard]] const auth_options& options() const noexcept;
  [[nodiscard]] session_table& sessions() noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A short digest of a password hash (empty for none): stored with a
/// session, it tells whether the account's password changed since.
[[nodiscard]] std::string password_tag(std::string_view hash);

/// Deletes the stored sessions of `address` from a site store (the
/// offline commands that disable an account or set its password).
[[nodiscard]] store::result<std::int64_t>
end_stored_sessions(store::store& site, std::string_view address);

/// Adds `mantissa.session` (stored sessions: token hashes) to `registry`.
[[nodiscard]] store::result<void>
register_auth_types(store::type_registry& registry);

/// Adds the site store's `mantissa.login_lookup` handler (system role only).
[[nodiscard]] store::result<void>
register_auth_handlers(handler_registry& handlers);

/// Reads `<data>/node.key`, creating it (32 random bytes, base64url, mode
/// 0600) when it does not exist. Returns an empty string and sets `err` on
/// failure.
/// Reads a key file like `load_node_key` does; creates it only if `create`.
[[nodiscard]] std::string load_key_file(const std::string& path, bool create,
                                        std::string& err);

[[nodiscard]] std::string load_node_key(const std::string& data_dir,
                                        std::string& err);

} // namespace mantissa::actors
