// Plain requests made by requesting handlers, and their answers.

#include "actors/internal/store_actor/behavior.hpp"

#include "actors/internal/completion.hpp"

namespace mantissa::actors::internal::store_parts {

/// Goes on with a requesting handler after one of its steps (which ran
/// in a savepoint of the open batch): replies, or sends its request.
void store_behavior::next_step(caf::response_promise& rp,
                               store::result<handler_step> r, int steps) {
  auto& st = self_->state;
  // A step may change anything, shares and memberships included.
  st.cache.clear();
  st.access.clear();
  if (!r) {
    fail(rp, make_error(r.error_value()));
    return;
  }
  if (!r->request) {
    finish(rp, caf::make_message(dump(r->value)));
    return;
  }
  if (!r->then || steps >= max_steps) {
    fail(rp, make_error(error_code::invalid_value,
                        !r->then
                          ? std::string{"a plain request needs a "
                                        "continuation"}
                          : "a handler may make at most "
                              + std::to_string(max_steps) + " plain requests"));
    return;
  }
  auto& req = *r->request;
  auto text = nlohmann::json{{"sender", st.address},
                             {"share", req.share_id},
                             {"type", req.type},
                             {"payload", req.payload}}
                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > store::max_payload_size + 4096) {
    fail(rp, make_error(error_code::invalid_value,
                        "a plain request's payload is at most 1 MiB of "
                        "JSON"));
    return;
  }
  auto token = ++st.msg.last_ask;
  st.msg.asks.emplace(token, messaging_state::pending_ask{
                               std::move(rp), std::move(r->then), steps + 1});
  if (!st.rt->router) {
    self_->send(self_, asked_atom_v, token, false, std::string{},
                static_cast<std::uint8_t>(error_code::store_unavailable),
                std::string{"this node sends no interstore requests"});
    return;
  }
  caf::actor me = caf::actor_cast<caf::actor>(self_);
  completion done{std::make_shared<reply_handler>([me, token](reply a) {
    caf::anon_send(me, asked_atom_v, token, a.ok, std::move(a.body),
                   static_cast<std::uint8_t>(a.code), std::move(a.message));
  })};
  self_->send(st.rt->router, call_atom_v, req.target,
              caf::make_message(ask_atom::value,
                                caller{role_of(st.address), {}},
                                std::move(text)),
              std::move(done));
}

/// The answer to the plain request `token` came: runs the continuation.
void store_behavior::on_asked(std::uint64_t token, bool ok,
                              const std::string& body, error_code code,
                              const std::string& why) {
  auto& st = self_->state;
  auto i = st.msg.asks.find(token);
  if (i == st.msg.asks.end())
    return;
  auto p = std::move(i->second);
  st.msg.asks.erase(i);
  message_answer a;
  if (ok) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object() && j.value("ok", false)) {
      a.ok = true;
      a.value = j.contains("value") ? j["value"] : nlohmann::json{};
    } else {
      a.code
        = j.is_object() ? j.value("code", "internal") : std::string{"internal"};
      a.message = j.is_object() ? j.value("message", "")
                                : std::string{"malformed answer"};
    }
  } else {
    // As for reliable messages: a target that does not exist is a user
    // that does not.
    bool missing
      = code == error_code::no_such_store || code == error_code::invalid_name;
    a.code = to_string(missing ? error_code::no_such_user : code);
    a.message = why;
  }
  if (st.closing || !ensure_open(p.rp) || !open_batch(p.rp))
    return;
  auto step = [&]() -> store::result<handler_step> {
    try {
      return st.db->isolated([&] { return p.then(*st.db, a); });
    } catch (const std::exception& e) {
      return store::error{store::errc::internal,
                          std::string{"continuation failed: "} + e.what()};
    }
  }();
  next_step(p.rp, std::move(step), p.steps);
}

caf::message_handler store_behavior::ask_handlers() {
  return {
    [this](asked_atom, std::uint64_t token, bool ok, const std::string& body,
           std::uint8_t code, const std::string& why) {
      on_asked(token, ok, body, static_cast<error_code>(code), why);
    },
  };
}

} // namespace mantissa::actors::internal::store_parts
