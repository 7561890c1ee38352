#include "store/query.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <utility>

#include "store/internal/query_text.hpp"
#include "store/internal/try.hpp"
#include "store/item.hpp"
#include "store/sqlite.hpp"

namespace mantissa::store {

namespace internal {

namespace {

constexpr std::size_t max_quoted_size = 64;

constexpr op_entry op_table[] = {
  {"=", condition::kind::compare, compare_op::eq},
  {"!=", condition::kind::compare, compare_op::ne},
  {"<", condition::kind::compare, compare_op::lt},
  {"<=", condition::kind::compare, compare_op::le},
  {">", condition::kind::compare, compare_op::gt},
  {">=", condition::kind::compare, compare_op::ge},
  {"in", condition::kind::in, compare_op::eq},
  {"not_in", condition::kind::not_in, compare_op::eq},
  {"like", condition::kind::like, compare_op::eq},
  {"prefix", condition::kind::prefix, compare_op::eq},
  {"is_null", condition::kind::is_null, compare_op::eq},
  {"not_null", condition::kind::not_null, compare_op::eq},
};

} // namespace

std::string shown(std::string_view text) {
  std::string out = "'";
  if (text.size() > max_quoted_size) {
    out.append(text.substr(0, max_quoted_size));
    out += "...";
  } else {
    out.append(text);
  }
  out += '\'';
  return out;
}

error invalid_query(std::string message) {
  return error{errc::invalid_query, std::move(message)};
}

const op_entry* find_op(std::string_view name) {
  for (const auto& entry : op_table)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

std::string_view op_name(const condition& c) {
  for (const auto& entry : op_table)
    if (entry.k == c.k && (c.k != condition::kind::compare || entry.op == c.op))
      return entry.name;
  return "?";
}

} // namespace internal

namespace {

using json = nlohmann::json;
using internal::invalid_query;
using internal::max_conditions;
using internal::max_depth;
using internal::max_operands;
using internal::op_name;
using internal::shown;
using sqlite::quote_identifier;

const char* kind_name(const value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "an integer";
    case 2: return "a real";
    case 3: return "text";
    case 4: return "bytes";
    case 5: return "a boolean";
    case 6: return "a timestamp";
    case 7: return "a JSON document";
    case 8: return "a reference";
    default: return "an unknown value";
  }
}

// --- SQL ---------------------------------------------------------------------

/// An attribute as it appears in SQL: its quoted column name and type.
struct column {
  std::string name;
  std::string sql;
  attribute_type type = attribute_type::integer;
  bool is_id = false;
};

result<column> resolve(const type_decl& decl, std::string_view attr) {
  if (attr == "id")
    return column{"id", "\"id\"", attribute_type::integer, true};
  const attribute_decl* a = decl.find(attr);
  if (a == nullptr)
    return error{errc::no_such_attribute,
                 "type " + shown(decl.name) + " has no attribute " + shown(attr)};
  return column{a->name, quote_identifier(a->name), a->type, false};
}

bool orderable(const column& col) {
  return col.type != attribute_type::json && col.type != attribute_type::reference;
}

/// Converts a non-null operand to the type of `col`, following the rules of
/// `value_from_json` (integers for timestamps and references, base64 for
/// bytes) without its nullability and size checks, which do not apply to
/// values that are only compared.
result<value> convert(const column& col, const value& v) {
  auto mismatch = [&](const char* expected) {
    return error{errc::invalid_value,
                 "attribute " + shown(col.name) + " takes " + expected + ", not "
                   + kind_name(v)};
  };
  switch (col.type) {
    case attribute_type::integer:
      if (auto* i = std::get_if<std::int64_t>(&v))
        return value{*i};
      if (auto* r = std::get_if<reference>(&v); r != nullptr && col.is_id)
        return value{r->id};
      return mismatch("an integer");
    case attribute_type::real:
      if (auto* i = std::get_if<std::int64_t>(&v))
        return value{static_cast<double>(*i)};
      if (auto* d = std::get_if<double>(&v)) {
        if (!std::isfinite(*d))
          return error{errc::invalid_value,
                       "attribute " + shown(col.name) + " takes a finite number"};
        return value{*d};
      }
      return mismatch("a number");
    case attribute_type::text:
      if (auto* s = std::get_if<std::string>(&v)) {
        if (s->find('\0') != std::string::npos)
          return error{errc::invalid_value,
                       "text for attribute " + shown(col.name) + " contains NUL"};
        return value{*s};
      }
      return mismatch("text");
    case attribute_type::bytes:
      if (auto* b = std::get_if<blob>(&v))
        return value{*b};
      if (auto* s = std::get_if<std::string>(&v)) {
        auto decoded = base64_decode(*s);
        if (!decoded)
          return error{errc::invalid_value,
                       "bytes for attribute " + shown(col.name) + " are not valid base64"};
        return value{blob{std::move(*decoded)}};
      }
      return mismatch("bytes (a base64 string)");
    case attribute_type::boolean:
      if (auto* b = std::get_if<bool>(&v))
        return value{*b};
      return mismatch("a boolean");
    case attribute_type::timestamp:
      if (auto* t = std::get_if<timestamp>(&v))
        return value{*t};
      if (auto* i = std::get_if<std::int64_t>(&v))
        return value{timestamp{*i}};
      return mismatch("a timestamp (integer microseconds)");
    case attribute_type::json:
      if (auto* j = std::get_if<json>(&v))
        return value{*j};
      if (auto* s = std::get_if<std::string>(&v)) {
        auto doc = json::parse(*s, nullptr, false);
        if (doc.is_discarded())
          return error{errc::invalid_value,
                       "operand for JSON attribute " + shown(col.name)
                         + " is not valid JSON text"};
        return value{std::move(doc)};
      }
      return mismatch("JSON text (a string)");
    case attribute_type::reference:
      if (auto* r = std::get_if<reference>(&v))
        return value{*r};
      if (auto* i = std::get_if<std::int64_t>(&v))
        return value{reference{*i}};
      return mismatch("a reference (an item id)");
  }
  return error{errc::internal, "unknown attribute type"};
}

const char* sql_op(compare_op op) {
  switch (op) {
    case compare_op::eq: return " = ?";
    case compare_op::ne: return " <> ?";
    case compare_op::lt: return " < ?";
    case compare_op::le: return " <= ?";
    case compare_op::gt: return " > ?";
    case compare_op::ge: return " >= ?";
  }
  return " = ?";
}

class compiler {
 public:
  explicit compiler(const type_decl& decl) : decl_(decl) {}

  result<void> emit(const condition& c, int depth);

  compiled_query& out() { return out_; }

 private:
  result<void> emit_leaf(const condition& c);
  result<void> emit_list(const condition& c, const column& col);
  result<void> emit_text_match(const condition& c, const column& col);

  result<void> refuse_null(const condition& c, const value& v) const {
    if (is_null(v))
      return invalid_query("null operand for " + shown(op_name(c)) + " on "
                           + shown(c.attr)
                           + ": comparisons with null match nothing; use"
                             " 'is_null' or 'not_null'");
    return {};
  }

  const type_decl& decl_;
  compiled_query out_;
  std::size_t operands_ = 0;
  std::size_t conditions_ = 0;
};

result<void> compiler::emit(const condition& c, int depth) {
  if (depth > max_depth)
    return invalid_query("conditions may nest at most " + std::to_string(max_depth)
                         + " levels deep");
  if (++conditions_ > max_conditions)
    return invalid_query("a query may hold at most "
                         + std::to_string(max_conditions) + " conditions");
  auto& sql = out_.where_sql;
  switch (c.k) {
    case condition::kind::all:
      sql += '1';
      return {};
    case condition::kind::and_:
    case condition::kind::or_: {
      bool is_and = c.k == condition::kind::and_;
      if (c.children.empty()) {
        sql += is_and ? '1' : '0';
        return {};
      }
      if (c.children.size() == 1)
        return emit(c.children.front(), depth + 1);
      sql += '(';
      for (std::size_t i = 0; i < c.children.size(); ++i) {
        if (i > 0)
          sql += is_and ? " AND " : " OR ";
        MANTISSA_TRY(emit(c.children[i], depth + 1));
      }
      sql += ')';
      return {};
    }
    case condition::kind::not_:
      if (c.children.size() != 1)
        return invalid_query("'not' takes exactly one condition");
      sql += "NOT coalesce(";
      MANTISSA_TRY(emit(c.children.front(), depth + 1));
      sql += ", 0)";
      return {};
    default:
      return emit_leaf(c);
  }
}

result<void> compiler::emit_leaf(const condition& c) {
  MANTISSA_TRY_ASSIGN(auto col, resolve(decl_, c.attr));
  auto& sql = out_.where_sql;
  switch (c.k) {
    case condition::kind::is_null:
      sql += col.sql + " IS NULL";
      return {};
    case condition::kind::not_null:
      sql += col.sql + " IS NOT NULL";
      return {};
    case condition::kind::in:
    case condition::kind::not_in:
      return emit_list(c, col);
    case condition::kind::like:
    case condition::kind::prefix:
      return emit_text_match(c, col);
    case condition::kind::compare: {
      if (++operands_ > max_operands)
        return invalid_query("a condition may hold at most "
                             + std::to_string(max_operands) + " operands");
      MANTISSA_TRY(refuse_null(c, c.operand));
      bool equality = c.op == compare_op::eq || c.op == compare_op::ne;
      if (!equality && !orderable(col))
        return invalid_query(shown(op_name(c)) + " does not apply to "
                             + to_string(col.type) + " attribute "
                             + shown(col.name) + "; use '=' or '!='");
      MANTISSA_TRY_ASSIGN(auto v, convert(col, c.operand));
      sql += col.sql;
      sql += sql_op(c.op);
      out_.params.push_back(std::move(v));
      return {};
    }
    default:
      return error{errc::internal, "condition of unknown kind"};
  }
}

result<void> compiler::emit_list(const condition& c, const column& col) {
  bool negated = c.k == condition::kind::not_in;
  if (col.type == attribute_type::json)
    return invalid_query(shown(op_name(c)) + " does not apply to json attribute "
                         + shown(col.name) + "; use '=' or '!='");
  operands_ += c.operands.size();
  if (operands_ > max_operands)
    return invalid_query("a condition may hold at most "
                         + std::to_string(max_operands) + " operands");
  auto& sql = out_.where_sql;
  if (c.operands.empty()) {
    sql += negated ? col.sql + " IS NOT NULL" : std::string("0");
    return {};
  }
  sql += col.sql;
  sql += negated ? " NOT IN (" : " IN (";
  for (std::size_t i = 0; i < c.operands.size(); ++i) {
    MANTISSA_TRY(refuse_null(c, c.operands[i]));
    MANTISSA_TRY_ASSIGN(auto v, convert(col, c.operands[i]));
    sql += i == 0 ? "?" : ", ?";
    out_.params.push_back(std::move(v));
  }
  sql += ')';
  return {};
}

result<void> compiler::emit_text_match(const condition& c, const column& col) {
  if (++operands_ > max_operands)
    return invalid_query("a condition may hold at most "
                         + std::to_string(max_operands) + " operands");
  if (col.type != attribute_type::text || col.is_id)
    return invalid_query(shown(op_name(c)) + " applies to text attributes only, not "
                         + (col.is_id ? std::string("id")
                                      : to_string(col.type) + std::string(" attribute"))
                         + " " + shown(col.name));
  if (!std::holds_alternative<std::string>(c.operand))
    return invalid_query(shown(op_name(c)) + " on " + shown(col.name)
                         + " takes a text operand, not " + kind_name(c.operand));
  MANTISSA_TRY_ASSIGN(auto v, convert(col, c.operand));
  auto& sql = out_.where_sql;
  if (c.k == condition::kind::like) {
    sql += col.sql + " LIKE ? ESCAPE '\\'";
    out_.params.push_back(std::move(v));
  } else {
    // Case-sensitive and free of wildcards: the first length(prefix)
    // characters equal the prefix.
    sql += "substr(" + col.sql + ", 1, length(?)) = ?";
    out_.params.push_back(v);
    out_.params.push_back(std::move(v));
  }
  return {};
}

} // namespace

// --- builders ----------------------------------------------------------------

condition cmp(std::string attr, compare_op op, value operand) {
  condition c;
  c.k = condition::kind::compare;
  c.attr = std::move(attr);
  c.op = op;
  c.operand = std::move(operand);
  return c;
}

condition cmp(std::string attr, compare_op op, const char* text) {
  return cmp(std::move(attr), op, value{std::string{text}});
}

condition in(std::string attr, std::vector<value> operands) {
  condition c;
  c.k = condition::kind::in;
  c.attr = std::move(attr);
  c.operands = std::move(operands);
  return c;
}

condition not_in(std::string attr, std::vector<value> operands) {
  condition c;
  c.k = condition::kind::not_in;
  c.attr = std::move(attr);
  c.operands = std::move(operands);
  return c;
}

condition like(std::string attr, std::string pattern) {
  condition c;
  c.k = condition::kind::like;
  c.attr = std::move(attr);
  c.operand = std::move(pattern);
  return c;
}

condition prefix(std::string attr, std::string text) {
  condition c;
  c.k = condition::kind::prefix;
  c.attr = std::move(attr);
  c.operand = std::move(text);
  return c;
}

condition is_null(std::string attr) {
  condition c;
  c.k = condition::kind::is_null;
  c.attr = std::move(attr);
  return c;
}

condition not_null(std::string attr) {
  condition c;
  c.k = condition::kind::not_null;
  c.attr = std::move(attr);
  return c;
}

condition and_(std::vector<condition> children) {
  condition c;
  c.k = condition::kind::and_;
  c.children = std::move(children);
  return c;
}

condition or_(std::vector<condition> children) {
  condition c;
  c.k = condition::kind::or_;
  c.children = std::move(children);
  return c;
}

condition not_(condition child) {
  condition c;
  c.k = condition::kind::not_;
  c.children.push_back(std::move(child));
  return c;
}

// --- compilation -------------------------------------------------------------

result<compiled_query> compile(const type_decl& decl, const condition& where,
                               const std::vector<sort_key>& sort) {
  compiler comp(decl);
  MANTISSA_TRY(comp.emit(where, 1));
  auto& out = comp.out();
  bool has_id = false;
  for (const auto& key : sort) {
    MANTISSA_TRY_ASSIGN(auto col, resolve(decl, key.attr));
    has_id = has_id || col.is_id;
    if (!out.order_sql.empty())
      out.order_sql += ", ";
    out.order_sql += col.sql;
    if (key.descending)
      out.order_sql += " DESC";
  }
  if (!has_id)
    out.order_sql += out.order_sql.empty() ? "\"id\"" : ", \"id\"";
  return std::move(out);
}

} // namespace mantissa::store
