#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"
#include "store/registry.hpp"
#include "store/store.hpp"
#include "store/typed.hpp"

/// The userbase: addresses, password hashing, and the account and login
/// method items kept in the site store and duplicated into each user store.
/// The model, the hash parameters and the duplication rule are described in
/// docs/accounts.md.
///
/// Thread rule: the functions taking a `store::store&` are called only by
/// the actor that owns that store. Address and password functions are pure
/// and may be called from any thread.
namespace mantissa::actors {

// -- addresses ----------------------------------------------------------------

/// Longest accepted localpart (and offering name), in bytes.
inline constexpr std::size_t max_localpart_size = 64;
/// Longest accepted domain, in bytes.
inline constexpr std::size_t max_domain_size = 253;
/// Longest accepted domain label, in bytes.
inline constexpr std::size_t max_label_size = 63;

/// Who an account or a store belongs to: `localpart@domain` for a person or
/// an artificial account, or a bare offering name (empty `domain`) for an
/// app store. Addresses produced by `parse_address` are lower case and
/// valid; every function below re-validates the addresses it is given.
struct address {
  std::string localpart;
  std::string domain; ///< empty: an offering (app store)

  [[nodiscard]] bool is_offering() const noexcept { return domain.empty(); }
  friend bool operator==(const address&, const address&) = default;
};

/// Parses `"alice@example.com"` or a bare offering name such as `"notes"`,
/// lower-casing it so that matching is case-insensitive.
///
/// Rejected with `errc::invalid_name` (the message names what is wrong):
/// empty parts, more than one `@`, NUL and other control characters,
/// non-ASCII bytes, spaces, `/`, `\`, `..`, a leading or trailing `.`, a
/// localpart over 64 bytes or with characters outside `[a-z0-9._+-]`, a
/// domain over 253 bytes or whose dot-separated labels are not 1–63 bytes of
/// `[a-z0-9-]` without a leading or trailing `-`. A valid address is safe to
/// use as a path component.
[[nodiscard]] store::result<address> parse_address(std::string_view text);

/// Checks and lower-cases an address built by hand, as `parse_address` does.
[[nodiscard]] store::result<address> normalize(const address& addr);

/// `"localpart@domain"`, or the bare name of an offering.
[[nodiscard]] std::string to_string(const address& addr);

/// Where the store of `addr` lives below `data_dir`:
/// `users/<domain>/<localpart>.sqlite`, or `apps/<name>.sqlite` for an
/// offering. `addr` must be valid (from `parse_address` or `normalize`);
/// the function does not check it again.
[[nodiscard]] std::filesystem::path
store_path(const std::filesystem::path& data_dir, const address& addr);

/// The site store of a data directory: `<data_dir>/site.sqlite`.
[[nodiscard]] std::filesystem::path
site_path(const std::filesystem::path& data_dir);

// -- passwords ----------------------------------------------------------------

/// Argon2id operations limit used for new hashes
/// (`crypto_pwhash_OPSLIMIT_INTERACTIVE`).
extern const unsigned long long password_opslimit;
/// Argon2id memory limit in bytes used for new hashes
/// (`crypto_pwhash_MEMLIMIT_INTERACTIVE`, 64 MiB).
extern const std::size_t password_memlimit;
/// Longest accepted password, in bytes.
inline constexpr std::size_t max_password_size = 4096;

/// Hashes `password` with argon2id (libsodium `crypto_pwhash_str_alg`) and a
/// fresh random salt; the result is the self-describing `$argon2id$...`
/// string. An empty or over-long password is `invalid_value`; failure to
/// initialise libsodium or to allocate the memory is `internal`. Slow on
/// purpose (see docs/accounts.md): do not call it on a latency-critical
/// thread. The password is never logged or kept.
[[nodiscard]] store::result<std::string>
hash_password(std::string_view password);

/// Whether `password` matches `hash` (comparison in constant time by
/// libsodium). A malformed or empty hash never matches.
[[nodiscard]] bool verify_password(std::string_view hash,
                                   std::string_view password);

/// Verifies `password` against `hash`, or, when `hash` is empty, against a
/// fixed dummy hash made with the current parameters and returns false: a
/// login for an unknown or unusable account costs what a real one costs.
[[nodiscard]] bool verify_or_dummy(std::string_view hash,
                                   std::string_view password);

/// Whether `hash` was made with other parameters (or another algorithm)
/// than the current ones and should be replaced after the next successful
/// login. A malformed hash needs rehashing.
[[nodiscard]] bool needs_rehash(std::string_view hash);

// -- items --------------------------------------------------------------------

/// Type name of the account item.
inline constexpr std::string_view account_type_name = "mantissa.account";
/// Type name of the login method item.
inline constexpr std::string_view login_method_type_name
  = "mantissa.login_method";

/// The stored form of an account (`mantissa.account`). The site store holds
/// one per account; each user store holds one: a copy of its own account.
struct account_record {
  store::item_id id = 0;
  std::string localpart;
  std::string domain;
  bool disabled = false;
  std::string password_hash; ///< empty: no password (artificial account)
  store::timestamp created;
  std::int64_t revision = 0; ///< incremented on every change
};

/// The stored form of a login method (`mantissa.login_method`): an address
/// through which the account can be reached or log in. Deleted with its
/// account (cascade).
struct login_method_record {
  store::item_id id = 0;
  /// Never null once stored; optional only because a reference has no
  /// valid default.
  std::optional<store::reference> account;
  std::string localpart;
  std::string domain;
  std::string protocol = "email";
  bool internal = false; ///< an address this site serves (vs. external)
  bool verified = false;
};

[[nodiscard]] const store::item_type<account_record>& account_item_type();
[[nodiscard]] const store::item_type<login_method_record>&
login_method_item_type();

/// Adds the account and login method types to `registry`; every store that
/// holds accounts (the site store and every user store) needs them.
/// Registering twice is `already_exists`.
[[nodiscard]] store::result<void>
register_account_types(store::type_registry& registry);

// -- accounts -----------------------------------------------------------------

/// A login method as callers see it.
struct login_method {
  address addr;
  std::string protocol = "email";
  bool internal = false;
  bool verified = false;
  friend bool operator==(const login_method&, const login_method&) = default;
};

/// An account with its login methods, as read from a site or user store.
struct account {
  address addr;
  bool disabled = false;
  std::string password_hash; ///< empty: artificial, cannot log in
  store::timestamp created;
  std::int64_t revision = 0;
  /// Sorted by protocol, then address.
  std::vector<login_method> login_methods;

  [[nodiscard]] bool artificial() const noexcept {
    return password_hash.empty();
  }
  friend bool operator==(const account&, const account&) = default;
};

/// Creates an account in the site store with revision 1. With a password
/// the account can log in; with `std::nullopt` it is artificial: it owns a
/// store but cannot log in. A person's account (non-empty domain) gets an
/// internal, verified `email` login method for its own address; an
/// offering account must be artificial (`invalid_value` otherwise) and gets
/// none. An address already used by an account or a login method is
/// `already_exists`. One transaction: on error nothing changes. The
/// password is hashed before the transaction begins.
[[nodiscard]] store::result<account>
add_account(store::store& site, const address& addr,
            std::optional<std::string> password);

/// The account at `addr` (not a login method alias) with its login methods;
/// `no_such_item` if there is none.
[[nodiscard]] store::result<account> find_account(store::store& site,
                                                  const address& addr);

/// The account that has a verified login method at `addr`; `no_such_item`
/// if there is none.
[[nodiscard]] store::result<account> find_account_by_login(store::store& site,
                                                           const address& addr);

/// Every account in the site store, sorted by domain, then localpart.
[[nodiscard]] store::result<std::vector<account>>
list_accounts(store::store& site);

/// Disables or enables an account; a disabled account cannot log in. Bumps
/// the revision when the flag changes; setting the current value changes
/// nothing. Returns the account as it now is; `no_such_item` if unknown.
[[nodiscard]] store::result<account>
set_disabled(store::store& site, const address& addr, bool disabled);

/// Replaces the password (`std::nullopt`: remove it, making the account
/// artificial) and bumps the revision. Returns the account as it now is;
/// `no_such_item` if unknown. The password is hashed before the
/// transaction begins.
[[nodiscard]] store::result<account>
set_password(store::store& site, const address& addr,
             std::optional<std::string> password);

/// Adds a login method to the account at `addr` and bumps its revision.
/// The method's address must have a domain and not be used by any login
/// method or other account yet (`already_exists`). Returns the account as
/// it now is; `no_such_item` if unknown.
[[nodiscard]] store::result<account>
add_login_method(store::store& site, const address& addr,
                 const login_method& method);

/// Whether `password` logs in as `addr`: true only when a verified login
/// method has that address and its account is enabled and has a password
/// that verifies. An unknown address, an artificial account or a disabled
/// one still costs one verification (against a fixed dummy hash), so the
/// time taken does not reveal whether an account exists. An invalid
/// address is `invalid_name`; store failures are returned as errors.
[[nodiscard]] store::result<bool> check_password(store::store& site,
                                                 const address& addr,
                                                 std::string_view password);

// -- duplication into the user store
// -------------------------------------------

/// Makes the user store's copy of its own account equal to `acct` (account
/// item and login methods), unless the copy already has a newer revision.
/// Returns true when written, false when the copy was newer. A copy for
/// another address is `invalid_value`: a user store carries only its own
/// account. One transaction.
[[nodiscard]] store::result<bool> write_account_copy(store::store& user_store,
                                                     const account& acct);

/// The user store's copy of its account; `no_such_item` if it has none.
[[nodiscard]] store::result<account>
read_account_copy(store::store& user_store);

/// The other direction, for a user store restored from a backup or
/// arriving from another node: makes the site store's record of
/// `copy.addr` (account fields and the whole set of login methods) equal
/// to `copy`, creating the record when the site has none. When anything
/// differs, the record gets revision max(site's, copy's) + 1 (so that
/// writing it back with `write_account_copy` makes both equal); when the
/// record already matches, nothing is written. Returns the account as the
/// site now holds it and whether it was written. A login method whose
/// address belongs to another account is `already_exists`; one
/// transaction: on error nothing changes.
[[nodiscard]] store::result<std::pair<account, bool>>
adopt_account_copy(store::store& site, const account& copy);

} // namespace mantissa::actors
