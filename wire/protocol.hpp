#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <caf/atom.hpp>
#include <caf/type_id.hpp>
#include <caf/detail/stringification_inspector.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include "wire/caller.hpp"

/// The messages a store actor understands. Every request carries a
/// `caller` first, then its arguments. Every reply is one `std::string`
/// holding JSON, or a `caf::error` made by `actors::make_error` (see
/// wire/errors.hpp).
/// Items travel as JSON text (attributes plus "id" and "type"), so no
/// per-type serialization is needed on the wire. docs/node.md lists every
/// message with its reply and errors.
namespace mantissa::actors {

/// How a `caller` (wire/caller.hpp) travels.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, caller& x) {
  return f(caf::meta::type_name("mantissa.caller"), x.role, x.request_id,
           x.capability);
}

/// Bytes sent beside a message's JSON (a mail message to its recipients'
/// stores): shared, never copied, between the actors of one node (one
/// delivery to a hundred local stores holds the bytes once); serialized
/// once per message to another node.
struct shared_bytes {
  std::shared_ptr<const std::string> data;

  [[nodiscard]] std::string_view view() const noexcept {
    return data ? std::string_view{*data} : std::string_view{};
  }
};

template <class Inspector>
typename std::enable_if<Inspector::reads_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, shared_bytes& x) {
  if constexpr (std::is_same<Inspector,
                             caf::detail::stringification_inspector>::value) {
    // Rendered (logs, errors): the size, not the bytes.
    return f(caf::meta::type_name("mantissa.bytes"),
             static_cast<std::uint64_t>(x.view().size()));
  } else {
    std::string copy{x.view()};
    return f(caf::meta::type_name("mantissa.bytes"), copy);
  }
}

template <class Inspector>
typename std::enable_if<Inspector::writes_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, shared_bytes& x) {
  auto buf = std::make_shared<std::string>();
  auto done = caf::meta::load_callback([&x, buf]() -> caf::error {
    x.data = buf;
    return caf::none;
  });
  return f(caf::meta::type_name("mantissa.bytes"), *buf, done);
}

/// The role of the node itself and of its administrators' tools.
inline constexpr const char* system_role = "system";

// (get_atom, caller, type, id) -> string item
//   errors: no_such_type, no_such_item
using get_atom = caf::get_atom;
// (put_atom, caller, type, json) -> string item (with its new id)
//   creates an item; attributes missing from json take their defaults.
//   errors: no_such_type, invalid_value, invalid_query (unknown attribute)
using put_atom = caf::put_atom;
// (update_atom, caller, type, id, json) -> string item
//   changes the attributes present in json, keeps the others.
using update_atom = caf::atom_constant<caf::atom("update")>;
// (delete_atom, caller, type, id) -> {"ok":true}
//   errors: no_such_item, disallowed, in_use
using delete_atom = caf::delete_atom;
// (query_atom, caller, query json) -> string {"items":[...],"total":N}
//   the query form of docs/query.md: {"type","where","sort","limit","offset"}
using query_atom = caf::atom_constant<caf::atom("query")>;
// (count_atom, caller, type, where json) -> {"count":N}
//   an empty where counts every item
using count_atom = caf::atom_constant<caf::atom("count")>;
// (install_atom, caller, type, id, interfaces json) -> {"ok":true}
//   interfaces: [] for the type's defaults, or [{"interface":..,"priority":..}]
using install_atom = caf::atom_constant<caf::atom("install")>;
// (uninstall_atom, caller, type, id) -> {"ok":true}
using uninstall_atom = caf::atom_constant<caf::atom("uninstall")>;
// (powerups_atom, caller, interface) -> string JSON array of items,
//   highest priority first
using powerups_atom = caf::atom_constant<caf::atom("powerups")>;
// (run_atom, caller, handler name, args json) -> string result json
//   the store's owner only (others: no_such_handler)
// (run_atom, caller, handler name, args json, share_id) -> the same,
//   through the share `share_id` (not empty): also a caller whose roles
//   the share grants the handler's interface; the handler finds the share
//   in its arguments' member "shared" (docs/offerings.md, "Who may run a
//   handler"). Refused: no_such_handler, as for a handler that does not
//   exist.
// (run_atom, caller, handler name, args json, shared_bytes payload)
//   -> string result json: a payload handler (handler_registry::
//   add_payload), given the bytes beside its arguments
using run_atom = caf::atom_constant<caf::atom("run")>;

// Sharing (docs/security.md). Owner only, except getshare_atom:
// (share_atom, caller, type, id, role, interfaces json, share_id)
//   -> {"share_id":S}   shares the item with the role (everyone,
//   authenticated, user:ADDRESS, group:NAME) through the interfaces (a JSON
//   array of names, e.g. ["read"]); an empty share_id makes a random one.
//   errors: no_such_item, invalid_name, invalid_value, already_exists
using share_atom = caf::atom_constant<caf::atom("share")>;
// (unshare_atom, caller, share_id, role) -> {"removed":N}; role "": all roles
using unshare_atom = caf::atom_constant<caf::atom("unshare")>;
// (shares_atom, caller, item id) -> [{"share_id","role","type","item",
//   "interfaces"}]; item id 0: every share of the store
using shares_atom = caf::atom_constant<caf::atom("shares")>;
// (getshare_atom, caller, share_id) -> {"share_id","interfaces":[...],
//   "item":{...}}: what the caller's role gets through the share; "" is the
//   default share. The owner gets "interfaces":["*"] (every interface).
//   errors: no_such_item (no such share, or nothing shared with the role)
using getshare_atom = caf::atom_constant<caf::atom("getshare")>;
// (member_atom, caller, member role, group role, add) -> {"ok":true}
//   makes member a member of group (add = true) or ends it (false)
using member_atom = caf::atom_constant<caf::atom("member")>;
// (defshare_atom, caller, share_id) -> {"ok":true}  sets the default share
using defshare_atom = caf::atom_constant<caf::atom("defshare")>;
// (visible_atom, caller) -> {"visible":true}   whether the caller may see
//   anything of the store (it owns it, or something is shared with one of
//   its roles); else no_such_store, the answer for a store that does not
//   exist, so that existence does not leak
using visible_atom = caf::atom_constant<caf::atom("visible")>;

// Reliable interstore messages (docs/interstore.md), sent by the node's
// router on behalf of a sending store:
// (inbox_atom, caller, batch json) -> {"answers":[{"id":N,"answer":A}]}
//   batch: {"sender":ADDRESS,"acked":N,"messages":[{"id":N,"share":S,
//   "type":T,"payload":{...}}]}; each answer A is {"ok":true,"value":V} or
//   {"ok":false,"code":C,"message":M}. Only the system role, or the
//   sender's own role, may claim a sender (else every answer: bad_sender).
using inbox_atom = caf::atom_constant<caf::atom("inbox")>;
// A plain (volatile) interstore request, processed at most once by the
// receiver of its type and not recorded:
// (ask_atom, caller, request json) -> answer A (as above)
//   request: {"sender":ADDRESS,"share":S,"type":T,"payload":{...}}; the
//   same rule for who may claim a sender.
using ask_atom = caf::atom_constant<caf::atom("ask")>;

// Backups (docs/operations.md, "Backup and restore"). System role only
// (forbidden otherwise):
// (backup_atom, caller, dest path) -> {"address","path","bytes":N,
//   "sha256":H,"pages":P,"steps":S,"micros":T,"longest_step_micros":L}   a snapshot of
//   the store, taken by its actor with SQLite's online backup API in steps
//   of 1024 pages (requests are served between steps; a step waits for an
//   open group-commit batch to commit) into `dest`.tmp, synced and renamed
//   to `dest` (an absolute path on the node's machine; its directory is
//   created) and hashed (SHA-256) by a thread of its own.
//   errors: forbidden, invalid_value (dest not absolute), io_error
using backup_atom = caf::atom_constant<caf::atom("backup")>;
// Streamed backups (the CLI on another machine; system sessions only;
// actors/internal/backup_stream.hpp):
// (bksnap_atom, address) -> {"id":N,"address","bytes":B,"sha256":H}   the
//   store's snapshot, taken as for backup_atom into the node's own
//   `<data>/backup-tmp/` and kept there for this session;
// (bkchunk_atom, uint64 id, uint64 offset) -> string   1 MiB of it from
//   `offset` (less only at the end);
// (bkfree_atom, uint64 id) -> ok   removes it. The session ending (the
//   CLI done, interrupted or gone) removes whatever it left.
//   errors: forbidden, no_such_item (no such snapshot), invalid_value,
//   io_error
using bksnap_atom = caf::atom_constant<caf::atom("bksnap")>;
using bkchunk_atom = caf::atom_constant<caf::atom("bkchunk")>;
using bkfree_atom = caf::atom_constant<caf::atom("bkfree")>;

// The node's network port (docs/security.md, "The actor port"): a login
// opens each connection (wire/port/preamble.hpp; the client library's
// `client::connect` and its gateway do it) and answers a *session* bound
// to the role the credentials prove, with the capability that every later
// message carries in its `caller` (the second element of every message
// below). A session answers (system role only unless noted):
// (store_atom, caller, address) -> actor   any role: a forwarder that
//   stamps the session's role on every store message sent through it
// (logout_atom, caller) -> ok   any role: ends the session and its handles
// (route_atom, caller, address, message), (cluster_atom, caller, command,
//   json), (fanout_atom, caller, spec), (move_atom, caller, address, to),
//   (replicate_atom, caller, address, node), (incoming_atom, caller, op,
//   address, data), (stores_atom, caller), (stats_atom, caller),
//   (backup_atom, caller, address, dest), (bksnap_atom, caller, address),
//   (bkchunk_atom, caller, id, offset), (bkfree_atom, caller, id): as
//   described below and in actors/node.hpp.
//   errors: unauthorized (no or a wrong capability), forbidden (not system)
// (login_atom, username, password) -> (actor session, caller)   sent to the
//   client library's gateway (client/client.hpp), which runs the login.
using login_atom = caf::atom_constant<caf::atom("login")>;
using logout_atom = caf::atom_constant<caf::atom("logout")>;

// Between the nodes of a cluster (docs/cluster.md), through a session of
// a node (a login with the node's name and the cluster key):
// (route_atom, caller, address, message) -> what the store answers   a
//   store message for a store on the receiving node (never routed
//   further); `message` is a whole store message, e.g. (get_atom, caller,
//   type, id), or (create_atom) to create the store. The caller's role is
//   the one in the message: only system sessions may route.
//   errors: no_such_store (not on this node), forbidden (not system)
using route_atom = caf::atom_constant<caf::atom("route")>;
// (cluster_atom, caller, command, json) -> string json   membership and
//   directory: "status", "add_user", and between nodes "join", "beat",
//   "locate", "ping" (docs/cluster.md). System sessions only; "join" and
//   "beat" only from a node's own session, for its own name.
using cluster_atom = caf::atom_constant<caf::atom("cluster")>;
// (admin_atom, caller, operation, json) -> string json   online
//   administration of offerings, products and accounts (offerings/
//   online.hpp: "install", "uninstall", "create_product", "give", "take",
//   "add_user"), on a single node as in a cluster. Any session may send
//   it; the site store refuses every role but `system` and the site's
//   admins. errors: those of the operation, no_such_handler (unknown
//   operation, or a node without offerings)
using admin_atom = caf::atom_constant<caf::atom("admin")>;

// Node-level (sent to the node's store manager, see actors/node.hpp):
// (store_atom, address) -> actor         activates the store if needed
// (create_atom, address) -> actor        creates the store file too
// (stats_atom) -> string JSON            active stores, activations, ...
// (stores_atom) -> {"node":NAME,"stores":[ADDRESS,...]}   every store file
//   of the node's data directory, passivated ones included (also to a
//   system session, which takes (backup_atom, address, dest) as well: the
//   store message above, for a store of this node, with a timeout of an
//   hour instead of the request timeout)
using stores_atom = caf::atom_constant<caf::atom("stores")>;
using store_atom = caf::atom_constant<caf::atom("store")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

// Fan-out (docs/operations.md; a system session, or the node itself):
// (fanout_atom, spec json) -> string JSON   runs the spec of
//   actors/fanout.hpp in every selected user store of the cluster (or of
//   the node outside a cluster) and answers the collated result. While it
//   runs, (progress_atom, uint64 done, uint64 total) messages go to the
//   sender, at most 4 a second. Stopping the sender (or the session)
//   cancels it: fan-outs only read or run handlers, so nothing is left
//   half done beyond the stores already visited.
//   errors: invalid_query (a bad spec), forbidden (not system)
using fanout_atom = caf::atom_constant<caf::atom("fanout")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;

// Store moves (docs/operations.md, "Moving a store"; system sessions only):
// (move_atom, address, target node) -> {"address","from","to","bytes",
//   "changes","pause_ms","elapsed_ms"}   moves a user store of the
//   receiving node to `target` while it serves; (progress_atom, bytes
//   shipped, bytes total) messages go to the sender meanwhile, and
//   stopping the sender before the switch cancels the move.
//   errors: no_such_store (not on this node), invalid_value (bad target),
//   busy (a move of that store runs), store_unavailable (a node failed;
//   the store stays where it was)
using move_atom = caf::atom_constant<caf::atom("move")>;
// (replicate_atom, address, replica node) -> {"address","primary",
//   "replica","epoch","bytes","elapsed_ms"}   gives a user store of the
//   receiving node a replica on another node, kept current
//   asynchronously (docs/operations.md, "Replicas"); progress as for
//   move_atom.
using replicate_atom = caf::atom_constant<caf::atom("replicate")>;
// (incoming_atom, op, address, data) -> string   between nodes: the
//   target's side of a move (actors/internal/move.hpp).
using incoming_atom = caf::atom_constant<caf::atom("incoming")>;

} // namespace mantissa::actors
