// Authorization (docs/security.md): who may do what in this store.

#include "actors/internal/store_actor/behavior.hpp"

namespace mantissa::actors::internal::store_parts {

const store::type_decl* store_behavior::decl(const std::string& type,
                                             caf::response_promise& rp) {
  auto* d = self_->state.rt->types->current(type);
  if (d == nullptr)
    fail(rp, make_error(error_code::no_such_type, "no item type named '"
                                                    + type.substr(0, 128)
                                                    + "' is declared"));
  return d;
}

/// The roles whose rights `role` has in this store; empty on failure.
const std::vector<std::string>&
store_behavior::closure(const std::string& role) {
  auto& st = self_->state;
  if (auto* c = st.access.closure(role))
    return *c;
  auto r = store::role_closure(*st.db, role);
  return st.access.put_closure(role,
                               r ? std::move(*r) : std::vector<std::string>{});
}

/// Whether `who` has every right in this store: the system, the owner of
/// a user store, and members of `group:admin` in the site store.
bool store_behavior::is_owner(const caller& who) {
  auto& st = self_->state;
  if (who.role == system_role)
    return true;
  if (!st.owner_role.empty())
    return who.role == st.owner_role;
  if (st.address != site_address)
    return false;
  auto& roles = closure(who.role);
  return std::binary_search(roles.begin(), roles.end(),
                            std::string{"group:admin"});
}

/// Whether `who` may use `iface` on item `id`.
bool store_behavior::can(const caller& who, std::int64_t id,
                         std::string_view iface) {
  if (is_owner(who))
    return true;
  auto& st = self_->state;
  auto key = who.role;
  key += '\n';
  key += std::to_string(id);
  const auto* ifaces = st.access.interfaces(key);
  if (ifaces == nullptr) {
    auto r = store::interfaces_for(*st.db, closure(who.role), id);
    ifaces = &st.access.put_interfaces(
      std::move(key), r ? std::move(*r) : std::vector<std::string>{});
  }
  return std::find(ifaces->begin(), ifaces->end(), iface) != ifaces->end();
}

/// The answer to a non-owner for an item it may not use: the same as for
/// an item that does not exist, so existence does not leak.
caf::error store_behavior::hidden(const std::string& type, std::int64_t id) {
  return make_error(error_code::no_such_item, "no item " + type.substr(0, 128)
                                                + " #" + std::to_string(id));
}

/// For a caller that owns nothing here and with whom nothing is shared:
/// fails `rp` with the answer for a store that does not exist, so that
/// whether an account exists does not leak (true: `rp` is answered).
bool store_behavior::hidden_store(const caller& who,
                                  caf::response_promise& rp) {
  if (!ensure_open(rp))
    return true;
  auto& st = self_->state;
  // Only user stores: the site store and the offerings' stores are known
  // to everyone.
  if (st.owner_role.empty() || is_owner(who))
    return false;
  // Cached beside the interfaces per item, and dropped with them when
  // shares change: "role\n*" holds {"*"} when anything is shared.
  auto key = who.role + "\n*";
  const auto* seen = st.access.interfaces(key);
  if (seen == nullptr) {
    auto any = store::shares_any(*st.db, closure(who.role));
    if (!any) {
      fail(rp, make_error(any.error_value()));
      return true;
    }
    seen = &st.access.put_interfaces(std::move(key),
                                     *any ? std::vector<std::string>{"*"}
                                          : std::vector<std::string>{});
  }
  if (!seen->empty())
    return false;
  fail(rp, no_store_error(st.address));
  return true;
}

/// The start of a request that needs the store's owner: traces `op`,
/// answers a caller that may not know of the store as `hidden_store` does,
/// opens the store, and fails `rp` as `require_owner` does unless `who`
/// owns it; false when `rp` is answered.
bool store_behavior::owner_request(caf::response_promise& rp, const caller& who,
                                   const char* op, const char* what) {
  trace(who, op);
  if (hidden_store(who, rp))
    return false;
  return ensure_open(rp) && require_owner(who, rp, what);
}

/// The start of a request that changes item `id` of `type`: traces `op`,
/// answers a caller that may not know of the store as `hidden_store` does,
/// opens the store, answers as for a missing item unless `who` may use
/// `iface` on it, and refuses the node's own records as
/// `require_node_for` does; false when `rp` is answered.
bool store_behavior::item_write_request(caf::response_promise& rp,
                                        const caller& who, const char* op,
                                        const std::string& type,
                                        std::int64_t id,
                                        std::string_view iface) {
  trace(who, op);
  if (hidden_store(who, rp) || !ensure_open(rp))
    return false;
  if (!can(who, id, iface)) {
    fail(rp, hidden(type, id));
    return false;
  }
  return require_node_for(type, who, rp);
}

/// Fails `rp` with `forbidden` unless `who` owns the store.
bool store_behavior::require_owner(const caller& who, caf::response_promise& rp,
                                   const char* what) {
  if (is_owner(who))
    return true;
  fail(rp, make_error(error_code::forbidden,
                      std::string{what} + " needs the store's owner"));
  return false;
}

/// Items of the `mantissa.*` types are the node's own records (account
/// copies, login methods, sessions, messages, schedules, the directory):
/// only the node's code writes them, as `system` or inside its handlers.
/// A message from a front end or a custom actor may not, whoever owns the
/// store: else an owner could rewrite its account copy.
bool store_behavior::require_node_for(const std::string& type,
                                      const caller& who,
                                      caf::response_promise& rp,
                                      const char* verb) {
  if (type.rfind("mantissa.", 0) != 0 || who.role == system_role)
    return true;
  // The site's administrators administer the site store (its settings).
  if (self_->state.address == site_address && is_owner(who))
    return true;
  fail(rp, make_error(error_code::forbidden,
                      "items of " + type
                        + " are the node's own records: only the node " + verb
                        + " them"));
  return false;
}

/// Reads of the node's own records (a user store's account copy holds
/// the password hash) are the node's too, as over HTTP: an owner who
/// reads `mantissa.account` in their own store over the port gets
/// forbidden, not their hash.
bool store_behavior::require_node_to_read(const std::string& type,
                                          const caller& who,
                                          caf::response_promise& rp) {
  return require_node_for(type, who, rp, "reads");
}

/// Parses JSON text or fails `rp`.
std::optional<nlohmann::json>
store_behavior::parse_or_fail(caf::response_promise& rp,
                              const std::string& text, const char* what) {
  auto j = parse_json(text, what);
  if (!j) {
    fail(rp, make_error(j.error_value()));
    return std::nullopt;
  }
  return std::move(*j);
}

/// What `who` gets through `share_id` ("" = the default share); the
/// owner gets every share, with the interface "*".
std::optional<store::shared_item>
store_behavior::find_share(const caller& who, const std::string& share_id) {
  auto& db = *self_->state.db;
  if (!is_owner(who)) {
    auto r = store::get_share(db, closure(who.role), share_id);
    return r ? std::optional<store::shared_item>{std::move(*r)} : std::nullopt;
  }
  std::string id = share_id;
  if (id.empty()) {
    auto def = store::default_share(db);
    if (!def || def->empty())
      return std::nullopt;
    id = std::move(*def);
  }
  auto all = store::list_shares(db);
  if (!all)
    return std::nullopt;
  for (auto& sh : *all)
    if (sh.share_id == id)
      return store::shared_item{sh.share_id, sh.item, {"*"}};
  return std::nullopt;
}

} // namespace mantissa::actors::internal::store_parts
