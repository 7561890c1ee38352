// The JSON form of conditions, sort keys and queries (store/query.hpp):
// parsed with limits on size and depth, and written back.

#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <utility>

#include "store/internal/query_text.hpp"
#include "store/internal/try.hpp"
#include "store/item.hpp"
#include "store/query.hpp"

namespace mantissa::store {

namespace {

using json = nlohmann::json;
using internal::find_op;
using internal::invalid_query;
using internal::max_conditions;
using internal::max_depth;
using internal::max_operands;
using internal::op_entry;
using internal::op_name;
using internal::shown;

struct parse_budget {
  std::size_t operands = 0;
  std::size_t conditions = 0;
};

result<void> spend_operands(parse_budget& budget, std::size_t n) {
  budget.operands += n;
  if (budget.operands > max_operands)
    return invalid_query("a condition may hold at most "
                         + std::to_string(max_operands) + " operands");
  return {};
}

/// A scalar JSON operand as a value; arrays, objects and binary are refused.
result<value> operand_from_json(const json& j, std::string_view op) {
  switch (j.type()) {
    case json::value_t::null:
      return value{};
    case json::value_t::boolean:
      return value{j.get<bool>()};
    case json::value_t::number_integer:
      return value{j.get<std::int64_t>()};
    case json::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return invalid_query("operand of " + shown(op)
                             + " is out of the signed 64-bit range");
      return value{static_cast<std::int64_t>(u)};
    }
    case json::value_t::number_float: {
      auto d = j.get<double>();
      if (!std::isfinite(d))
        return invalid_query("operand of " + shown(op) + " is not a finite number");
      return value{d};
    }
    case json::value_t::string:
      return value{j.get<std::string>()};
    default:
      return invalid_query("operand of " + shown(op)
                           + " must be null, a boolean, a number or a string");
  }
}

result<condition> parse(const json& j, int depth, parse_budget& budget);

result<condition> parse_combinator(const json& j, std::string_view key,
                                   int depth, parse_budget& budget) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != key)
      return invalid_query("unexpected key " + shown(it.key()) + " beside "
                           + shown(key) + " in condition");
  const json& arg = *j.find(key);
  condition c;
  if (key == "not") {
    MANTISSA_TRY_ASSIGN(auto child, parse(arg, depth + 1, budget));
    c.k = condition::kind::not_;
    c.children.push_back(std::move(child));
    return c;
  }
  if (!arg.is_array())
    return invalid_query(shown(key) + " takes an array of conditions");
  c.k = key == "and" ? condition::kind::and_ : condition::kind::or_;
  c.children.reserve(arg.size());
  for (const auto& element : arg) {
    MANTISSA_TRY_ASSIGN(auto child, parse(element, depth + 1, budget));
    c.children.push_back(std::move(child));
  }
  return c;
}

result<condition> parse_leaf(const json& j, parse_budget& budget) {
  const json* attr = nullptr;
  const json* op = nullptr;
  const json* operand = nullptr;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& key = it.key();
    if (key == "attr")
      attr = &it.value();
    else if (key == "op")
      op = &it.value();
    else if (key == "value")
      operand = &it.value();
    else
      return invalid_query("unknown key " + shown(key) + " in condition");
  }
  if (attr == nullptr)
    return invalid_query("condition lacks 'attr'");
  if (!attr->is_string())
    return invalid_query("'attr' must be a string");
  if (attr->get_ref<const std::string&>().empty())
    return invalid_query("'attr' must not be empty");
  if (op == nullptr)
    return invalid_query("condition on " + shown(attr->get_ref<const std::string&>())
                         + " lacks 'op'");
  if (!op->is_string())
    return invalid_query("'op' must be a string");
  const auto& op_text = op->get_ref<const std::string&>();
  const op_entry* entry = find_op(op_text);
  if (entry == nullptr)
    return invalid_query("unknown operator " + shown(op_text));

  condition c;
  c.k = entry->k;
  c.op = entry->op;
  c.attr = attr->get<std::string>();
  switch (c.k) {
    case condition::kind::is_null:
    case condition::kind::not_null:
      if (operand != nullptr)
        return invalid_query(shown(op_text) + " takes no 'value'");
      return c;
    case condition::kind::in:
    case condition::kind::not_in:
      if (operand == nullptr || !operand->is_array())
        return invalid_query(shown(op_text) + " takes an array 'value'");
      MANTISSA_TRY(spend_operands(budget, operand->size()));
      c.operands.reserve(operand->size());
      for (const auto& element : *operand) {
        MANTISSA_TRY_ASSIGN(auto v, operand_from_json(element, op_text));
        c.operands.push_back(std::move(v));
      }
      return c;
    case condition::kind::like:
    case condition::kind::prefix:
      if (operand == nullptr || !operand->is_string())
        return invalid_query(shown(op_text) + " takes a string 'value'");
      MANTISSA_TRY(spend_operands(budget, 1));
      c.operand = operand->get<std::string>();
      return c;
    default: {
      if (operand == nullptr)
        return invalid_query(shown(op_text) + " needs a 'value'");
      MANTISSA_TRY(spend_operands(budget, 1));
      MANTISSA_TRY_ASSIGN(auto v, operand_from_json(*operand, op_text));
      c.operand = std::move(v);
      return c;
    }
  }
}

result<condition> parse(const json& j, int depth, parse_budget& budget) {
  if (depth > max_depth)
    return invalid_query("conditions may nest at most " + std::to_string(max_depth)
                         + " levels deep");
  if (++budget.conditions > max_conditions)
    return invalid_query("a query may hold at most "
                         + std::to_string(max_conditions) + " conditions");
  if (j.is_null())
    return condition{};
  if (!j.is_object())
    return invalid_query("a condition must be a JSON object");
  if (j.empty())
    return condition{};
  if (!j.contains("attr") && !j.contains("op")) {
    for (std::string_view key : {"and", "or", "not"})
      if (j.contains(key))
        return parse_combinator(j, key, depth, budget);
  }
  return parse_leaf(j, budget);
}

json operand_to_json(const value& v) {
  switch (v.index()) {
    case 1: return std::get<std::int64_t>(v);
    case 2: return std::get<double>(v);
    case 3: return std::get<std::string>(v);
    case 4: return base64_encode(std::get<blob>(v).data);
    case 5: return std::get<bool>(v);
    case 6: return std::get<timestamp>(v).micros;
    case 7:
      return std::get<json>(v).dump(-1, ' ', false, json::error_handler_t::replace);
    case 8: return std::get<reference>(v).id;
    default: return nullptr;
  }
}

/// A non-negative integer member of a query object.
result<std::int64_t> non_negative(const json& j, std::string_view key) {
  if (j.is_number_integer()) {
    if (j.is_number_unsigned()) {
      auto u = j.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(u);
    } else if (auto i = j.get<std::int64_t>(); i >= 0) {
      return i;
    }
  }
  return invalid_query(shown(key) + " must be a non-negative integer");
}

result<sort_key> sort_key_from_json(const json& j) {
  sort_key key;
  if (j.is_string()) {
    std::string_view text = j.get_ref<const std::string&>();
    if (!text.empty() && text.front() == '-') {
      key.descending = true;
      text.remove_prefix(1);
    }
    if (text.empty())
      return invalid_query("a sort key names no attribute");
    key.attr = std::string(text);
    return key;
  }
  if (!j.is_object())
    return invalid_query("a sort key must be a string or an object");
  const json* attr = nullptr;
  const json* dir = nullptr;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "attr")
      attr = &it.value();
    else if (it.key() == "dir")
      dir = &it.value();
    else
      return invalid_query("unknown key " + shown(it.key()) + " in sort key");
  }
  if (attr == nullptr || !attr->is_string()
      || attr->get_ref<const std::string&>().empty())
    return invalid_query("a sort key needs a non-empty string 'attr'");
  key.attr = attr->get<std::string>();
  if (dir != nullptr) {
    if (!dir->is_string())
      return invalid_query("'dir' must be \"asc\" or \"desc\"");
    const auto& d = dir->get_ref<const std::string&>();
    if (d == "desc")
      key.descending = true;
    else if (d != "asc")
      return invalid_query("'dir' must be \"asc\" or \"desc\", not " + shown(d));
  }
  return key;
}

} // namespace

result<condition> condition_from_json(const nlohmann::json& j) {
  parse_budget budget;
  return parse(j, 1, budget);
}

nlohmann::json to_json(const condition& c) {
  switch (c.k) {
    case condition::kind::all:
      return json::object();
    case condition::kind::and_:
    case condition::kind::or_: {
      json children = json::array();
      for (const auto& child : c.children)
        children.push_back(to_json(child));
      return json{{c.k == condition::kind::and_ ? "and" : "or", std::move(children)}};
    }
    case condition::kind::not_:
      return json{{"not", c.children.empty() ? json::object()
                                              : to_json(c.children.front())}};
    default:
      break;
  }
  json out{{"attr", c.attr}, {"op", op_name(c)}};
  switch (c.k) {
    case condition::kind::in:
    case condition::kind::not_in: {
      json operands = json::array();
      for (const auto& v : c.operands)
        operands.push_back(operand_to_json(v));
      out["value"] = std::move(operands);
      break;
    }
    case condition::kind::is_null:
    case condition::kind::not_null:
      break;
    default:
      out["value"] = operand_to_json(c.operand);
  }
  return out;
}

result<std::vector<sort_key>> sort_from_json(const nlohmann::json& j) {
  std::vector<sort_key> keys;
  if (j.is_null())
    return keys;
  if (j.is_string()) {
    MANTISSA_TRY_ASSIGN(auto key, sort_key_from_json(j));
    keys.push_back(std::move(key));
    return keys;
  }
  if (!j.is_array())
    return invalid_query("'sort' must be a string or an array of sort keys");
  keys.reserve(j.size());
  for (const auto& element : j) {
    MANTISSA_TRY_ASSIGN(auto key, sort_key_from_json(element));
    keys.push_back(std::move(key));
  }
  return keys;
}

nlohmann::json to_json(const std::vector<sort_key>& keys) {
  json out = json::array();
  for (const auto& key : keys)
    out.push_back(key.descending ? "-" + key.attr : key.attr);
  return out;
}

result<query> query_from_json(const nlohmann::json& j) {
  if (!j.is_object())
    return invalid_query("a query must be a JSON object");
  query q;
  bool has_type = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& key = it.key();
    const json& v = it.value();
    if (key == "type") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty())
        return invalid_query("'type' must be a non-empty string");
      q.type = v.get<std::string>();
      has_type = true;
    } else if (key == "where") {
      MANTISSA_TRY_ASSIGN(auto where, condition_from_json(v));
      q.where = std::move(where);
    } else if (key == "sort") {
      MANTISSA_TRY_ASSIGN(auto sort, sort_from_json(v));
      q.sort = std::move(sort);
    } else if (key == "limit") {
      MANTISSA_TRY_ASSIGN(auto n, non_negative(v, key));
      q.limit = n;
    } else if (key == "offset") {
      MANTISSA_TRY_ASSIGN(auto n, non_negative(v, key));
      q.offset = n;
    } else {
      return invalid_query("unknown key " + shown(key) + " in query");
    }
  }
  if (!has_type)
    return invalid_query("query lacks 'type'");
  return q;
}

nlohmann::json to_json(const query& q) {
  json out{{"type", q.type}};
  if (q.where.k != condition::kind::all)
    out["where"] = to_json(q.where);
  if (!q.sort.empty())
    out["sort"] = to_json(q.sort);
  if (q.limit >= 0)
    out["limit"] = q.limit;
  if (q.offset != 0)
    out["offset"] = q.offset;
  return out;
}

} // namespace mantissa::store
