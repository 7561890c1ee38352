#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/accounts.hpp"
#include "offerings/site.hpp"
#include "store/error.hpp"
#include "store/registry.hpp"
#include "store/store.hpp"
#include "store/typed.hpp"

/// Signup: strangers making their own accounts (docs/accounts.md,
/// "Signup"). An administrator opens a signup with a product; it is either
/// `free` (anyone may sign up) or `ticket` (only with a single-use
/// invitation ticket that expires). Signing up creates an account like an
/// administrator's `user add` and gives it the signup's product.
///
/// The records live in the site store; only a hash of a ticket's secret is
/// stored. Thread rule: like every function taking a `store::store&`, these
/// are called only by the site store's owner (its actor, or an offline
/// command holding the data directory's lock).
namespace mantissa::offerings {

/// Type name of an opened signup (site store).
inline constexpr std::string_view signup_type_name = "mantissa.signup";
/// Type name of an invitation ticket (site store).
inline constexpr std::string_view ticket_type_name = "mantissa.signup_ticket";

/// Tickets expire by default this long after they are made (7 days).
inline constexpr std::int64_t default_ticket_seconds = 7 * 24 * 3600;
/// The longest a ticket may live (365 days).
inline constexpr std::int64_t max_ticket_seconds = 365 * 24 * 3600;

/// A signup (`mantissa.signup`). Closing keeps the record (`closed`).
struct signup_record {
  store::item_id id = 0;
  std::string kind;      ///< "free" or "ticket"
  std::string product;   ///< what new accounts get
  std::string domain;    ///< new accounts are `name@domain`
  /// A group role of the site store ("group:..."), or empty: its members
  /// may make tickets for this signup besides the administrators.
  std::string inviters;
  std::string opened_by; ///< the role that opened it
  store::timestamp opened;
  bool closed = false;
};

/// An invitation ticket (`mantissa.signup_ticket`): single use, expiring.
struct ticket_record {
  store::item_id id = 0;
  std::int64_t signup = 0;  ///< the id of its signup
  std::string secret_hash;  ///< hex BLAKE2b-256 of the secret
  std::string created_by;   ///< the role that made it
  store::timestamp created;
  store::timestamp expires; ///< unusable from this time on
  bool used = false;
};

[[nodiscard]] const store::item_type<signup_record>& signup_item_type();
[[nodiscard]] const store::item_type<ticket_record>& ticket_item_type();

/// Adds both record types to `registry` (`register_site_types` does).
[[nodiscard]] store::result<void>
register_signup_types(store::type_registry& registry);

/// What an administrator opens.
struct signup_spec {
  std::string kind;     ///< "free" or "ticket"
  std::string product;  ///< an existing product
  std::string domain;   ///< empty: the setting site.domain
  std::string inviters; ///< empty, or a group role "group:..."
  std::string opened_by;
};

/// Opens a signup. A kind other than free/ticket, a malformed domain or
/// inviters group is `invalid_value` / `invalid_name`; an unknown product
/// `no_such_item`; no domain given and no setting site.domain
/// `invalid_value`; a second open free signup `already_exists` (there is at
/// most one: it is what `POST /api/signup` without a ticket uses).
[[nodiscard]] store::result<signup_record> open_signup(store::store& site,
                                                       signup_spec spec);

/// Closes the signup `id` (already closed: unchanged); its unused tickets
/// stop working. `no_such_item` if there is none.
[[nodiscard]] store::result<signup_record> close_signup(store::store& site,
                                                        store::item_id id);

/// Every signup, open and closed, oldest first.
[[nodiscard]] store::result<std::vector<signup_record>>
list_signups(store::store& site);

/// The tickets of signup `id`, oldest first.
[[nodiscard]] store::result<std::vector<ticket_record>>
list_tickets(store::store& site, store::item_id signup);

/// Whether any signup is open, and whether a free one is.
struct signup_state {
  bool open = false;
  bool free = false;
};
[[nodiscard]] store::result<signup_state> signup_status(store::store& site);

/// Whether `role` may make tickets for `s`: `system`, the site's
/// administrators (members of group:admin) and the members of the
/// signup's inviters group.
[[nodiscard]] store::result<bool>
may_invite(store::store& site, const signup_record& s, std::string_view role);

/// A ticket just made: its record and its secret, which is shown once and
/// never stored.
struct new_ticket {
  ticket_record record;
  std::string secret;
};

/// Makes a ticket for the open ticket signup `signup`, made by `by` (the
/// caller checks `may_invite`), expiring `expires_in` seconds from now
/// (0 to `max_ticket_seconds`; 0 makes a ticket that has already
/// expired, which only tests want). An unknown signup is `no_such_item`, a
/// closed one `disallowed`, a free one or an out-of-range expiry
/// `invalid_value`.
[[nodiscard]] store::result<new_ticket>
create_ticket(store::store& site, store::item_id signup, std::string_view by,
              std::int64_t expires_in);

/// Why a signup was refused (a value, not an error: nothing was written).
enum class refusal {
  none,
  signup_closed,  ///< no open signup of the needed kind
  no_such_ticket, ///< no ticket has that secret
  ticket_used,
  ticket_expired,
  name_taken,     ///< an account or login method has the address
};

/// The error code of a refusal as the API names it ("ticket_used", …).
[[nodiscard]] std::string_view to_string(refusal r);

/// What signing up did: the new account and the product to install in its
/// store, or the refusal with a message.
struct signup_outcome {
  refusal refused = refusal::none;
  std::string message;
  actors::account account;
  product_record product;
};

/// What a stranger asks for: a name (`localpart`, or `localpart@domain`
/// with the signup's domain), a password (the rules of `add_account`), and
/// the ticket's secret for a ticket signup (none: the open free signup).
struct signup_request {
  std::string username;
  std::string password;
  std::optional<std::string> ticket;
};

/// Signs up: finds the signup (by the ticket, or the open free one),
/// checks the ticket (known, unused, `now` before its expiry, its signup
/// open), creates the account with `actors::add_account` and marks the
/// ticket used, in one transaction. Refusals are values (nothing
/// written); a malformed name or password is `invalid_name` /
/// `invalid_value`; a product that no longer exists `no_such_item`.
[[nodiscard]] store::result<signup_outcome>
sign_up(store::store& site, const signup_request& req, store::timestamp now);

} // namespace mantissa::offerings
