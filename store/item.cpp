#include "store/item.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>

#include "store/internal/try.hpp"

namespace mantissa::store {

namespace {

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n)
      return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800)
        || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

error bad(const attribute_decl& attr, std::string what) {
  return {errc::invalid_value,
          "attribute '" + attr.name + "' (" + to_string(attr.type)
            + "): " + std::move(what)};
}

const char* json_kind(const nlohmann::json& j) {
  return j.type_name();
}

} // namespace

result<value> coerce(const attribute_decl& attr, value v,
                     std::size_t default_max_size) {
  if (is_null(v)) {
    if (!attr.nullable)
      return bad(attr, "must not be null");
    return v;
  }
  auto limit = attr.max_size != 0 ? attr.max_size : default_max_size;
  auto check_size = [&](std::size_t size) -> bool {
    return limit == 0 || size <= limit;
  };
  switch (attr.type) {
    case attribute_type::real:
      if (auto* i = std::get_if<std::int64_t>(&v))
        return value{static_cast<double>(*i)};
      // SQLite stores NaN as NULL: refuse it rather than lose it silently
      // (or fail later on a NOT NULL column with a constraint error).
      if (auto* d = std::get_if<double>(&v); d != nullptr && std::isnan(*d))
        return bad(attr, "not a number (NaN) cannot be stored");
      break;
    case attribute_type::text:
      if (auto* s = std::get_if<std::string>(&v)) {
        if (!check_size(s->size()))
          return bad(attr, std::to_string(s->size())
                             + " bytes exceed the limit of "
                             + std::to_string(limit));
        if (s->find('\0') != std::string::npos)
          return bad(attr, "text must not contain NUL (use bytes)");
        if (!valid_utf8(*s))
          return bad(attr, "text must be valid UTF-8 (use bytes)");
        return v;
      }
      break;
    case attribute_type::bytes:
      if (auto* b = std::get_if<blob>(&v)) {
        if (!check_size(b->data.size()))
          return bad(attr, std::to_string(b->data.size())
                             + " bytes exceed the limit of "
                             + std::to_string(limit));
        return v;
      }
      break;
    case attribute_type::json:
      if (holds(v, attribute_type::json)) {
        if (limit != 0) {
          auto size = std::get<nlohmann::json>(v)
                        .dump(-1, ' ', false,
                              nlohmann::json::error_handler_t::replace)
                        .size();
          if (!check_size(size))
            return bad(attr, "document of " + std::to_string(size)
                               + " bytes exceeds the limit of "
                               + std::to_string(limit));
        }
        return v;
      }
      break;
    case attribute_type::reference:
      if (auto* r = std::get_if<reference>(&v)) {
        if (r->id <= 0)
          return bad(attr, "reference ids are positive");
        return v;
      }
      break;
    default:
      break;
  }
  if (holds(v, attr.type))
    return v;
  return bad(attr, "got " + describe(v));
}

item make_item(const type_decl& decl) {
  item it;
  it.type = decl.name;
  it.values.reserve(decl.attributes.size());
  for (auto& a : decl.attributes)
    it.values.push_back(a.default_value);
  return it;
}

nlohmann::json value_to_json(const value& v) {
  struct visitor {
    nlohmann::json operator()(std::monostate) const { return nullptr; }
    nlohmann::json operator()(std::int64_t x) const { return x; }
    nlohmann::json operator()(double x) const { return x; }
    nlohmann::json operator()(const std::string& x) const { return x; }
    nlohmann::json operator()(const blob& x) const {
      return base64_encode(x.data);
    }
    nlohmann::json operator()(bool x) const { return x; }
    nlohmann::json operator()(timestamp x) const { return x.micros; }
    nlohmann::json operator()(const nlohmann::json& x) const { return x; }
    nlohmann::json operator()(reference x) const { return x.id; }
  };
  return std::visit(visitor{}, v);
}

nlohmann::json to_json(const type_decl& decl, const item& it) {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = it.id;
  j["type"] = it.type;
  auto n = std::min(decl.attributes.size(), it.values.size());
  for (std::size_t i = 0; i < n; ++i)
    j[decl.attributes[i].name] = value_to_json(it.values[i]);
  return j;
}

namespace {

std::string dump_replacing(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_int(std::string& out, std::int64_t x) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), x);
  out.append(buf, r.ptr);
}

/// Appends `s` as a JSON string escaped as nlohmann's serializer escapes it
/// with ensure_ascii off: valid UTF-8 sequences are copied. Invalid UTF-8
/// goes through the serializer itself, which replaces the bad bytes.
void append_string(std::string& out, std::string_view s) {
  constexpr char hex[] = "0123456789abcdef";
  if (std::any_of(s.begin(), s.end(),
                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; })
      && !valid_utf8(s)) {
    out += dump_replacing(nlohmann::json(std::string{s}));
    return;
  }
  out += '"';
  std::size_t plain = 0; // start of the run not yet appended
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c > 0x1F && c != '"' && c != '\\')
      continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

void append_value(std::string& out, const value& v) {
  struct visitor {
    std::string& out;
    void operator()(std::monostate) const { out += "null"; }
    void operator()(std::int64_t x) const { append_int(out, x); }
    void operator()(double x) const { out += dump_replacing(x); }
    void operator()(const std::string& x) const { append_string(out, x); }
    void operator()(const blob& x) const {
      append_string(out, base64_encode(x.data));
    }
    void operator()(bool x) const { out += x ? "true" : "false"; }
    void operator()(timestamp x) const { append_int(out, x.micros); }
    void operator()(const nlohmann::json& x) const { out += dump_replacing(x); }
    void operator()(reference x) const { append_int(out, x.id); }
  };
  std::visit(visitor{out}, v);
}

} // namespace

std::string to_json_text(const type_decl& decl, const item& it) {
  // The keys in the order of nlohmann's object (std::map, std::less): -1 is
  // "id", -2 "type", others index the attributes.
  auto n = std::min(decl.attributes.size(), it.values.size());
  std::vector<std::pair<std::string_view, std::ptrdiff_t>> keys;
  keys.reserve(n + 2);
  keys.emplace_back("id", -1);
  keys.emplace_back("type", -2);
  for (std::size_t i = 0; i < n; ++i)
    keys.emplace_back(decl.attributes[i].name, static_cast<std::ptrdiff_t>(i));
  std::sort(keys.begin(), keys.end());
  for (std::size_t k = 1; k < keys.size(); ++k)
    if (keys[k - 1].first == keys[k].first) // not a valid declaration
      return dump_replacing(to_json(decl, it));
  std::string out;
  out.reserve(64 + 24 * n);
  out += '{';
  for (auto& [key, index] : keys) {
    if (out.size() > 1)
      out += ',';
    append_string(out, key);
    out += ':';
    if (index == -1)
      append_int(out, it.id);
    else if (index == -2)
      append_string(out, it.type);
    else
      append_value(out, it.values[static_cast<std::size_t>(index)]);
  }
  out += '}';
  return out;
}

result<value> value_from_json(const attribute_decl& attr,
                              const nlohmann::json& j) {
  if (j.is_null())
    return coerce(attr, value{}, 0);
  auto as_int64 = [&](const char* what) -> result<std::int64_t> {
    if (j.is_number_unsigned()) {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return bad(attr, std::string{what} + " out of the 64-bit range");
      return static_cast<std::int64_t>(u);
    }
    if (j.is_number_integer())
      return j.get<std::int64_t>();
    return bad(attr, std::string{"expected "} + what + ", got "
                       + json_kind(j));
  };
  switch (attr.type) {
    case attribute_type::integer: {
      MANTISSA_TRY_ASSIGN(auto i, as_int64("an integer"));
      return value{i};
    }
    case attribute_type::real:
      if (j.is_number())
        return value{j.get<double>()};
      return bad(attr, std::string{"expected a number, got "} + json_kind(j));
    case attribute_type::text:
      if (j.is_string())
        return coerce(attr, value{j.get<std::string>()}, 0);
      return bad(attr, std::string{"expected a string, got "} + json_kind(j));
    case attribute_type::bytes: {
      if (!j.is_string())
        return bad(attr, std::string{"expected a base64 string, got "}
                           + json_kind(j));
      auto raw = base64_decode(j.get_ref<const std::string&>());
      if (!raw)
        return bad(attr, raw.error_value().message);
      return coerce(attr, value{blob{std::move(*raw)}}, 0);
    }
    case attribute_type::boolean:
      if (j.is_boolean())
        return value{j.get<bool>()};
      return bad(attr, std::string{"expected true or false, got "}
                         + json_kind(j));
    case attribute_type::timestamp: {
      MANTISSA_TRY_ASSIGN(auto i, as_int64("integer microseconds since 1970"));
      return value{timestamp{i}};
    }
    case attribute_type::json:
      return coerce(attr, value{j}, 0);
    case attribute_type::reference: {
      MANTISSA_TRY_ASSIGN(auto i, as_int64("an item id"));
      return coerce(attr, value{reference{i}}, 0);
    }
  }
  return bad(attr, "unsupported attribute type");
}

result<item> item_from_json(const type_decl& decl, const nlohmann::json& j,
                            const item* base) {
  if (!j.is_object())
    return error{errc::invalid_value, "an item of " + decl.name
                                        + " must be a JSON object, got "
                                        + json_kind(j)};
  item it = base != nullptr ? *base : make_item(decl);
  it.type = decl.name;
  it.values.resize(decl.attributes.size());
  for (auto& [key, val] : j.items()) {
    if (key == "id" || key == "type")
      continue;
    auto idx = decl.index_of(key);
    if (idx < 0)
      return error{errc::no_such_attribute,
                   "type " + decl.name + " has no attribute '"
                     + key.substr(0, 80) + "'"};
    MANTISSA_TRY_ASSIGN(
      auto v,
      value_from_json(decl.attributes[static_cast<std::size_t>(idx)], val));
    it.values[static_cast<std::size_t>(idx)] = std::move(v);
  }
  return it;
}

namespace {

/// SAX events of a flat JSON object applied to an item of `decl`. Every
/// event the fast path does not handle, and every error, stops the parse.
class flat_item_reader {
 public:
  using json = nlohmann::json;

  flat_item_reader(const type_decl& decl, item& it) : decl_(decl), it_(it) {}

  bool null() { return set(json{}); }
  bool boolean(bool x) { return set(json(x)); }
  bool number_integer(json::number_integer_t x) { return set(json(x)); }
  bool number_unsigned(json::number_unsigned_t x) { return set(json(x)); }
  bool number_float(json::number_float_t x, const std::string&) {
    return set(json(x));
  }
  bool string(std::string& s) {
    if (depth_ != 1 || skip_)
      return depth_ == 1;
    if (attr_->type != attribute_type::text)
      return set(json(std::move(s)));
    // What value_from_json does for text, without the copy into a json.
    auto v = coerce(*attr_, value{std::move(s)}, 0);
    if (!v)
      return false;
    it_.values[index_] = std::move(*v);
    return true;
  }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return depth_++ == 0; }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) { return false; }
  bool end_array() { return false; }
  bool key(std::string& k) {
    skip_ = k == "id" || k == "type";
    if (skip_)
      return true;
    auto idx = decl_.index_of(k);
    if (idx < 0)
      return false;
    index_ = static_cast<std::size_t>(idx);
    attr_ = &decl_.attributes[index_];
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) {
    return false;
  }

 private:
  bool set(const json& j) {
    if (depth_ != 1 || skip_)
      return depth_ == 1;
    auto v = value_from_json(*attr_, j);
    if (!v)
      return false;
    it_.values[index_] = std::move(*v);
    return true;
  }

  const type_decl& decl_;
  item& it_;
  int depth_ = 0;
  bool skip_ = false; // the value of "id" or "type"
  std::size_t index_ = 0;
  const attribute_decl* attr_ = nullptr;
};

} // namespace

std::optional<item> item_from_json_text(const type_decl& decl,
                                        std::string_view text) {
  item it = make_item(decl);
  flat_item_reader reader{decl, it};
  if (!nlohmann::json::sax_parse(text, &reader))
    return std::nullopt;
  return it;
}

namespace {

constexpr char b64_alphabet[]
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<signed char, 256> make_b64_table() {
  std::array<signed char, 256> t{};
  for (auto& x : t)
    x = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<signed char>(i);
  return t;
}

constexpr auto b64_table = make_b64_table();

} // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    auto n = (static_cast<unsigned char>(data[i]) << 16)
             | (static_cast<unsigned char>(data[i + 1]) << 8)
             | static_cast<unsigned char>(data[i + 2]);
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += b64_alphabet[(n >> 6) & 63];
    out += b64_alphabet[n & 63];
  }
  if (auto rest = data.size() - i; rest > 0) {
    auto n = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2)
      n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += rest == 2 ? b64_alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return error{errc::invalid_value,
                 "invalid base64: length is not a multiple of 4"};
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int vals[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      auto c = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        vals[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0 || b64_table[c] < 0)
        return error{errc::invalid_value,
                     "invalid base64 character at offset "
                       + std::to_string(i + static_cast<std::size_t>(k))};
      vals[k] = b64_table[c];
    }
    auto n = (vals[0] << 18) | (vals[1] << 12) | (vals[2] << 6) | vals[3];
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2)
      out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1)
      out += static_cast<char>(n & 0xFF);
  }
  return out;
}

} // namespace mantissa::store
