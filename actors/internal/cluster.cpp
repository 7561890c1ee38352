#include "actors/internal/cluster.hpp"
#include "actors/internal/fanout.hpp"

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/completion.hpp"
#include "actors/internal/peer_link.hpp"
#include "wire/port/connector.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"
#include "store/typed.hpp"

namespace mantissa::actors::internal {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using store::errc;
using store::error;

// -- what the seed keeps in its site store --------------------------------------

struct node_rec {
  store::item_id id = 0;
  std::string name;
  std::string host;
  std::int64_t port = 0;
};

struct placement_rec {
  store::item_id id = 0;
  std::string address;
  std::string node;
};

/// A store's replica (docs/operations.md, "Replicas"): the node that holds
/// it ("" when none) and the store's epoch, raised at every promotion.
struct replica_rec {
  store::item_id id = 0;
  std::string address;
  std::string node;
  std::int64_t epoch = 0;
};

constexpr std::size_t max_node_name = 64;

const store::item_type<node_rec>& node_type() {
  static const auto t = store::item_type<node_rec>{"mantissa.cluster_node", 1}
                          .attribute("name", &node_rec::name,
                                     {.indexed = true, .max_size = max_node_name})
                          .attribute("host", &node_rec::host, {.max_size = 255})
                          .attribute("port", &node_rec::port);
  return t;
}

const store::item_type<placement_rec>& placement_type() {
  static const auto t
    = store::item_type<placement_rec>{"mantissa.placement", 1}
        .attribute("address", &placement_rec::address,
                   {.indexed = true, .max_size = 512})
        .attribute("node", &placement_rec::node,
                   {.indexed = true, .max_size = max_node_name});
  return t;
}

const store::item_type<replica_rec>& replica_type() {
  static const auto t
    = store::item_type<replica_rec>{"mantissa.replica", 1}
        .attribute("address", &replica_rec::address,
                   {.indexed = true, .max_size = 512})
        .attribute("node", &replica_rec::node, {.max_size = max_node_name})
        .attribute("epoch", &replica_rec::epoch);
  return t;
}

store::condition eq(const char* attr, const std::string& v) {
  return store::cmp(attr, store::compare_op::eq, store::value{v});
}

/// Inserts `rec`, or updates the item whose `attr` equals `key`.
template <class T>
store::result<void> put_by_key(store::store& s, const store::item_type<T>& type,
                               const char* attr, const std::string& key,
                               T rec) {
  store::query q;
  q.where = eq(attr, key);
  auto found = type.select(s, std::move(q));
  if (!found)
    return std::move(found).error_value();
  if (found->empty()) {
    MANTISSA_TRY(type.insert(s, rec));
    return {};
  }
  rec.id = found->front().id;
  return type.update(s, rec);
}

void log(const std::string& line) {
  mantissa::log::info("cluster", line);
}

reply unavailable(std::string why) {
  return reply{false, {}, error_code::store_unavailable, std::move(why)};
}

reply to_reply(const caf::error& err) {
  return {false, {}, code_of(err), error_message(err)};
}

bool ours(const caf::error& err) {
  return err.category() == caf::atom("mantissa");
}

/// The addresses of the user stores in a data directory, sorted, as a JSON
/// array.
json local_user_stores(const std::filesystem::path& dir) {
  return json(list_user_stores(dir));
}

// -- the actor --------------------------------------------------------------------

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

caf::timespan span(std::chrono::milliseconds ms) {
  return caf::timespan{ms};
}

/// The key of `node` in `peers`: a non-seed reaches the seed through its
/// seed link, "".
std::string peer_key(const cluster_state& st, const std::string& node) {
  return (!st.seed && node == st.seed_name) ? std::string{} : node;
}

peer& peer_of(cluster_actor* self, const std::string& node) {
  auto& st = self->state;
  auto key = peer_key(st, node);
  auto& p = st.peers[key];
  if (key.empty()) {
    p.host = st.cfg.seed_host;
    p.port = st.cfg.seed_port;
  } else if (auto m = st.members.find(node); m != st.members.end()) {
    p.host = m->second.host;
    p.port = m->second.port;
  }
  return p;
}

const std::string& peer_name(cluster_actor* self, const std::string& key) {
  return key.empty() ? self->state.seed_name : key;
}

/// Fails everything pending on a peer and forgets its session.
void drop_peer(cluster_actor* self, peer& p, const std::string& why) {
  if (p.session)
    self->demonitor(p.session);
  p.session = nullptr;
  if (p.link)
    self->send(p.link, port::connection_gone{});
  p.link = nullptr;
  p.ping_in_flight = false;
  auto calls = std::move(p.in_flight);
  p.in_flight.clear();
  for (auto& [id, done] : calls)
    done(unavailable(why));
}

void connect(cluster_actor* self, const std::string& key) {
  auto& p = self->state.peers[key];
  p.connecting = true;
  auto finish = [self, key](const std::string* why) {
    auto& q = self->state.peers[key];
    q.connecting = false;
    auto waiting = std::move(q.waiting);
    q.waiting.clear();
    for (auto& k : waiting)
      k(why);
  };
  auto fail = [finish](caf::error& err) {
    std::string why = error_message(err);
    finish(&why);
  };
  auto timeout = self->state.cfg.timeout;
  auto dialer = port::spawn_dialer(self->system());
  self
    ->request(dialer, span(timeout + std::chrono::seconds(5)),
              port::dial_atom::value, p.host, p.port,
              static_cast<std::uint8_t>(port::login_kind::node),
              self->state.cfg.name, self->state.cfg.key,
              static_cast<std::uint32_t>(timeout.count()))
    .then(
      [self, key, finish](caf::actor& session, std::string&,
                          std::string& capability) {
        auto& q = self->state.peers[key];
        q.session = session;
        q.link = spawn_peer_link(self->system(), self->state.cfg.door,
                                 caf::actor_cast<caf::actor>(self), session,
                                 std::move(capability));
        self->monitor(session);
        finish(nullptr);
      },
      fail);
}

/// Sends `msg` to the session at node `node` and hands the answer to
/// `done`; fails with store_unavailable when the node cannot be reached or
/// goes away meanwhile (killed: at once; frozen: after `down_after`).
void send_remote(cluster_actor* self, const std::string& node, caf::message msg,
                 completion done,
                 std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
  auto& st = self->state;
  auto& p = peer_of(self, node);
  const auto key = peer_key(st, node);
  if (!p.session) {
    if (p.host.empty()) {
      done(unavailable("node " + node + " is not a member of the cluster"));
      return;
    }
    if (auto m = st.members.find(node);
        !p.connecting && m != st.members.end() && !m->second.up
        && !key.empty()) {
      done(unavailable("node " + node + " is down"));
      return;
    }
    p.waiting.emplace_back(
      [self, node, msg, done, timeout](const std::string* why) mutable {
        if (why != nullptr) {
          done(unavailable("node " + (node.empty() ? "seed" : node)
                           + " cannot be reached: " + *why));
          return;
        }
        send_remote(self, node, std::move(msg), std::move(done), timeout);
      });
    if (!p.connecting)
      connect(self, key);
    return;
  }
  auto id = st.next_call++;
  p.in_flight.emplace(id, done);
  auto take = [self, key, id]() -> std::optional<completion> {
    auto& q = self->state.peers[key];
    auto i = q.in_flight.find(id);
    if (i == q.in_flight.end())
      return std::nullopt;  // already failed (the node went down)
    auto c = std::move(i->second);
    q.in_flight.erase(i);
    return c;
  };
  auto t = span(timeout.value_or(st.cfg.timeout));
  self->request(p.link, t + std::chrono::seconds(1), link_call_atom::value, t,
                std::move(msg))
    .then(
      [take](std::string& body) {
        if (auto c = take())
          (*c)(reply{true, std::move(body), {}, {}});
      },
      [self, take, key, node](caf::error& err) {
        auto c = take();
        if (!c)
          return;
        if (ours(err)) {
          (*c)(to_reply(err));
          return;
        }
        // Not an answer of the other node: it timed out or went away.
        std::string why = "node " + (node.empty() ? "seed" : node)
                          + " did not answer: " + self->system().render(err);
        (*c)(unavailable(why));
        drop_peer(self, self->state.peers[key], why);
      });
}

/// Runs a handler in this node's site store.
void site_run(cluster_actor* self, const std::string& handler, json args,
              std::function<void(reply)> k, const std::string& role = system_role) {
  self
    ->request(self->state.bridge, span(self->state.cfg.timeout),
              route_atom::value, std::string{"site"},
              caf::make_message(run_atom::value, caller{role, "cluster"}, handler,
                                args.dump()))
    .then([k](std::string& body) { k(reply{true, std::move(body), {}, {}}); },
          [k](caf::error& err) { k(to_reply(err)); });
}

/// Routes a store message to the node `node`.
void route_to(cluster_actor* self, const std::string& node,
              const std::string& address, caf::message msg, completion done) {
  if (node == self->state.cfg.name) {
    self
      ->request(self->state.bridge, span(self->state.cfg.timeout),
                route_atom::value, address, std::move(msg))
      .then([done](std::string& body) { done(reply{true, std::move(body), {}, {}}); },
            [done](caf::error& err) { done(to_reply(err)); });
    return;
  }
  send_remote(self, node,
              caf::make_message(route_atom::value, address, std::move(msg)),
              std::move(done));
}

void when_loaded(cluster_actor* self, std::function<void()> k) {
  if (self->state.loaded)
    k();
  else
    self->state.after_load.push_back(std::move(k));
}

/// Seed: the directory's stores per member (0 for a member without any).
std::map<std::string, std::int64_t> store_counts(const cluster_state& st) {
  std::map<std::string, std::int64_t> counts;
  for (auto& [name, m] : st.members)
    counts[name] = 0;
  for (auto& [addr, node] : st.directory)
    if (auto i = counts.find(node); i != counts.end())
      ++i->second;
  return counts;
}

json members_json(cluster_actor* self) {
  auto& st = self->state;
  auto counts = st.seed ? store_counts(st) : std::map<std::string, std::int64_t>{};
  json nodes = json::array();
  for (auto& [name, m] : st.members)
    nodes.push_back({{"name", name},
                     {"host", m.host},
                     {"port", m.port},
                     {"state", m.up ? "up" : "down"},
                     {"stores", st.seed ? counts[name] : m.stores}});
  return json{{"seed", st.seed ? st.cfg.name : st.seed_name},
              {"nodes", std::move(nodes)}};
}

void learn_members(cluster_actor* self, const json& j) {
  auto& st = self->state;
  if (j.contains("seed") && j["seed"].is_string())
    st.seed_name = j["seed"].get<std::string>();
  if (!j.contains("nodes") || !j["nodes"].is_array())
    return;
  for (auto& n : j["nodes"]) {
    auto name = n.value("name", std::string{});
    if (name.empty() || name == st.cfg.name)
      continue;
    auto& m = st.members[name];
    m.host = n.value("host", std::string{});
    m.port = n.value("port", std::uint16_t{0});
    m.up = n.value("state", std::string{}) == "up";
    m.stores = n.value("stores", std::int64_t{0});
  }
}

/// Where the store `address` lives: `k(node, nullptr)` or `k("", &error)`.
void locate(cluster_actor* self, const std::string& address,
            std::function<void(std::string, const reply*)> k) {
  auto& st = self->state;
  if (st.seed) {
    when_loaded(self, [self, address, k] {
      auto& d = self->state.directory;
      if (auto i = d.find(address); i != d.end()) {
        k(i->second, nullptr);
        return;
      }
      reply r{false, {}, error_code::no_such_store, no_store_message(address)};
      k({}, &r);
    });
    return;
  }
  if (auto i = st.directory.find(address); i != st.directory.end()) {
    k(i->second, nullptr);
    return;
  }
  send_remote(
    self, st.seed_name,
    caf::make_message(cluster_atom::value, std::string{"locate"},
                      json{{"address", address}}.dump()),
    completion{std::make_shared<reply_handler>([self, address, k](reply r) {
      if (r.ok) {
        auto j = json::parse(r.body, nullptr, false);
        auto node = j.is_object() ? j.value("node", std::string{}) : "";
        if (!node.empty()) {
          self->state.directory[address] = node;
          k(node, nullptr);
          return;
        }
        r = unavailable("malformed answer from the seed");
      } else if (r.code != error_code::no_such_store) {
        r = unavailable("the seed cannot be asked where " + address
                        + " lives: " + r.message);
      }
      k({}, &r);
    })});
}

void route(cluster_actor* self, std::string address, caf::message msg,
           completion done, int attempt) {
  auto& st = self->state;
  if (address == accounts_address) {
    route_to(self, st.seed ? st.cfg.name : st.seed_name, "site", std::move(msg),
             std::move(done));
    return;
  }
  locate(self, address,
         [self, address, msg, done, attempt](std::string node, const reply* err) {
           if (err != nullptr) {
             done(*err);
             return;
           }
           if (node == self->state.cfg.name) {
             // Here (a store that just moved to this node, asked through
             // a forwarder made while it was elsewhere).
             route_to(self, node, address, msg,
                      completion{std::make_shared<reply_handler>(
                        [address, done](reply r) {
                          if (!r.ok && r.code == error_code::no_such_store)
                            r = unavailable("the directory places " + address
                                            + " on this node, but its file "
                                              "is missing");
                          done(std::move(r));
                        })});
             return;
           }
           auto retry = [self, address, msg, done, attempt,
                         node](reply r) mutable {
             if (!r.ok && r.code == error_code::no_such_store
                 && !self->state.seed && attempt == 0) {
               // A stale cache entry (the store moved): ask the seed again.
               auto& d = self->state.directory;
               if (auto i = d.find(address); i != d.end() && i->second == node)
                 d.erase(i);
               route(self, address, std::move(msg), std::move(done), 1);
               return;
             }
             done(std::move(r));
           };
           route_to(self, node, address, msg,
                    completion{std::make_shared<reply_handler>(std::move(retry))});
         });
}

// -- the seed's bookkeeping -------------------------------------------------------

void persist_placements(cluster_actor* self, json placements,
                        std::function<void(reply)> k) {
  site_run(self, "mantissa.cluster_place",
           json{{"placements", std::move(placements)}}, std::move(k));
}

/// Records the stores a node says it holds; conflicts are logged and keep
/// the directory's entry.
void claim(cluster_actor* self, const std::string& node, const json& stores) {
  auto& st = self->state;
  json fresh = json::array();
  for (auto& s : stores) {
    if (!s.is_string())
      continue;
    auto addr = s.get<std::string>();
    auto i = st.directory.find(addr);
    if (i == st.directory.end()) {
      st.directory.emplace(addr, node);
      fresh.push_back({{"address", addr}, {"node", node}});
    } else if (i->second != node) {
      log("node " + node + " holds a copy of " + addr
          + ", but the directory places it on " + i->second
          + "; the directory wins");
    }
  }
  if (!fresh.empty())
    persist_placements(self, std::move(fresh), [node](reply r) {
      if (!r.ok)
        log("cannot record the stores of " + node + ": " + r.message);
    });
}

void mark(cluster_actor* self, const std::string& name, bool up) {
  auto& m = self->state.members[name];
  if (m.up != up)
    log("node " + name + " is " + (up ? "up" : "down"));
  m.up = up;
}

/// Chooses the node for a new store: `wanted` if given (it must be up),
/// else the up node with the fewest stores (then by name).
std::string choose_node(cluster_actor* self, const std::string& wanted,
                        std::string& why) {
  auto& st = self->state;
  if (!wanted.empty()) {
    auto m = st.members.find(wanted);
    if (m == st.members.end()) {
      why = "no node is named " + wanted;
      return {};
    }
    if (!m->second.up) {
      why = "node " + wanted + " is down";
      return {};
    }
    return wanted;
  }
  std::string best;
  std::int64_t fewest = 0;
  for (auto& [name, n] : store_counts(st)) {
    if (!st.members.at(name).up)
      continue;
    if (best.empty() || n < fewest) {
      best = name;
      fewest = n;
    }
  }
  if (best.empty())
    why = "no node is up";
  return best;
}

void add_user(cluster_actor* self, json args,
              caf::typed_response_promise<std::string> rp) {
  auto role = args.value("role", std::string{system_role});
  auto wanted = args.value("node", std::string{});
  json account_args{{"username", args.value("username", std::string{})}};
  if (args.value("artificial", false))
    account_args["artificial"] = true;
  else
    account_args["password"] = args.value("password", std::string{});
  // Choose first, so that nothing is created when the node is wrong.
  std::string refused;
  if (choose_node(self, wanted, refused).empty()) {
    rp.deliver(make_error(error_code::store_unavailable, refused));
    return;
  }
  site_run(
    self, "mantissa.add_account", std::move(account_args),
    [self, rp, wanted](reply r) mutable {
      if (!r.ok) {
        rp.deliver(make_error(r.code, r.message));
        return;
      }
      auto acct = json::parse(r.body, nullptr, false);
      auto address = acct.is_object() ? acct.value("address", std::string{})
                                      : std::string{};
      std::string why;
      auto node = choose_node(self, wanted, why);
      if (node.empty() || address.empty()) {
        rp.deliver(make_error(error_code::store_unavailable,
                              "account created, but no node for its store: "
                                + why));
        return;
      }
      auto failed = [rp, address](const reply& e) mutable {
        rp.deliver(make_error(e.code, "account " + address
                                        + " was created, but its store "
                                          "could not be prepared: "
                                        + e.message));
      };
      self->state.directory[address] = node;
      persist_placements(
        self, json::array({{{"address", address}, {"node", node}}}),
        [self, rp, address, node, acct, failed](reply placed) mutable {
          if (!placed.ok)
            return failed(placed);
          route_to(
            self, node, address, caf::make_message(create_atom::value),
            completion{std::make_shared<reply_handler>(
              [self, rp, address, node, acct, failed](reply made) mutable {
                if (!made.ok)
                  return failed(made);
                route_to(
                  self, node, address,
                  caf::make_message(run_atom::value,
                                    caller{system_role, "cluster"},
                                    std::string{"mantissa.write_account_copy"},
                                    acct.dump()),
                  completion{std::make_shared<reply_handler>(
                    [rp, address, node, failed](reply copied) mutable {
                      if (!copied.ok)
                        return failed(copied);
                      rp.deliver(json{{"address", address}, {"node", node}}
                                   .dump());
                    })});
              })});
        });
    },
    role);
}

/// The seed's answer to where a store lives: its node, and its replica and
/// epoch when it has them.
json where_json(cluster_actor* self, const std::string& address,
                const std::string& node) {
  json out{{"node", node}};
  auto& st = self->state;
  if (auto i = st.replicas.find(address); i != st.replicas.end()) {
    out["epoch"] = i->second.epoch;
    if (!i->second.node.empty())
      out["replica"] = i->second.node;
  }
  return out;
}

/// Seed: makes the replica of `address` its primary, with a higher epoch.
/// The directory is the commit point; the replica's node then turns its
/// copy into the store. Unless `force`, the primary's node must be down.
void promote(cluster_actor* self, const std::string& address, bool force,
             std::function<void(reply)> k) {
  auto& st = self->state;
  auto r = st.replicas.find(address);
  auto d = st.directory.find(address);
  if (d == st.directory.end()) {
    k(reply{false, {}, error_code::no_such_store, no_store_message(address)});
    return;
  }
  if (r == st.replicas.end() || r->second.node.empty()) {
    k(reply{false, {}, error_code::invalid_value, address + " has no replica"});
    return;
  }
  auto from = d->second;
  auto to = r->second.node;
  if (auto m = st.members.find(from);
      !force && m != st.members.end() && m->second.up) {
    k(reply{false, {}, error_code::invalid_value,
            "node " + from + " is up: promote only the replicas of a node that "
                             "is down (or force it)"});
    return;
  }
  auto epoch = r->second.epoch + 1;
  site_run(
    self, "mantissa.cluster_replica",
    json{{"address", address}, {"node", ""}, {"epoch", epoch}, {"primary", to}},
    [self, address, from, to, epoch, k](reply w) {
      if (!w.ok) {
        k(reply{false, {}, error_code::store_unavailable,
                "the directory cannot be written: " + w.message});
        return;
      }
      auto& s = self->state;
      s.directory[address] = to;
      s.replicas[address] = {"", epoch};
      log("store " + address + ": the replica on " + to
          + " is its primary now (epoch " + std::to_string(epoch) + ", was on "
          + from + ")");
      json done{{"address", address}, {"from", from}, {"node", to}, {"epoch", epoch}};
      auto msg = caf::make_message(incoming_atom::value, std::string{"promote"},
                                   address, json{{"epoch", epoch}}.dump());
      auto answer = [done, k](reply p) mutable {
        if (!p.ok)
          done["warning"] = "the directory names the new primary, but it did "
                            "not confirm (it turns its copy into the store "
                            "when first asked): "
                            + p.message;
        k(reply{true, done.dump(), {}, {}});
      };
      if (to == s.cfg.name) {
        self->request(s.bridge, span(s.cfg.timeout), std::move(msg))
          .then([answer](std::string& b) mutable { answer(reply{true, b, {}, {}}); },
                [answer](caf::error& e) mutable { answer(to_reply(e)); });
        return;
      }
      send_remote(self, to, std::move(msg),
                  completion{std::make_shared<reply_handler>(answer)});
    });
}

/// Seed: promotes every replica of the stores whose primary is `node`.
void failover(cluster_actor* self, const std::string& node,
              std::function<void(json)> k) {
  auto& st = self->state;
  std::vector<std::string> todo;
  for (auto& [address, r] : st.replicas)
    if (!r.node.empty()) {
      auto d = st.directory.find(address);
      if (d != st.directory.end() && d->second == node)
        todo.push_back(address);
    }
  auto out = std::make_shared<json>(
    json{{"node", node}, {"promoted", json::array()}, {"failed", json::array()}});
  auto left = std::make_shared<std::size_t>(todo.size());
  if (todo.empty()) {
    k(*out);
    return;
  }
  for (auto& address : todo)
    promote(self, address, false, [out, left, k, address](reply r) {
      if (r.ok)
        (*out)["promoted"].push_back(json::parse(r.body, nullptr, false));
      else
        (*out)["failed"].push_back({{"address", address}, {"error", r.message}});
      if (--*left == 0)
        k(*out);
    });
}

caf::result<std::string> on_command(cluster_actor* self, const std::string& cmd,
                                    const std::string& text) {
  auto& st = self->state;
  auto args = json::parse(text, nullptr, false);
  if (!args.is_object())
    return make_error(error_code::invalid_query,
                      "cluster " + cmd + ": the argument must be a JSON object");
  if (cmd == "ping")
    return std::string{"{}"};
  if (cmd == "status") {
    auto j = members_json(self);
    j["name"] = st.cfg.name;
    return j.dump();
  }
  if (cmd == "locate") {
    auto address = args.value("address", std::string{});
    auto rp = self->make_response_promise<std::string>();
    locate(self, address,
           [self, rp, address](std::string node, const reply* err) mutable {
             if (err != nullptr) {
               rp.deliver(make_error(err->code, err->message));
               return;
             }
             rp.deliver(where_json(self, address, node).dump());
           });
    return rp;
  }
  if (cmd == "fanout") {
    // This node's part of a fan-out (args: the spec).
    auto part = spawn_local_fanout(self->system(), st.bridge, st.cfg.data_dir);
    auto rp = self->make_response_promise<std::string>();
    self
      ->request(part, std::chrono::seconds(3600), fanout_atom::value, text,
                caf::actor{})
      .then([rp](std::string& partial) mutable { rp.deliver(std::move(partial)); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }
  if (cmd == "fanout_at") {
    // From this node's fan-out coordinator: node `node`'s part.
    auto node = args.value("node", std::string{});
    if (node.empty() || !args.contains("spec") || !args["spec"].is_object())
      return make_error(error_code::invalid_query,
                        "cluster fanout_at: node and spec are needed");
    if (node == st.cfg.name)
      return on_command(self, "fanout", args["spec"].dump());
    auto rp = self->make_response_promise<std::string>();
    send_remote(self, node,
                caf::make_message(cluster_atom::value, std::string{"fanout"},
                                  args["spec"].dump()),
                to_promise(rp), std::chrono::seconds(3600));
    return rp;
  }
  if (cmd == "whereis") {
    // Where the seed's directory (not a cache) places a store: what a node
    // asks before it serves a copy with a move marker (actors/internal/move.hpp).
    auto address = args.value("address", std::string{});
    auto rp = self->make_response_promise<std::string>();
    if (st.seed) {
      locate(self, address,
             [self, rp, address](std::string node, const reply* err) mutable {
               if (err != nullptr)
                 rp.deliver(make_error(err->code, err->message));
               else
                 rp.deliver(where_json(self, address, node).dump());
             });
      return rp;
    }
    send_remote(self, st.seed_name,
                caf::make_message(cluster_atom::value, std::string{"locate"},
                                  json{{"address", address}}.dump()),
                completion{std::make_shared<reply_handler>(
                  [self, rp, address](reply r) mutable {
                    if (!r.ok) {
                      rp.deliver(make_error(r.code, std::move(r.message)));
                      return;
                    }
                    auto j = json::parse(r.body, nullptr, false);
                    auto node = j.is_object() ? j.value("node", std::string{})
                                              : std::string{};
                    if (!node.empty())
                      self->state.directory[address] = node;
                    rp.deliver(std::move(r.body));
                  })});
    return rp;
  }
  if (cmd == "move") {
    // A store move asked through any node (the admin page): the store's
    // node runs it (its mover reports no progress; the answer is its).
    auto address = args.value("address", std::string{});
    auto to = args.value("to", std::string{});
    bool here = args.value("here", false);
    if (address.empty() || to.empty())
      return make_error(error_code::invalid_value,
                        "cluster move: address and to are needed");
    auto rp = self->make_response_promise<std::string>();
    auto local = [self, rp, address, to]() mutable {
      self
        ->request(self->state.bridge, caf::timespan{std::chrono::hours(1)},
                  move_atom::value, address, to, caf::actor{})
        .then([rp](std::string& body) mutable { rp.deliver(std::move(body)); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    };
    if (here) {
      local();
      return rp;
    }
    locate(self, address,
           [self, rp, address, to, local](std::string node,
                                          const reply* err) mutable {
             if (err != nullptr) {
               rp.deliver(make_error(err->code, err->message));
               return;
             }
             if (node == self->state.cfg.name) {
               local();
               return;
             }
             send_remote(self, node,
                         caf::make_message(cluster_atom::value,
                                           std::string{"move"},
                                           json{{"address", address},
                                                {"to", to},
                                                {"here", true}}
                                             .dump()),
                         to_promise(rp), std::chrono::hours(1));
           });
    return rp;
  }
  if (cmd == "moved_here") {
    // From this node's receiver of a move: the store lives here now.
    auto address = args.value("address", std::string{});
    if (!address.empty() && !st.seed)
      st.directory[address] = st.cfg.name;
    return std::string{"{}"};
  }
  if (cmd == "move_commit") {
    // The commit point of a store move: the directory places `address` on
    // `to` if it still places it on `from`.
    auto address = args.value("address", std::string{});
    auto from = args.value("from", std::string{});
    auto to = args.value("to", std::string{});
    if (address.empty() || from.empty() || to.empty())
      return make_error(error_code::invalid_value,
                        "cluster move_commit: address, from and to are needed");
    auto rp = self->make_response_promise<std::string>();
    if (!st.seed) {
      send_remote(self, st.seed_name,
                  caf::make_message(cluster_atom::value, cmd, text),
                  completion{std::make_shared<reply_handler>(
                    [self, rp, address, to](reply r) mutable {
                      if (!r.ok) {
                        rp.deliver(make_error(r.code, std::move(r.message)));
                        return;
                      }
                      self->state.directory[address] = to;
                      rp.deliver(std::move(r.body));
                    })});
      return rp;
    }
    when_loaded(self, [self, rp, address, from, to]() mutable {
      auto& s = self->state;
      auto i = s.directory.find(address);
      if (i == s.directory.end() || i->second != from) {
        rp.deliver(make_error(
          error_code::invalid_value,
          "the directory places " + address + " on "
            + (i == s.directory.end() ? std::string{"no node"} : i->second)
            + ", not on " + from));
        return;
      }
      if (s.members.count(to) == 0) {
        rp.deliver(make_error(error_code::invalid_value,
                              "no node is named " + to));
        return;
      }
      persist_placements(
        self, json::array({{{"address", address}, {"node", to}}}),
        [self, rp, address, from, to](reply r) mutable {
          if (!r.ok) {
            rp.deliver(make_error(error_code::store_unavailable,
                                  "the directory cannot be written: "
                                    + r.message));
            return;
          }
          self->state.directory[address] = to;
          log("store " + address + " moved from " + from + " to " + to);
          rp.deliver(json{{"address", address}, {"node", to}}.dump());
        });
    });
    return rp;
  }
  if (!st.seed && (cmd == "replica_set" || cmd == "replica_drop"
                   || cmd == "promote" || cmd == "failover")) {
    auto rp = self->make_response_promise<std::string>();
    send_remote(self, st.seed_name,
                caf::make_message(cluster_atom::value, cmd, text),
                to_promise(rp));
    return rp;
  }
  if (cmd == "replica_set" || cmd == "replica_drop") {
    auto address = args.value("address", std::string{});
    auto primary = args.value("primary", std::string{});
    auto replica = cmd == "replica_set" ? args.value("replica", std::string{})
                                        : std::string{};
    auto rp = self->make_response_promise<std::string>();
    when_loaded(self, [self, rp, address, primary, replica]() mutable {
      auto& s = self->state;
      auto i = s.directory.find(address);
      if (i == s.directory.end() || (!primary.empty() && i->second != primary)) {
        rp.deliver(make_error(error_code::invalid_value,
                              "the directory does not place " + address
                                + " on " + primary));
        return;
      }
      if (!replica.empty()
          && (replica == i->second || s.members.count(replica) == 0)) {
        rp.deliver(make_error(error_code::invalid_value,
                              "node " + replica + " cannot hold the replica of "
                                + address));
        return;
      }
      auto epoch = std::max<std::int64_t>(1, s.replicas[address].epoch);
      site_run(self, "mantissa.cluster_replica",
               json{{"address", address}, {"node", replica}, {"epoch", epoch}},
               [self, rp, address, replica, epoch](reply r) mutable {
                 if (!r.ok) {
                   rp.deliver(make_error(error_code::store_unavailable,
                                         "the directory cannot be written: "
                                           + r.message));
                   return;
                 }
                 self->state.replicas[address] = {replica, epoch};
                 rp.deliver(json{{"address", address},
                                 {"replica", replica},
                                 {"epoch", epoch}}
                              .dump());
               });
    });
    return rp;
  }
  if (cmd == "promote") {
    auto address = args.value("address", std::string{});
    auto force = args.value("force", false);
    auto rp = self->make_response_promise<std::string>();
    when_loaded(self, [self, rp, address, force]() mutable {
      promote(self, address, force, [rp](reply r) mutable {
        if (r.ok)
          rp.deliver(std::move(r.body));
        else
          rp.deliver(make_error(r.code, std::move(r.message)));
      });
    });
    return rp;
  }
  if (cmd == "failover") {
    auto node = args.value("node", std::string{});
    auto rp = self->make_response_promise<std::string>();
    when_loaded(self, [self, rp, node]() mutable {
      failover(self, node, [rp](json out) mutable { rp.deliver(out.dump()); });
    });
    return rp;
  }
  if (cmd == "revoke") {
    // Ends the sessions of an account on this node and, with "spread", on
    // every other member: a disabled account or a new password ends every
    // session in the cluster, not only those of the node that did it.
    auto address = args.value("address", std::string{});
    if (address.empty())
      return make_error(error_code::invalid_query,
                        "cluster revoke takes {\"address\":string}");
    std::size_t here = st.cfg.end_sessions ? st.cfg.end_sessions(address) : 0;
    auto out = std::make_shared<json>(
      json{{"ended", here}, {"unreached", json::array()}});
    if (!args.value("spread", false))
      return out->dump();
    std::vector<std::string> others;
    for (auto& [name, m] : st.members)
      if (name != st.cfg.name)
        others.push_back(name);
    if (others.empty())
      return out->dump();
    auto rp = self->make_response_promise<std::string>();
    auto left = std::make_shared<std::size_t>(others.size());
    auto just_here = json{{"address", address}}.dump();
    for (auto& name : others) {
      auto answer = [rp, out, left, name](reply r) mutable {
        auto body = json::parse(r.body, nullptr, false);
        if (r.ok && body.is_object())
          (*out)["ended"] = (*out)["ended"].get<std::size_t>()
                            + body.value("ended", std::size_t{0});
        else
          (*out)["unreached"].push_back(name);
        if (--*left == 0)
          rp.deliver(out->dump());
      };
      send_remote(self, name,
                  caf::make_message(cluster_atom::value, std::string{"revoke"},
                                    just_here),
                  completion{std::make_shared<reply_handler>(answer)});
    }
    return rp;
  }
  if (!st.seed) {
    if (cmd == "add_user") {
      auto rp = self->make_response_promise<std::string>();
      send_remote(self, st.seed_name,
                  caf::make_message(cluster_atom::value, cmd, text),
                  to_promise(rp));
      return rp;
    }
    return make_error(error_code::forbidden,
                      "cluster " + cmd + ": only the seed answers this");
  }
  // The seed.
  if (cmd == "join" || cmd == "beat") {
    auto name = args.value("name", std::string{});
    auto host = args.value("host", std::string{});
    auto port = args.value("port", std::uint16_t{0});
    if (name.empty() || name.size() > max_node_name || host.empty() || port == 0)
      return make_error(error_code::invalid_value,
                        "cluster " + cmd + ": name, host and port are needed");
    if (name == st.cfg.name)
      return make_error(error_code::already_exists,
                        "the seed is named " + name + " already");
    auto rp = self->make_response_promise<std::string>();
    when_loaded(self, [self, cmd, name, host, port, args, rp]() mutable {
      auto& s = self->state;
      auto known = s.members.find(name);
      if (cmd == "beat" && known == s.members.end()) {
        rp.deliver(make_error(error_code::no_such_item,
                              "node " + name + " has not joined"));
        return;
      }
      if (known != s.members.end() && known->second.up
          && (known->second.host != host || known->second.port != port)) {
        // A member that is up keeps its address: no one makes the seed
        // send its traffic elsewhere (a node that restarted elsewhere
        // joins once it is seen down).
        rp.deliver(make_error(error_code::already_exists,
                              "node " + name + " is up at "
                                + known->second.host + ":"
                                + std::to_string(known->second.port)));
        return;
      }
      auto& m = s.members[name];
      bool moved = m.host != host || m.port != port;
      m.host = host;
      m.port = port;
      m.last_seen = steady::now();
      mark(self, name, true);
      if (cmd == "join") {
        if (args.contains("stores") && args["stores"].is_array())
          claim(self, name, args["stores"]);
        if (moved)
          site_run(self, "mantissa.cluster_put_node",
                   json{{"name", name}, {"host", host}, {"port", port}},
                   [name](reply r) {
                     if (!r.ok)
                       log("cannot record node " + name + ": " + r.message);
                   });
        if (moved) {
          // Its address changed: sessions to the old one are stale.
          auto& p = s.peers[name];
          drop_peer(self, p, "node " + name + " moved");
        }
      }
      rp.deliver(members_json(self).dump());
    });
    return rp;
  }
  if (cmd == "add_user") {
    auto rp = self->make_response_promise<std::string>();
    when_loaded(self, [self, args, rp]() mutable { add_user(self, args, rp); });
    return rp;
  }
  return make_error(error_code::invalid_query, "unknown cluster command " + cmd);
}

void tick(cluster_actor* self) {
  auto& st = self->state;
  auto now = steady::now();
  if (st.seed) {
    for (auto& [name, m] : st.members)
      if (name != st.cfg.name && m.up && now - m.last_seen > st.cfg.down_after)
        mark(self, name, false);
    // The automatic failover policy: the replicas of a node down for
    // longer than --failover-after become primaries, once per outage.
    if (st.cfg.failover_after.count() > 0)
      for (auto& [name, m] : st.members) {
        if (name == st.cfg.name || m.up) {
          st.down_since.erase(name);
          continue;
        }
        auto [since, fresh] = st.down_since.emplace(name, now);
        if (since->second == steady::time_point::max()
            || now - since->second < st.cfg.failover_after)
          continue;
        since->second = steady::time_point::max();  // done for this outage
        log("node " + name + " is down for longer than the failover time: "
            "promoting the replicas of its stores");
        failover(self, name, [name](json out) {
          log("failover of " + name + ": " + out.dump());
        });
      }
  } else {
    json me{{"name", st.cfg.name}, {"host", st.cfg.host}, {"port", st.cfg.port}};
    std::string cmd = st.joined ? "beat" : "join";
    if (!st.joined) {
      if (st.claims.is_null())
        st.claims = local_user_stores(st.cfg.data_dir);
      me["stores"] = st.claims;
    }
    send_remote(
      self, st.seed_name, caf::make_message(cluster_atom::value, cmd, me.dump()),
      completion{std::make_shared<reply_handler>([self, cmd](reply r) {
        auto& s = self->state;
        if (!r.ok) {
          if (s.joined)
            log("the seed does not answer: " + r.message);
          else if (r.message != s.join_error)
            log("cannot join the cluster at " + s.cfg.seed_host + ":"
                + std::to_string(s.cfg.seed_port) + " (retrying): "
                + r.message);
          s.join_error = r.message;
          s.joined = false;
          return;
        }
        if (!s.joined)
          log("joined the cluster at " + s.cfg.seed_host + ":"
              + std::to_string(s.cfg.seed_port));
        s.join_error.clear();
        s.joined = true;
        learn_members(self, json::parse(r.body, nullptr, false));
      })});
  }
  // Ping every peer we hold a session to: a frozen node fails the requests
  // waiting on it after `down_after`.
  for (auto& [key, p] : st.peers) {
    if (!p.session || p.ping_in_flight)
      continue;
    p.ping_in_flight = true;
    self
      ->request(p.link, span(st.cfg.down_after), link_call_atom::value,
                span(st.cfg.down_after),
                caf::make_message(cluster_atom::value, std::string{"ping"},
                                  std::string{"{}"}))
      .then(
        [self, key = key](std::string&) {
          self->state.peers[key].ping_in_flight = false;
        },
        [self, key = key](caf::error& err) {
          auto& q = self->state.peers[key];
          q.ping_in_flight = false;
          if (!q.session)
            return;
          auto name = peer_name(self, key);
          drop_peer(self, q,
                    "node " + (name.empty() ? "seed" : name)
                      + " did not answer: " + self->system().render(err));
          if (!self->state.seed && key.empty())
            self->state.joined = false;
          if (self->state.seed)
            mark(self, name, false);
        });
  }
  self->delayed_send(self, span(st.cfg.heartbeat), tick_atom_v);
}

void load(cluster_actor* self) {
  site_run(self, "mantissa.cluster_load", json::object(), [self](reply r) {
    auto& st = self->state;
    if (!r.ok) {
      log("cannot read the directory (retrying): " + r.message);
      self->delayed_send(self, std::chrono::seconds(1), ok_atom_v);
      return;
    }
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_object()) {
      for (auto& n : j.value("nodes", json::array())) {
        auto name = n.value("name", std::string{});
        if (name.empty() || name == st.cfg.name)
          continue;
        auto& m = st.members[name];
        m.host = n.value("host", std::string{});
        m.port = n.value("port", std::uint16_t{0});
        m.up = false;  // until it beats
      }
      for (auto& p : j.value("placements", json::array()))
        st.directory[p.value("address", std::string{})]
          = p.value("node", std::string{});
      for (auto& rep : j.value("replicas", json::array()))
        st.replicas[rep.value("address", std::string{})]
          = {rep.value("node", std::string{}),
             rep.value("epoch", std::int64_t{0})};
    }
    st.loaded = true;
    claim(self, st.cfg.name, local_user_stores(st.cfg.data_dir));
    auto waiting = std::move(st.after_load);
    st.after_load.clear();
    for (auto& k : waiting)
      k();
  });
}

caf::behavior cluster_fun(cluster_actor* self, cluster_config cfg,
                          caf::actor bridge) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.bridge = std::move(bridge);
  st.seed = st.cfg.seed_host.empty();
  auto& me = st.members[st.cfg.name];
  me.host = st.cfg.host;
  me.port = st.cfg.port;
  me.up = true;
  if (st.seed) {
    st.seed_name = st.cfg.name;
    load(self);
  }
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& [key, p] : self->state.peers) {
      if (p.session && p.session.address() == dm.source) {
        auto name = peer_name(self, key);
        drop_peer(self, p,
                  "node " + (name.empty() ? "seed" : name) + " went away");
        if (!self->state.seed && key.empty())
          self->state.joined = false;
        if (self->state.seed)
          mark(self, name, false);
      }
    }
  });
  return {
    // The node's network port, once it listens: then membership starts.
    [self](caf::publish_atom, std::uint16_t port) {
      auto& s = self->state;
      s.cfg.port = port;
      s.members[s.cfg.name].port = port;
      tick(self);
    },
    [self](call_atom, std::string& address, caf::message& msg,
           completion& done) {
      route(self, std::move(address), std::move(msg), std::move(done), 0);
    },
    // From the gateway's forwarders of stores on other nodes.
    [self](call_atom, std::string& address,
           caf::message& msg) -> caf::result<std::string> {
      // Every completion given to route runs in this actor's context.
      auto rp = self->make_response_promise<std::string>();
      route(self, std::move(address), std::move(msg), to_promise(rp), 0);
      return rp;
    },
    [self](cluster_atom, const std::string& cmd,
           const std::string& args) -> caf::result<std::string> {
      return on_command(self, cmd, args);
    },
    // A message for another node's system session (a store move's
    // chunks, actors/internal/move.hpp), answered as that node answers.
    [self](relay_atom, const std::string& node, caf::message& msg,
           caf::timespan timeout) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      send_remote(self, node, std::move(msg), to_promise(rp),
                  std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
      return rp;
    },
    [self](tick_atom) { tick(self); },
    [self](ok_atom) { load(self); },
  };
}

} // namespace

bool may_be_elsewhere(const std::string& address, const caf::error& err) {
  return code_of(err) == error_code::no_such_store
         && address.find('@') != std::string::npos;
}

store::result<void> register_cluster_types(store::type_registry& types) {
  MANTISSA_TRY(types.add(node_type().decl()));
  MANTISSA_TRY(types.add(replica_type().decl()));
  return types.add(placement_type().decl());
}

store::result<void> register_cluster_handlers(handler_registry& handlers) {
  auto system_only = [](const caller& who) -> store::result<void> {
    if (who.role != system_role)
      return error{errc::forbidden, "system role only"};
    return {};
  };
  MANTISSA_TRY(handlers.add(
    "mantissa.cluster_load",
    [system_only](store::store& s, const json&,
                  const caller& who) -> store::result<json> {
      MANTISSA_TRY(system_only(who));
      auto nodes = node_type().select(s, store::query{});
      if (!nodes)
        return std::move(nodes).error_value();
      auto places = placement_type().select(s, store::query{});
      if (!places)
        return std::move(places).error_value();
      auto reps = replica_type().select(s, store::query{});
      if (!reps)
        return std::move(reps).error_value();
      json out{{"nodes", json::array()},
               {"placements", json::array()},
               {"replicas", json::array()}};
      for (auto& r : *reps)
        out["replicas"].push_back(
          {{"address", r.address}, {"node", r.node}, {"epoch", r.epoch}});
      for (auto& n : *nodes)
        out["nodes"].push_back(
          {{"name", n.name}, {"host", n.host}, {"port", n.port}});
      for (auto& p : *places)
        out["placements"].push_back({{"address", p.address}, {"node", p.node}});
      return out;
    }));
  MANTISSA_TRY(handlers.add(
    "mantissa.cluster_put_node",
    [system_only](store::store& s, const json& args,
                  const caller& who) -> store::result<json> {
      MANTISSA_TRY(system_only(who));
      node_rec n;
      n.name = args.value("name", std::string{});
      n.host = args.value("host", std::string{});
      n.port = args.value("port", std::int64_t{0});
      auto name = n.name;
      MANTISSA_TRY(put_by_key(s, node_type(), "name", name, std::move(n)));
      return json{{"ok", true}};
    }));
  MANTISSA_TRY(handlers.add(
    "mantissa.cluster_replica",
    [system_only](store::store& s, const json& args,
                  const caller& who) -> store::result<json> {
      MANTISSA_TRY(system_only(who));
      replica_rec r;
      r.address = args.value("address", std::string{});
      r.node = args.value("node", std::string{});
      r.epoch = args.value("epoch", std::int64_t{0});
      if (r.address.empty())
        return error{errc::invalid_value, "address is needed"};
      auto address = r.address;
      MANTISSA_TRY(put_by_key(s, replica_type(), "address", address, std::move(r)));
      // A promotion moves the store in the same transaction.
      if (args.contains("primary") && args["primary"].is_string()) {
        placement_rec p;
        p.address = address;
        p.node = args["primary"].get<std::string>();
        MANTISSA_TRY(put_by_key(s, placement_type(), "address", address,
                                std::move(p)));
      }
      return json{{"ok", true}};
    }));
  return handlers.add(
    "mantissa.cluster_place",
    [system_only](store::store& s, const json& args,
                  const caller& who) -> store::result<json> {
      MANTISSA_TRY(system_only(who));
      auto list = args.find("placements");
      if (list == args.end() || !list->is_array())
        return error{errc::invalid_value, "placements: an array is needed"};
      std::int64_t written = 0;
      for (auto& p : *list) {
        placement_rec r;
        r.address = p.value("address", std::string{});
        r.node = p.value("node", std::string{});
        auto address = r.address;
        MANTISSA_TRY(
          put_by_key(s, placement_type(), "address", address, std::move(r)));
        ++written;
      }
      return json{{"written", written}};
    });
}

caf::actor spawn_cluster(caf::actor_system& sys, cluster_config cfg,
                         caf::actor bridge) {
  return sys.spawn(cluster_fun, std::move(cfg), std::move(bridge));
}

} // namespace mantissa::actors::internal
