#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/error.hpp"
#include "store/type.hpp"
#include "store/value.hpp"

namespace mantissa::store {

enum class compare_op : std::uint8_t { eq, ne, lt, le, gt, ge };

/// A condition on the items of one type. A tree: leaves test one attribute
/// (or `id`), inner nodes combine children. The default condition matches
/// every item. Build with the functions below or parse the JSON form with
/// `condition_from_json` (grammar in docs/query.md).
struct condition {
  enum class kind : std::uint8_t {
    all,       ///< matches everything
    compare,   ///< attr op operand
    in,        ///< attr is one of operands
    not_in,    ///< attr is none of operands (null never matches)
    like,      ///< SQL LIKE with `%` and `_` wildcards, ASCII case-insensitive
    prefix,    ///< text starts with operand (wildcards are literal)
    is_null,
    not_null,
    and_,      ///< all children hold (no children: true)
    or_,       ///< some child holds (no children: false)
    not_,      ///< exactly one child, negated
  };

  kind k = kind::all;
  std::string attr;           ///< leaves: an attribute name or "id"
  compare_op op = compare_op::eq;
  value operand;              ///< compare, like, prefix
  std::vector<value> operands;   ///< in, not_in
  std::vector<condition> children;  ///< and_, or_, not_

  friend bool operator==(const condition&, const condition&) = default;
};

// Builders, e.g. `and_({cmp("title", compare_op::eq, "x"), is_null("due")})`.
[[nodiscard]] condition cmp(std::string attr, compare_op op, value operand);
/// `cmp` with a text operand given as a literal.
[[nodiscard]] condition cmp(std::string attr, compare_op op, const char* text);
[[nodiscard]] condition in(std::string attr, std::vector<value> operands);
[[nodiscard]] condition not_in(std::string attr, std::vector<value> operands);
[[nodiscard]] condition like(std::string attr, std::string pattern);
[[nodiscard]] condition prefix(std::string attr, std::string text);
[[nodiscard]] condition is_null(std::string attr);
[[nodiscard]] condition not_null(std::string attr);
[[nodiscard]] condition and_(std::vector<condition> children);
[[nodiscard]] condition or_(std::vector<condition> children);
[[nodiscard]] condition not_(condition child);

/// One sort key; `id` ascending is always appended last so that order is
/// total and paging is stable.
struct sort_key {
  std::string attr;
  bool descending = false;
  friend bool operator==(const sort_key&, const sort_key&) = default;
};

/// A query over the items of one type.
struct query {
  std::string type;
  condition where;
  std::vector<sort_key> sort;
  std::int64_t limit = -1;  ///< negative: no limit
  std::int64_t offset = 0;
  friend bool operator==(const query&, const query&) = default;
};

/// Parses the JSON form of a condition (docs/query.md). Does not check
/// attribute names: that needs the type (see `compile`). Nesting deeper than
/// 32 levels or more than 1,000 operands in total is `invalid_query`.
[[nodiscard]] result<condition> condition_from_json(const nlohmann::json& j);
/// The JSON form of a condition; `condition_from_json(to_json(c)) == c` for
/// conditions whose operands are JSON-representable (bytes travel as base64
/// strings and come back as text; `compile` converts them again).
[[nodiscard]] nlohmann::json to_json(const condition& c);

/// Parses sort keys: an array of `"attr"`, `"-attr"` (descending) or
/// `{"attr":"x","dir":"asc|desc"}`; a single string is accepted too.
[[nodiscard]] result<std::vector<sort_key>> sort_from_json(const nlohmann::json& j);
[[nodiscard]] nlohmann::json to_json(const std::vector<sort_key>& keys);

/// Parses `{"type":..., "where":..., "sort":..., "limit":..., "offset":...}`;
/// all but `type` are optional.
[[nodiscard]] result<query> query_from_json(const nlohmann::json& j);
[[nodiscard]] nlohmann::json to_json(const query& q);

/// A condition and sort keys translated to SQL for one type's table.
/// Column names come from the declaration, never from the caller; every
/// operand is a bound parameter in `params`, in order.
struct compiled_query {
  std::string where_sql;  ///< e.g. `("title" = ? AND "n" > ?)`; "1" for all
  std::string order_sql;  ///< e.g. `"title" DESC, "id"`
  std::vector<value> params;
};

/// Checks every attribute against `decl` (`no_such_attribute` naming it),
/// converts operands to the attribute's type (`invalid_value` naming the
/// attribute when one does not fit, e.g. text for an integer) and renders
/// SQL. Operators that make no sense for a type (`like` on an integer) are
/// `invalid_query`.
[[nodiscard]] result<compiled_query>
compile(const type_decl& decl, const condition& where,
        const std::vector<sort_key>& sort);

} // namespace mantissa::store
