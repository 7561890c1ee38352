#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/result.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <nlohmann/json.hpp>

#include "actors/internal/cluster.hpp"
#include "actors/internal/completion.hpp"

/// The cluster actor's state and the steps its handlers share (the actor:
/// actors/internal/cluster.cpp). Everything here runs in the cluster
/// actor's context only.
namespace mantissa::actors::internal::cluster_detail {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// The longest node name the directory takes.
constexpr std::size_t max_node_name = 64;

/// A member of the cluster as this node knows it.
struct member {
  std::string host;
  std::uint16_t port = 0;
  bool up = false;
  steady::time_point last_seen{};
  std::int64_t stores = 0;  // directory entries (as the seed counts them)
};

/// Another node as seen from this one: a session at its door, and the
/// link through which requests go there.
struct peer {
  std::string host;
  std::uint16_t port = 0;
  caf::actor session;
  caf::actor link;
  bool connecting = false;
  /// Run when the connection is made (nullptr) or fails (the reason).
  std::vector<std::function<void(const std::string*)>> waiting;
  std::unordered_map<std::uint64_t, completion> in_flight;
  bool ping_in_flight = false;
};

struct cluster_state {
  static inline const char* name = "mantissa.cluster";
  cluster_config cfg;
  caf::actor bridge;
  bool seed = true;
  std::string seed_name;  // "" until a non-seed has joined
  bool loaded = false;    // seed: the directory is read from the site store
  bool joined = false;    // non-seed: the seed knows us since we connected
  std::string join_error; // non-seed: why the last join failed (logged once)
  std::vector<std::function<void()>> after_load;
  std::map<std::string, member> members;
  std::unordered_map<std::string, std::string> directory;  // address -> node
  struct replica_info {
    std::string node;        // "" when the store has none
    std::int64_t epoch = 0;  // raised at every promotion
  };
  std::unordered_map<std::string, replica_info> replicas;  // seed only
  /// Seed: promote the replicas of a node down for this long (0: never).
  std::map<std::string, steady::time_point> down_since;
  std::map<std::string, peer> peers;  // by node name; "" is the seed link
  std::uint64_t next_call = 1;
  /// Non-seed: the user stores found in the data directory at the first
  /// join, sent with every join (later stores are placed by the seed).
  json claims;
};

using cluster_actor = caf::stateful_actor<cluster_state>;
using string_promise = caf::typed_response_promise<std::string>;

// -- small helpers (peers.cpp) ------------------------------------------------

caf::timespan span(std::chrono::milliseconds ms);
void log(const std::string& line);
reply unavailable(std::string why);
reply to_reply(const caf::error& err);
/// A completion from a continuation taking the reply.
completion on_reply(std::function<void(reply)> k);
/// Delivers `r` to `rp`: its body, or its error.
void deliver(string_promise& rp, reply r);

// -- other nodes (peers.cpp) --------------------------------------------------

/// The name of the node behind the peer key `key` ("" is the seed link).
const std::string& peer_name(cluster_actor* self, const std::string& key);
/// Fails everything pending on a peer and forgets its session.
void drop_peer(cluster_actor* self, peer& p, const std::string& why);
/// Sends `msg` to the session at node `node` and hands the answer to
/// `done`; fails with store_unavailable when the node cannot be reached or
/// goes away meanwhile (killed: at once; frozen: after `down_after`).
void send_remote(cluster_actor* self, const std::string& node, caf::message msg,
                 completion done,
                 std::optional<std::chrono::milliseconds> timeout = std::nullopt);
/// Sends the command `cmd` with the JSON `args` to node `node`'s cluster
/// actor: `(cluster_atom, cmd, args)` through its session.
void command_remote(cluster_actor* self, const std::string& node,
                    const std::string& cmd, const json& args, completion done,
                    std::optional<std::chrono::milliseconds> timeout
                    = std::nullopt);
/// Runs a handler in this node's site store.
void site_run(cluster_actor* self, const std::string& handler, json args,
              std::function<void(reply)> k,
              const std::string& role = system_role);
/// Routes a store message to the node `node`.
void route_to(cluster_actor* self, const std::string& node,
              const std::string& address, caf::message msg, completion done);

// -- membership and directory (directory.cpp) ---------------------------------

/// Seed: the directory's stores per member (0 for a member without any).
std::map<std::string, std::int64_t> store_counts(const cluster_state& st);
/// Runs `k` once the seed has read its directory (at once elsewhere).
void when_loaded(cluster_actor* self, std::function<void()> k);
/// The membership: `{"seed","nodes":[...]}`.
json members_json(cluster_actor* self);
/// A non-seed takes the membership the seed answered to a join or beat.
void learn_members(cluster_actor* self, const json& j);
/// Where the store `address` lives: `k(node, nullptr)` or `k("", &error)`.
void locate(cluster_actor* self, const std::string& address,
            std::function<void(std::string, const reply*)> k);
/// Routes a store message to the node of its store (`attempt` 0: a stale
/// cache entry is dropped and the seed asked again once).
void route(cluster_actor* self, std::string address, caf::message msg,
           completion done, int attempt);
/// Seed: writes `placements` (`[{"address","node"}]`) to the directory.
void persist_placements(cluster_actor* self, json placements,
                        std::function<void(reply)> k);
/// Records the stores a node says it holds; conflicts are logged and keep
/// the directory's entry.
void claim(cluster_actor* self, const std::string& node,
           const std::vector<std::string>& stores);
/// Marks a member up or down (logged when it changes).
void mark(cluster_actor* self, const std::string& name, bool up);
/// The seed's answer to where a store lives: its node, and its replica and
/// epoch when it has them.
json where_json(cluster_actor* self, const std::string& address,
                const std::string& node);
/// Seed: reads the membership and directory from the site store (retried
/// every second until it works).
void load(cluster_actor* self);

// -- placement and replicas (placement.cpp) -----------------------------------

/// An account to create with its store (the add_user command).
struct new_account {
  std::string username;
  std::string password;
  bool artificial = false;
  std::string role;
  std::string node;  ///< "" lets the seed choose
};

/// Seed: creates the account, places its store and prepares it there.
void add_user(cluster_actor* self, new_account acct, string_promise rp);
/// Seed: makes the replica of `address` its primary, with a higher epoch.
/// Unless `force`, the primary's node must be down.
void promote(cluster_actor* self, const std::string& address, bool force,
             std::function<void(reply)> k);
/// Seed: promotes every replica of the stores whose primary is `node`.
void failover(cluster_actor* self, const std::string& node,
              std::function<void(json)> k);
/// Seed: records `replica` ("" to drop it) as the replica of `address`,
/// which must live on `primary` (any node when empty).
void set_replica(cluster_actor* self, const std::string& address,
                 const std::string& primary, const std::string& replica,
                 string_promise rp);
/// Seed: the commit point of a move, see the mvcommit command.
void commit_move(cluster_actor* self, const std::string& address,
                 const std::string& from, const std::string& to,
                 string_promise rp);

// -- the commands (commands.cpp, seed_commands.cpp, decode.cpp) ---------------

using text_result = caf::result<std::string>;

text_result on_ping(cluster_actor* self);
text_result on_status(cluster_actor* self);
text_result on_locate(cluster_actor* self, const std::string& address);
text_result on_fanout(cluster_actor* self, const std::string& spec);
text_result on_fanout_at(cluster_actor* self, const std::string& node,
                         const std::string& spec);
text_result on_whereis(cluster_actor* self, const std::string& address);
text_result on_move(cluster_actor* self, const std::string& address,
                    const std::string& to, bool here);
text_result on_moved_here(cluster_actor* self, const std::string& address);
text_result on_revoke(cluster_actor* self, const std::string& address,
                      bool spread);
text_result on_move_commit(cluster_actor* self, const std::string& address,
                           const std::string& from, const std::string& to);
text_result on_replica_set(cluster_actor* self, const std::string& address,
                           const std::string& primary,
                           const std::string& replica);
text_result on_replica_drop(cluster_actor* self, const std::string& address,
                            const std::string& primary);
text_result on_promote(cluster_actor* self, const std::string& address,
                       bool force);
text_result on_failover(cluster_actor* self, const std::string& node);
text_result on_add_user(cluster_actor* self, new_account acct);
text_result on_join(cluster_actor* self, const std::string& name,
                    const std::string& host, std::uint16_t port,
                    const std::vector<std::string>& stores);
text_result on_beat(cluster_actor* self, const std::string& name,
                    const std::string& host, std::uint16_t port);

/// The handlers of the typed commands (commands.hpp), checked against
/// `cluster_commands`.
caf::behavior command_handlers(cluster_actor* self);
/// A command as the network sends it, `(cluster_atom, cmd, json text)`:
/// decoded into its handler's arguments.
text_result decode_command(cluster_actor* self, const std::string& cmd,
                           const std::string& text);

} // namespace mantissa::actors::internal::cluster_detail
