#include "actors/messaging.hpp"

#include "actors/accounts.hpp"
#include "actors/scheduler.hpp"
#include "store/messaging.hpp"

namespace mantissa::actors {

namespace {

using store::result;

/// Store addresses as the manager resolves them: "site", an account
/// address, or an offering name.
result<std::string> checked_target(const std::string& target) {
  if (target == "site")
    return target;
  auto addr = parse_address(target);
  if (!addr)
    return store::error{store::errc::invalid_name,
                        "no store address: " + addr.error_value().message};
  return to_string(*addr);
}

std::string text_arg(const nlohmann::json& args, const char* name) {
  if (!args.is_object() || !args.contains(name) || !args[name].is_string())
    return {};
  return args[name].get<std::string>();
}

} // namespace

result<std::int64_t> send_message(store::store& s, const std::string& target,
                                  const std::string& share_id,
                                  const std::string& type,
                                  const nlohmann::json& payload) {
  auto t = checked_target(target);
  if (!t)
    return std::move(t).error_value();
  return store::queue_message(
    s, *t, share_id, type,
    payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
    now_timestamp());
}

result<void> register_message_handlers(handler_registry& handlers) {
  MANTISSA_TRY(handlers.add(
    "mantissa.send",
    [](store::store& s, const nlohmann::json& args,
       const caller&) -> result<nlohmann::json> {
      auto target = text_arg(args, "target");
      auto type = text_arg(args, "type");
      if (target.empty() || type.empty())
        return store::error{store::errc::invalid_value,
                            "mantissa.send needs {\"target\", \"type\", "
                            "\"payload\"} (and \"share\")"};
      auto payload = args.contains("payload") ? args["payload"]
                                              : nlohmann::json::object();
      auto id = send_message(s, target, text_arg(args, "share"), type,
                             payload);
      if (!id)
        return std::move(id).error_value();
      return nlohmann::json{{"id", *id}};
    }));
  MANTISSA_TRY(handlers.add(
    "mantissa.outbox",
    [](store::store& s, const nlohmann::json& args,
       const caller&) -> result<nlohmann::json> {
      std::size_t limit = 100;
      if (args.is_object() && args.contains("limit")
          && args["limit"].is_number_unsigned())
        limit = args["limit"].get<std::size_t>();
      auto out = nlohmann::json::array();
      auto st = s.connection().query(
        "SELECT seq, target, share_id, type, answer IS NOT NULL FROM "
        "mantissa_outbox ORDER BY seq LIMIT ?",
        static_cast<std::int64_t>(std::min<std::size_t>(limit, 100000)));
      if (!st)
        return std::move(st).error_value();
      for (;;) {
        auto row = (*st)->step();
        if (!row)
          return std::move(row).error_value();
        if (!*row)
          break;
        out.push_back({{"id", (*st)->column_int64(0)},
                       {"target", std::string{(*st)->column_text(1)}},
                       {"share", std::string{(*st)->column_text(2)}},
                       {"type", std::string{(*st)->column_text(3)}},
                       {"answered", (*st)->column_int64(4) != 0}});
      }
      return nlohmann::json{{"messages", std::move(out)}};
    }));
  return {};
}

} // namespace mantissa::actors
