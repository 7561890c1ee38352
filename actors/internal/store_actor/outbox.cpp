// Reliable messages (docs/interstore.md): the outbox, its deliveries
// and the answers' consequences.

#include "actors/internal/store_actor/behavior.hpp"

#include "actors/internal/completion.hpp"
#include "actors/scheduler.hpp"

namespace mantissa::actors::internal::store_parts {

/// At a commit: what becomes true once it is durable — newly queued
/// messages may be sent, handled answers may be acknowledged.
held_reply store_behavior::messages_committed() {
  auto& st = self_->state;
  held_reply h;
  auto q = store::last_queued(*st.db);
  auto queued = q ? *q : st.msg.queued_seq;
  bool more = queued > st.msg.queued_seq;
  st.msg.queued_seq = queued;
  if (!more && st.msg.acks.empty())
    return h;
  auto acks = std::move(st.msg.acks);
  st.msg.acks.clear();
  h.then = [this, queued, acks = std::move(acks)] {
    auto& s = self_->state;
    s.msg.durable_seq = std::max(s.msg.durable_seq, queued);
    for (auto& [target, seq] : acks) {
      auto& a = s.msg.safe_acked[target];
      a = std::max(a, seq);
    }
    self_->send(self_, outbox_atom_v);
  };
  return h;
}

/// The role a store's messages are checked for at the target.
std::string store_behavior::role_of(const std::string& address) {
  if (address == site_address)
    return system_role;
  if (address.find('@') != std::string::npos)
    return "user:" + address;
  return "app:" + address;
}

/// `t` plus `d`, as a store timestamp.
template<class Rep, class Period>
store::timestamp store_behavior::after(store::timestamp t,
                                       std::chrono::duration<Rep, Period> d) {
  return store::timestamp{
    t.micros
    + std::chrono::duration_cast<std::chrono::microseconds>(d).count()};
}

std::chrono::milliseconds store_behavior::backoff(const runtime& rt,
                                                  std::int64_t attempts) {
  auto d = rt.retry_min;
  for (std::int64_t i = 1; i < attempts && d < rt.retry_max; ++i)
    d *= 2;
  return std::min(d, rt.retry_max);
}

void store_behavior::arm_outbox(std::int64_t due) {
  auto& st = self_->state;
  if (!st.msg.outbox_alarm.arm(due))
    return;
  auto wait = std::max<std::int64_t>(0, due - now_timestamp().micros);
  self_->delayed_send(self_, std::chrono::microseconds(wait), outbox_atom_v);
}

/// Sends what is due in the outbox and runs kept answers' consequences.
void store_behavior::pump() {
  auto& st = self_->state;
  st.msg.outbox_alarm.fired();
  // (While frames left by the last run are synced, the first look at
  // the outbox waits: that sync's completion asks for it.)
  if (st.closing || !st.db || !st.rt->router || st.commit.open_sync_pending)
    return;
  auto now = now_timestamp();
  auto targets = store::active_targets(*st.db);
  if (!targets) {
    log("cannot read the outbox: " + targets.error_value().message);
    return;
  }
  // The first pump of an activation: a next attempt within the delivery
  // window may stand for a delivery the previous run of the node had in
  // flight when it stopped; it is made now.
  auto soon = st.msg.pumped ? now : after(now, st.rt->delivery_window());
  st.msg.pumped = true;
  for (auto& t : *targets) {
    if (st.msg.in_flight.count(t.target) != 0)
      continue;
    if (t.next_attempt && t.next_attempt->micros > soon.micros) {
      arm_outbox(t.next_attempt->micros);
      continue;
    }
    dispatch(t, now);
  }
  auto kept = store::answers_due(*st.db, now, 64);
  if (!kept) {
    log("cannot read kept answers: " + kept.error_value().message);
    return;
  }
  caf::response_promise sink;
  for (auto& m : *kept) {
    if (!open_batch(sink))
      return;
    auto a = nlohmann::json::parse(*m.answer, nullptr, false);
    handle_answer(m, a);
  }
  if (kept->size() == 64)
    self_->send(self_, outbox_atom_v);
  else if (auto od = store::outbox_due(*st.db);
           od && *od && (*od)->micros > now.micros)
    arm_outbox((*od)->micros);
}

/// Sends the next messages to one target through the router.
void store_behavior::dispatch(store::target_state t, store::timestamp now) {
  auto& st = self_->state;
  constexpr std::size_t batch_limit = 1024;
  auto rows
    = store::unanswered(*st.db, t.target, st.msg.durable_seq, batch_limit);
  if (!rows) {
    log("cannot read the outbox: " + rows.error_value().message);
    return;
  }
  caf::response_promise sink;
  if (rows->empty()) {
    auto more = store::has_unanswered(*st.db, t.target);
    if (!more || *more)
      return; // what is left is sent once it is durable
    if (!open_batch(sink))
      return;
    t.next_attempt.reset();
    t.attempts = 0;
    if (auto r = store::put_target(*st.db, t); !r)
      log("cannot update the outbox: " + r.error_value().message);
    return;
  }
  if (!open_batch(sink))
    return;
  // If no answer comes (the node stops), the timer wakes the store then.
  t.next_attempt = after(now, st.rt->delivery_window());
  if (auto r = store::put_target(*st.db, t); !r) {
    log("cannot update the outbox: " + r.error_value().message);
    return;
  }
  auto acked = st.msg.safe_acked.find(t.target);
  std::int64_t ack = acked == st.msg.safe_acked.end() ? 0 : acked->second;
  std::string text = "{\"sender\":" + nlohmann::json(st.address).dump()
                     + ",\"acked\":" + std::to_string(ack) + ",\"messages\":[";
  // At most about `delivery_bytes` (4 MiB) per delivery, always at least
  // one message: the rest goes with the next.
  const std::size_t batch_bytes = st.rt->delivery_bytes;
  std::size_t count = 0;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto& m = (*rows)[i];
    if (i > 0 && text.size() + m.payload.size() > batch_bytes)
      break;
    ++count;
    if (i > 0)
      text += ',';
    text += "{\"id\":" + std::to_string(m.seq)
            + ",\"share\":" + nlohmann::json(m.share_id).dump() + ",\"type\":"
            + nlohmann::json(m.type).dump() + ",\"payload\":" + m.payload + '}';
  }
  text += "]}";
  st.msg.in_flight.insert(t.target);
  caf::actor me = caf::actor_cast<caf::actor>(self_);
  auto last = (*rows)[count - 1].seq;
  auto target = t.target;
  completion done{std::make_shared<reply_handler>([me, target, last](reply r) {
    caf::anon_send(me, delivered_atom_v, target, last, r.ok, std::move(r.body),
                   static_cast<std::uint8_t>(r.code), std::move(r.message));
  })};
  self_->send(st.rt->router, call_atom_v, t.target,
              caf::make_message(inbox_atom::value, caller{system_role, {}},
                                std::move(text)),
              std::move(done));
}

nlohmann::json store_behavior::error_answer(error_code code,
                                            const std::string& why) {
  return {{"ok", false}, {"code", to_string(code)}, {"message", why}};
}

/// The router answered a delivery of messages up to `last` to `target`.
void store_behavior::on_delivered(const std::string& target, std::int64_t last,
                                  bool ok, const std::string& body,
                                  error_code code, const std::string& why) {
  auto& st = self_->state;
  st.msg.in_flight.erase(target);
  caf::response_promise sink;
  if (st.closing || !ensure_open(sink) || !open_batch(sink))
    return;
  auto& db = *st.db;
  auto t = store::get_target(db, target);
  if (!t) {
    log("cannot update the outbox: " + t.error_value().message);
    return;
  }
  auto now = now_timestamp();
  nlohmann::json answers;
  if (ok) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("answers") && j["answers"].is_array())
      answers = std::move(j["answers"]);
    else {
      ok = false;
      code = error_code::internal;
    }
  }
  if (!ok) {
    bool final
      = code == error_code::no_such_store || code == error_code::invalid_name;
    (final ? st.rt->stats.deliveries_final : st.rt->stats.deliveries_retried)
      .fetch_add(1, std::memory_order_relaxed);
    if (!final) {
      ++t->attempts;
      auto wait = backoff(*st.rt, t->attempts);
      t->next_attempt = after(now, wait);
      log("cannot deliver messages to " + target + " (attempt "
          + std::to_string(t->attempts) + ", next in "
          + std::to_string(wait.count()) + " ms): " + why);
      if (auto r = store::put_target(db, *t); !r)
        log("cannot update the outbox: " + r.error_value().message);
      arm_outbox(t->next_attempt->micros);
      return;
    }
    // No such store: every message sent is answered no_such_user.
    answers = nlohmann::json::array();
    auto rows = store::unanswered(db, target, last, 1024);
    if (rows)
      for (auto& m : *rows)
        answers.push_back(
          {{"id", m.seq},
           {"answer", error_answer(error_code::no_such_user,
                                   "no store " + target.substr(0, 128))}});
  }
  if (ok)
    st.rt->stats.deliveries_ok.fetch_add(1, std::memory_order_relaxed);
  if (st.msg.safe_acked.count(target) == 0)
    st.msg.safe_acked[target] = t->acked;
  for (auto& a : answers) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer())
      continue;
    auto seq = a["id"].get<std::int64_t>();
    auto row = store::find_outgoing(db, seq);
    if (!row) {
      log("cannot read the outbox: " + row.error_value().message);
      return;
    }
    // Gone or answered already: a repeated answer, handled once.
    if (!*row || (*row)->answer || (*row)->target != target)
      continue;
    handle_answer(**row, a.contains("answer") ? a["answer"] : nlohmann::json{});
    t->acked = std::max(t->acked, seq);
  }
  st.msg.acks.emplace_back(target, t->acked);
  t->attempts = 0;
  t->next_attempt = now; // the next messages go at once
  if (auto r = store::put_target(db, *t); !r)
    log("cannot update the outbox: " + r.error_value().message);
  dispatch(*t, now);
}

/// Runs the consequence of `m` for `answer` in a savepoint; the row goes
/// with it, or stays with the answer when the consequence fails.
void store_behavior::handle_answer(const store::outgoing& m,
                                   const nlohmann::json& answer) {
  auto& st = self_->state;
  auto& db = *st.db;
  message_answer a;
  (answer.is_object() && answer.value("ok", false)
     ? st.rt->stats.answers_ok
     : st.rt->stats.answers_failed)
    .fetch_add(1, std::memory_order_relaxed);
  if (answer.is_object() && answer.value("ok", false)) {
    a.ok = true;
    a.value = answer.contains("value") ? answer["value"] : nlohmann::json{};
  } else {
    a.code = answer.is_object() ? answer.value("code", "internal")
                                : std::string{"internal"};
    a.message = answer.is_object() ? answer.value("message", "")
                                   : std::string{"malformed answer"};
  }
  auto* type = st.rt->handlers->find_message_type(m.type);
  auto r = db.isolated([&]() -> store::result<void> {
    if (type != nullptr && type->consequence) {
      outgoing_message om{m.seq, m.target, m.share_id, m.type,
                          nlohmann::json::parse(m.payload, nullptr, false)};
      try {
        MANTISSA_TRY(type->consequence(db, om, a));
      } catch (const std::exception& e) {
        return store::error{store::errc::internal,
                            std::string{"consequence threw: "} + e.what()};
      }
    }
    return store::remove_outgoing(db, m.seq);
  });
  st.cache.clear();
  st.access.clear();
  if (r)
    return;
  log("the consequence of message " + std::to_string(m.seq) + " ("
      + m.type.substr(0, 128)
      + ") failed, kept for another try: " + r.error_value().message);
  auto retry = after(now_timestamp(), st.rt->retry_min);
  if (auto k = store::keep_answer(db, m.seq, dump(answer), retry); !k)
    log("cannot keep the answer: " + k.error_value().message);
  arm_outbox(retry.micros);
}

caf::message_handler store_behavior::outbox_handlers() {
  return {
    [this](delivered_atom, const std::string& target, std::int64_t last,
           bool ok, const std::string& body, std::uint8_t code,
           const std::string& why) {
      on_delivered(target, last, ok, body, static_cast<error_code>(code), why);
    },
    [this](outbox_atom) { pump(); },
  };
}

} // namespace mantissa::actors::internal::store_parts
