#include "actors/messaging.hpp"

#include <algorithm>

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
  MANTISSA_TRY(handlers.add_requesting(
    "mantissa.ask",
    [](store::store&, const nlohmann::json& args,
       const caller&) -> result<handler_step> {
      auto target = text_arg(args, "target");
      auto type = text_arg(args, "type");
      if (target.empty() || type.empty())
        return store::error{store::errc::invalid_value,
                            "mantissa.ask needs {\"target\", \"type\", "
                            "\"payload\"} (and \"share\")"};
      auto t = checked_target(target);
      if (!t)
        return std::move(t).error_value();
      plain_request req{*t, text_arg(args, "share"), type,
                        args.contains("payload") ? args["payload"]
                                                 : nlohmann::json::object()};
      return handler_step::ask(
        std::move(req),
        [](store::store&, const message_answer& a) -> result<handler_step> {
          if (a.ok)
            return handler_step::reply(nlohmann::json{{"value", a.value}});
          return handler_step::reply(nlohmann::json{
            {"error", {{"code", a.code}, {"message", a.message}}}});
        });
    }));
  MANTISSA_TRY(handlers.add(
    "mantissa.outbox",
    [](store::store& s, const nlohmann::json& args,
       const caller&) -> result<nlohmann::json> {
      std::size_t limit = 100;
      if (args.is_object() && args.contains("limit")
          && args["limit"].is_number_unsigned())
        limit = args["limit"].get<std::size_t>();
      auto rows = store::outbox(s, std::min<std::size_t>(limit, 100000));
      if (!rows)
        return std::move(rows).error_value();
      auto out = nlohmann::json::array();
      for (auto& m : *rows)
        out.push_back({{"id", m.seq},
                       {"target", m.target},
                       {"share", m.share_id},
                       {"type", m.type},
                       {"answered", m.answer.has_value()}});
      return nlohmann::json{{"messages", std::move(out)}};
    }));
  return {};
}

} // namespace mantissa::actors
