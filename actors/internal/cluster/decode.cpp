// The cluster commands as the network sends them, `(cluster_atom,
// command, json)` (wire/protocol.hpp): the JSON object decoded into the
// arguments of the command's handler.

#include "actors/internal/cluster/state.hpp"

#include <unordered_map>

#include "wire/errors.hpp"

namespace mantissa::actors::internal::cluster_detail {

namespace {

/// Decodes the arguments of one command (`args`: an object; `text`: as it
/// came) and runs its handler.
using decoder = text_result (*)(cluster_actor*, const json& args,
                                const std::string& text);

std::string str(const json& args, const char* key) {
  return args.value(key, std::string{});
}

/// The stores a joining node holds: the strings of its "stores" array.
std::vector<std::string> stores_of(const json& args) {
  std::vector<std::string> out;
  if (args.contains("stores") && args["stores"].is_array())
    for (auto& s : args["stores"])
      if (s.is_string())
        out.push_back(s.get<std::string>());
  return out;
}

text_result fanout_at(cluster_actor* self, const json& args,
                      const std::string&) {
  auto node = str(args, "node");
  if (node.empty() || !args.contains("spec") || !args["spec"].is_object())
    return make_error(error_code::invalid_query,
                      "cluster fanout_at: node and spec are needed");
  return on_fanout_at(self, node, args["spec"].dump());
}

text_result add_user(cluster_actor* self, const json& args,
                     const std::string&) {
  return on_add_user(self, new_account{str(args, "username"),
                                       str(args, "password"),
                                       args.value("artificial", false),
                                       args.value("role",
                                                  std::string{system_role}),
                                       str(args, "node")});
}

const std::unordered_map<std::string, decoder>& decoders() {
  using j = const json&;
  using t = const std::string&;
  static const std::unordered_map<std::string, decoder> table{
    {"ping", [](cluster_actor* self, j, t) { return on_ping(self); }},
    {"status", [](cluster_actor* self, j, t) { return on_status(self); }},
    {"locate",
     [](cluster_actor* self, j a, t) {
       return on_locate(self, str(a, "address"));
     }},
    {"fanout",
     [](cluster_actor* self, j, t text) { return on_fanout(self, text); }},
    {"fanout_at", fanout_at},
    {"whereis",
     [](cluster_actor* self, j a, t) {
       return on_whereis(self, str(a, "address"));
     }},
    {"move",
     [](cluster_actor* self, j a, t) {
       return on_move(self, str(a, "address"), str(a, "to"),
                      a.value("here", false));
     }},
    {"moved_here",
     [](cluster_actor* self, j a, t) {
       return on_moved_here(self, str(a, "address"));
     }},
    {"move_commit",
     [](cluster_actor* self, j a, t) {
       return on_move_commit(self, str(a, "address"), str(a, "from"),
                             str(a, "to"));
     }},
    {"replica_set",
     [](cluster_actor* self, j a, t) {
       return on_replica_set(self, str(a, "address"), str(a, "primary"),
                             str(a, "replica"));
     }},
    {"replica_drop",
     [](cluster_actor* self, j a, t) {
       return on_replica_drop(self, str(a, "address"), str(a, "primary"));
     }},
    {"promote",
     [](cluster_actor* self, j a, t) {
       return on_promote(self, str(a, "address"), a.value("force", false));
     }},
    {"failover",
     [](cluster_actor* self, j a, t) {
       return on_failover(self, str(a, "node"));
     }},
    {"revoke",
     [](cluster_actor* self, j a, t) {
       return on_revoke(self, str(a, "address"), a.value("spread", false));
     }},
    {"add_user", add_user},
    {"join",
     [](cluster_actor* self, j a, t) {
       return on_join(self, str(a, "name"), str(a, "host"),
                      a.value("port", std::uint16_t{0}), stores_of(a));
     }},
    {"beat",
     [](cluster_actor* self, j a, t) {
       return on_beat(self, str(a, "name"), str(a, "host"),
                      a.value("port", std::uint16_t{0}));
     }},
  };
  return table;
}

} // namespace

text_result decode_command(cluster_actor* self, const std::string& cmd,
                           const std::string& text) {
  auto args = json::parse(text, nullptr, false);
  if (!args.is_object())
    return make_error(error_code::invalid_query,
                      "cluster " + cmd + ": the argument must be a JSON object");
  auto& table = decoders();
  if (auto i = table.find(cmd); i != table.end())
    return i->second(self, args, text);
  if (!self->state.seed)
    return make_error(error_code::forbidden,
                      "cluster " + cmd + ": only the seed answers this");
  return make_error(error_code::invalid_query, "unknown cluster command " + cmd);
}

} // namespace mantissa::actors::internal::cluster_detail
