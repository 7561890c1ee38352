// The cluster commands the seed answers: membership (join, beat), the
// directory's writes (a move's commit, replicas, promotions, new
// accounts). A non-seed forwards those it may to the seed.

#include "actors/internal/cluster/state.hpp"

#include "wire/errors.hpp"

namespace mantissa::actors::internal::cluster_detail {

namespace {

/// A non-seed's answer to a command only the seed answers: the seed's.
text_result forward_to_seed(cluster_actor* self, const std::string& cmd,
                            const json& args) {
  auto rp = self->make_response_promise<std::string>();
  command_remote(self, self->state.seed_name, cmd, args, to_promise(rp));
  return rp;
}

caf::error seed_only(const std::string& cmd) {
  return make_error(error_code::forbidden,
                    "cluster " + cmd + ": only the seed answers this");
}

/// The checks of join and beat: an error, or none.
caf::error check_member(cluster_actor* self, const std::string& cmd,
                        const std::string& name, const std::string& host,
                        std::uint16_t port) {
  if (name.empty() || name.size() > max_node_name || host.empty() || port == 0)
    return make_error(error_code::invalid_value,
                      "cluster " + cmd + ": name, host and port are needed");
  if (name == self->state.cfg.name)
    return make_error(error_code::already_exists,
                      "the seed is named " + name + " already");
  return {};
}

/// Seed: a join or beat of a checked member, once the directory is loaded.
/// A join (`stores` set) also records the stores the node holds.
void take_member(cluster_actor* self, string_promise rp, const std::string& name,
                 const std::string& host, std::uint16_t port,
                 const std::vector<std::string>* stores) {
  auto& s = self->state;
  auto known = s.members.find(name);
  if (stores == nullptr && known == s.members.end()) {
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
                          "node " + name + " is up at " + known->second.host
                            + ":" + std::to_string(known->second.port)));
    return;
  }
  auto& m = s.members[name];
  bool moved = m.host != host || m.port != port;
  m.host = host;
  m.port = port;
  m.last_seen = steady::now();
  mark(self, name, true);
  if (stores != nullptr) {
    claim(self, name, *stores);
    if (moved) {
      site_run(self, "mantissa.cluster_put_node",
               json{{"name", name}, {"host", host}, {"port", port}},
               [name](reply r) {
                 if (!r.ok)
                   log("cannot record node " + name + ": " + r.message);
               });
      // Its address changed: sessions to the old one are stale.
      drop_peer(self, s.peers[name], "node " + name + " moved");
    }
  }
  rp.deliver(members_json(self).dump());
}

} // namespace

// The commit point of a store move: the directory places `address` on
// `to` if it still places it on `from`.
text_result on_move_commit(cluster_actor* self, const std::string& address,
                           const std::string& from, const std::string& to) {
  if (address.empty() || from.empty() || to.empty())
    return make_error(error_code::invalid_value,
                      "cluster move_commit: address, from and to are needed");
  auto rp = self->make_response_promise<std::string>();
  if (!self->state.seed) {
    command_remote(self, self->state.seed_name, "move_commit",
                   json{{"address", address}, {"from", from}, {"to", to}},
                   on_reply([self, rp, address, to](reply r) mutable {
                     if (r.ok)
                       self->state.directory[address] = to;
                     deliver(rp, std::move(r));
                   }));
    return rp;
  }
  when_loaded(self, [self, rp, address, from, to] {
    commit_move(self, address, from, to, rp);
  });
  return rp;
}

text_result on_replica_set(cluster_actor* self, const std::string& address,
                           const std::string& primary,
                           const std::string& replica) {
  if (!self->state.seed)
    return forward_to_seed(
      self, "replica_set",
      json{{"address", address}, {"primary", primary}, {"replica", replica}});
  auto rp = self->make_response_promise<std::string>();
  when_loaded(self, [self, rp, address, primary, replica] {
    set_replica(self, address, primary, replica, rp);
  });
  return rp;
}

text_result on_replica_drop(cluster_actor* self, const std::string& address,
                            const std::string& primary) {
  if (!self->state.seed)
    return forward_to_seed(self, "replica_drop",
                           json{{"address", address}, {"primary", primary}});
  auto rp = self->make_response_promise<std::string>();
  when_loaded(self, [self, rp, address, primary] {
    set_replica(self, address, primary, std::string{}, rp);
  });
  return rp;
}

text_result on_promote(cluster_actor* self, const std::string& address,
                       bool force) {
  if (!self->state.seed)
    return forward_to_seed(self, "promote",
                           json{{"address", address}, {"force", force}});
  auto rp = self->make_response_promise<std::string>();
  when_loaded(self, [self, rp, address, force] {
    promote(self, address, force,
            [rp](reply r) mutable { deliver(rp, std::move(r)); });
  });
  return rp;
}

text_result on_failover(cluster_actor* self, const std::string& node) {
  if (!self->state.seed)
    return forward_to_seed(self, "failover", json{{"node", node}});
  auto rp = self->make_response_promise<std::string>();
  when_loaded(self, [self, rp, node] {
    failover(self, node, [rp](json out) mutable { rp.deliver(out.dump()); });
  });
  return rp;
}

text_result on_add_user(cluster_actor* self, new_account acct) {
  if (!self->state.seed) {
    json args{{"username", acct.username},
              {"role", acct.role},
              {"node", acct.node}};
    if (acct.artificial)
      args["artificial"] = true;
    else
      args["password"] = acct.password;
    return forward_to_seed(self, "add_user", args);
  }
  auto rp = self->make_response_promise<std::string>();
  when_loaded(self, [self, rp, acct] { add_user(self, acct, rp); });
  return rp;
}

text_result on_join(cluster_actor* self, const std::string& name,
                    const std::string& host, std::uint16_t port,
                    const std::vector<std::string>& stores) {
  if (!self->state.seed)
    return seed_only("join");
  if (auto err = check_member(self, "join", name, host, port))
    return err;
  auto rp = self->make_response_promise<std::string>();
  when_loaded(self, [self, rp, name, host, port, stores] {
    take_member(self, rp, name, host, port, &stores);
  });
  return rp;
}

text_result on_beat(cluster_actor* self, const std::string& name,
                    const std::string& host, std::uint16_t port) {
  if (!self->state.seed)
    return seed_only("beat");
  if (auto err = check_member(self, "beat", name, host, port))
    return err;
  auto rp = self->make_response_promise<std::string>();
  when_loaded(self, [self, rp, name, host, port] {
    take_member(self, rp, name, host, port, nullptr);
  });
  return rp;
}

} // namespace mantissa::actors::internal::cluster_detail
