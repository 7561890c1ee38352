// Shares and groups: share, unshare, list, visibility, membership.

#include "actors/internal/store_actor/behavior.hpp"

namespace mantissa::actors::internal::store_parts {

caf::response_promise store_behavior::on_share(const caller& who,
                                               const std::string& type,
                                               std::int64_t id,
                                               const std::string& role,
                                               const std::string& interfaces,
                                               const std::string& share_id) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "share", "sharing"))
    return rp;
  auto j = parse_or_fail(rp, interfaces, "the interfaces");
  if (!j)
    return rp;
  std::vector<std::string> names;
  if (j->is_array())
    for (auto& e : *j)
      if (e.is_string())
        names.push_back(e.get<std::string>());
  if (!j->is_array() || names.size() != j->size()) {
    fail(rp, make_error(error_code::invalid_value,
                        "interfaces must be a JSON array of names"));
    return rp;
  }
  if (!open_batch(rp))
    return rp;
  auto& s = self_->state;
  auto r = s.db->isolated([&] {
    return store::share_item(*s.db, {type, id}, role, names, share_id);
  });
  s.access.clear_interfaces();
  if (!r) {
    fail(rp, make_error(r.error_value()));
    return rp;
  }
  finish(rp, caf::make_message(dump(nlohmann::json{{"share_id", *r}})));
  return rp;
}

caf::response_promise store_behavior::on_unshare(const caller& who,
                                                 const std::string& share_id,
                                                 const std::string& role) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "unshare", "unsharing"))
    return rp;
  if (!open_batch(rp))
    return rp;
  auto& s = self_->state;
  auto n = store::unshare(*s.db, share_id, role);
  s.access.clear_interfaces();
  if (!n) {
    fail(rp, make_error(n.error_value()));
    return rp;
  }
  finish(rp, caf::make_message(dump(nlohmann::json{{"removed", *n}})));
  return rp;
}

caf::response_promise store_behavior::on_shares(const caller& who,
                                                std::int64_t id) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "shares", "listing shares"))
    return rp;
  auto& s = self_->state;
  auto list = store::list_shares(
    *s.db, id == 0 ? std::nullopt : std::optional<store::item_id>{id});
  if (!list) {
    fail(rp, make_error(list.error_value()));
    return rp;
  }
  auto out = nlohmann::json::array();
  for (auto& sh : *list)
    out.push_back({{"share_id", sh.share_id},
                   {"role", sh.role},
                   {"type", sh.item.type},
                   {"item", sh.item.id},
                   {"interfaces", sh.interfaces}});
  finish(rp, caf::make_message(dump(out)));
  return rp;
}

caf::response_promise store_behavior::on_visible(const caller& who) {
  auto rp = begin_request();
  trace(who, "visible");
  if (hidden_store(who, rp))
    return rp;
  finish(rp, caf::make_message(std::string{R"({"visible":true})"}));
  return rp;
}

caf::response_promise store_behavior::on_getshare(const caller& who,
                                                  const std::string& share_id) {
  auto rp = begin_request();
  trace(who, "getshare");
  if (hidden_store(who, rp))
    return rp;
  if (!ensure_open(rp))
    return rp;
  auto shared = find_share(who, share_id);
  if (!shared) {
    fail(rp, make_error(error_code::no_such_item,
                        "no share '" + share_id.substr(0, 64) + "'"));
    return rp;
  }
  auto& s = self_->state;
  auto* d = s.rt->types->current(shared->item.type);
  auto it = d != nullptr ? s.db->get(shared->item.type, shared->item.id)
                         : store::result<store::item>{store::error{
                           store::errc::no_such_type, shared->item.type}};
  if (!it) {
    fail(rp, make_error(error_code::no_such_item,
                        "no share '" + share_id.substr(0, 64) + "'"));
    return rp;
  }
  nlohmann::json out{{"share_id", shared->share_id},
                     {"interfaces", shared->interfaces},
                     {"item", store::to_json(*d, *it)}};
  finish(rp, caf::make_message(dump(out)));
  return rp;
}

caf::response_promise store_behavior::on_member(const caller& who,
                                                const std::string& member,
                                                const std::string& group,
                                                bool add) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "member", "changing groups"))
    return rp;
  if (!open_batch(rp))
    return rp;
  auto& s = self_->state;
  store::result<void> r;
  if (add) {
    r = store::add_member(*s.db, member, group);
  } else if (auto removed = store::remove_member(*s.db, member, group);
             !removed) {
    r = std::move(removed).error_value();
  }
  s.access.clear();
  if (!r) {
    fail(rp, make_error(r.error_value()));
    return rp;
  }
  finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
  return rp;
}

caf::response_promise store_behavior::on_defshare(const caller& who,
                                                  const std::string& share_id) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "defshare", "setting the default share"))
    return rp;
  if (!share_id.empty()) {
    if (auto v = store::validate_share_id(share_id); !v) {
      fail(rp, make_error(v.error_value()));
      return rp;
    }
  }
  if (!open_batch(rp))
    return rp;
  if (auto r = store::set_default_share(*self_->state.db, share_id); !r) {
    fail(rp, make_error(r.error_value()));
    return rp;
  }
  finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
  return rp;
}

caf::message_handler store_behavior::sharing_handlers() {
  return {
    [this](share_atom, const caller& who, const std::string& type,
           std::int64_t id, const std::string& role,
           const std::string& interfaces,
           const std::string& share_id) -> caf::response_promise {
      return on_share(who, type, id, role, interfaces, share_id);
    },
    [this](unshare_atom, const caller& who, const std::string& share_id,
           const std::string& role) -> caf::response_promise {
      return on_unshare(who, share_id, role);
    },
    [this](shares_atom, const caller& who, std::int64_t id)
      -> caf::response_promise { return on_shares(who, id); },
    [this](visible_atom, const caller& who) -> caf::response_promise {
      return on_visible(who);
    },
    [this](getshare_atom, const caller& who, const std::string& share_id)
      -> caf::response_promise { return on_getshare(who, share_id); },
    [this](member_atom, const caller& who, const std::string& member,
           const std::string& group, bool add) -> caf::response_promise {
      return on_member(who, member, group, add);
    },
    [this](defshare_atom, const caller& who, const std::string& share_id)
      -> caf::response_promise { return on_defshare(who, share_id); },
  };
}

} // namespace mantissa::actors::internal::store_parts
