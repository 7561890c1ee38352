// The cluster actor's links to other nodes: one session at each peer's
// door, the requests in flight there, and the site store of this node.

#include "actors/internal/cluster/state.hpp"

#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "wire/errors.hpp"
#include "actors/internal/peer_link.hpp"
#include "wire/port/connector.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"

namespace mantissa::actors::internal::cluster_detail {

namespace {

bool ours(const caf::error& err) {
  return err.category() == caf::atom("mantissa");
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

/// `send_remote` while `node` has no session: fails at once when it cannot
/// have one, else waits for the connection (made now if none is under way).
void send_when_connected(cluster_actor* self, const std::string& node,
                         peer& p, caf::message msg, completion done,
                         std::optional<std::chrono::milliseconds> timeout) {
  auto& st = self->state;
  const auto key = peer_key(st, node);
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
}

} // namespace

caf::timespan span(std::chrono::milliseconds ms) {
  return caf::timespan{ms};
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

completion on_reply(std::function<void(reply)> k) {
  return completion{std::make_shared<reply_handler>(std::move(k))};
}

void deliver(string_promise& rp, reply r) {
  if (r.ok)
    rp.deliver(std::move(r.body));
  else
    rp.deliver(make_error(r.code, std::move(r.message)));
}

const std::string& peer_name(cluster_actor* self, const std::string& key) {
  return key.empty() ? self->state.seed_name : key;
}

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

void send_remote(cluster_actor* self, const std::string& node, caf::message msg,
                 completion done,
                 std::optional<std::chrono::milliseconds> timeout) {
  auto& st = self->state;
  auto& p = peer_of(self, node);
  const auto key = peer_key(st, node);
  if (!p.session) {
    send_when_connected(self, node, p, std::move(msg), std::move(done),
                        timeout);
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

void command_remote(cluster_actor* self, const std::string& node,
                    const std::string& cmd, const json& args, completion done,
                    std::optional<std::chrono::milliseconds> timeout) {
  send_remote(self, node,
              caf::make_message(cluster_atom::value, cmd, args.dump()),
              std::move(done), timeout);
}

void site_run(cluster_actor* self, const std::string& handler, json args,
              std::function<void(reply)> k, const std::string& role) {
  self
    ->request(self->state.bridge, span(self->state.cfg.timeout),
              route_atom::value, std::string{"site"},
              caf::make_message(run_atom::value, caller{role, "cluster"}, handler,
                                args.dump()))
    .then([k](std::string& body) { k(reply{true, std::move(body), {}, {}}); },
          [k](caf::error& err) { k(to_reply(err)); });
}

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

} // namespace mantissa::actors::internal::cluster_detail
