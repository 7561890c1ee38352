#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.hpp"

/// Fan-out: one request run in many user stores, with the results collated
/// (docs/operations.md, "Fan-out"). The computation goes to the data: each
/// node runs the request in its own stores, at most `concurrency` at a
/// time, and the node that was asked merges the nodes' partial results.
///
/// This header holds the parts that are plain data: the request (`spec`),
/// which stores it selects, and the collation of replies. The actors that
/// run it are in actors/internal/fanout.hpp; `node::fanout` and the
/// session message `(fanout_atom, spec)` start one.
namespace mantissa::actors {

/// What runs in each store.
enum class fanout_op {
  count, ///< `(count_atom, type, where)`: {"count": N}
  query, ///< `(query_atom, query)`: {"items": [...], "total": N}
  run,   ///< `(run_atom, handler, args)`: the handler's JSON
};

/// How the replies are combined.
enum class fanout_collate {
  concat, ///< a list, at most `limit` entries
  count,  ///< a number: matching items (query), stores with a non-zero
          ///< count (count), stores that answered (run)
  sum,    ///< a number: counts (count), `field` of items (query) or of
          ///< results (run)
  top,    ///< the `limit` entries with the highest (or lowest) `field`
};

struct fanout_spec {
  fanout_op op = fanout_op::count;
  std::string type;         ///< count: the item type
  std::string where = "{}"; ///< count: a condition (docs/query.md)
  std::string query;        ///< query: the query form (docs/query.md)
  std::string handler;      ///< run: a registered handler's name
  std::string args = "{}";  ///< run: its argument object
  fanout_collate collate = fanout_collate::sum;
  std::string field;        ///< sum and top (query, run): the member used
  bool descending = true;   ///< top: highest first
  std::size_t limit = 1000; ///< concat and top: entries kept
  std::string domain;       ///< only stores of this domain; "" for all
  std::vector<std::string> addresses; ///< only these stores; empty for all
  std::size_t concurrency = 16;       ///< stores at work at once, per node

  /// The spec as the JSON `parse_fanout_spec` reads (sent to other nodes).
  [[nodiscard]] std::string to_json() const;
};

/// Limits of a spec.
inline constexpr std::size_t max_fanout_concurrency = 256;
inline constexpr std::size_t max_fanout_limit = 100'000;
/// Failures listed in a result (the rest are only counted).
inline constexpr std::size_t max_fanout_failures = 100;

/// Parses and checks a spec:
///
///     {"op": "count" | "query" | "run",
///      "type": T, "where": {...},             (count)
///      "query": {...},                        (query)
///      "handler": H, "args": {...},           (run)
///      "collate": "concat" | "count" | "sum" | "top",
///      "field": F, "order": "desc" | "asc", "limit": N,
///      "stores": {"domain": D, "addresses": [A, ...]},
///      "concurrency": C}
///
/// Defaults: op count; collate sum for count, concat for query and run;
/// order desc, limit 1000, concurrency 16. A query with collate top and
/// no sort of its own gets `sort: ["-F"]` (or `["F"]`) and `limit: N`, so
/// every store sends only its best N. Unknown members, a missing type,
/// query or handler, sum or top without a field (except on count), and
/// limits out of range are `invalid_query` errors.
[[nodiscard]] store::result<fanout_spec> parse_fanout_spec(std::string_view text);

/// Whether the store at `address` (a user address) is one `spec` selects.
[[nodiscard]] bool fanout_selects(const fanout_spec& spec,
                                  const std::string& address);

/// Collects the replies of stores, and the partial results of other nodes,
/// into one result. Not thread-safe: one actor owns it.
class fanout_collator {
 public:
  explicit fanout_collator(const fanout_spec& spec);
  ~fanout_collator();
  fanout_collator(const fanout_collator&) = delete;
  fanout_collator& operator=(const fanout_collator&) = delete;

  /// A store's reply (its JSON text).
  void add_reply(const std::string& store, const std::string& body);
  /// A store that failed: its error code's name and message.
  void add_failure(const std::string& store, const std::string& code,
                   const std::string& message);
  /// A node whose part failed as a whole (down, timed out): `stores` of
  /// its stores (as far as known) count as failed.
  void add_node_failure(const std::string& node, std::size_t stores,
                        const std::string& code, const std::string& message);
  /// Another collator's `partial()` (a node's part).
  [[nodiscard]] store::result<void> add_partial(const std::string& text);

  /// Stores accounted for so far (answered or failed).
  [[nodiscard]] std::size_t stores() const noexcept;
  /// Stores that failed so far.
  [[nodiscard]] std::size_t failed() const noexcept;

  /// What this collator holds, in the form `add_partial` reads.
  [[nodiscard]] std::string partial() const;
  /// The result: {"op", "collate", "stores", "ok", "failed", "failures":
  /// [{"store" | "node", "code", "message"}...], "result", "truncated"?,
  /// "nodes"?}.
  [[nodiscard]] std::string result() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace mantissa::actors
