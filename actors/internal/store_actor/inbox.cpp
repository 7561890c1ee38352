// Messages received (docs/interstore.md): reliable batches and plain
// requests.

#include "actors/internal/store_actor/behavior.hpp"

namespace mantissa::actors::internal::store_parts {

/// Processes one message for the receiver: the recorded answer if it
/// was processed before, else runs its handler and records the answer.
/// Fails only when the record cannot be read or written.
store::result<nlohmann::json>
store_behavior::receive_one(const std::string& sender, const std::string& role,
                            const nlohmann::json& m) {
  auto& db = *self_->state.db;
  if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer()
      || !m.contains("type") || !m["type"].is_string())
    return error_answer(error_code::invalid_value,
                        "a message needs an integer id and a type");
  auto seq = m["id"].get<std::int64_t>();
  auto rec = store::find_received(db, sender, seq);
  if (!rec)
    return std::move(rec).error_value();
  if (*rec)
    return nlohmann::json::parse(**rec, nullptr, false);
  return process_message(sender, role, seq, m, true);
}

/// Runs the receiver of message `m` (`{type, share?, payload?}`) from
/// `sender`, whose role is `role`, and returns its answer. With `record`
/// (a reliable message `seq`), the answer is recorded with the
/// handler's effect; a failure to record is the only error.
store::result<nlohmann::json>
store_behavior::process_message(const std::string& sender,
                                const std::string& role, std::int64_t seq,
                                const nlohmann::json& m, bool record) {
  auto& st = self_->state;
  auto& db = *st.db;
  auto type = m.contains("type") && m["type"].is_string()
                ? m["type"].get<std::string>()
                : std::string{};
  auto share_id = m.contains("share") && m["share"].is_string()
                    ? m["share"].get<std::string>()
                    : std::string{};
  nlohmann::json answer;
  if (st.msg.share_version != db.sharing_version()) {
    st.msg.message_shares.clear();
    st.msg.share_version = db.sharing_version();
  }
  auto key = std::pair{role, share_id};
  auto memo = st.msg.message_shares.find(key);
  if (memo == st.msg.message_shares.end()) {
    if (st.msg.message_shares.size() >= 256)
      st.msg.message_shares.clear();
    memo = st.msg.message_shares
             .emplace(std::move(key), find_share(caller{role, {}}, share_id))
             .first;
  }
  const auto& shared = memo->second;
  auto grants = [&](const char* iface) {
    return std::find(shared->interfaces.begin(), shared->interfaces.end(),
                     iface)
           != shared->interfaces.end();
  };
  bool open = shared && (grants("messages") || grants("*"));
  auto* handling = st.rt->handlers->find_message_type(type);
  if (!open) {
    answer = error_answer(error_code::no_such_share,
                          "no share '" + share_id.substr(0, 64)
                            + "' takes messages from " + role.substr(0, 128));
  } else if (handling == nullptr || !handling->receive) {
    answer = error_answer(error_code::handler_failed,
                          "no handler for messages of type '"
                            + type.substr(0, 128) + "'");
  } else {
    incoming_message in{sender,
                        role,
                        seq,
                        type,
                        shared->share_id,
                        shared->item,
                        m.contains("payload") ? m["payload"]
                                              : nlohmann::json{}};
    auto r = db.isolated([&]() -> store::result<nlohmann::json> {
      store::result<nlohmann::json> v = nlohmann::json{};
      try {
        v = handling->receive(db, in);
      } catch (const std::exception& e) {
        return store::error{store::errc::internal,
                            std::string{"handler threw: "} + e.what()};
      }
      if (!v)
        return v;
      nlohmann::json ok{{"ok", true}, {"value", std::move(*v)}};
      if (record)
        MANTISSA_TRY(store::record_received(db, sender, seq, dump(ok)));
      return ok;
    });
    if (r)
      return std::move(*r);
    answer = error_answer(error_code::handler_failed, r.error_value().message);
  }
  if (record)
    MANTISSA_TRY(store::record_received(db, sender, seq, dump(answer)));
  return answer;
}

/// Whether `who` may send messages as `sender` (whose role is `role`).
bool store_behavior::truthful(const caller& who, const std::string& sender,
                              const std::string& role) {
  return !sender.empty() && (who.role == system_role || who.role == role);
}

/// A plain request (protocol.hpp, ask_atom): processed now, not recorded.
void store_behavior::on_ask(caf::response_promise& rp, const caller& who,
                            const std::string& text) {
  auto& st = self_->state;
  auto j = parse_or_fail(rp, text, "the request");
  if (!j)
    return;
  if (!j->is_object() || !j->contains("sender") || !(*j)["sender"].is_string()
      || !j->contains("type") || !(*j)["type"].is_string()) {
    fail(rp, make_error(error_code::invalid_value,
                        "a plain request is {\"sender\":ADDRESS,"
                        "\"share\":S,\"type\":T,\"payload\":{...}}"));
    return;
  }
  auto sender = (*j)["sender"].get<std::string>();
  auto role = role_of(sender);
  if (!truthful(who, sender, role)) {
    finish(rp, caf::make_message(dump(error_answer(
                 error_code::bad_sender,
                 "the caller may not send as " + sender.substr(0, 128)))));
    return;
  }
  if (!open_batch(rp))
    return;
  auto a = process_message(sender, role, 0, *j, false);
  st.cache.clear();
  st.access.clear();
  if (!a) {
    fail(rp,
         make_error(error_code::store_unavailable, a.error_value().message));
    return;
  }
  finish(rp, caf::make_message(dump(*a)));
}

void store_behavior::on_inbox(caf::response_promise& rp, const caller& who,
                              const std::string& batch) {
  auto& st = self_->state;
  auto j = parse_or_fail(rp, batch, "the messages");
  if (!j)
    return;
  if (!j->is_object() || !j->contains("sender") || !(*j)["sender"].is_string()
      || !j->contains("messages") || !(*j)["messages"].is_array()) {
    fail(rp, make_error(error_code::invalid_value,
                        "a message batch is {\"sender\":ADDRESS,"
                        "\"acked\":N,\"messages\":[...]}"));
    return;
  }
  auto sender = (*j)["sender"].get<std::string>();
  auto role = role_of(sender);
  bool truthful = this->truthful(who, sender, role);
  if (!open_batch(rp))
    return;
  auto& db = *st.db;
  if (truthful)
    st.rt->stats.messages_received.fetch_add(
      static_cast<std::int64_t>((*j)["messages"].size()),
      std::memory_order_relaxed);
  auto acked = j->value("acked", std::int64_t{0});
  if (truthful && acked > 0)
    if (auto r = store::forget_received(db, sender, acked); !r)
      log("cannot forget answered messages: " + r.error_value().message);
  auto answers = nlohmann::json::array();
  for (auto& m : (*j)["messages"]) {
    auto id = m.is_object() && m.contains("id") ? m["id"] : nlohmann::json{};
    if (!truthful) {
      answers.push_back({{"id", id},
                         {"answer", error_answer(error_code::bad_sender,
                                                 "the caller may not send "
                                                 "as "
                                                   + sender.substr(0, 128))}});
      continue;
    }
    auto a = receive_one(sender, role, m);
    if (!a) {
      // The record cannot be kept: stop here; the sender sends the rest
      // (and these again, answered from their records) later.
      fail(rp,
           make_error(error_code::store_unavailable,
                      "cannot record a message: " + a.error_value().message));
      st.cache.clear();
      st.access.clear();
      return;
    }
    answers.push_back({{"id", id}, {"answer", std::move(*a)}});
  }
  st.cache.clear();
  st.access.clear();
  finish(rp, caf::make_message(dump(nlohmann::json{{"answers", answers}})));
}

caf::response_promise
store_behavior::on_inbox_request(const caller& who, const std::string& batch) {
  auto rp = begin_request();
  trace(who, "inbox");
  if (ensure_open(rp))
    on_inbox(rp, who, batch);
  return rp;
}

caf::response_promise
store_behavior::on_ask_request(const caller& who, const std::string& request) {
  auto rp = begin_request();
  trace(who, "ask");
  if (ensure_open(rp))
    on_ask(rp, who, request);
  return rp;
}

caf::message_handler store_behavior::inbox_handlers() {
  return {
    [this](inbox_atom, const caller& who, const std::string& batch)
      -> caf::response_promise { return on_inbox_request(who, batch); },
    [this](ask_atom, const caller& who, const std::string& request)
      -> caf::response_promise { return on_ask_request(who, request); },
  };
}

} // namespace mantissa::actors::internal::store_parts
