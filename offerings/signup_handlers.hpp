#pragma once

#include <filesystem>

#include "actors/handlers.hpp"
#include "offerings/offering.hpp"
#include "store/error.hpp"

/// The store handlers of signup (offerings/signup.hpp), for the JSON API
/// (docs/http-api.md, "Signup") and the admin page:
///
/// - site store, run by its owners (`system` and the members of
///   group:admin; the store actor refuses everyone else):
///   `mantissa.open_signup` `{"kind","product","domain"?,"inviters"?}`,
///   `mantissa.close_signup` `{"id"}`, `mantissa.list_signups` `{}`,
///   `mantissa.signup_status` `{}` -> `{"open","free"}`,
///   `mantissa.create_ticket` `{"signup","expires_in"?,"by"?}` (`by`, from
///   `system` only: the role the ticket is made for, which must be allowed
///   to invite; `forbidden` otherwise) -> `{"id","signup","ticket","url",
///   "expires"}`, and `mantissa.sign_up` `{"username","password",
///   "ticket"?}` -> `{"refused","message"}` or `{"account","product"}`.
///
/// The new account's product is installed by the online administration's
/// `mantissa.install_product` (offerings/online.hpp), and `mantissa.sign_up`
/// records the grant with the account, as a give does.
namespace mantissa::offerings {

/// Adds the handlers (once: handlers already there are kept).
/// `data_dir` is the node's data directory.
[[nodiscard]] store::result<void>
register_signup_handlers(actors::handler_registry& handlers,
                         const std::filesystem::path& data_dir);

} // namespace mantissa::offerings
