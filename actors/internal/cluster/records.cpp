// What the seed keeps in its site store: the members, the directory's
// placements and the replicas, with the system handlers that read and
// write them (docs/cluster.md).

#include "actors/internal/cluster.hpp"
#include "actors/internal/cluster/state.hpp"

#include "store/typed.hpp"

namespace mantissa::actors::internal {

namespace {

using cluster_detail::max_node_name;
using json = nlohmann::json;
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

} // namespace

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

} // namespace mantissa::actors::internal
