#include "actors/port/door_state.hpp"

#include <utility>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "actors/port/door_conn.hpp"

namespace mantissa::actors::port {

target_kind door_state::classify(std::uint64_t id) const {
  {
    std::shared_lock<std::shared_mutex> guard{edge_mtx};
    if (edges.count(id) > 0)
      return target_kind::edge;
  }
  return sys->registry().get(id) ? target_kind::internal : target_kind::none;
}

bool door_state::admit(const std::string& addr) {
  std::lock_guard<std::mutex> guard{mtx};
  if (closing)
    return false;
  if (pending.size() >= opts.max_pending) {
    ++counters.refused_total;
    return false;
  }
  if (pending_by_addr[addr] >= opts.max_pending_per_address
      || all_by_addr[addr] >= opts.max_per_address) {
    ++counters.refused_address;
    return false;
  }
  ++pending_by_addr[addr];
  ++all_by_addr[addr];
  ++counters.accepted;
  return true;
}

void door_state::add_pending(std::uint64_t id, door_conn_ptr c) {
  std::lock_guard<std::mutex> guard{mtx};
  pending.emplace(id, std::move(c));
}

void door_state::logged_in(std::uint64_t id, const std::string& addr,
                           const caf::actor& session) {
  std::lock_guard<std::mutex> guard{mtx};
  ++counters.login_ok;
  if (auto i = pending_by_addr.find(addr); i != pending_by_addr.end()
                                           && i->second > 0)
    --i->second;
  sessions_of_conn[id].push_back(session.address());
  // The connection stays referenced by its broker from now on; the
  // release is posted so that it never happens inside its own call.
  if (auto i = pending.find(id); i != pending.end()) {
    auto p = std::move(i->second);
    pending.erase(i);
    release(std::move(p));
  }
}

bool door_state::claim(std::uint64_t id, const std::string& node) {
  std::lock_guard<std::mutex> guard{mtx};
  auto [i, fresh] = conn_of_node.emplace(node, id);
  if (!fresh && i->second != id)
    return false;
  adopt_sessions(id, node);
  return true;
}

void door_state::dead_end(std::uint64_t id, const std::string& node,
                          door_conn_ptr conn) {
  std::lock_guard<std::mutex> guard{mtx};
  if (conn_of_node.count(node) > 0)
    adopt_sessions(id, node);
  dead_ends.emplace(id, std::move(conn));
}

void door_state::adopt_sessions(std::uint64_t id, const std::string& node) {
  auto i = sessions_of_conn.find(id);
  if (i == sessions_of_conn.end())
    return;
  auto& dst = sessions_of_node[node];
  // Drop sessions that ended meanwhile (logouts) so the list stays small.
  std::vector<caf::actor_addr> live;
  for (auto& a : dst)
    if (caf::actor_cast<caf::actor>(a))
      live.push_back(a);
  dst.swap(live);
  dst.insert(dst.end(), i->second.begin(), i->second.end());
  sessions_of_conn.erase(i);
}

void door_state::closed(std::uint64_t id, const std::string& addr,
                        const std::string& node, bool was_pending) {
  std::vector<caf::actor_addr> ending;
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (was_pending) {
      if (auto i = pending_by_addr.find(addr);
          i != pending_by_addr.end() && i->second > 0)
        --i->second;
    }
    if (auto i = all_by_addr.find(addr); i != all_by_addr.end()) {
      if (i->second > 0)
        --i->second;
      if (i->second == 0)
        all_by_addr.erase(i);
    }
    if (auto i = pending_by_addr.find(addr);
        i != pending_by_addr.end() && i->second == 0)
      pending_by_addr.erase(i);
    if (auto i = sessions_of_conn.find(id); i != sessions_of_conn.end()) {
      ending = std::move(i->second);
      sessions_of_conn.erase(i);
    }
    if (!node.empty()) {
      auto i = conn_of_node.find(node);
      if (i != conn_of_node.end() && i->second == id) {
        conn_of_node.erase(i);
        if (auto j = sessions_of_node.find(node);
            j != sessions_of_node.end()) {
          ending.insert(ending.end(), j->second.begin(), j->second.end());
          sessions_of_node.erase(j);
        }
      }
    }
    for (auto* m : {&pending, &dead_ends}) {
      if (auto i = m->find(id); i != m->end()) {
        auto p = std::move(i->second);
        m->erase(i);
        release(std::move(p));
      }
    }
  }
  for (auto& a : ending)
    if (auto s = caf::actor_cast<caf::actor>(a))
      caf::anon_send(s, connection_gone{});
}

void door_state::release(door_conn_ptr p) {
  mpx().post([p = std::move(p)]() mutable { p.reset(); });
}

void door_state::sweep() {
  auto now = steady::now();
  std::vector<door_conn_ptr> late;
  {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto* m : {&pending, &dead_ends})
      for (auto& [id, c] : *m)
        if (c->expired(now))
          late.push_back(c);
  }
  for (auto& c : late) {
    count(&door_stats::login_timeouts);
    c->kill("deadline");
  }
}

door_stats door_state::snapshot() const {
  std::lock_guard<std::mutex> guard{mtx};
  auto out = counters;
  out.pending = pending.size();
  std::uint64_t all = 0;
  for (auto& [addr, n] : all_by_addr)
    all += n;
  out.open = all >= out.pending ? all - out.pending : 0;
  return out;
}

caf::io::network::default_multiplexer& door_state::mpx() {
  return static_cast<caf::io::network::default_multiplexer&>(
    sys->middleman().backend());
}

} // namespace mantissa::actors::port
