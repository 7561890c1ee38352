// The seed's placement decisions: the node of a new account's store, the
// commit point of a move, replicas and their promotion (docs/cluster.md,
// docs/operations.md "Replicas").

#include "actors/internal/cluster/state.hpp"

#include <algorithm>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "wire/errors.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal::cluster_detail {

namespace {

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

/// add_user, once the account exists (`acct`, the account handler's
/// answer): places its store on `node`, creates it there and writes the
/// account's copy into it.
void prepare_account_store(cluster_actor* self, string_promise rp,
                           const std::string& address, const std::string& node,
                           const json& acct) {
  auto failed = [rp, address](const reply& e) mutable {
    rp.deliver(make_error(e.code, "account " + address
                                    + " was created, but its store "
                                      "could not be prepared: "
                                    + e.message));
  };
  auto copy = [self, rp, address, node, acct, failed](reply made) mutable {
    if (!made.ok)
      return failed(made);
    route_to(self, node, address,
             caf::make_message(run_atom::value, caller{system_role, "cluster"},
                               std::string{"mantissa.write_account_copy"},
                               acct.dump()),
             on_reply([rp, address, node, failed](reply copied) mutable {
               if (!copied.ok)
                 return failed(copied);
               rp.deliver(json{{"address", address}, {"node", node}}.dump());
             }));
  };
  self->state.directory[address] = node;
  persist_placements(
    self, json::array({{{"address", address}, {"node", node}}}),
    [self, address, node, failed, copy](reply placed) mutable {
      if (!placed.ok)
        return failed(placed);
      route_to(self, node, address, caf::make_message(create_atom::value),
               on_reply(std::move(copy)));
    });
}

/// promote, once the directory names `to` the primary of `address`: the
/// new primary's node turns its replica into the store.
void confirm_promotion(cluster_actor* self, const std::string& address,
                       const std::string& from, const std::string& to,
                       std::int64_t epoch, std::function<void(reply)> k) {
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
  send_remote(self, to, std::move(msg), on_reply(answer));
}

} // namespace

void add_user(cluster_actor* self, new_account acct, string_promise rp) {
  json account_args{{"username", acct.username}};
  if (acct.artificial)
    account_args["artificial"] = true;
  else
    account_args["password"] = acct.password;
  // Choose first, so that nothing is created when the node is wrong.
  std::string refused;
  if (choose_node(self, acct.node, refused).empty()) {
    rp.deliver(make_error(error_code::store_unavailable, refused));
    return;
  }
  site_run(
    self, "mantissa.add_account", std::move(account_args),
    [self, rp, wanted = acct.node](reply r) mutable {
      if (!r.ok) {
        rp.deliver(make_error(r.code, r.message));
        return;
      }
      auto made = json::parse(r.body, nullptr, false);
      auto address = made.is_object() ? made.value("address", std::string{})
                                      : std::string{};
      std::string why;
      auto node = choose_node(self, wanted, why);
      if (node.empty() || address.empty()) {
        rp.deliver(make_error(error_code::store_unavailable,
                              "account created, but no node for its store: "
                                + why));
        return;
      }
      prepare_account_store(self, rp, address, node, made);
    },
    acct.role);
}

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
  // The directory is the commit point; the replica's node then turns its
  // copy into the store.
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
      confirm_promotion(self, address, from, to, epoch, k);
    });
}

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

void set_replica(cluster_actor* self, const std::string& address,
                 const std::string& primary, const std::string& replica,
                 string_promise rp) {
  auto& s = self->state;
  auto i = s.directory.find(address);
  if (i == s.directory.end() || (!primary.empty() && i->second != primary)) {
    rp.deliver(make_error(error_code::invalid_value,
                          "the directory does not place " + address + " on "
                            + primary));
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
             rp.deliver(
               json{{"address", address}, {"replica", replica}, {"epoch", epoch}}
                 .dump());
           });
}

void commit_move(cluster_actor* self, const std::string& address,
                 const std::string& from, const std::string& to,
                 string_promise rp) {
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
    rp.deliver(make_error(error_code::invalid_value, "no node is named " + to));
    return;
  }
  persist_placements(
    self, json::array({{{"address", address}, {"node", to}}}),
    [self, rp, address, from, to](reply r) mutable {
      if (!r.ok) {
        rp.deliver(make_error(error_code::store_unavailable,
                              "the directory cannot be written: " + r.message));
        return;
      }
      self->state.directory[address] = to;
      log("store " + address + " moved from " + from + " to " + to);
      rp.deliver(json{{"address", address}, {"node", to}}.dump());
    });
}

} // namespace mantissa::actors::internal::cluster_detail
