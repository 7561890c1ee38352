#include "store/type.hpp"

#include <set>

#include "store/item.hpp"

namespace mantissa::store {

namespace {

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// `[a-z][a-z0-9_]*` without `__`, at most `max` characters.
bool valid_segment(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max || !is_lower(s.front()))
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!is_lower(c) && !is_digit(c) && c != '_')
      return false;
    if (c == '_' && i + 1 < s.size() && s[i + 1] == '_')
      return false;
  }
  return true;
}

std::string quoted(std::string_view s) {
  return "'" + std::string{s.substr(0, 80)} + (s.size() > 80 ? "...'" : "'");
}

} // namespace

const char* to_string(delete_policy p) noexcept {
  switch (p) {
    case delete_policy::nullify: return "nullify";
    case delete_policy::cascade: return "cascade";
    case delete_policy::disallow: return "disallow";
  }
  return "unknown";
}

int type_decl::index_of(std::string_view attr) const noexcept {
  for (std::size_t i = 0; i < attributes.size(); ++i)
    if (attributes[i].name == attr)
      return static_cast<int>(i);
  return -1;
}

const attribute_decl* type_decl::find(std::string_view attr) const noexcept {
  auto i = index_of(attr);
  return i < 0 ? nullptr : &attributes[static_cast<std::size_t>(i)];
}

result<void> validate_type_name(std::string_view name) {
  if (name.empty() || name.size() > 128)
    return {errc::invalid_name,
            "invalid type name " + quoted(name)
              + ": must be 1 to 128 characters"};
  std::size_t start = 0;
  for (;;) {
    auto dot = name.find('.', start);
    auto seg = name.substr(start, dot == std::string_view::npos
                                    ? std::string_view::npos
                                    : dot - start);
    if (!valid_segment(seg, 128))
      return {errc::invalid_name,
              "invalid type name " + quoted(name)
                + ": segments are [a-z][a-z0-9_]* separated by single dots, "
                  "without '__'"};
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return {};
}

result<void> validate_attribute_name(std::string_view name) {
  if (!valid_segment(name, 64))
    return {errc::invalid_name,
            "invalid name " + quoted(name)
              + ": must match [a-z][a-z0-9_]*, at most 64 characters, "
                "without '__'"};
  return {};
}

result<void> validate(const type_decl& decl) {
  MANTISSA_TRY(validate_type_name(decl.name));
  if (decl.version < 1)
    return {errc::invalid_name, "type " + decl.name + ": version must be >= 1"};
  if (decl.attributes.size() > 500)
    return {errc::invalid_name, "type " + decl.name + ": too many attributes"};
  std::set<std::string_view> seen;
  for (auto& a : decl.attributes) {
    MANTISSA_TRY(validate_attribute_name(a.name));
    if (a.name == "id" || a.name == "type")
      return {errc::invalid_name, "type " + decl.name + ": attribute name '"
                                    + a.name + "' is reserved"};
    if (!seen.insert(a.name).second)
      return {errc::invalid_name, "type " + decl.name
                                    + ": duplicate attribute '" + a.name + "'"};
    if (a.type == attribute_type::reference) {
      if (auto r = validate_type_name(a.target_type); !r)
        return {errc::invalid_name, "type " + decl.name + ", attribute "
                                      + a.name + ": reference needs a valid "
                                      "target type"};
      if (a.on_delete == delete_policy::nullify && !a.nullable)
        return {errc::invalid_name,
                "type " + decl.name + ", attribute " + a.name
                  + ": a 'nullify' reference must be nullable"};
    } else if (!a.target_type.empty()) {
      return {errc::invalid_name, "type " + decl.name + ", attribute " + a.name
                                    + ": only references have a target type"};
    }
    if (!is_null(a.default_value)) {
      if (auto r = coerce(a, a.default_value, 0); !r)
        return {errc::invalid_value, "type " + decl.name + ", attribute "
                                       + a.name + ": bad default: "
                                       + r.error_value().message};
    }
  }
  for (auto& idx : decl.compound_indexes) {
    if (idx.empty())
      return {errc::invalid_name, "type " + decl.name + ": empty index"};
    for (auto& col : idx)
      if (col != "id" && decl.index_of(col) < 0)
        return {errc::no_such_attribute, "type " + decl.name
                                           + ": index names unknown attribute '"
                                           + col + "'"};
  }
  for (auto& p : decl.powerup_interfaces)
    MANTISSA_TRY(validate_attribute_name(p.interface));
  for (auto& r : decl.requires_types)
    MANTISSA_TRY(validate_type_name(r));
  return {};
}

std::string table_name(std::string_view name, int version) {
  std::string out = "item_";
  out.reserve(name.size() + 12);
  for (char c : name) {
    if (c == '.')
      out += "__";
    else
      out += c;
  }
  out += "_v";
  out += std::to_string(version);
  return out;
}

} // namespace mantissa::store
