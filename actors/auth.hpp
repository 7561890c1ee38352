#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "actors/auth_options.hpp"
#include "wire/error_code.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/session_table.hpp"
#include "actors/store_requests.hpp"
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

class handler_registry;

/// The role of every anonymous caller.
inline constexpr const char* anonymous_role = "everyone";

/// `"user:" + address`: the primary role of an account.
[[nodiscard]] std::string primary_role(std::string_view address);

/// Where a login comes from. `system` (the node key or the cluster key)
/// logs in on the node's network port only: over HTTP or SMTP it is an
/// unknown user like any other.
enum class login_channel : std::uint8_t { web, mail, port };

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
  /// Sessions are read and written through `stores` (the node), which
  /// must outlive the authenticator.
  authenticator(store_requests& stores, auth_options opts,
                std::string node_key);
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
