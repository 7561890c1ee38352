#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>
#include <caf/stateful_actor.hpp>

#include "wire/errors.hpp"
#include "actors/handlers.hpp"
#include "actors/internal/atoms.hpp"
#include "actors/internal/manager.hpp"
#include "actors/internal/runtime.hpp"
#include "actors/internal/store_actor/json_text.hpp"
#include "actors/internal/store_actor/state.hpp"
#include "wire/protocol.hpp"
#include "store/messaging.hpp"
#include "store/sharing.hpp"
#include "store/store.hpp"

namespace mantissa::actors::internal::store_parts {

/// The store actor's handlers and the steps they share; each concern's
/// functions are defined in the file named after it in this folder, with
/// the message handlers it contributes (`*_handlers`), and `make` composes
/// them. Used only by the owning store actor (one per actor, kept alive by
/// `store_state::behavior_impl`).
class store_behavior {
 public:
  explicit store_behavior(store_actor* self) : self_(self) {}

  /// The behavior of a serving store: every concern's handlers.
  caf::behavior make();

  /// The mover went away (a node stopping): undo, unless the switch got
  /// as far as the marker (then the directory decides at the next
  /// activation).
  void on_mover_gone();

 private:
  // -- activation, passivation, requests -------------------------------

  bool ensure_open(caf::response_promise& rp);
  bool unchanged_since_open() const;
  void count_outbox();
  void uncount_outbox();
  void snapshots(int delta);
  void trace(const caller& who, const char* op);
  void log(const std::string& what);
  void passivate();
  void on_idle_check();
  caf::response_promise begin_request();
  caf::message_handler lifecycle_handlers();

  // -- timed events (docs/scheduler.md) --------------------------------

  std::int64_t next_due();
  void arm_tick(std::int64_t due);
  void report_due(std::int64_t due, bool exact, bool gate);
  void after_commit();
  void on_tick();
  std::int64_t wake_due(std::int64_t sched_due);
  caf::message_handler due_handlers();

  // -- group commit and WAL sync ---------------------------------------

  void finish(caf::response_promise& rp, caf::message reply);
  void fail(caf::response_promise& rp, caf::error err);
  bool open_batch(caf::response_promise& rp);
  void commit(bool final = false);
  void commit_batch(bool final);
  void start_sync();
  void on_synced(std::uint64_t target, int rc);
  void deliver_synced();
  void sync_failed(std::uint64_t target, const std::string& why);
  void sync_now();
  caf::message_handler commit_handlers();

  // -- authorization (docs/security.md) --------------------------------

  const store::type_decl* decl(const std::string& type,
                               caf::response_promise& rp);
  const std::vector<std::string>& closure(const std::string& role);
  bool is_owner(const caller& who);
  bool can(const caller& who, std::int64_t id, std::string_view iface);
  static caf::error hidden(const std::string& type, std::int64_t id);
  bool hidden_store(const caller& who, caf::response_promise& rp);
  bool owner_request(caf::response_promise& rp, const caller& who,
                     const char* op, const char* what);
  bool item_write_request(caf::response_promise& rp, const caller& who,
                          const char* op, const std::string& type,
                          std::int64_t id, std::string_view iface);
  bool require_owner(const caller& who, caf::response_promise& rp,
                     const char* what);
  bool require_node_for(const std::string& type, const caller& who,
                        caf::response_promise& rp, const char* verb = "writes");
  bool require_node_to_read(const std::string& type, const caller& who,
                            caf::response_promise& rp);
  std::optional<nlohmann::json> parse_or_fail(caf::response_promise& rp,
                                              const std::string& text,
                                              const char* what);
  std::optional<store::shared_item> find_share(const caller& who,
                                               const std::string& share_id);

  // -- items -----------------------------------------------------------

  caf::response_promise on_get(const caller& who, const std::string& type,
                               std::int64_t id);
  caf::response_promise on_put(const caller& who, const std::string& type,
                               const std::string& json);
  caf::response_promise on_update(const caller& who, const std::string& type,
                                  std::int64_t id, const std::string& json);
  caf::response_promise on_delete(const caller& who, const std::string& type,
                                  std::int64_t id);
  caf::response_promise on_query(const caller& who, const std::string& json);
  caf::response_promise on_count(const caller& who, const std::string& type,
                                 const std::string& where);
  caf::message_handler item_handlers();

  // -- powerups and handlers -------------------------------------------

  std::optional<nlohmann::json> handler_args(caf::response_promise& rp,
                                             const std::string& args);
  template<class F>
  void run_isolated(caf::response_promise& rp, const std::string& name, F&& f);
  caf::response_promise on_install(const caller& who, const std::string& type,
                                   std::int64_t id, const std::string& json);
  caf::response_promise on_uninstall(const caller& who, const std::string& type,
                                     std::int64_t id);
  caf::response_promise on_powerups(const caller& who,
                                    const std::string& interface);
  bool may_run(caf::response_promise& rp, const caller& who,
               const std::string& name, const std::string& share_id,
               std::optional<store::shared_item>& shared);
  bool with_share(caf::response_promise& rp, nlohmann::json& args,
                  const std::optional<store::shared_item>& shared);
  caf::response_promise on_run(const caller& who, const std::string& name,
                               const std::string& args,
                               const std::string& share_id);
  caf::response_promise on_run_payload(const caller& who,
                                       const std::string& name,
                                       const std::string& args,
                                       const shared_bytes& payload);
  caf::message_handler powerup_handlers();

  // -- shares and groups -----------------------------------------------

  caf::response_promise on_share(const caller& who, const std::string& type,
                                 std::int64_t id, const std::string& role,
                                 const std::string& interfaces,
                                 const std::string& share_id);
  caf::response_promise on_unshare(const caller& who,
                                   const std::string& share_id,
                                   const std::string& role);
  caf::response_promise on_shares(const caller& who, std::int64_t id);
  caf::response_promise on_visible(const caller& who);
  caf::response_promise on_getshare(const caller& who,
                                    const std::string& share_id);
  caf::response_promise on_member(const caller& who, const std::string& member,
                                  const std::string& group, bool add);
  caf::response_promise on_defshare(const caller& who,
                                    const std::string& share_id);
  caf::message_handler sharing_handlers();

  // -- reliable messages: the outbox (docs/interstore.md) --------------

  held_reply messages_committed();
  static std::string role_of(const std::string& address);
  template<class Rep, class Period>
  static store::timestamp after(store::timestamp t,
                                std::chrono::duration<Rep, Period> d);
  static std::chrono::milliseconds backoff(const runtime& rt,
                                           std::int64_t attempts);
  void arm_outbox(std::int64_t due);
  void pump();
  void dispatch(store::target_state t, store::timestamp now);
  static nlohmann::json error_answer(error_code code, const std::string& why);
  void on_delivered(const std::string& target, std::int64_t last, bool ok,
                    const std::string& body, error_code code,
                    const std::string& why);
  void handle_answer(const store::outgoing& m, const nlohmann::json& answer);
  caf::message_handler outbox_handlers();

  // -- reliable messages and plain requests received -------------------

  store::result<nlohmann::json> receive_one(const std::string& sender,
                                            const std::string& role,
                                            const nlohmann::json& m);
  store::result<nlohmann::json>
  process_message(const std::string& sender, const std::string& role,
                  std::int64_t seq, const nlohmann::json& m, bool record);
  static bool truthful(const caller& who, const std::string& sender,
                       const std::string& role);
  void on_ask(caf::response_promise& rp, const caller& who,
              const std::string& text);
  void on_inbox(caf::response_promise& rp, const caller& who,
                const std::string& batch);
  caf::response_promise on_inbox_request(const caller& who,
                                         const std::string& batch);
  caf::response_promise on_ask_request(const caller& who,
                                       const std::string& request);
  caf::message_handler inbox_handlers();

  // -- plain requests of requesting handlers ---------------------------

  void next_step(caf::response_promise& rp, store::result<handler_step> r,
                 int steps);
  void on_asked(std::uint64_t token, bool ok, const std::string& body,
                error_code code, const std::string& why);
  caf::message_handler ask_handlers();

  // -- backups (docs/operations.md) ------------------------------------

  /// What a step of a backup leaves: more steps, or nothing for now.
  enum class backup_step { more, stop };
  void start_backup(backup_job job);
  void advance_backup(bool to_end);
  void backup_failed(const store::error& e, bool to_end);
  backup_step copy_backup(backup_job& job, bool to_end,
                          clock_type::time_point t0);
  backup_step complete_copy(backup_job& job, bool to_end,
                            clock_type::time_point t0);
  backup_step hash_backup(backup_job& job, bool to_end,
                          clock_type::time_point t0);
  void answer_backup(const std::string& sha256);
  void on_backup_finished(bool ok, std::uint64_t bytes,
                          const std::string& sha256_or_error);
  caf::response_promise on_backup(const caller& who, const std::string& dest);
  void on_bkstep();
  caf::message_handler backup_handlers();

  // -- moves and replicas (actors/internal/move.hpp) -------------------

  void ship_changes();
  void replica_failed(const std::string& why);
  void resync();
  caf::result<std::string> freeze();
  void thaw();
  void close_moved(bool remove);
  caf::behavior frozen_behavior();
  caf::response_promise on_movesnap(const caller& who, const std::string& dest);
  caf::result<std::string> on_freeze();
  caf::result<caf::ok_atom> on_replstart(const std::string& node,
                                         std::int64_t epoch);
  caf::message_handler move_handlers();

  /// How many plain requests one run of a handler may make.
  static constexpr int max_steps = 16;

  store_actor* self_;
};

} // namespace mantissa::actors::internal::store_parts
