#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <nlohmann/json.hpp>

#include "wire/errors.hpp"
#include "wire/network_tls.hpp"
#include "wire/protocol.hpp"

/// The public API for custom actors: programs and actors outside a node that
/// reach its stores through the node's network port (`mantissa start
/// --listen HOST:PORT`).
///
/// Every connection to the port opens with a login (docs/security.md, "The
/// actor port"); a peer that has not logged in reaches nothing. The gateway
/// `connect` returns is an actor of *this* process that runs logins:
/// `(login_atom, username, password)` answers `(caf::actor session,
/// actors::caller who)`: the node's *session*, bound to the role the
/// credentials prove (`user:ADDRESS` for an account's password, `system`
/// for the username `system` with the node key, the file
/// `<data>/node.key`), and the caller to put in every message sent to it or
/// to a handle it hands out: `who.capability` proves the message is this
/// session's, and the node refuses any message without it (`unauthorized`).
/// Bad credentials are `unauthorized`. The session answers
/// `(store_atom, who, address)` with a handle for the store at `address`
/// ("site", "user@domain" or an offering name). Messages sent through that
/// handle reach the store actor with the session's role in their `caller`,
/// whatever the program wrote there: the store actor decides what the role
/// may do (docs/security.md). A session ends with `(logout_atom, who)`, when
/// the program's connection to the node closes, and when the node stops.
/// Store actors answer the messages of wire/protocol.hpp; every reply is a
/// `std::string` of JSON or a `caf::error` of category "mantissa"
/// (`actors::code_of` and `actors::error_message` in wire/errors.hpp read
/// it).
///
/// Two ways to talk to a node:
///
/// - **From your own event-based actors** (the way for anything that handles
///   many requests): get the gateway with `connect`, log in, look a store
///   up through the session, and send it the protocol messages with the
///   login's caller. Always give remote requests a timeout (a request to a
///   node that died waits for it), and monitor the session so that a dead
///   node fails your pending work early:
///
///   ```
///   using namespace mantissa;
///   auto t = std::chrono::seconds(10);
///   self->request(gateway, t, actors::login_atom::value,
///                 std::string{"system"}, node_key)
///     .then([=](caf::actor& session, actors::caller& who) {
///       self->request(session, t, actors::store_atom::value, who,
///                     std::string{"site"})
///         .then([=](caf::actor& store) {
///           // The role is the session's, whatever is written here; the
///           // capability must be the login's.
///           auto mine = who;
///           mine.request_id = "my-request-1";
///           self->request(store, t, actors::put_atom::value, mine,
///                         std::string{"mantissa.setting"},
///                         std::string{R"({"key":"a.b","value":"c"})"})
///             .then([=](const std::string& item) { /* JSON with "id" */ },
///                   [=](const caf::error& err) {
///                     // e.g. actors::code_of(err) == error_code::forbidden
///                   });
///         });
///     });
///   ```
///
///   The store handle stays valid for the whole session (the node resends a
///   request that meets a store passivating).
///
/// - **From a plain program** (tools, scripts, tests; not for hot paths,
///   a blocking round trip is ~50x slower than an event-based one): the
///   blocking `session` below, which adds the caller by itself.
namespace mantissa::client {

/// Prepares `cfg` for talking to a node: loads CAF's network layer (the
/// middleman; do not load it again yourself), registers the message types
/// the protocol sends over the wire (`actors::caller` as "mantissa.caller")
/// and the renderer of the "mantissa" error category, and turns on
/// heartbeats so that a frozen node is detected. Call it before the
/// `caf::actor_system` is created from `cfg`.
void configure(caf::actor_system_config& cfg);

/// Prepares `cfg`, after `configure`, for a node whose network port speaks
/// mutual TLS (every port that is not on loopback, unless started with
/// `--insecure-listen`; docs/cluster.md): `tls` names this program's
/// certificate (`mantissa cert issue NAME`), its key and the site's CA.
/// Every `connect` of the system then goes through TLS. Returns false with
/// a message in `err` when a file is unusable (missing, the key not the
/// certificate's, the certificate not signed by the CA).
[[nodiscard]] bool configure_tls(caf::actor_system_config& cfg,
                                 const actors::network_tls& tls,
                                 std::string& err);

/// Checks that something listens on `host:port` and returns a gateway for
/// that node: an actor of this process that runs each login (a connection
/// of its own, TLS when configured, then CAF's protocol on it; CAF keeps one
/// connection per node and closes the others). Blocks for the check only.
/// Fails with `caf::sec::cannot_connect_to_node` when nothing listens
/// there. `sys` must have been made from a config passed to `configure`.
[[nodiscard]] caf::expected<caf::actor>
connect(caf::actor_system& sys, const std::string& host, std::uint16_t port);

/// An actor of this process that passes every message it gets on to
/// `target` with `who` in it: as its second element when that is not
/// already a `caller`, else only `who.capability` is put into the caller
/// there. The answer goes straight back to the sender (the message is
/// delegated), as do the progress reports of long operations. For tools
/// that send a session many kinds of messages. It ends when `target` goes
/// down (with the same reason), so monitoring it tells when the node is
/// gone, or when its last handle goes.
[[nodiscard]] caf::actor stamped(caf::actor_system& sys, caf::actor target,
                                 actors::caller who);

/// Settings of a `session`.
struct session_options {
  /// How long one request (a lookup or a store message) may take.
  std::chrono::milliseconds timeout{10'000};
  /// How many times a request that bounced off a passivating store is sent
  /// again (each time after a new lookup).
  int retries = 3;
  /// The caller sent with every store message. Its role is replaced by the
  /// node with the session's and its capability by the login's; only
  /// `request_id` is kept (for logs).
  actors::caller who{"", "mantissa.client"};
};

/// A blocking convenience over the protocol, for programs. Every call sends
/// one request and waits for its answer (at most `options.timeout` per
/// attempt).
///
/// Errors: every failure is a `caf::error` of category "mantissa": the
/// store's own errors as it sent them (`no_such_item`, `no_such_type`,
/// `invalid_value`, `invalid_query`, ...), `no_such_store` from `lookup`,
/// `timeout` when no answer came in time, `store_unavailable` when the node
/// went away (its connection dropped: pending calls fail at once instead
/// of waiting for their timeout) or a store kept passivating through every
/// retry. Use `actors::code_of(err)` and `actors::error_message(err)`.
///
/// Thread rule: one thread at a time uses a session; use one session per
/// thread. The session must be destroyed before its actor system;
/// destroying it ends the session at the node.
class session {
 public:
  /// Logs in at the node whose gateway `connect` returned. `username` is
  /// an account's address (then `password` is its password) or `system`
  /// (then `password` is the node key). Errors: `unauthorized` (any bad
  /// credentials; repeated failures are answered more and more slowly),
  /// `busy`, `timeout`, `store_unavailable`.
  [[nodiscard]] static caf::expected<session>
  login(caf::actor_system& sys, const caf::actor& gateway,
        const std::string& username, const std::string& password,
        session_options options = {});
  ~session();
  session(session&&) noexcept;
  session& operator=(session&&) noexcept;
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// The store actor for `address` ("site", "user@domain" or an offering
  /// name), activated on the node if it was not open. Errors:
  /// `no_such_store` (no store file for that address), `invalid_name`
  /// (a malformed address), `timeout`, `store_unavailable`. The handle stays
  /// valid only until the store passivates; the calls below look stores up
  /// themselves and cache the handle.
  [[nodiscard]] caf::expected<caf::actor> lookup(const std::string& address);

  /// The item `type`/`id` as JSON (its attributes plus "id" and "type").
  /// Errors: `no_such_type`, `no_such_item`.
  [[nodiscard]] caf::expected<nlohmann::json>
  get(const std::string& address, const std::string& type, std::int64_t id);

  /// Creates an item of `type` from `attributes` (an object; missing
  /// attributes take their defaults) and returns it with its new "id".
  /// Durable when the call returns. Errors: `no_such_type`,
  /// `invalid_value` (a value that does not fit its attribute),
  /// `invalid_query` (an unknown attribute).
  [[nodiscard]] caf::expected<nlohmann::json>
  put(const std::string& address, const std::string& type,
      const nlohmann::json& attributes);

  /// Changes the attributes present in `attributes`, keeps the others, and
  /// returns the item. Errors as `put`, and `no_such_item`.
  [[nodiscard]] caf::expected<nlohmann::json>
  update(const std::string& address, const std::string& type, std::int64_t id,
         const nlohmann::json& attributes);

  /// Deletes the item; returns `{"ok":true}`. Errors: `no_such_item`,
  /// `disallowed` (a reference forbids it), `in_use`.
  [[nodiscard]] caf::expected<nlohmann::json>
  remove(const std::string& address, const std::string& type, std::int64_t id);

  /// Runs a query of docs/query.md (`{"type","where","sort","limit",
  /// "offset"}`); returns `{"items":[...],"total":N}`. Errors:
  /// `invalid_query`, `no_such_type`.
  [[nodiscard]] caf::expected<nlohmann::json>
  query(const std::string& address, const nlohmann::json& query);

  /// Counts the items of `type` matching `where` (a condition of
  /// docs/query.md; null counts every item); returns `{"count":N}`.
  [[nodiscard]] caf::expected<nlohmann::json>
  count(const std::string& address, const std::string& type,
        const nlohmann::json& where = nullptr);

  /// Runs the handler registered on the node as `handler` inside the store's
  /// transaction and returns its result. Errors: `no_such_handler`, and
  /// whatever the handler fails with.
  [[nodiscard]] caf::expected<nlohmann::json> run(const std::string& address,
                                                  const std::string& handler,
                                                  const nlohmann::json& args);

  /// The settings this session was made with.
  [[nodiscard]] const session_options& options() const noexcept;

  /// The node's session actor and the caller its messages carry (with the
  /// capability), for sending it messages of your own.
  [[nodiscard]] const caf::actor& handle() const noexcept;
  [[nodiscard]] const actors::caller& caller() const noexcept;

 private:
  struct impl;
  explicit session(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace mantissa::client
