#include "offerings/signup.hpp"

#include <utility>

#include <sodium.h>

#include "actors/session_table.hpp"
#include "actors/site_config.hpp"
#include "offerings/internal/names.hpp"
#include "store/sharing.hpp"
#include "wire/protocol.hpp"

namespace mantissa::offerings {

namespace {

using store::errc;
using store::error;

store::query where_eq(std::string_view attr, store::value v) {
  store::query q;
  q.where = store::cmp(std::string{attr}, store::compare_op::eq, std::move(v));
  return q;
}

/// The open signup of `kind`, if any (the newest when there are several).
store::result<std::optional<signup_record>>
open_of_kind(store::store& site, std::string_view kind) {
  auto q = where_eq("kind", store::value{std::string{kind}});
  q.sort = {{"opened", true}};
  MANTISSA_TRY_LET(all, signup_item_type().select(site, q));
  for (auto& s : *all)
    if (!s.closed)
      return std::optional<signup_record>{s};
  return std::optional<signup_record>{};
}

/// The ticket whose secret is `secret`: looked up by the hash, which is
/// then compared again in constant time.
store::result<std::optional<ticket_record>>
find_ticket(store::store& site, std::string_view secret) {
  auto hash = actors::session_table::hash_token(secret);
  MANTISSA_TRY_LET(found, ticket_item_type().select(
                            site, where_eq("secret_hash", store::value{hash})));
  for (auto& t : *found)
    if (t.secret_hash.size() == hash.size()
        && sodium_memcmp(t.secret_hash.data(), hash.data(), hash.size()) == 0)
      return std::optional<ticket_record>{t};
  return std::optional<ticket_record>{};
}

/// The address a signup's username names: a localpart gets the signup's
/// domain; a full address must have it.
store::result<actors::address> signup_address(const signup_record& s,
                                              std::string_view username) {
  std::string text{username};
  if (text.find('@') == std::string::npos)
    text += "@" + s.domain;
  MANTISSA_TRY_LET(addr, actors::parse_address(text));
  if (addr->domain != s.domain)
    return error{errc::invalid_name,
                 "username: accounts made by signup are at " + s.domain};
  return std::move(*addr);
}

signup_outcome refused(refusal why, std::string message) {
  signup_outcome out;
  out.refused = why;
  out.message = std::move(message);
  return out;
}

} // namespace

// -- record types
// -----------------------------------------------------------------

const store::item_type<signup_record>& signup_item_type() {
  static const auto type
    = store::item_type<signup_record>{std::string{signup_type_name}, 1}
        .attribute("kind", &signup_record::kind, {.indexed = true})
        .attribute("product", &signup_record::product)
        .attribute("domain", &signup_record::domain)
        .attribute("inviters", &signup_record::inviters)
        .attribute("opened_by", &signup_record::opened_by)
        .attribute("opened", &signup_record::opened)
        .attribute("closed", &signup_record::closed);
  return type;
}

const store::item_type<ticket_record>& ticket_item_type() {
  static const auto type
    = store::item_type<ticket_record>{std::string{ticket_type_name}, 1}
        .attribute("signup", &ticket_record::signup, {.indexed = true})
        .attribute("secret_hash", &ticket_record::secret_hash,
                   {.indexed = true})
        .attribute("created_by", &ticket_record::created_by)
        .attribute("created", &ticket_record::created)
        .attribute("expires", &ticket_record::expires)
        .attribute("used", &ticket_record::used);
  return type;
}

store::result<void> register_signup_types(store::type_registry& registry) {
  MANTISSA_TRY(registry.add(signup_item_type().decl()));
  MANTISSA_TRY(registry.add(ticket_item_type().decl()));
  return {};
}

// -- opening and closing
// -----------------------------------------------------------

store::result<signup_record> open_signup(store::store& site, signup_spec spec) {
  if (spec.kind != "free" && spec.kind != "ticket")
    return error{errc::invalid_value, "kind: 'free' or 'ticket'"};
  if (spec.domain.empty()) {
    auto setting = actors::get_setting(site, "site.domain");
    if (!setting)
      return error{errc::invalid_value,
                   "domain: none given and the setting site.domain is not "
                   "set"};
    spec.domain = setting->value;
  }
  MANTISSA_TRY_LET(check, actors::parse_address("signup@" + spec.domain));
  if (!spec.inviters.empty()
      && (spec.inviters.rfind("group:", 0) != 0
          || !internal::valid_simple_name(spec.inviters.substr(6))))
    return error{errc::invalid_name,
                 "inviters: a group role 'group:name' ([a-z][a-z0-9_-]*)"};
  return site.transact([&]() -> store::result<signup_record> {
    MANTISSA_TRY(find_product(site, spec.product));
    if (spec.kind == "free") {
      MANTISSA_TRY_LET(current, open_of_kind(site, "free"));
      if (*current)
        return error{errc::already_exists,
                     "free signup " + std::to_string((*current)->id)
                       + " is open; close it first"};
    }
    signup_record rec;
    rec.kind = spec.kind;
    rec.product = spec.product;
    rec.domain = check->domain;
    rec.inviters = spec.inviters;
    rec.opened_by = spec.opened_by;
    rec.opened = internal::now();
    MANTISSA_TRY(signup_item_type().insert(site, rec));
    return rec;
  });
}

store::result<signup_record> close_signup(store::store& site,
                                          store::item_id id) {
  return site.transact([&]() -> store::result<signup_record> {
    auto rec = signup_item_type().get(site, id);
    if (!rec)
      return error{errc::no_such_item,
                   "no signup " + std::to_string(id)};
    if (!rec->closed) {
      rec->closed = true;
      MANTISSA_TRY(signup_item_type().update(site, *rec));
    }
    return std::move(*rec);
  });
}

store::result<std::vector<signup_record>> list_signups(store::store& site) {
  store::query q;
  q.sort = {{"opened", false}};
  return signup_item_type().select(site, q);
}

store::result<std::vector<ticket_record>> list_tickets(store::store& site,
                                                       store::item_id signup) {
  auto q = where_eq("signup", store::value{std::int64_t{signup}});
  q.sort = {{"created", false}};
  return ticket_item_type().select(site, q);
}

store::result<signup_state> signup_status(store::store& site) {
  MANTISSA_TRY_LET(all, list_signups(site));
  signup_state st;
  for (auto& s : *all) {
    if (s.closed)
      continue;
    st.open = true;
    st.free = st.free || s.kind == "free";
  }
  return st;
}

// -- tickets
// -------------------------------------------------------------------------

store::result<bool> may_invite(store::store& site, const signup_record& s,
                               std::string_view role) {
  if (role == actors::system_role)
    return true;
  MANTISSA_TRY_LET(roles, store::role_closure(site, role));
  for (auto& r : *roles)
    if (r == "group:admin" || (!s.inviters.empty() && r == s.inviters))
      return true;
  return false;
}

store::result<new_ticket> create_ticket(store::store& site,
                                        store::item_id signup,
                                        std::string_view by,
                                        std::int64_t expires_in) {
  if (expires_in < 0 || expires_in > max_ticket_seconds)
    return error{errc::invalid_value,
                 "expires_in: 0 to " + std::to_string(max_ticket_seconds)
                   + " seconds"};
  auto s = signup_item_type().get(site, signup);
  if (!s)
    return error{errc::no_such_item, "no signup " + std::to_string(signup)};
  if (s->closed)
    return error{errc::disallowed,
                 "signup " + std::to_string(signup) + " is closed"};
  if (s->kind != "ticket")
    return error{errc::invalid_value,
                 "signup " + std::to_string(signup)
                   + " is free: anyone may sign up without a ticket"};
  new_ticket out;
  out.secret = actors::session_table::new_token();
  auto& t = out.record;
  t.signup = signup;
  t.secret_hash = actors::session_table::hash_token(out.secret);
  t.created_by = std::string{by};
  t.created = internal::now();
  t.expires = store::timestamp{t.created.micros + expires_in * 1'000'000};
  MANTISSA_TRY(ticket_item_type().insert(site, t));
  return out;
}

// -- signing up
// ----------------------------------------------------------------------

std::string_view to_string(refusal r) {
  switch (r) {
    case refusal::none: return "none";
    case refusal::signup_closed: return "signup_closed";
    case refusal::no_such_ticket: return "no_such_ticket";
    case refusal::ticket_used: return "ticket_used";
    case refusal::ticket_expired: return "ticket_expired";
    case refusal::name_taken: return "name_taken";
  }
  return "none";
}

store::result<signup_outcome> sign_up(store::store& site,
                                      const signup_request& req,
                                      store::timestamp now) {
  std::optional<ticket_record> ticket;
  std::optional<signup_record> s;
  if (req.ticket) {
    MANTISSA_TRY_LET(found, find_ticket(site, *req.ticket));
    if (!*found)
      return refused(refusal::no_such_ticket, "no such ticket");
    ticket = std::move(**found);
    if (ticket->used)
      return refused(refusal::ticket_used, "this ticket was used already");
    if (now >= ticket->expires)
      return refused(refusal::ticket_expired, "this ticket has expired");
    auto of = signup_item_type().get(site, ticket->signup);
    if (!of || of->closed)
      return refused(refusal::signup_closed,
                     "the signup of this ticket is closed");
    s = std::move(*of);
  } else {
    MANTISSA_TRY_LET(current, open_of_kind(site, "free"));
    if (!*current)
      return refused(refusal::signup_closed,
                     "no free signup is open; an invitation ticket is needed");
    s = std::move(**current);
  }
  MANTISSA_TRY_LET(addr, signup_address(*s, req.username));
  // Checked before anything is written: a refusal commits nothing.
  auto taken = actors::find_account(site, *addr);
  if (taken || actors::find_account_by_login(site, *addr))
    return refused(refusal::name_taken,
                   actors::to_string(*addr) + " is taken");
  if (taken.code() != errc::no_such_item)
    return std::move(taken).error_value();
  return site.transact([&]() -> store::result<signup_outcome> {
    MANTISSA_TRY_LET(product, find_product(site, s->product));
    MANTISSA_TRY_LET(acct, actors::add_account(site, *addr, req.password));
    // The grant is recorded with the account, as a give records it, so an
    // uninstall of the product's offering sees the new user.
    MANTISSA_TRY(record_grant(site, *addr, product->name));
    if (ticket) {
      ticket->used = true;
      MANTISSA_TRY(ticket_item_type().update(site, *ticket));
    }
    signup_outcome out;
    out.account = std::move(*acct);
    out.product = std::move(*product);
    return out;
  });
}

} // namespace mantissa::offerings
