// Powerups and handlers: install, uninstall, list, run.

#include "actors/internal/store_actor/behavior.hpp"

namespace mantissa::actors::internal::store_parts {

/// The arguments of a handler: JSON text, or null when empty; or fails
/// `rp`.
std::optional<nlohmann::json>
store_behavior::handler_args(caf::response_promise& rp,
                             const std::string& args) {
  if (args.empty())
    return nlohmann::json();
  return parse_or_fail(rp, args, "the arguments");
}

/// Runs handler `name` (`f` on the store) isolated inside the open batch
/// — its failure undoes only its own writes, not the other writes of the
/// batch — and answers `rp` with its JSON.
template<class F>
void store_behavior::run_isolated(caf::response_promise& rp,
                                  const std::string& name, F&& f) {
  auto& s = self_->state;
  auto r = [&]() -> store::result<nlohmann::json> {
    try {
      return s.db->isolated([&] { return f(*s.db); });
    } catch (const std::exception& e) {
      return store::error{store::errc::internal,
                          "handler " + name + " failed: " + e.what()};
    }
  }();
  // A handler may change anything, shares and memberships included.
  s.cache.clear();
  s.access.clear();
  if (!r) {
    fail(rp, make_error(r.error_value()));
    return;
  }
  finish(rp, caf::make_message(dump(*r)));
}

caf::response_promise store_behavior::on_install(const caller& who,
                                                 const std::string& type,
                                                 std::int64_t id,
                                                 const std::string& json) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "install", "installing powerups"))
    return rp;
  std::optional<std::vector<store::powerup_interface>> ifaces;
  if (!json.empty()) {
    auto j = parse_json(json, "the interfaces");
    if (!j) {
      fail(rp, make_error(j.error_value()));
      return rp;
    }
    if (!j->is_array()) {
      fail(rp, make_error(error_code::invalid_query,
                          "interfaces must be a JSON array"));
      return rp;
    }
    if (!j->empty()) {
      ifaces.emplace();
      for (auto& e : *j) {
        if (!e.is_object() || !e.contains("interface")
            || !e["interface"].is_string()) {
          fail(rp, make_error(error_code::invalid_query,
                              "each interface is {\"interface\":NAME,"
                              "\"priority\":N}"));
          return rp;
        }
        int prio = e.contains("priority") && e["priority"].is_number_integer()
                     ? e["priority"].get<int>()
                     : 0;
        ifaces->push_back({e["interface"].get<std::string>(), prio});
      }
    }
  }
  if (!open_batch(rp))
    return rp;
  if (auto r = self_->state.db->install({type, id}, 0, std::move(ifaces)); !r) {
    fail(rp, make_error(r.error_value()));
    return rp;
  }
  finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
  return rp;
}

caf::response_promise store_behavior::on_uninstall(const caller& who,
                                                   const std::string& type,
                                                   std::int64_t id) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "uninstall", "uninstalling powerups"))
    return rp;
  if (!open_batch(rp))
    return rp;
  auto& s = self_->state;
  if (auto r = s.db->uninstall({type, id}, 0); !r) {
    fail(rp, make_error(r.error_value()));
    return rp;
  }
  s.cache.clear();
  s.access.clear_interfaces();
  finish(rp, caf::make_message(std::string{"{\"ok\":true}"}));
  return rp;
}

caf::response_promise
store_behavior::on_powerups(const caller& who, const std::string& interface) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "powerups", "listing powerups"))
    return rp;
  auto& s = self_->state;
  auto items = s.db->powerups_for(interface, 0);
  if (!items) {
    fail(rp, make_error(items.error_value()));
    return rp;
  }
  auto out = nlohmann::json::array();
  for (auto& it : *items)
    if (auto* d = s.rt->types->current(it.type))
      out.push_back(store::to_json(*d, it));
  finish(rp, caf::make_message(dump(out)));
  return rp;
}

/// Who may run handler `name` and on what (docs/offerings.md, "Who may
/// run a handler"): the owner always; anyone else only through a share
/// (`share_id` not empty) that grants the caller's roles the handler's
/// interface. Sets `shared` to that share (or, for the owner naming one,
/// to the share with every interface); false when `rp` is answered. A
/// caller who may not run the handler gets the answer for a handler that
/// does not exist.
bool store_behavior::may_run(caf::response_promise& rp, const caller& who,
                             const std::string& name,
                             const std::string& share_id,
                             std::optional<store::shared_item>& shared) {
  auto& rt = *self_->state.rt;
  bool exists = rt.handlers->find(name) != nullptr
                || rt.handlers->find_requesting(name) != nullptr;
  auto unknown = [&] {
    fail(rp, make_error(error_code::no_such_handler, "no handler named '"
                                                       + name.substr(0, 128)
                                                       + "' is registered"));
    return false;
  };
  if (!exists)
    return unknown();
  bool owner = is_owner(who);
  if (share_id.empty())
    return owner || unknown();
  auto iface = rt.handlers->interface_of(name);
  if (!owner && iface.empty())
    return unknown();
  shared = find_share(who, share_id);
  if (!shared) {
    if (!owner)
      return unknown();
    fail(rp, make_error(error_code::no_such_item,
                        "no share '" + share_id.substr(0, 64) + "'"));
    return false;
  }
  auto& have = shared->interfaces;
  if (owner || std::find(have.begin(), have.end(), iface) != have.end())
    return true;
  return unknown();
}

/// The arguments a handler gets: `args` as sent, with the member `shared`
/// set by the store when it runs through a share (`{"share_id","type",
/// "id","interfaces"}`) and removed otherwise, so a handler can trust it.
/// Through a share the arguments must be an object (null becomes {}).
bool store_behavior::with_share(caf::response_promise& rp, nlohmann::json& args,
                                const std::optional<store::shared_item>& sh) {
  if (sh && args.is_null())
    args = nlohmann::json::object();
  if (!args.is_object()) {
    if (!sh)
      return true;
    fail(rp, make_error(error_code::invalid_value,
                        "the arguments of a handler run through a share "
                        "must be a JSON object"));
    return false;
  }
  args.erase("shared");
  if (sh)
    args["shared"] = {{"share_id", sh->share_id},
                     {"type", sh->item.type},
                     {"id", sh->item.id},
                     {"interfaces", sh->interfaces}};
  return true;
}

caf::response_promise store_behavior::on_run(const caller& who,
                                             const std::string& name,
                                             const std::string& args,
                                             const std::string& share_id) {
  auto rp = begin_request();
  trace(who, "run");
  if (hidden_store(who, rp) || !ensure_open(rp))
    return rp;
  std::optional<store::shared_item> shared;
  if (!may_run(rp, who, name, share_id, shared))
    return rp;
  auto j = handler_args(rp, args);
  if (!j || !with_share(rp, *j, shared) || !open_batch(rp))
    return rp;
  auto& s = self_->state;
  if (auto* hr = s.rt->handlers->find_requesting(name)) {
    auto step = [&]() -> store::result<handler_step> {
      try {
        return s.db->isolated([&] { return (*hr)(*s.db, *j, who); });
      } catch (const std::exception& e) {
        return store::error{store::errc::internal,
                            "handler " + name + " failed: " + e.what()};
      }
    }();
    next_step(rp, std::move(step), 0);
    return rp;
  }
  auto* h = s.rt->handlers->find(name);
  run_isolated(rp, name, [&](store::store& db) { return (*h)(db, *j, who); });
  return rp;
}

caf::response_promise
store_behavior::on_run_payload(const caller& who, const std::string& name,
                               const std::string& args,
                               const shared_bytes& payload) {
  auto rp = begin_request();
  if (!owner_request(rp, who, "run", "running handlers"))
    return rp;
  auto* h = self_->state.rt->handlers->find_payload(name);
  if (h == nullptr) {
    fail(rp, make_error(error_code::no_such_handler, "no handler named '"
                                                       + name.substr(0, 128)
                                                       + "' takes a payload"));
    return rp;
  }
  auto j = handler_args(rp, args);
  if (!j || !open_batch(rp))
    return rp;
  if (payload.view().size() > (std::size_t{1} << 20))
    self_->state.commit.release_after_commit = true;
  run_isolated(rp, name, [&](store::store& db) {
    return (*h)(db, *j, payload.view(), who);
  });
  return rp;
}

caf::message_handler store_behavior::powerup_handlers() {
  return {
    [this](install_atom, const caller& who, const std::string& type,
           std::int64_t id, const std::string& json) -> caf::response_promise {
      return on_install(who, type, id, json);
    },
    [this](uninstall_atom, const caller& who, const std::string& type,
           std::int64_t id) -> caf::response_promise {
      return on_uninstall(who, type, id);
    },
    [this](powerups_atom, const caller& who, const std::string& interface)
      -> caf::response_promise { return on_powerups(who, interface); },
    [this](run_atom, const caller& who, const std::string& name,
           const std::string& args) -> caf::response_promise {
      return on_run(who, name, args, {});
    },
    [this](run_atom, const caller& who, const std::string& name,
           const std::string& args,
           const std::string& share_id) -> caf::response_promise {
      return on_run(who, name, args, share_id);
    },
    [this](run_atom, const caller& who, const std::string& name,
           const std::string& args,
           const shared_bytes& payload) -> caf::response_promise {
      return on_run_payload(who, name, args, payload);
    },
  };
}

} // namespace mantissa::actors::internal::store_parts
