// The item messages: get, put, update, delete, query, count.

#include "actors/internal/store_actor/behavior.hpp"

#include "store/query.hpp"

namespace mantissa::actors::internal::store_parts {

namespace {

/// After the write of one item, begun when the store had made `before`
/// item writes: when the type's hooks (store/registry.hpp) wrote other
/// items too, the cached copies and access answers may be stale.
void forget_if_hooks_wrote(store_state& s, std::uint64_t before) {
  if (s.db->item_writes() > before + 1) {
    s.cache.clear();
    s.access.clear_interfaces();
  }
}

} // namespace

caf::response_promise store_behavior::on_get(const caller& who,
                                             const std::string& type,
                                             std::int64_t id) {
  auto rp = begin_request();
  trace(who, "get");
  if (hidden_store(who, rp))
    return rp;
  if (!require_node_to_read(type, who, rp))
    return rp;
  if (!ensure_open(rp))
    return rp;
  if (!can(who, id, "read")) {
    fail(rp, hidden(type, id));
    return rp;
  }
  auto& s = self_->state;
  if (auto* hit = s.cache.find(id, type)) {
    finish(rp, caf::make_message(*hit));
    return rp;
  }
  auto* d = decl(type, rp);
  if (d == nullptr)
    return rp;
  auto it = s.db->get(type, id);
  if (!it) {
    fail(rp, is_owner(who) ? make_error(it.error_value()) : hidden(type, id));
    return rp;
  }
  auto text = store::to_json_text(*d, *it);
  if (!s.commit.batch_open)
    s.cache.put(id, type, text);
  finish(rp, caf::make_message(std::move(text)));
  return rp;
}

caf::response_promise store_behavior::on_put(const caller& who,
                                             const std::string& type,
                                             const std::string& json) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "put", "creating items")
      || !require_node_for(type, who, rp))
    return rp;
  auto* d = decl(type, rp);
  if (d == nullptr)
    return rp;
  auto it = item_from_text(*d, json);
  if (!it) {
    fail(rp, make_error(it.error_value()));
    return rp;
  }
  if (!open_batch(rp))
    return rp;
  auto& s = self_->state;
  auto writes = s.db->item_writes();
  if (auto id = s.db->insert(*it); !id) {
    fail(rp, make_error(id.error_value()));
    return rp;
  }
  forget_if_hooks_wrote(s, writes);
  auto text = store::to_json_text(*d, *it);
  s.cache.put(it->id, type, text);
  finish(rp, caf::make_message(std::move(text)));
  return rp;
}

caf::response_promise store_behavior::on_update(const caller& who,
                                                const std::string& type,
                                                std::int64_t id,
                                                const std::string& json) {
  auto rp = begin_request();
  if (!item_write_request(rp, who, "update", type, id, "write"))
    return rp;
  auto* d = decl(type, rp);
  if (d == nullptr)
    return rp;
  auto j = parse_json(json, "the update");
  if (!j) {
    fail(rp, make_error(j.error_value()));
    return rp;
  }
  if (!open_batch(rp))
    return rp;
  auto& s = self_->state;
  auto current = s.db->get(type, id);
  if (!current) {
    fail(rp,
         is_owner(who) ? make_error(current.error_value()) : hidden(type, id));
    return rp;
  }
  auto it = store::item_from_json(*d, *j, &*current);
  if (!it) {
    fail(rp, make_error(it.error_value()));
    return rp;
  }
  it->id = id;
  auto writes = s.db->item_writes();
  if (auto r = s.db->update(*it); !r) {
    fail(rp, make_error(r.error_value()));
    return rp;
  }
  forget_if_hooks_wrote(s, writes);
  auto text = store::to_json_text(*d, *it);
  s.cache.put(id, type, text);
  finish(rp, caf::make_message(std::move(text)));
  return rp;
}

caf::response_promise store_behavior::on_delete(const caller& who,
                                                const std::string& type,
                                                std::int64_t id) {
  auto rp = begin_request();
  if (!item_write_request(rp, who, "delete", type, id, "delete"))
    return rp;
  if (decl(type, rp) == nullptr)
    return rp;
  if (!open_batch(rp))
    return rp;
  auto& s = self_->state;
  if (auto r = s.db->remove(type, id); !r) {
    fail(rp, is_owner(who) || r.code() != store::errc::no_such_item
               ? make_error(r.error_value())
               : hidden(type, id));
    return rp;
  }
  // Cascades and nullified references may have changed other items,
  // and their shares are gone.
  s.cache.clear();
  s.access.clear_interfaces();
  finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
  return rp;
}

caf::response_promise store_behavior::on_query(const caller& who,
                                               const std::string& json) {
  auto rp = begin_request();
  trace(who, "query");
  if (hidden_store(who, rp))
    return rp;
  if (!ensure_open(rp))
    return rp;
  auto j = parse_json(json, "the query");
  if (!j) {
    fail(rp, make_error(j.error_value()));
    return rp;
  }
  auto q = store::query_from_json(*j);
  if (!q) {
    fail(rp, make_error(q.error_value()));
    return rp;
  }
  if (!require_node_to_read(q->type, who, rp))
    return rp;
  auto* d = decl(q->type, rp);
  if (d == nullptr)
    return rp;
  auto& s = self_->state;
  // A non-owner sees the items shared with it for reading, and counts
  // and pages only those: the restriction is part of the SQL.
  std::optional<store::visibility> vis;
  if (!is_owner(who))
    vis = store::visibility{closure(who.role), "read"};
  auto total = vis ? s.db->count(q->type, q->where, *vis)
                   : s.db->count(q->type, q->where);
  if (!total) {
    fail(rp, make_error(total.error_value()));
    return rp;
  }
  auto items = nlohmann::json::array();
  auto add = [&](store::item&& it) { items.push_back(store::to_json(*d, it)); };
  auto r = vis ? s.db->for_each(*q, add, *vis) : s.db->for_each(*q, add);
  if (!r) {
    fail(rp, make_error(r.error_value()));
    return rp;
  }
  nlohmann::json out{{"items", std::move(items)}, {"total", *total}};
  finish(rp, caf::make_message(dump(out)));
  return rp;
}

caf::response_promise store_behavior::on_count(const caller& who,
                                               const std::string& type,
                                               const std::string& where) {
  auto rp = begin_request();
  trace(who, "count");
  if (hidden_store(who, rp))
    return rp;
  if (!require_node_to_read(type, who, rp))
    return rp;
  if (!ensure_open(rp))
    return rp;
  store::condition cond;
  if (!where.empty()) {
    auto j = parse_json(where, "the condition");
    if (!j) {
      fail(rp, make_error(j.error_value()));
      return rp;
    }
    auto c = store::condition_from_json(*j);
    if (!c) {
      fail(rp, make_error(c.error_value()));
      return rp;
    }
    cond = std::move(*c);
  }
  auto& s = self_->state;
  auto n
    = is_owner(who)
        ? s.db->count(type, cond)
        : s.db->count(type, cond, store::visibility{closure(who.role), "read"});
  if (!n) {
    fail(rp, make_error(n.error_value()));
    return rp;
  }
  finish(rp, caf::make_message(dump(nlohmann::json{{"count", *n}})));
  return rp;
}

caf::message_handler store_behavior::item_handlers() {
  return {
    [this](get_atom, const caller& who, const std::string& type,
           std::int64_t id) -> caf::response_promise {
      return on_get(who, type, id);
    },
    [this](put_atom, const caller& who, const std::string& type,
           const std::string& json) -> caf::response_promise {
      return on_put(who, type, json);
    },
    [this](update_atom, const caller& who, const std::string& type,
           std::int64_t id, const std::string& json) -> caf::response_promise {
      return on_update(who, type, id, json);
    },
    [this](delete_atom, const caller& who, const std::string& type,
           std::int64_t id) -> caf::response_promise {
      return on_delete(who, type, id);
    },
    [this](query_atom, const caller& who, const std::string& json)
      -> caf::response_promise { return on_query(who, json); },
    [this](count_atom, const caller& who, const std::string& type,
           const std::string& where) -> caf::response_promise {
      return on_count(who, type, where);
    },
  };
}

} // namespace mantissa::actors::internal::store_parts
