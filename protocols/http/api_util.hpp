#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/auth.hpp"
#include "actors/node.hpp"
#include "protocols/http/server.hpp"

/// Pieces shared by the routes of the HTTP front end (api.cpp, api_json.cpp,
/// websharing.cpp): target parsing, who is asking, and the mapping of
/// store replies and errors to HTTP.
namespace mantissa::http {

/// The name of the session cookie.
inline constexpr std::string_view session_cookie = "mantissa_session";

/// The path part of a request target (before `?`), not decoded.
[[nodiscard]] std::string_view path_of(std::string_view target);
/// The query part of a request target (after `?`), not decoded; "" if none.
[[nodiscard]] std::string_view query_of(std::string_view target);

/// Percent-decodes `text` (and `+` as space when `plus_is_space`).
/// Malformed escapes and decoded NUL bytes are nullopt.
[[nodiscard]] std::optional<std::string> url_decode(std::string_view text,
                                                    bool plus_is_space = false);

/// Decoded `name=value` pairs of a query string (the last one wins);
/// nullopt when an escape is malformed.
[[nodiscard]] std::optional<std::map<std::string, std::string>>
parse_query(std::string_view query);

/// The decoded segments of a path: "/a/b%20c/" -> {"a", "b c", ""}.
/// Nullopt when an escape is malformed or a segment decodes to something
/// containing '/' or NUL, or is "." or "..".
[[nodiscard]] std::optional<std::vector<std::string>>
split_path(std::string_view path);

/// The value of cookie `name` in the request's Cookie headers, or "".
[[nodiscard]] std::string cookie_value(const request& req,
                                       std::string_view name);

/// Who is asking: a session from `Authorization: Bearer TOKEN` or, failing
/// that, from the session cookie; anonymous otherwise.
struct identity {
  std::optional<actors::session> session;  ///< nullopt: anonymous
  bool via_cookie = false;  ///< the session came from the cookie
  bool bad_token = false;   ///< a token was given but is not valid
  std::string token;        ///< the token given, if any

  /// `user:ADDRESS` (or `system`), or `everyone` when anonymous.
  [[nodiscard]] std::string role() const;
};

/// Reads the caller's identity from the request (never touches the disk).
[[nodiscard]] identity identify(const request& req, actors::authenticator& auth);

/// The caller to send to store actors for this request.
[[nodiscard]] actors::caller caller_for(const identity& who,
                                        const request& req);

/// The HTTP status for an error of the actor layer: not found and forbidden
/// are 404 (what the caller may not see must not be told apart from what
/// does not exist), invalid input 400, unauthorized 401, conflicts 409,
/// busy or unavailable 503, timeout 504, anything else 500.
[[nodiscard]] int status_for(actors::error_code code);

/// The site store as this node reaches it: "site", or the seed's
/// ("site:seed") in a cluster (docs/cluster.md).
[[nodiscard]] std::string site_address(const actors::node& n);

/// The app store of offering `name` as this node reaches it: `name`, or
/// `name:seed` in a cluster, where an offering installed online keeps its
/// app store on the seed (docs/cluster.md, "Online administration").
[[nodiscard]] std::string app_store_address(const actors::node& n,
                                            std::string_view name);

/// A JSON error response built from a failed reply (status from
/// `status_for`).
[[nodiscard]] response error_from(const actors::reply& r);

/// Seconds a 503 response asks the client to wait (`Retry-After`): about
/// the time a restarted node needs to rejoin its cluster.
inline constexpr int retry_after_seconds = 2;

/// `{"error":{"code":..,"message":..}}` with `status`; a 503 carries
/// `Retry-After: retry_after_seconds`.
[[nodiscard]] response error_response(int status, std::string_view code,
                                      std::string_view message);

/// A JSON response with `status` and `body` (already JSON text).
[[nodiscard]] response json_response(int status, std::string body);

/// The Content-Type of a file by its extension (`ext`: without the dot,
/// any case): HTML (`html`, `htm`), CSS, JavaScript (`js`, `mjs`), JSON,
/// PNG, SVG and plain text; `application/octet-stream` for anything else.
/// Served files (websharing.cpp) and the built-in pages (pages.cpp) alike.
[[nodiscard]] const char* content_type_for_extension(std::string_view ext);

/// `s` with ASCII letters in lower case.
[[nodiscard]] std::string lower_ascii(std::string_view s);

/// `s` without leading and trailing spaces and tabs.
[[nodiscard]] std::string_view trim_blanks(std::string_view s);

/// The q-value an Accept header gives `type/subtype` (both lower case):
/// that of the most specific matching range (exact, then `type/*`, then
/// `*/*`); 0 when none matches, and for an empty header.
[[nodiscard]] double accept_q(std::string_view accept, std::string_view type,
                              std::string_view subtype);

/// True when the client ranks `text/html` strictly above
/// `application/json` (a browser navigating); `*/*`, no Accept header or
/// a tie is not. Used for answers that exist in both forms only as errors
/// (the 404 of an unknown path, docs/web.md).
[[nodiscard]] bool prefers_html(const request& req);

/// Whether `path` (not decoded) has the form of an app store's share page,
/// `/{offering}/{share_id}`: two non-empty segments, the first not one of
/// `offerings::reserved_path_segments`. Said of paths on hosts that are not
/// a user's host form (websharing.cpp, docs/http-api.md).
[[nodiscard]] bool app_share_path(std::string_view path);

/// Escapes text for HTML element content and attribute values.
[[nodiscard]] std::string html_escape(std::string_view text);

} // namespace mantissa::http
