#include "actors/scheduler.hpp"

#include <chrono>
#include <exception>
#include <string>

namespace mantissa::actors {

namespace {

using store::errc;
using store::error;
using store::result;

/// The outcome of one run: when to run again (nullopt: done), or the error.
result<std::optional<store::timestamp>> run_one(store::store& s,
                                                const runnable_type* r,
                                                const store::scheduled_event& e,
                                                store::timestamp now) {
  if (r == nullptr)
    return error{errc::no_such_type,
                 "no runnable is registered for items of type '" + e.item.type
                   + "'"};
  try {
    return s.isolated([&] { return r->run(s, e.item, now); });
  } catch (const std::exception& ex) {
    return error{errc::internal, std::string{"the run threw: "} + ex.what()};
  } catch (...) {
    return error{errc::internal, "the run threw an unknown exception"};
  }
}

/// What the type's error handler says (in its own savepoint); nullopt when
/// there is none or it fails.
std::optional<store::timestamp> on_error(store::store& s,
                                         const runnable_type* r,
                                         const store::scheduled_event& e,
                                         const error& err) {
  if (r == nullptr || !r->on_error)
    return std::nullopt;
  std::optional<store::timestamp> again;
  auto handled = [&]() -> result<bool> {
    try {
      return s.isolated([&]() -> result<bool> {
        again = r->on_error(s, e.item, err);
        return true;
      });
    } catch (const std::exception&) {
      return error{errc::internal, "the error handler threw"};
    } catch (...) {
      return error{errc::internal, "the error handler threw"};
    }
  }();
  if (!handled)
    return std::nullopt;
  return again;
}

// -- handler arguments --------------------------------------------------------

result<std::string> text_arg(const nlohmann::json& args, const char* name) {
  if (!args.is_object() || !args.contains(name) || !args[name].is_string())
    return error{errc::invalid_value,
                 std::string{"expected a string \""} + name + "\""};
  return args[name].get<std::string>();
}

result<std::int64_t> int_arg(const nlohmann::json& args, const char* name) {
  if (!args.is_object() || !args.contains(name)
      || !args[name].is_number_integer())
    return error{errc::invalid_value,
                 std::string{"expected an integer \""} + name + "\""};
  return args[name].get<std::int64_t>();
}

std::size_t limit_arg(const nlohmann::json& args, std::size_t fallback) {
  if (args.is_object() && args.contains("limit")
      && args["limit"].is_number_unsigned())
    return std::min<std::size_t>(args["limit"].get<std::size_t>(), 10'000);
  return fallback;
}

result<store::item_ref> item_arg(const nlohmann::json& args) {
  auto type = text_arg(args, "type");
  if (!type)
    return std::move(type).error_value();
  auto id = int_arg(args, "id");
  if (!id)
    return std::move(id).error_value();
  return store::item_ref{std::move(*type), *id};
}

nlohmann::json to_json(const store::scheduled_event& e) {
  return {{"event", e.id},
          {"type", e.item.type},
          {"id", e.item.id},
          {"at", e.due.micros}};
}

result<nlohmann::json>
schedule_handler(store::store& s, const nlohmann::json& args, bool replace) {
  auto item = item_arg(args);
  if (!item)
    return std::move(item).error_value();
  auto at = int_arg(args, "at");
  if (!at)
    return std::move(at).error_value();
  auto e = replace ? store::reschedule(s, *item, {*at})
                   : store::schedule(s, *item, {*at});
  if (!e)
    return std::move(e).error_value();
  return to_json(*e);
}

} // namespace

store::timestamp now_timestamp() {
  using namespace std::chrono;
  return {duration_cast<microseconds>(system_clock::now().time_since_epoch())
            .count()};
}

result<run_report> run_due_events(store::store& s,
                                  const handler_registry& handlers,
                                  store::timestamp now,
                                  std::size_t max_events) {
  if (!s.in_transaction())
    return error{errc::internal, "run_due_events needs a transaction"};
  run_report report;
  for (std::size_t i = 0; i < max_events; ++i) {
    auto next = store::first_due(s, now);
    if (!next)
      return std::move(next).error_value();
    if (!*next)
      return report;
    auto& e = **next;
    auto* r = handlers.find_runnable(e.item.type);
    auto out = run_one(s, r, e, now);
    std::optional<store::timestamp> again;
    if (out) {
      ++report.ran;
      again = *out;
    } else {
      ++report.failed;
      MANTISSA_TRY(store::record_failure(s, e, now, out.error_value().message));
      again = on_error(s, r, e, out.error_value());
    }
    // The run may have unscheduled or deleted its own item: then its
    // event is gone already and removing it again is harmless.
    if (again)
      MANTISSA_TRY(store::move_event(s, e.id, *again));
    else
      MANTISSA_TRY(store::remove_event(s, e.id));
  }
  auto rest = store::first_due(s, now);
  if (!rest)
    return std::move(rest).error_value();
  report.more_due = rest->has_value();
  return report;
}

result<void> register_scheduler_handlers(handler_registry& handlers) {
  MANTISSA_TRY(handlers.add(
    "mantissa.schedule",
    [](store::store& s, const nlohmann::json& args, const caller&) {
      return schedule_handler(s, args, false);
    }));
  MANTISSA_TRY(handlers.add(
    "mantissa.reschedule",
    [](store::store& s, const nlohmann::json& args, const caller&) {
      return schedule_handler(s, args, true);
    }));
  MANTISSA_TRY(handlers.add("mantissa.unschedule",
                            [](store::store& s, const nlohmann::json& args,
                               const caller&) -> result<nlohmann::json> {
                              auto item = item_arg(args);
                              if (!item)
                                return std::move(item).error_value();
                              auto n = store::unschedule(s, *item);
                              if (!n)
                                return std::move(n).error_value();
                              return nlohmann::json{{"removed", *n}};
                            }));
  MANTISSA_TRY(handlers.add(
    "mantissa.scheduled",
    [](store::store& s, const nlohmann::json& args,
       const caller&) -> result<nlohmann::json> {
      auto out = nlohmann::json::array();
      if (args.is_object() && args.contains("type")) {
        auto item = item_arg(args);
        if (!item)
          return std::move(item).error_value();
        auto times = store::scheduled_times(s, *item);
        if (!times)
          return std::move(times).error_value();
        for (auto& t : *times)
          out.push_back(
            {{"type", item->type}, {"id", item->id}, {"at", t.micros}});
        return nlohmann::json{{"events", std::move(out)}};
      }
      auto events = store::scheduled_events(s, limit_arg(args, 1000));
      if (!events)
        return std::move(events).error_value();
      for (auto& e : *events)
        out.push_back(to_json(e));
      return nlohmann::json{{"events", std::move(out)}};
    }));
  return handlers.add("mantissa.schedule_failures",
                      [](store::store& s, const nlohmann::json& args,
                         const caller&) -> result<nlohmann::json> {
                        auto log
                          = store::schedule_failures(s, limit_arg(args, 100));
                        if (!log)
                          return std::move(log).error_value();
                        auto out = nlohmann::json::array();
                        for (auto& f : *log)
                          out.push_back({{"type", f.item.type},
                                         {"id", f.item.id},
                                         {"due", f.due.micros},
                                         {"at", f.at.micros},
                                         {"message", f.message}});
                        return nlohmann::json{{"failures", std::move(out)}};
                      });
}

} // namespace mantissa::actors
