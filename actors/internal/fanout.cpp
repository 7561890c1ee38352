#include "actors/internal/fanout.hpp"

#include <algorithm>
#include <set>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <system_error>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "wire/errors.hpp"
#include "actors/fanout.hpp"
#include "actors/internal/atoms.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// A store that does not answer in this time counts as failed.
constexpr auto store_timeout = std::chrono::seconds(60);
/// The longest a node's part may take.
constexpr auto part_timeout = std::chrono::seconds(3600);
constexpr auto progress_every = std::chrono::milliseconds(250);

/// Whether a progress report to `watcher` is due (at most every
/// `progress_every`, or `force`d); if so, `last` becomes now.
bool report_due(const caf::actor& watcher, steady::time_point& last,
                bool force) {
  auto now = steady::now();
  if (!watcher || (!force && now - last < progress_every))
    return false;
  last = now;
  return true;
}

caf::message store_message(const fanout_spec& spec) {
  caller who{system_role, "fanout"};
  switch (spec.op) {
    case fanout_op::count:
      return caf::make_message(count_atom::value, who, spec.type, spec.where);
    case fanout_op::query:
      return caf::make_message(query_atom::value, who, spec.query);
    case fanout_op::run:
      return caf::make_message(run_atom::value, who, spec.handler, spec.args);
  }
  return {};
}

// -- a node's part ------------------------------------------------------------

struct local_state {
  static inline const char* name = "mantissa.fanout_part";
  caf::actor bridge;
  std::filesystem::path data_dir;
  std::unique_ptr<fanout_collator> collator;
  caf::message msg;
  std::vector<std::string> stores;
  std::size_t next = 0;
  std::size_t done = 0;
  caf::actor watcher;
  steady::time_point last_progress{};
  caf::typed_response_promise<std::string> rp;
};

using local_actor = caf::stateful_actor<local_state>;

void report(local_actor* self, bool force) {
  auto& st = self->state;
  if (!report_due(st.watcher, st.last_progress, force))
    return;
  self->send(st.watcher, progress_atom::value,
             static_cast<std::uint64_t>(st.done),
             static_cast<std::uint64_t>(st.stores.size()));
}

void finish_part(local_actor* self) {
  auto& st = self->state;
  report(self, true);
  st.rp.deliver(st.collator->partial());
  self->quit();
}

void launch(local_actor* self) {
  auto& st = self->state;
  if (st.next >= st.stores.size())
    return;
  auto address = st.stores[st.next++];
  self->request(st.bridge, store_timeout, route_atom::value, address, st.msg)
    .then(
      [self, address](const std::string& body) {
        auto& s = self->state;
        s.collator->add_reply(address, body);
        if (++s.done == s.stores.size())
          return finish_part(self);
        report(self, false);
        launch(self);
      },
      [self, address](const caf::error& err) {
        auto& s = self->state;
        s.collator->add_failure(address, to_string(code_of(err)),
                                error_message(err));
        if (++s.done == s.stores.size())
          return finish_part(self);
        report(self, false);
        launch(self);
      });
}

caf::behavior local_part(local_actor* self, caf::actor bridge,
                         std::filesystem::path data_dir) {
  self->state.bridge = std::move(bridge);
  self->state.data_dir = std::move(data_dir);
  return {
    [self](fanout_atom, const std::string& text,
           caf::actor& watcher) -> caf::result<std::string> {
      auto spec = parse_fanout_spec(text);
      if (!spec)
        return make_error(spec.error_value());
      auto& st = self->state;
      st.collator = std::make_unique<fanout_collator>(*spec);
      st.msg = store_message(*spec);
      st.watcher = std::move(watcher);
      for (auto& a : list_user_stores(st.data_dir))
        if (fanout_selects(*spec, a))
          st.stores.push_back(std::move(a));
      st.rp = self->make_response_promise<std::string>();
      auto rp = st.rp;
      if (st.stores.empty()) {
        finish_part(self);
        return rp;
      }
      report(self, true);
      for (std::size_t i = 0; i < spec->concurrency; ++i)
        launch(self);
      return rp;
    },
  };
}

// -- the coordinator ------------------------------------------------------------

struct node_progress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

struct coordinator_state {
  static inline const char* name = "mantissa.fanout";
  fanout_env env;
  std::string spec_text;
  std::unique_ptr<fanout_collator> collator;
  caf::actor watcher;
  std::size_t pending = 0;
  steady::time_point started{};
  steady::time_point last_progress{};
  /// By node name ("" outside a cluster).
  std::map<std::string, node_progress> progress;
  json nodes = json::array();
  std::string local; ///< this node's name ("" outside a cluster)
  caf::typed_response_promise<std::string> rp;
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

void report(coordinator_actor* self, bool force) {
  auto& st = self->state;
  if (!report_due(st.watcher, st.last_progress, force))
    return;
  std::uint64_t done = 0, total = 0;
  for (auto& [name, p] : st.progress) {
    done += p.done;
    total += std::max(p.total, p.done);
  }
  self->send(st.watcher, progress_atom::value, done, total);
}

void part_done(coordinator_actor* self) {
  auto& st = self->state;
  if (--st.pending > 0) {
    report(self, false);
    return;
  }
  report(self, true);
  auto out = json::parse(st.collator->result());
  out["elapsed_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                        steady::now() - st.started)
                        .count();
  if (!st.nodes.empty())
    out["nodes"] = st.nodes;
  st.rp.deliver(out.dump());
  self->quit();
}

/// Records a node's partial result (or its failure as a whole).
void take_part(coordinator_actor* self, const std::string& node,
               steady::time_point t0, const std::string& partial) {
  auto& st = self->state;
  auto before = st.collator->stores();
  if (auto r = st.collator->add_partial(partial); !r)
    st.collator->add_node_failure(node, st.progress[node].total, "internal",
                                  r.error_value().message);
  auto stores = st.collator->stores() - before;
  st.progress[node] = {stores, stores};
  if (!node.empty())
    st.nodes.push_back(
      {{"name", node},
       {"stores", stores},
       {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                steady::now() - t0)
                .count()}});
  part_done(self);
}

void fail_part(coordinator_actor* self, const std::string& node,
               const caf::error& err) {
  auto& st = self->state;
  auto total = st.progress[node].total;
  st.collator->add_node_failure(node, total, to_string(code_of(err)),
                                error_message(err));
  st.progress[node].done = total;
  st.nodes.push_back({{"name", node}, {"stores", total},
                      {"error", error_message(err)}});
  part_done(self);
}

void run_local(coordinator_actor* self, const std::string& node) {
  auto& st = self->state;
  st.local = node;
  auto part = spawn_local_fanout(self->system(), st.env.bridge, st.env.data_dir);
  auto t0 = steady::now();
  // The part is linked: stopping the coordinator stops it.
  self->link_to(part);
  self->request(part, part_timeout, fanout_atom::value, st.spec_text,
                caf::actor_cast<caf::actor>(self))
    .then(
      [self, node, t0](const std::string& partial) {
        take_part(self, node, t0, partial);
      },
      [self, node](const caf::error& err) { fail_part(self, node, err); });
}

void run_remote(coordinator_actor* self, const std::string& node) {
  auto& st = self->state;
  auto t0 = steady::now();
  self
    ->request(st.env.cluster, part_timeout, cluster_atom::value,
              std::string{"fanout_at"},
              json{{"node", node}, {"spec", json::parse(st.spec_text)}}.dump())
    .then(
      [self, node, t0](const std::string& partial) {
        take_part(self, node, t0, partial);
      },
      [self, node](const caf::error& err) { fail_part(self, node, err); });
}

caf::behavior coordinator(coordinator_actor* self, fanout_env env) {
  self->state.env = std::move(env);
  return {
    [self](fanout_atom, const std::string& text,
           caf::actor& watcher) -> caf::result<std::string> {
      auto spec = parse_fanout_spec(text);
      if (!spec)
        return make_error(spec.error_value());
      auto& st = self->state;
      st.spec_text = spec->to_json();
      st.collator = std::make_unique<fanout_collator>(*spec);
      st.watcher = std::move(watcher);
      if (st.watcher) {
        // The one who asked went away: stop (the local part with us; the
        // parts of other nodes finish on their own, answering no one).
        self->monitor(st.watcher);
        self->set_down_handler([self](const caf::down_msg&) {
          self->quit(caf::exit_reason::user_shutdown);
        });
      }
      st.started = steady::now();
      st.rp = self->make_response_promise<std::string>();
      auto rp = st.rp;
      if (!st.env.cluster) {
        st.pending = 1;
        st.progress[""] = {};
        run_local(self, "");
        return rp;
      }
      self
        ->request(st.env.cluster, std::chrono::seconds(10), cluster_atom::value,
                  std::string{"status"}, std::string{"{}"})
        .then(
          [self](const std::string& answer) {
            auto& s = self->state;
            auto status = json::parse(answer, nullptr, false);
            auto me = status.value("name", std::string{});
            std::vector<std::pair<std::string, bool>> members;
            if (status.contains("nodes") && status["nodes"].is_array())
              for (auto& n : status["nodes"]) {
                auto name = n.value("name", std::string{});
                s.progress[name].total = n.value("stores", std::uint64_t{0});
                members.emplace_back(name, n.value("state", "") == "up");
              }
            if (members.empty())
              members.emplace_back(me, true);
            s.pending = members.size();
            for (auto& [name, up] : members) {
              if (name == me)
                run_local(self, name);
              else if (!up)
                fail_part(self,
                          name,
                          make_error(error_code::store_unavailable,
                                     "node " + name + " is down"));
              else
                run_remote(self, name);
            }
          },
          [self](const caf::error& err) {
            self->state.rp.deliver(err);
            self->quit();
          });
      return rp;
    },
    [self](progress_atom, std::uint64_t done, std::uint64_t total) {
      // From the local part, the only one that reports as it goes.
      auto& p = self->state.progress[self->state.local];
      p.done = done;
      p.total = total;
      report(self, false);
    },
  };
}

} // namespace

std::vector<std::string> list_user_stores(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  auto users = dir / "users";
  if (!std::filesystem::is_directory(users, ec))
    return out;
  for (auto& domain : std::filesystem::directory_iterator(users, ec)) {
    if (!domain.is_directory(ec))
      continue;
    // A copy that arrived by a move not yet confirmed (`.moving-in`) is
    // not this node's store (actors/internal/move.hpp).
    std::set<std::string> incoming;
    std::vector<std::string> found;
    for (auto& f : std::filesystem::directory_iterator(domain.path(), ec)) {
      auto ext = f.path().extension();
      if (ext == ".moving-in") {
        incoming.insert(f.path().stem().stem().string());
        continue;
      }
      if (ext == ".sqlite")
        found.push_back(f.path().stem().string());
    }
    for (auto& local : found) {
      if (incoming.count(local) != 0)
        continue;
      auto addr = local + "@" + domain.path().filename().string();
      if (parse_address(addr))
        out.push_back(std::move(addr));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

caf::actor spawn_fanout(caf::actor_system& sys, const fanout_env& env) {
  return sys.spawn(coordinator, env);
}

caf::actor spawn_local_fanout(caf::actor_system& sys, caf::actor bridge,
                              std::filesystem::path data_dir) {
  return sys.spawn(local_part, std::move(bridge), std::move(data_dir));
}

} // namespace mantissa::actors::internal
