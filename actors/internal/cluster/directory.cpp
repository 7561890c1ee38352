// Membership and the directory of stores: what the seed keeps (and reads
// at start), what the other nodes cache, and the routing of store messages
// to the node the directory names.

#include "actors/internal/cluster/state.hpp"

#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/fanout.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal::cluster_detail {

namespace {

/// Seed: `locate` from the directory, once it is loaded.
void locate_here(cluster_actor* self, const std::string& address,
                 std::function<void(std::string, const reply*)> k) {
  when_loaded(self, [self, address, k] {
    auto& d = self->state.directory;
    if (auto i = d.find(address); i != d.end()) {
      k(i->second, nullptr);
      return;
    }
    reply r{false, {}, error_code::no_such_store, no_store_message(address)};
    k({}, &r);
  });
}

/// `route` to the node `node` that `locate` named for `address`.
void route_located(cluster_actor* self, const std::string& address,
                   caf::message msg, completion done, int attempt,
                   const std::string& node) {
  if (node == self->state.cfg.name) {
    // Here (a store that just moved to this node, asked through
    // a forwarder made while it was elsewhere).
    route_to(self, node, address, msg, on_reply([address, done](reply r) {
               if (!r.ok && r.code == error_code::no_such_store)
                 r = unavailable("the directory places " + address
                                 + " on this node, but its file "
                                   "is missing");
               done(std::move(r));
             }));
    return;
  }
  auto retry = [self, address, msg, done, attempt, node](reply r) mutable {
    if (!r.ok && r.code == error_code::no_such_store && !self->state.seed
        && attempt == 0) {
      // A stale cache entry (the store moved): ask the seed again.
      auto& d = self->state.directory;
      if (auto i = d.find(address); i != d.end() && i->second == node)
        d.erase(i);
      route(self, address, std::move(msg), std::move(done), 1);
      return;
    }
    done(std::move(r));
  };
  route_to(self, node, address, msg, on_reply(std::move(retry)));
}

/// The member named in the node entry `n` (`{"name","host","port",...}`)
/// with its address taken from `n`; null for this node or no name.
member* take_member_address(cluster_state& st, const json& n) {
  auto name = n.value("name", std::string{});
  if (name.empty() || name == st.cfg.name)
    return nullptr;
  auto& m = st.members[name];
  m.host = n.value("host", std::string{});
  m.port = n.value("port", std::uint16_t{0});
  return &m;
}

/// Seed: takes the membership and directory read from the site store.
void take_loaded(cluster_state& st, const json& j) {
  for (auto& n : j.value("nodes", json::array()))
    if (auto* m = take_member_address(st, n))
      m->up = false;  // until it beats
  for (auto& p : j.value("placements", json::array()))
    st.directory[p.value("address", std::string{})]
      = p.value("node", std::string{});
  for (auto& rep : j.value("replicas", json::array()))
    st.replicas[rep.value("address", std::string{})]
      = {rep.value("node", std::string{}), rep.value("epoch", std::int64_t{0})};
}

} // namespace

std::map<std::string, std::int64_t> store_counts(const cluster_state& st) {
  std::map<std::string, std::int64_t> counts;
  for (auto& [name, m] : st.members)
    counts[name] = 0;
  for (auto& [addr, node] : st.directory)
    if (auto i = counts.find(node); i != counts.end())
      ++i->second;
  return counts;
}

void when_loaded(cluster_actor* self, std::function<void()> k) {
  if (self->state.loaded)
    k();
  else
    self->state.after_load.push_back(std::move(k));
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
  for (auto& n : j["nodes"])
    if (auto* m = take_member_address(st, n)) {
      m->up = n.value("state", std::string{}) == "up";
      m->stores = n.value("stores", std::int64_t{0});
    }
}

void locate(cluster_actor* self, const std::string& address,
            std::function<void(std::string, const reply*)> k) {
  auto& st = self->state;
  if (st.seed) {
    locate_here(self, address, std::move(k));
    return;
  }
  if (auto i = st.directory.find(address); i != st.directory.end()) {
    k(i->second, nullptr);
    return;
  }
  command_remote(
    self, st.seed_name, "locate", json{{"address", address}},
    on_reply([self, address, k](reply r) {
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
    }));
}

void route(cluster_actor* self, std::string address, caf::message msg,
           completion done, int attempt) {
  auto& st = self->state;
  if (auto base = seed_store(address); !base.empty()) {
    route_to(self, st.seed ? st.cfg.name : st.seed_name, base, std::move(msg),
             std::move(done));
    return;
  }
  locate(self, address,
         [self, address, msg, done, attempt](std::string node, const reply* err) {
           if (err != nullptr) {
             done(*err);
             return;
           }
           route_located(self, address, msg, done, attempt, node);
         });
}

void persist_placements(cluster_actor* self, json placements,
                        std::function<void(reply)> k) {
  site_run(self, "mantissa.cluster_place",
           json{{"placements", std::move(placements)}}, std::move(k));
}

void claim(cluster_actor* self, const std::string& node,
           const std::vector<std::string>& stores) {
  auto& st = self->state;
  json fresh = json::array();
  for (auto& addr : stores) {
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

void load(cluster_actor* self) {
  site_run(self, "mantissa.cluster_load", json::object(), [self](reply r) {
    auto& st = self->state;
    if (!r.ok) {
      log("cannot read the directory (retrying): " + r.message);
      self->delayed_send(self, std::chrono::seconds(1), ok_atom_v);
      return;
    }
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_object())
      take_loaded(st, j);
    st.loaded = true;
    claim(self, st.cfg.name, list_user_stores(st.cfg.data_dir));
    auto waiting = std::move(st.after_load);
    st.after_load.clear();
    for (auto& k : waiting)
      k();
  });
}

} // namespace mantissa::actors::internal::cluster_detail
