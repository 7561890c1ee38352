#include "actors/account_handlers.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "store/sharing.hpp"

namespace mantissa::actors {

namespace {

using nlohmann::json;
using store::errc;
using store::error;

/// The string member `key` of `j`, or nullopt.
std::optional<std::string> string_member(const json& j, const char* key) {
  auto i = j.find(key);
  if (i == j.end() || !i->is_string())
    return std::nullopt;
  return i->get<std::string>();
}

store::result<account> account_from_json(const json& j) {
  auto bad = [](const char* what) {
    return error{errc::invalid_value,
                 std::string{"account: missing or malformed "} + what};
  };
  if (!j.is_object())
    return bad("object");
  auto address_text = string_member(j, "address");
  if (!address_text)
    return bad("address");
  auto addr = parse_address(*address_text);
  if (!addr)
    return std::move(addr).error_value();
  account a;
  a.addr = std::move(*addr);
  auto hash = string_member(j, "password_hash");
  if (!hash)
    return bad("password_hash");
  a.password_hash = std::move(*hash);
  auto disabled = j.find("disabled");
  auto created = j.find("created");
  auto revision = j.find("revision");
  auto methods = j.find("login_methods");
  if (disabled == j.end() || !disabled->is_boolean())
    return bad("disabled");
  if (created == j.end() || !created->is_number_integer())
    return bad("created");
  if (revision == j.end() || !revision->is_number_integer())
    return bad("revision");
  if (methods == j.end() || !methods->is_array())
    return bad("login_methods");
  a.disabled = disabled->get<bool>();
  a.created.micros = created->get<std::int64_t>();
  a.revision = revision->get<std::int64_t>();
  for (auto& m : *methods) {
    if (!m.is_object())
      return bad("login method");
    auto at = string_member(m, "address");
    auto protocol = string_member(m, "protocol");
    auto internal = m.find("internal");
    auto verified = m.find("verified");
    if (!at || !protocol || internal == m.end() || !internal->is_boolean()
        || verified == m.end() || !verified->is_boolean())
      return bad("login method");
    auto maddr = parse_address(*at);
    if (!maddr)
      return std::move(maddr).error_value();
    a.login_methods.push_back(
      login_method{std::move(*maddr), std::move(*protocol),
                   internal->get<bool>(), verified->get<bool>()});
  }
  return a;
}

error wrong_store(const char* handler, const char* where) {
  return error{errc::forbidden,
               std::string{handler} + " runs in " + where + " only"};
}

/// A handler of the site store: `(store, args)` to its answer.
using site_handler = store::result<json> (*)(store::store& s, const json& args);

/// Registers `fn` as `name`, run in the site store `site` only.
store::result<void> add_site_handler(handler_registry& handlers,
                                     const std::filesystem::path& site,
                                     const char* name, site_handler fn) {
  return handlers.add(
    name, site_only(site, name,
                    [fn](store::store& s, const json& args, const caller&) {
                      return fn(s, args);
                    }));
}

/// The user account an address argument names (not an offering's).
store::result<address> user_address(const std::string& text,
                                    const char* member) {
  auto addr = parse_address(text);
  if (!addr)
    return std::move(addr).error_value();
  if (addr->is_offering())
    return error{errc::invalid_value,
                 std::string{member} + ": an address user@domain is needed"};
  return addr;
}

/// mantissa.add_account: {"username","password"}, or {"username",
/// "artificial":true} for an account that owns a store and cannot log in.
store::result<json> add_account_handler(store::store& s, const json& args) {
  if (!args.is_object())
    return error{errc::invalid_value,
                 "mantissa.add_account takes {\"username\",\"password\"} "
                 "or {\"username\",\"artificial\":true}"};
  auto username = string_member(args, "username");
  if (!username)
    return error{errc::invalid_value, "username: a string is needed"};
  bool artificial = args.contains("artificial")
                    && args["artificial"].is_boolean()
                    && args["artificial"].get<bool>();
  std::optional<std::string> password;
  if (artificial) {
    if (args.contains("password"))
      return error{errc::invalid_value,
                   "an artificial account has no password"};
  } else {
    auto given = string_member(args, "password");
    if (!given)
      return error{errc::invalid_value, "password: a string is needed"};
    password = std::move(*given);
  }
  auto addr = user_address(*username, "username");
  if (!addr)
    return std::move(addr).error_value();
  auto acct = add_account(s, *addr, std::move(password));
  if (!acct)
    return std::move(acct).error_value();
  return account_json(*acct);
}

/// mantissa.check_admin: answers only who may administer the site (the
/// owner check); the HTTP front end of a cluster node asks the seed's site
/// store this before it adds an account through the cluster as the system.
store::result<json> check_admin_handler(store::store&, const json&) {
  return json{{"ok", true}};
}

/// mantissa.list_accounts: every account, with whether it is an admin.
store::result<json> list_accounts_handler(store::store& s, const json&) {
  auto all = list_accounts(s);
  if (!all)
    return std::move(all).error_value();
  auto members = store::members_of(s, "group:admin");
  if (!members)
    return std::move(members).error_value();
  std::set<std::string> admins(members->begin(), members->end());
  json out = json::array();
  for (auto& a : *all) {
    auto address = to_string(a.addr);
    out.push_back({{"address", address},
                   {"disabled", a.disabled},
                   {"artificial", a.artificial()},
                   {"admin", admins.count(primary_role(address)) > 0},
                   {"created", a.created.micros}});
  }
  return out;
}

/// mantissa.set_disabled: {"address","disabled":bool}.
store::result<json> set_disabled_handler(store::store& s, const json& args) {
  auto address
    = args.is_object() ? string_member(args, "address") : std::nullopt;
  auto flag = args.is_object() ? args.find("disabled") : args.end();
  if (!address || flag == args.end() || !flag->is_boolean())
    return error{errc::invalid_value,
                 "mantissa.set_disabled takes {\"address\":string,"
                 "\"disabled\":bool}"};
  auto addr = user_address(*address, "address");
  if (!addr)
    return std::move(addr).error_value();
  auto acct = set_disabled(s, *addr, flag->get<bool>());
  if (!acct)
    return std::move(acct).error_value();
  return account_json(*acct);
}

/// mantissa.set_password: {"address","password"}; an artificial account
/// stays artificial (it must not become able to log in through a reset).
store::result<json> set_password_handler(store::store& s, const json& args) {
  auto address
    = args.is_object() ? string_member(args, "address") : std::nullopt;
  auto password
    = args.is_object() ? string_member(args, "password") : std::nullopt;
  if (!address || !password)
    return error{errc::invalid_value,
                 "mantissa.set_password takes {\"address\":string,"
                 "\"password\":string}"};
  if (password->empty())
    return error{errc::invalid_value, "password: must not be empty"};
  auto addr = user_address(*address, "address");
  if (!addr)
    return std::move(addr).error_value();
  auto found = find_account(s, *addr);
  if (!found)
    return std::move(found).error_value();
  if (found->artificial())
    return error{errc::invalid_value,
                 to_string(*addr) + " is artificial and has no password"};
  auto acct = set_password(s, *addr, std::move(*password));
  if (!acct)
    return std::move(acct).error_value();
  return account_json(*acct);
}

} // namespace

store_handler site_only(std::filesystem::path site, std::string name,
                        store_handler h) {
  return [site = std::move(site), name = std::move(name), h = std::move(h)](
           store::store& s, const json& args,
           const caller& who) -> store::result<json> {
    if (s.path() != site)
      return wrong_store(name.c_str(), "the site store");
    return h(s, args, who);
  };
}

nlohmann::json account_json(const account& a) {
  using nlohmann::json;
  json methods = json::array();
  for (auto& m : a.login_methods)
    methods.push_back({{"address", to_string(m.addr)},
                       {"protocol", m.protocol},
                       {"internal", m.internal},
                       {"verified", m.verified}});
  return {
    {"address", to_string(a.addr)},     {"disabled", a.disabled},
    {"password_hash", a.password_hash}, {"created", a.created.micros},
    {"revision", a.revision},           {"login_methods", std::move(methods)}};
}

store::result<void>
register_account_handlers(handler_registry& handlers,
                          const std::filesystem::path& data_dir) {
  auto site = site_path(data_dir);
  MANTISSA_TRY(add_site_handler(handlers, site, "mantissa.add_account",
                                add_account_handler));
  MANTISSA_TRY(add_site_handler(handlers, site, "mantissa.check_admin",
                                check_admin_handler));
  MANTISSA_TRY(add_site_handler(handlers, site, "mantissa.list_accounts",
                                list_accounts_handler));
  // Disabling and password resets change the site's record; the caller
  // (the HTTP front end) then writes the user store's copy with
  // mantissa.write_account_copy and ends the account's sessions.
  MANTISSA_TRY(add_site_handler(handlers, site, "mantissa.set_disabled",
                                set_disabled_handler));
  MANTISSA_TRY(add_site_handler(handlers, site, "mantissa.set_password",
                                set_password_handler));
  return handlers.add("mantissa.write_account_copy",
                      [data_dir](store::store& s, const json& args,
                                 const caller& who) -> store::result<json> {
                        // A user store's owner may run handlers in it, but its
                        // account copy is written by the node only.
                        if (who.role != system_role)
                          return error{errc::forbidden, "system role only"};
                        auto acct = account_from_json(args);
                        if (!acct)
                          return std::move(acct).error_value();
                        // (An offering's account has its copy in its app
                        // store, written when it is installed online.)
                        if (s.path() != store_path(data_dir, acct->addr))
                          return wrong_store("mantissa.write_account_copy",
                                             "the account's own store");
                        auto written = write_account_copy(s, *acct);
                        if (!written)
                          return std::move(written).error_value();
                        return json{{"written", *written}};
                      });
}

} // namespace mantissa::actors
