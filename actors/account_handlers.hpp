#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "actors/handlers.hpp"
#include "store/error.hpp"

/// Store handlers that administer accounts while a node runs: what the
/// offline `mantissa user add` / `user list` do on the files, done inside
/// the store actors so that the site store decides who may do it.
///
/// - `mantissa.add_account` (site store): `{"username","password"}` ->
///   the new account as `{"address","disabled","password_hash","created",
///   "revision","login_methods":[...]}`. Running a handler is owner-only, and
///   the owners of the site store are `system` and the members of
///   `group:admin` there, so the site store actor is what refuses everyone
///   else (`forbidden`). The password is hashed (argon2id, ~50 ms and
///   64 MiB) inside the site store actor: acceptable for an administrative
///   operation, but it delays the site store's other messages meanwhile.
///   The reply holds the password hash so that the caller can pass it on to
///   `mantissa.write_account_copy`; front ends must not show it.
/// - `mantissa.list_accounts` (site store): `{}` -> `[{"address",
///   "disabled","artificial","admin","created"}]`, sorted by domain, then
///   localpart; no hashes.
/// - `mantissa.set_disabled` (site store): `{"address","disabled":bool}`
///   -> the account as it now is, in the form of `mantissa.add_account`
///   (with its hash, for `mantissa.write_account_copy`). An unknown
///   address is `no_such_item`; an offering's address `invalid_value`.
/// - `mantissa.set_password` (site store): `{"address","password"}` -> the
///   account as it now is (same form). The new password is hashed inside
///   the site store actor, like `mantissa.add_account`'s. An empty
///   password or an artificial account is `invalid_value`, an unknown
///   address `no_such_item`.
/// - `mantissa.write_account_copy` (a user or app store, `system` only): the
///   account JSON of `mantissa.add_account` -> `{"written":bool}`; writes
///   the user store's copy of its own account (`write_account_copy`).
///
/// Each refuses to run in another store than the one named (`forbidden`),
/// since the owner of any user store may run handlers there.
namespace mantissa::actors {

struct account;

/// `acct` in the form `mantissa.add_account` answers and
/// `mantissa.write_account_copy` takes.
[[nodiscard]] nlohmann::json account_json(const account& acct);

/// `h` as a handler that runs only in the site store at `site`: in any
/// other store it is `forbidden` ("NAME runs in the site store only"), since
/// the owner of any user store may run handlers there. Running a handler is
/// owner-only, so in the site store only `system` and the site's admins
/// reach `h`.
[[nodiscard]] store_handler site_only(std::filesystem::path site,
                                      std::string name, store_handler h);

/// Adds the handlers; `data_dir` is the node's data directory (the
/// handlers recognize the site store and user stores by their paths).
[[nodiscard]] store::result<void>
register_account_handlers(handler_registry& handlers,
                          const std::filesystem::path& data_dir);

} // namespace mantissa::actors
