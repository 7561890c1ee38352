#include "store/query.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <utility>

#include "store/item.hpp"

namespace mantissa::store {

namespace {

using json = nlohmann::json;

constexpr int max_depth = 32;
constexpr std::size_t max_operands = 1000;
constexpr std::size_t max_conditions = 1000;
constexpr std::size_t max_quoted_size = 64;

/// Caller-supplied text quoted for an error message, cut short when long.
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

// --- JSON form ---------------------------------------------------------------

struct op_entry {
  std::string_view name;
  condition::kind k;
  compare_op op;
};

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
    auto child = parse(arg, depth + 1, budget);
    if (!child)
      return std::move(child).error_value();
    c.k = condition::kind::not_;
    c.children.push_back(std::move(*child));
    return c;
  }
  if (!arg.is_array())
    return invalid_query(shown(key) + " takes an array of conditions");
  c.k = key == "and" ? condition::kind::and_ : condition::kind::or_;
  c.children.reserve(arg.size());
  for (const auto& element : arg) {
    auto child = parse(element, depth + 1, budget);
    if (!child)
      return std::move(child).error_value();
    c.children.push_back(std::move(*child));
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
        auto v = operand_from_json(element, op_text);
        if (!v)
          return std::move(v).error_value();
        c.operands.push_back(std::move(*v));
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
      auto v = operand_from_json(*operand, op_text);
      if (!v)
        return std::move(v).error_value();
      c.operand = std::move(*v);
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

// --- SQL ---------------------------------------------------------------------

/// An attribute as it appears in SQL: its quoted column name and type.
struct column {
  std::string name;
  std::string sql;
  attribute_type type = attribute_type::integer;
  bool is_id = false;
};

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"')
      out += '"';
    out += ch;
  }
  out += '"';
  return out;
}

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
  auto col = resolve(decl_, c.attr);
  if (!col)
    return std::move(col).error_value();
  auto& sql = out_.where_sql;
  switch (c.k) {
    case condition::kind::is_null:
      sql += col->sql + " IS NULL";
      return {};
    case condition::kind::not_null:
      sql += col->sql + " IS NOT NULL";
      return {};
    case condition::kind::in:
    case condition::kind::not_in:
      return emit_list(c, *col);
    case condition::kind::like:
    case condition::kind::prefix:
      return emit_text_match(c, *col);
    case condition::kind::compare: {
      if (++operands_ > max_operands)
        return invalid_query("a condition may hold at most "
                             + std::to_string(max_operands) + " operands");
      MANTISSA_TRY(refuse_null(c, c.operand));
      bool equality = c.op == compare_op::eq || c.op == compare_op::ne;
      if (!equality && !orderable(*col))
        return invalid_query(shown(op_name(c)) + " does not apply to "
                             + to_string(col->type) + " attribute "
                             + shown(col->name) + "; use '=' or '!='");
      auto v = convert(*col, c.operand);
      if (!v)
        return std::move(v).error_value();
      sql += col->sql;
      sql += sql_op(c.op);
      out_.params.push_back(std::move(*v));
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
    auto v = convert(col, c.operands[i]);
    if (!v)
      return std::move(v).error_value();
    sql += i == 0 ? "?" : ", ?";
    out_.params.push_back(std::move(*v));
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
  auto v = convert(col, c.operand);
  if (!v)
    return std::move(v).error_value();
  auto& sql = out_.where_sql;
  if (c.k == condition::kind::like) {
    sql += col.sql + " LIKE ? ESCAPE '\\'";
    out_.params.push_back(std::move(*v));
  } else {
    // Case-sensitive and free of wildcards: the first length(prefix)
    // characters equal the prefix.
    sql += "substr(" + col.sql + ", 1, length(?)) = ?";
    out_.params.push_back(*v);
    out_.params.push_back(std::move(*v));
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

// --- JSON --------------------------------------------------------------------

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
    auto key = sort_key_from_json(j);
    if (!key)
      return std::move(key).error_value();
    keys.push_back(std::move(*key));
    return keys;
  }
  if (!j.is_array())
    return invalid_query("'sort' must be a string or an array of sort keys");
  keys.reserve(j.size());
  for (const auto& element : j) {
    auto key = sort_key_from_json(element);
    if (!key)
      return std::move(key).error_value();
    keys.push_back(std::move(*key));
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
      auto where = condition_from_json(v);
      if (!where)
        return std::move(where).error_value();
      q.where = std::move(*where);
    } else if (key == "sort") {
      auto sort = sort_from_json(v);
      if (!sort)
        return std::move(sort).error_value();
      q.sort = std::move(*sort);
    } else if (key == "limit") {
      auto n = non_negative(v, key);
      if (!n)
        return std::move(n).error_value();
      q.limit = *n;
    } else if (key == "offset") {
      auto n = non_negative(v, key);
      if (!n)
        return std::move(n).error_value();
      q.offset = *n;
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

// --- compilation -------------------------------------------------------------

result<compiled_query> compile(const type_decl& decl, const condition& where,
                               const std::vector<sort_key>& sort) {
  compiler comp(decl);
  MANTISSA_TRY(comp.emit(where, 1));
  auto& out = comp.out();
  bool has_id = false;
  for (const auto& key : sort) {
    auto col = resolve(decl, key.attr);
    if (!col)
      return std::move(col).error_value();
    has_id = has_id || col->is_id;
    if (!out.order_sql.empty())
      out.order_sql += ", ";
    out.order_sql += col->sql;
    if (key.descending)
      out.order_sql += " DESC";
  }
  if (!has_id)
    out.order_sql += out.order_sql.empty() ? "\"id\"" : ", \"id\"";
  return std::move(out);
}

} // namespace mantissa::store
