#pragma once

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

/// Atoms used only between a node's own actors.
namespace mantissa::actors::internal {

using commit_atom = caf::atom_constant<caf::atom("commit")>;
constexpr commit_atom commit_atom_v = commit_atom{};
using synced_atom = caf::atom_constant<caf::atom("synced")>;
constexpr synced_atom synced_atom_v = synced_atom{};
using tick_atom = caf::atom_constant<caf::atom("tick")>;
constexpr tick_atom tick_atom_v = tick_atom{};
using due_atom = caf::atom_constant<caf::atom("due")>;
constexpr due_atom due_atom_v = due_atom{};
using idle_atom = caf::idle_atom;
constexpr idle_atom idle_atom_v = idle_atom{};
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
constexpr passivate_atom passivate_atom_v = passivate_atom{};
using passivated_atom = caf::atom_constant<caf::atom("passivated")>;
constexpr passivated_atom passivated_atom_v = passivated_atom{};
using call_atom = caf::atom_constant<caf::atom("call")>;
constexpr call_atom call_atom_v = call_atom{};
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
constexpr shutdown_atom shutdown_atom_v = shutdown_atom{};
using delivered_atom = caf::atom_constant<caf::atom("delivered")>;
constexpr delivered_atom delivered_atom_v = delivered_atom{};
using outbox_atom = caf::atom_constant<caf::atom("outbox")>;
constexpr outbox_atom outbox_atom_v = outbox_atom{};
// (asked_atom, token, ok, body, code, why): the answer to a plain request
// a store's handler made (store_actor.cpp).
using asked_atom = caf::atom_constant<caf::atom("asked")>;
constexpr asked_atom asked_atom_v = asked_atom{};
// (bkstep_atom): the store actor's next step of a backup (store_actor.cpp).
using bkstep_atom = caf::atom_constant<caf::atom("bkstep")>;
constexpr bkstep_atom bkstep_atom_v = bkstep_atom{};
// (bkdone_atom, ok, bytes, sha256 or error): a backup's worker finished.
using bkdone_atom = caf::atom_constant<caf::atom("bkdone")>;
constexpr bkdone_atom bkdone_atom_v = bkdone_atom{};
// Store moves (actors/internal/move.hpp):
// (movesnap_atom, caller, dest) -> like backup_atom, and the store records
//   its changes from the snapshot on;
// (freeze_atom) -> changeset bytes: the store stops taking messages;
// (thaw_atom) -> ok: the move failed, the store serves again;
// (movedone_atom, bool remove) -> ok: the store closes for good (removing
//   its files when `remove`), bouncing what waits in its mailbox.
using movesnap_atom = caf::atom_constant<caf::atom("movesnap")>;
constexpr movesnap_atom movesnap_atom_v = movesnap_atom{};
using freeze_atom = caf::atom_constant<caf::atom("freeze")>;
constexpr freeze_atom freeze_atom_v = freeze_atom{};
using thaw_atom = caf::atom_constant<caf::atom("thaw")>;
constexpr thaw_atom thaw_atom_v = thaw_atom{};
using movedone_atom = caf::atom_constant<caf::atom("movedone")>;
constexpr movedone_atom movedone_atom_v = movedone_atom{};
// (relay_atom, node, message, timeout) -> string: the cluster actor sends
// `message` to node's system session.
using relay_atom = caf::atom_constant<caf::atom("relay")>;
// Replicas (actors/internal/move.hpp): (replstart_atom, node, epoch) -> ok
// starts shipping the store's changes after every commit; (resync_atom)
// takes a new snapshot for a replica that fell out of step.
using replstart_atom = caf::atom_constant<caf::atom("replstart")>;
constexpr replstart_atom replstart_atom_v = replstart_atom{};
using resync_atom = caf::atom_constant<caf::atom("resync")>;
constexpr resync_atom resync_atom_v = resync_atom{};
constexpr relay_atom relay_atom_v = relay_atom{};
// The cluster actor's commands (actors/internal/cluster/commands.hpp), one
// atom each, sent by this node's own actors; the typed interface there
// names their arguments and answers.
using cping_atom = caf::atom_constant<caf::atom("cping")>;
using cstatus_atom = caf::atom_constant<caf::atom("cstatus")>;
using locate_atom = caf::atom_constant<caf::atom("locate")>;
using fanpart_atom = caf::atom_constant<caf::atom("fanpart")>;
using fanat_atom = caf::atom_constant<caf::atom("fanout_at")>;
using whereis_atom = caf::atom_constant<caf::atom("whereis")>;
using cmove_atom = caf::atom_constant<caf::atom("cmove")>;
using movedhere_atom = caf::atom_constant<caf::atom("moved_here")>;
using mvcommit_atom = caf::atom_constant<caf::atom("mvcommit")>;
using replset_atom = caf::atom_constant<caf::atom("replset")>;
using repldrop_atom = caf::atom_constant<caf::atom("repldrop")>;
using promote_atom = caf::atom_constant<caf::atom("promote")>;
using failover_atom = caf::atom_constant<caf::atom("failover")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;
using adduser_atom = caf::atom_constant<caf::atom("adduser")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;
using ok_atom = caf::ok_atom;
constexpr ok_atom ok_atom_v = ok_atom{};

} // namespace mantissa::actors::internal
