#pragma once

// What the route groups of the JSON API (api_json*.cpp) share: the request
// being served, reading JSON input, and the handlers each group exports to
// the dispatch in api_json.cpp. Internal to protocols/http.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/node.hpp"
#include "protocols/http/api_util.hpp"
#include "protocols/http/routes.hpp"

namespace mantissa::http::json_api {

using nlohmann::json;

/// Serializes without throwing: invalid UTF-8 becomes U+FFFD.
[[nodiscard]] std::string dump(const json& j);

[[nodiscard]] response json_reply(int status, const json& j);

[[nodiscard]] response bad_request(std::string_view code,
                                   std::string_view message);

/// Parses JSON text from a request (a body or a query parameter). On
/// failure sets `err` to a 400 naming `what` and the position.
[[nodiscard]] std::optional<json>
parse_json(std::string_view text, std::string_view what, response& err);

/// The request body as a JSON object, or nullopt with `err` set.
[[nodiscard]] std::optional<json> body_object(const request& req,
                                              response& err);

/// Fails with 400 when `obj` has a member not in `known`.
[[nodiscard]] bool only_members(const json& obj,
                                std::initializer_list<std::string_view> known,
                                response& err);

/// The string member `key` of `obj`; when missing (and not `optional`) or
/// not a string, nullopt with `err` set.
[[nodiscard]] std::optional<std::string>
string_member(const json& obj, const char* key, response& err,
              bool optional = false);

/// A user name and password from a request body.
struct credentials {
  std::string username;
  std::string password;
};

/// The body `{"username":..,"password":..}` (both strings, nothing else),
/// or nullopt with `err` set.
[[nodiscard]] std::optional<credentials> read_credentials(const request& req,
                                                          response& err);

/// A non-negative decimal integer of at most 18 digits.
[[nodiscard]] std::optional<std::int64_t> parse_count(std::string_view text);

/// An item id from a path segment: a positive integer.
[[nodiscard]] std::optional<std::int64_t> parse_id(std::string_view text);

/// Percent-encodes a path segment (unreserved characters and '@' stay).
[[nodiscard]] std::string encode_segment(std::string_view s);

/// Item types named `mantissa.*` are the node's own records (accounts with
/// their password hashes, sessions, settings): the API neither serves nor
/// shares them, even to a store's owner.
[[nodiscard]] bool internal_type(std::string_view type);

/// 404 `no_such_type` for `type`.
[[nodiscard]] response no_such_type(std::string_view type);

/// The session cookie, set (`token` non-empty) or cleared.
[[nodiscard]] std::string session_cookie_header(const std::string& token,
                                                bool tls);

/// One request being served: what every route needs.
struct call {
  const api_context& ctx;
  const http_metrics* http; // may be null
  actors::node& node;
  const request& req;
  std::string method; // HEAD is served as GET (the server drops the body)
  std::vector<std::string> seg; // after "api"
  identity who;
  actors::caller caller;
  responder done; // answers once; adds the API's headers

  const std::string& address() const { return seg[1]; }
};

/// Completes a store request: the reply body as it is with `status`, or the
/// mapped error.
[[nodiscard]] actors::reply_handler relay(responder done, int status = 200);

/// Where the accounts are: this node's site store, or the seed's in a
/// cluster (docs/cluster.md).
[[nodiscard]] std::string accounts_site(const call& c);

/// After the site store made an account (`acct`, the JSON of
/// `mantissa.add_account`): creates the user's store in this node and
/// writes its copy of the account there, as `node_caller` (the site store
/// already decided). Then `ready` runs; a failure of either step is handed
/// to `failed` as a 500 "account … was created, but its store could not be
/// prepared: …" instead (`store_not_prepared`).
void prepare_user_store(actors::node& n, const actors::caller& node_caller,
                        const nlohmann::json& acct, responder failed,
                        std::function<void()> ready);

/// The answer when account `address` exists but a step that prepares its
/// store failed with `r`.
[[nodiscard]] response store_not_prepared(const std::string& address,
                                          const actors::reply& r);

/// Runs `next` once the site store has said that the caller administers
/// the site (`mantissa.check_admin`); everyone else gets its refusal, a
/// 404. `next` then acts as the node.
void as_admin(call& c, std::function<void()> next);

/// Logs every administrative write and every refused or failed
/// administrative request as one line on stderr (who, what, the status
/// and the error's message; never a body, so never a password).
[[nodiscard]] responder admin_logged(responder inner, std::string who,
                                     std::string method, std::string path,
                                     std::string client);

// -- the routes, by group (each answers through `c.done`, exactly once) -----

// api_json_accounts.cpp: the caller's session and the site's accounts.
void on_login(call& c);
void on_logout(call& c);
void on_me(call& c);
void on_admin_users(call& c);
void on_admin_user(call& c);

// api_json_items.cpp: items and a mail message's raw bytes.
void on_items(call& c);
void on_item(call& c);
void on_mail_raw(call& c);

// api_json_handlers.cpp: running a store handler.
/// A handler's arguments from a request body: JSON, or null when the
/// body is empty; nullopt with `err` set when it is not JSON.
[[nodiscard]] std::optional<json> handler_body(const request& req,
                                               response& err);
void on_handler(call& c);

/// Whether `c` may go on (api_json.cpp): answers 401 for a token that is
/// no longer valid (unless `stale_ok`: logging in or out) and 403 for a
/// cookie-authenticated write without the CSRF header (`login`: the
/// login, which needs it from a browser even without a cookie).
[[nodiscard]] bool session_and_csrf_ok(call& c, bool login, bool stale_ok);

// api_json_shares.cpp: shares, group members, the default share.
void on_shares(call& c);
void on_share(call& c);
void on_members(call& c);
void on_member(call& c);
void on_default_share(call& c);

// api_json_admin.cpp: the node, its stores and offerings.
void on_admin_fanout(call& c);
void on_admin_overview(call& c);
void on_admin_stats(call& c);
void on_admin_stores(call& c);
void on_admin_store(call& c);
void on_admin_offerings(call& c);
void on_admin_online(call& c);

// api_json_signup.cpp: signup, tickets, opening and closing signups.
void on_signup(call& c);
void on_signup_tickets(call& c);
void on_admin_signups(call& c);
void on_admin_signup(call& c);

} // namespace mantissa::http::json_api
