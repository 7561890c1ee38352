// The cluster commands any node answers itself: status, where a store
// lives, fan-out parts, moves asked through any node, and the end of an
// account's sessions. The typed behavior of every command is here too.

#include "actors/internal/cluster/commands.hpp"
#include "actors/internal/cluster/state.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_behavior.hpp>

#include "wire/errors.hpp"
#include "actors/internal/fanout.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal::cluster_detail {

namespace {

/// Answers `rp` with where_json(address, node), or with the error.
auto deliver_where(cluster_actor* self, string_promise rp,
                   const std::string& address) {
  return [self, rp, address](std::string node, const reply* err) mutable {
    if (err != nullptr)
      rp.deliver(make_error(err->code, err->message));
    else
      rp.deliver(where_json(self, address, node).dump());
  };
}

/// Non-seed whereis: the seed's directory, noted in this node's cache.
void ask_seed_where(cluster_actor* self, string_promise rp,
                    const std::string& address) {
  command_remote(self, self->state.seed_name, "locate",
                 json{{"address", address}},
                 on_reply([self, rp, address](reply r) mutable {
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
                 }));
}

/// on_revoke with "spread": asks every other member to end the sessions
/// of `address` too, adding their counts to `out`.
void spread_revoke(cluster_actor* self, string_promise rp,
                   const std::string& address, std::shared_ptr<json> out,
                   const std::vector<std::string>& others) {
  auto left = std::make_shared<std::size_t>(others.size());
  auto just_here = json{{"address", address}};
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
    command_remote(self, name, "revoke", just_here, on_reply(answer));
  }
}

} // namespace

text_result on_ping(cluster_actor*) {
  return std::string{"{}"};
}

text_result on_status(cluster_actor* self) {
  auto j = members_json(self);
  j["name"] = self->state.cfg.name;
  return j.dump();
}

text_result on_locate(cluster_actor* self, const std::string& address) {
  auto rp = self->make_response_promise<std::string>();
  locate(self, address, deliver_where(self, rp, address));
  return rp;
}

// This node's part of a fan-out.
text_result on_fanout(cluster_actor* self, const std::string& spec) {
  auto& st = self->state;
  auto part = spawn_local_fanout(self->system(), st.bridge, st.cfg.data_dir);
  auto rp = self->make_response_promise<std::string>();
  self
    ->request(part, std::chrono::seconds(3600), fanout_atom::value, spec,
              caf::actor{})
    .then([rp](std::string& partial) mutable { rp.deliver(std::move(partial)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// From this node's fan-out coordinator: node `node`'s part.
text_result on_fanout_at(cluster_actor* self, const std::string& node,
                         const std::string& spec) {
  if (node.empty())
    return make_error(error_code::invalid_query,
                      "cluster fanout_at: node and spec are needed");
  if (node == self->state.cfg.name)
    return on_fanout(self, spec);
  auto rp = self->make_response_promise<std::string>();
  send_remote(self, node,
              caf::make_message(cluster_atom::value, std::string{"fanout"}, spec),
              to_promise(rp), std::chrono::seconds(3600));
  return rp;
}

// Where the seed's directory (not a cache) places a store: what a node
// asks before it serves a copy with a move marker (actors/internal/move.hpp).
text_result on_whereis(cluster_actor* self, const std::string& address) {
  auto rp = self->make_response_promise<std::string>();
  if (self->state.seed)
    locate(self, address, deliver_where(self, rp, address));
  else
    ask_seed_where(self, rp, address);
  return rp;
}

// A store move asked through any node (the admin page): the store's
// node runs it (its mover reports no progress; the answer is its).
text_result on_move(cluster_actor* self, const std::string& address,
                    const std::string& to, bool here) {
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
           command_remote(self, node, "move",
                          json{{"address", address}, {"to", to}, {"here", true}},
                          to_promise(rp), std::chrono::hours(1));
         });
  return rp;
}

// From this node's receiver of a move: the store lives here now.
text_result on_moved_here(cluster_actor* self, const std::string& address) {
  auto& st = self->state;
  if (!address.empty() && !st.seed)
    st.directory[address] = st.cfg.name;
  return std::string{"{}"};
}

// Ends the sessions of an account on this node and, with `spread`, on
// every other member: a disabled account or a new password ends every
// session in the cluster, not only those of the node that did it.
text_result on_revoke(cluster_actor* self, const std::string& address,
                      bool spread) {
  auto& st = self->state;
  if (address.empty())
    return make_error(error_code::invalid_query,
                      "cluster revoke takes {\"address\":string}");
  std::size_t here = st.cfg.end_sessions ? st.cfg.end_sessions(address) : 0;
  auto out = std::make_shared<json>(
    json{{"ended", here}, {"unreached", json::array()}});
  if (!spread)
    return out->dump();
  std::vector<std::string> others;
  for (auto& [name, m] : st.members)
    if (name != st.cfg.name)
      others.push_back(name);
  if (others.empty())
    return out->dump();
  auto rp = self->make_response_promise<std::string>();
  spread_revoke(self, rp, address, out, others);
  return rp;
}

caf::behavior command_handlers(cluster_actor* self) {
  using s = const std::string&;
  cluster_commands::behavior_type typed{
    [self](cping_atom) { return on_ping(self); },
    [self](cstatus_atom) { return on_status(self); },
    [self](locate_atom, s address) { return on_locate(self, address); },
    [self](fanpart_atom, s spec) { return on_fanout(self, spec); },
    [self](fanat_atom, s node, s spec) {
      return on_fanout_at(self, node, spec);
    },
    [self](whereis_atom, s address) { return on_whereis(self, address); },
    [self](cmove_atom, s address, s to, bool here) {
      return on_move(self, address, to, here);
    },
    [self](movedhere_atom, s address) { return on_moved_here(self, address); },
    [self](mvcommit_atom, s address, s from, s to) {
      return on_move_commit(self, address, from, to);
    },
    [self](replset_atom, s address, s primary, s replica) {
      return on_replica_set(self, address, primary, replica);
    },
    [self](repldrop_atom, s address, s primary) {
      return on_replica_drop(self, address, primary);
    },
    [self](promote_atom, s address, bool force) {
      return on_promote(self, address, force);
    },
    [self](failover_atom, s node) { return on_failover(self, node); },
    [self](revoke_atom, s address, bool spread) {
      return on_revoke(self, address, spread);
    },
    [self](adduser_atom, s username, s password, bool artificial, s role,
           s node) {
      return on_add_user(self,
                         new_account{username, password, artificial, role, node});
    },
    [self](join_atom, s name, s host, std::uint16_t port,
           const std::vector<std::string>& stores) {
      return on_join(self, name, host, port, stores);
    },
    [self](beat_atom, s name, s host, std::uint16_t port) {
      return on_beat(self, name, host, port);
    },
  };
  return typed.unbox();
}

} // namespace mantissa::actors::internal::cluster_detail
