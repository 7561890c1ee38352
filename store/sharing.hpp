#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"
#include "store/query.hpp"
#include "store/store.hpp"

/// Sharing inside one store: roles, group membership and shares. The store
/// actor decides every access with these functions (see docs/security.md);
/// this layer only keeps the tables and answers questions about them.
///
/// Vocabulary:
/// - A **role** is a name: `everyone` (every caller, anonymous or not),
///   `authenticated` (every logged-in caller), `user:<address>` (the primary
///   role of one account) or `group:<name>` (a group this store defines).
/// - **Membership**: a role can be a member of group roles; membership is
///   transitive and kept in the store that owns the group (this store).
///   Every role is implicitly a member of `everyone`, and every `user:` role
///   of `authenticated`.
/// - A **share** grants one role a set of **interfaces** (names such as
///   `read`, `write`, `delete`, or interfaces an offering declares) on one
///   item, under a **share id**. One share id names one item; it may grant
///   different interfaces to different roles. Deleting the item deletes its
///   shares.
/// - The **default share** is the share id used when a share is asked for
///   with an empty id.
///
/// Tables (created by the store in every file, see store.cpp):
/// `mantissa_members(member, grp)`, `mantissa_shares(share_id, role,
/// item_id, item_type, interface)` (one row per interface) and the default
/// share id in `mantissa_meta` (key `default_share`). A file from before
/// these tables, opened read-only, has no shares, members or default share.
///
/// Writes are all or nothing: in a transaction of their own, or in a
/// savepoint of the caller's transaction that a failed write does not doom.
/// On a read-only store they fail with `read_only`.
///
/// Thread rule: as `store`: only the actor that owns the store calls these.
namespace mantissa::store {

inline constexpr std::string_view everyone_role = "everyone";
inline constexpr std::string_view authenticated_role = "authenticated";
inline constexpr std::string_view user_role_prefix = "user:";
inline constexpr std::string_view group_role_prefix = "group:";

/// Longest accepted share id, in bytes.
inline constexpr std::size_t max_share_id_size = 64;

/// Checks a role name: `everyone`, `authenticated`, `user:` followed by
/// 1–320 bytes of `[a-z0-9._+@-]`, or `group:` followed by 1–64 bytes of
/// `[a-z0-9._-]`. Anything else is `invalid_name` naming the role (cut to a
/// printable length).
[[nodiscard]] result<void> validate_role(std::string_view role);

/// Checks a share id: 1–64 bytes of `[A-Za-z0-9_-]` (`invalid_name`).
[[nodiscard]] result<void> validate_share_id(std::string_view share_id);

/// `user:<address>`.
[[nodiscard]] std::string user_role(std::string_view address);

/// One row of sharing: `role` has `interfaces` on `item` under `share_id`.
struct share {
  std::string share_id;
  std::string role;
  item_ref item;
  std::vector<std::string> interfaces;  ///< sorted, unique, not empty
  friend bool operator==(const share&, const share&) = default;
};

/// What a role gets through one share id.
struct shared_item {
  std::string share_id;
  item_ref item;
  std::vector<std::string> interfaces;  ///< sorted, unique, not empty
  friend bool operator==(const shared_item&, const shared_item&) = default;
};

/// Shares `item` (which must exist: else `no_such_item`; an undeclared type
/// is `no_such_type`) with `role` (a valid role: else `invalid_name`)
/// through `interfaces` (each a valid attribute-style name, at least one:
/// else `invalid_value`) under `share_id` (a valid share id: else
/// `invalid_name`); an empty `share_id` makes a random one of 32 lower-case
/// hex characters. Returns the share id.
/// Sharing the same (share id, role) again replaces its interfaces. A share
/// id already naming another item is `already_exists` and changes nothing.
[[nodiscard]] result<std::string>
share_item(store& s, const item_ref& item, std::string_view role,
           const std::vector<std::string>& interfaces,
           std::string_view share_id = {});

/// Revokes `share_id` for `role`, or for every role when `role` is empty.
/// Returns how many (share id, role) pairs were removed; 0 is not an error.
/// A malformed share id or role is `invalid_name`.
[[nodiscard]] result<std::int64_t> unshare(store& s, std::string_view share_id,
                                           std::string_view role = {});

/// Every share of the store, or those of one item; sorted by share id,
/// then role.
[[nodiscard]] result<std::vector<share>>
list_shares(store& s, std::optional<item_id> item = std::nullopt);

/// Makes `member` (any valid role but `everyone` and `authenticated`) a
/// member of `group` (a `group:` role). Adding an existing membership
/// changes nothing. Cycles are allowed and harmless.
[[nodiscard]] result<void> add_member(store& s, std::string_view member,
                                      std::string_view group);
/// Ends a membership; returns whether it existed.
[[nodiscard]] result<bool> remove_member(store& s, std::string_view member,
                                         std::string_view group);
/// The direct members of `group`, sorted.
[[nodiscard]] result<std::vector<std::string>>
members_of(store& s, std::string_view group);

/// Every role whose rights `role` has: itself, every group it is a member
/// of directly or through other groups, `everyone`, and `authenticated`
/// when `role` is a `user:` role. Sorted, unique. `role` is not validated
/// beyond being non-empty (the caller's role comes from the session).
[[nodiscard]] result<std::vector<std::string>>
role_closure(store& s, std::string_view role);

/// The union of the interfaces shared with any of `roles` on `id`, sorted
/// (empty: no access).
[[nodiscard]] result<std::vector<std::string>>
interfaces_for(store& s, const std::vector<std::string>& roles, item_id id);

/// Whether any item of `s` is shared with one of `roles` (through any
/// interface): a caller for whom this is false has nothing to see here.
[[nodiscard]] result<bool> shares_any(store& s,
                                      const std::vector<std::string>& roles);

/// What `roles` get through `share_id`: the union of the interfaces shared
/// with any of them under it. An empty `share_id` means the default share.
/// No such share id, no default share, or nothing shared with these roles:
/// `no_such_item` (the same answer, so existence does not leak). A
/// malformed share id is `invalid_name`.
[[nodiscard]] result<shared_item>
get_share(store& s, const std::vector<std::string>& roles,
          std::string_view share_id);

/// Sets the default share id (empty: none). The share id need not exist
/// yet; a malformed one is `invalid_name`.
[[nodiscard]] result<void> set_default_share(store& s,
                                             std::string_view share_id);
/// The default share id; empty when none is set.
[[nodiscard]] result<std::string> default_share(store& s);

/// Restricts a query to the items some role may use through an interface.
/// Passed to `store::for_each`, `store::select` and `store::count` by the
/// store actor; never built from client JSON.
struct visibility {
  std::vector<std::string> roles;  ///< e.g. from `role_closure`
  std::string interface = "read";
};

} // namespace mantissa::store
