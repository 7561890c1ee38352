#include "log/log.hpp"
#include "actors/internal/timer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "wire/errors.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/runtime.hpp"
#include "wire/protocol.hpp"
#include "actors/scheduler.hpp"
#include "store/sqlite.hpp"

namespace mantissa::actors::internal {

namespace {

/// How long a woken store has to report its next due time before it is
/// woken again.
constexpr std::int64_t retry_micros = 60'000'000;
/// The longest the timer sleeps without looking at its index.
constexpr auto max_sleep = std::chrono::hours(1);

void log_line(const std::string& what) {
  mantissa::log::warn("timer", what);
}

struct timer_state {
  static inline const char* name = "mantissa.timer";

  runtime* rt = nullptr;
  caf::actor manager;
  std::unique_ptr<store::sqlite::connection> db; // null: memory only
  std::map<std::string, std::int64_t> due_by_store;
  std::set<std::pair<std::int64_t, std::string>> order;
  std::int64_t armed_for = -1; // due time of the pending tick, -1: none

  void set(const std::string& address, std::int64_t due) {
    if (auto i = due_by_store.find(address); i != due_by_store.end()) {
      order.erase({i->second, address});
      due_by_store.erase(i);
    }
    if (due >= 0) {
      due_by_store.emplace(address, due);
      order.emplace(due, address);
    }
  }

  /// Writes the entry durably; false (logged) when the file fails.
  bool persist(const std::string& address, std::int64_t due) {
    if (!db)
      return false;
    auto r = due >= 0 ? db->run("INSERT INTO due(address, due) VALUES (?, ?) "
                                "ON CONFLICT(address) DO UPDATE SET due = "
                                "excluded.due",
                                address, due)
                      : db->run("DELETE FROM due WHERE address = ?", address);
    if (!r) {
      log_line("cannot record the next due time of " + address + ": "
               + r.error_value().message);
      return false;
    }
    return true;
  }
};

using timer_actor = caf::stateful_actor<timer_state>;

void arm(timer_actor* self) {
  auto& st = self->state;
  if (st.order.empty())
    return;
  auto first = st.order.begin()->first;
  if (st.armed_for >= 0 && st.armed_for <= first)
    return;
  auto wait = std::chrono::microseconds(
    std::max<std::int64_t>(0, first - now_timestamp().micros));
  auto sleep = std::min<std::chrono::microseconds>(wait, max_sleep);
  st.armed_for = first;
  self->delayed_send(self, sleep, tick_atom_v);
}

void wake_due(timer_actor* self) {
  auto& st = self->state;
  st.armed_for = -1;
  auto now = now_timestamp().micros;
  std::vector<std::string> due;
  for (auto& [when, address] : st.order) {
    if (when > now)
      break;
    due.push_back(address);
    st.rt->stats.scheduler_lag.observe(static_cast<double>(now - when) / 1e6);
  }
  for (auto& address : due) {
    // In memory only: the store reports its real next time once woken.
    st.set(address, now + retry_micros);
    self
      ->request(st.manager, std::chrono::seconds(60), store_atom::value,
                address)
      .then([self](const caf::actor& store) { self->send(store, tick_atom_v); },
            [self, address](caf::error& err) {
              if (code_of(err) == error_code::no_such_store) {
                self->state.set(address, -1);
                self->state.persist(address, -1);
                return;
              }
              log_line("cannot wake store " + address + ": "
                       + error_message(err));
            });
  }
  arm(self);
}

caf::behavior timer_fun(timer_actor* self, runtime* rt, caf::actor manager) {
  auto& st = self->state;
  st.rt = rt;
  st.manager = std::move(manager);
  store::sqlite::open_options opts;
  opts.synchronous = rt->synchronous;
  auto path = rt->data_dir / "schedule.sqlite";
  auto db = store::sqlite::connection::open(path, opts);
  if (db
      && (*db)->exec("CREATE TABLE IF NOT EXISTS due(address TEXT PRIMARY "
                     "KEY, due INTEGER NOT NULL) STRICT, WITHOUT ROWID"))
    st.db = std::move(*db);
  else
    log_line("cannot open " + path.string()
             + "; timed events of passivated stores wait for their next "
               "activation");
  if (st.db) {
    if (auto q = st.db->query("SELECT address, due FROM due"); q) {
      for (;;) {
        auto row = (*q)->step();
        if (!row || !*row)
          break;
        st.set(std::string{(*q)->column_text(0)}, (*q)->column_int64(1));
      }
    }
  }
  // A store that was sending reliable messages when the node stopped is
  // indexed for the end of its delivery window: wake it now instead.
  {
    auto soon = now_timestamp().micros
                + std::chrono::duration_cast<std::chrono::microseconds>(
                    rt->delivery_window())
                    .count();
    std::vector<std::string> early;
    for (auto& [when, address] : st.order) {
      if (when > soon)
        break;
      early.push_back(address);
    }
    auto now = now_timestamp().micros;
    for (auto& address : early)
      st.set(address, now);
  }
  arm(self);
  return {
    [self](due_atom, const std::string& address, std::int64_t due) {
      auto& s = self->state;
      s.set(address, due);
      s.persist(address, due);
      arm(self);
      return ok_atom_v;
    },
    [self](tick_atom) { wake_due(self); },
  };
}

} // namespace

caf::actor spawn_timer(caf::actor_system& sys, runtime& rt,
                       const caf::actor& manager) {
  return sys.spawn(timer_fun, &rt, manager);
}

} // namespace mantissa::actors::internal
