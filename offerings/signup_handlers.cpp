// The store handlers of signup (docs/accounts.md, "Signup"): what the HTTP
// routes and the admin page ask the site store, and the installation of a
// product into a new user's store while the node runs.

#include "offerings/signup_handlers.hpp"

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "actors/account_handlers.hpp"
#include "offerings/internal/names.hpp"
#include "offerings/signup.hpp"
#include "wire/protocol.hpp"

namespace mantissa::offerings {

namespace {

using nlohmann::json;
using store::errc;
using store::error;

json signup_json(const signup_record& s) {
  return {{"id", s.id},
          {"kind", s.kind},
          {"product", s.product},
          {"domain", s.domain},
          {"inviters", s.inviters},
          {"opened_by", s.opened_by},
          {"opened", s.opened.micros},
          {"closed", s.closed}};
}

/// The members of `args` an operation takes: each present one must be a
/// string; `required` ones must be present. Nothing else is allowed.
store::result<std::map<std::string, std::string>>
text_args(const json& args, std::string_view handler,
          std::initializer_list<const char*> required,
          std::initializer_list<const char*> optional = {}) {
  auto bad = [handler](const std::string& what) {
    return error{errc::invalid_value, std::string{handler} + ": " + what};
  };
  if (!args.is_object())
    return bad("takes an object");
  std::map<std::string, std::string> out;
  for (auto& [key, value] : args.items()) {
    bool known = false;
    for (auto* k : required)
      known = known || key == k;
    for (auto* k : optional)
      known = known || key == k;
    if (!known)
      return bad("unknown member '" + key.substr(0, 64) + "'");
    if (!value.is_string())
      return bad("'" + key + "' must be a string");
    out[key] = value.get<std::string>();
  }
  for (auto* k : required)
    if (out.count(k) == 0)
      return bad(std::string{"'"} + k + "' is missing");
  return out;
}

/// The integer member `key` of `args` (an object), or `fallback`.
store::result<std::int64_t> int_arg(const json& args, const char* key,
                                    std::optional<std::int64_t> fallback) {
  auto i = args.is_object() ? args.find(key) : args.end();
  if (i == args.end()) {
    if (fallback)
      return *fallback;
    return error{errc::invalid_value, std::string{key} + " is missing"};
  }
  if (!i->is_number_integer())
    return error{errc::invalid_value, std::string{key} + ": an integer"};
  return i->get<std::int64_t>();
}

store::result<json> open_handler(store::store& s, const json& args,
                                 const actors::caller& who) {
  MANTISSA_TRY_LET(a, text_args(args, "mantissa.open_signup",
                                {"kind", "product"}, {"domain", "inviters"}));
  signup_spec spec{(*a)["kind"], (*a)["product"], (*a)["domain"],
                   (*a)["inviters"], who.role};
  MANTISSA_TRY_LET(rec, open_signup(s, std::move(spec)));
  return signup_json(*rec);
}

store::result<json> close_handler(store::store& s, const json& args,
                                  const actors::caller&) {
  MANTISSA_TRY_LET(id, int_arg(args, "id", std::nullopt));
  MANTISSA_TRY_LET(rec, close_signup(s, *id));
  return signup_json(*rec);
}

store::result<json> list_handler(store::store& s, const json&,
                                 const actors::caller&) {
  MANTISSA_TRY_LET(all, list_signups(s));
  auto now = internal::now();
  json out = json::array();
  for (auto& rec : *all) {
    MANTISSA_TRY_LET(tickets, list_tickets(s, rec.id));
    std::int64_t used = 0;
    std::int64_t expired = 0;
    for (auto& t : *tickets) {
      used += t.used ? 1 : 0;
      expired += !t.used && now >= t.expires ? 1 : 0;
    }
    auto j = signup_json(rec);
    j["tickets"] = {{"total", tickets->size()},
                    {"used", used},
                    {"expired", expired}};
    out.push_back(std::move(j));
  }
  return json{{"signups", std::move(out)}};
}

store::result<json> status_handler(store::store& s, const json&,
                                   const actors::caller&) {
  MANTISSA_TRY_LET(st, signup_status(s));
  return json{{"open", st->open}, {"free", st->free}};
}

/// `{"signup":id, "expires_in":seconds?, "by":role?}`: `by` (whom the
/// ticket is made for) is taken from `system` only, i.e. the node acting
/// for a logged-in user; anyone else makes tickets as themselves.
store::result<json> ticket_handler(store::store& s, const json& args,
                                   const actors::caller& who) {
  MANTISSA_TRY_LET(id, int_arg(args, "signup", std::nullopt));
  MANTISSA_TRY_LET(expires_in,
                   int_arg(args, "expires_in", default_ticket_seconds));
  std::string by = who.role;
  if (who.role == actors::system_role && args.contains("by")) {
    if (!args["by"].is_string() || args["by"].get<std::string>().empty())
      return error{errc::invalid_value, "by: a role"};
    by = args["by"].get<std::string>();
  }
  auto rec = signup_item_type().get(s, *id);
  if (!rec)
    return error{errc::no_such_item, "no signup " + std::to_string(*id)};
  MANTISSA_TRY_LET(allowed, may_invite(s, *rec, by));
  if (!*allowed)
    return error{errc::forbidden, "not found"};
  MANTISSA_TRY_LET(t, create_ticket(s, *id, by, *expires_in));
  return json{{"id", t->record.id},
              {"signup", t->record.signup},
              {"ticket", t->secret},
              {"url", "/signup?ticket=" + t->secret},
              {"expires", t->record.expires.micros}};
}

/// `{"username","password","ticket"?}` -> `{"refused":code,"message"}`,
/// or `{"account": the account JSON of mantissa.add_account, "product":
/// {"name","powerups"}}` for the node to prepare the new store with.
store::result<json> sign_up_handler(store::store& s, const json& args,
                                    const actors::caller&) {
  MANTISSA_TRY_LET(a, text_args(args, "mantissa.sign_up",
                                {"username", "password"}, {"ticket"}));
  signup_request req{(*a)["username"], (*a)["password"], std::nullopt};
  if (a->count("ticket") != 0)
    req.ticket = (*a)["ticket"];
  MANTISSA_TRY_LET(out, sign_up(s, req, internal::now()));
  if (out->refused != refusal::none)
    return json{{"refused", std::string{to_string(out->refused)}},
                {"message", out->message}};
  return json{{"account", actors::account_json(out->account)},
              {"product",
               {{"name", out->product.name},
                {"powerups", out->product.powerups}}}};
}

using site_fn = store::result<json> (*)(store::store&, const json&,
                                        const actors::caller&);

} // namespace

store::result<void>
register_signup_handlers(actors::handler_registry& handlers,
                         const std::filesystem::path& data_dir) {
  auto site = actors::site_path(data_dir);
  // Run in the site store only. Running a handler is owner-only, and the
  // site store's owners are `system` and its administrators: the store
  // actor refuses everyone else before these run.
  const std::pair<const char*, site_fn> site_handlers[] = {
    {"mantissa.open_signup", open_handler},
    {"mantissa.close_signup", close_handler},
    {"mantissa.list_signups", list_handler},
    {"mantissa.signup_status", status_handler},
    {"mantissa.create_ticket", ticket_handler},
    {"mantissa.sign_up", sign_up_handler}};
  for (const auto& [handler_name, handler_fn] : site_handlers) {
    if (handlers.find(handler_name) != nullptr)
      continue;
    MANTISSA_TRY(handlers.add(handler_name,
                              actors::site_only(site, handler_name, handler_fn)));
  }
  return {};
}

} // namespace mantissa::offerings
