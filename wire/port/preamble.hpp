#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The login that opens every connection to a node's network port, before
/// any byte of CAF's protocol (BASP) crosses it (docs/security.md, "The
/// actor port").
///
/// The client sends one *login request*; the node answers with one *login
/// answer*; only after a successful answer do both sides speak BASP on the
/// same connection. A peer that has not logged in therefore never reaches
/// CAF's network layer: nothing it sends is parsed as BASP, and the node
/// holds at most `max_request` bytes for it.
///
/// Request:  "MNTS" | version (1) | kind (1) | user length (2, big-endian)
///           | secret length (2) | user | secret
/// Answer:   "MNTS" | version (1) | status (1) | body length (2) | body
///
/// A status of 0 is success and its body is JSON: `{"role":R,"capability":C,
/// "principal":P}`; any other status is an `actors::error_code` and the body
/// is the error's text, after which the node closes the connection.
///
/// Pure functions, no I/O: the node's door and the client's connector do
/// the reading and writing.
namespace mantissa::actors::port {

/// What a login request claims.
enum class login_kind : std::uint8_t {
  /// An account's address and its password, or `system` and the node key
  /// (or the cluster key).
  user = 1,
  /// A node of the cluster: the user is the node's name, the secret the
  /// cluster key. With TLS, the node's certificate must name it.
  node = 2,
};

inline constexpr std::uint8_t preamble_version = 1;
inline constexpr std::size_t request_head_size = 10;
inline constexpr std::size_t answer_head_size = 8;
/// The longest user name a request may carry.
inline constexpr std::size_t max_user_size = 512;
/// The longest secret (a password is at most 4,096 bytes).
inline constexpr std::size_t max_secret_size = 4096;
inline constexpr std::size_t max_request
  = request_head_size + max_user_size + max_secret_size;
/// The longest answer body.
inline constexpr std::size_t max_answer_body = 4096;

struct login_request {
  login_kind kind = login_kind::user;
  std::string user;
  std::string secret;
};

/// The bytes of `req`. Fails (nullopt) when a field is too long.
[[nodiscard]] std::optional<std::vector<char>>
encode_request(const login_request& req);

/// The body length announced by the request head `head`
/// (`request_head_size` bytes), or nullopt when the head is not a valid
/// request of this version (bad magic, version or kind, a field too long).
[[nodiscard]] std::optional<std::size_t>
request_body_size(const char* head);

/// Decodes a request from its head and body. Fails when they do not fit.
[[nodiscard]] std::optional<login_request>
decode_request(const char* head, std::string_view body);

/// The bytes of an answer.
[[nodiscard]] std::vector<char> encode_answer(std::uint8_t status,
                                              std::string_view body);

struct login_answer {
  std::uint8_t status = 0;
  std::string body;
};

/// The body length announced by the answer head, or nullopt when it is not
/// a valid answer.
[[nodiscard]] std::optional<std::size_t> answer_body_size(const char* head);

/// Decodes an answer from its head and body.
[[nodiscard]] std::optional<login_answer>
decode_answer(const char* head, std::string_view body);

} // namespace mantissa::actors::port
