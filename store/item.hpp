#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/error.hpp"
#include "store/type.hpp"
#include "store/value.hpp"

namespace mantissa::store {

/// A dynamic item: its id, its type's name and one value per attribute of the
/// type's current declaration, in declaration order. This is the form items
/// take inside the store, in JSON and on the wire; `typed_type<T>` converts it
/// to and from a C++ struct.
struct item {
  item_id id = 0;  ///< 0 until inserted.
  std::string type;
  std::vector<value> values;

  friend bool operator==(const item&, const item&) = default;
};

/// An item of a known type, by id.
struct item_ref {
  std::string type;
  item_id id = 0;
  friend bool operator==(const item_ref&, const item_ref&) = default;
};

/// Checks that `v` fits `attr` (type, nullability, size limit `max_size` when
/// the attribute sets none). Integers are accepted for real attributes.
[[nodiscard]] result<value> coerce(const attribute_decl& attr, value v,
                                   std::size_t default_max_size);

/// A new item of `decl` holding every attribute's default value.
[[nodiscard]] item make_item(const type_decl& decl);

/// Renders `it` as a JSON object: every attribute by name plus `"id"` and
/// `"type"`. Bytes become base64 strings, timestamps integer microseconds,
/// references the referred id.
[[nodiscard]] nlohmann::json to_json(const type_decl& decl, const item& it);

/// The text of `to_json(decl, it)` as the node sends it: byte for byte what
/// `dump(-1, ' ', false, error_handler_t::replace)` of that object gives
/// (keys in `std::map` order), built without the intermediate JSON object.
[[nodiscard]] std::string to_json_text(const type_decl& decl, const item& it);

/// Converts one JSON value to the value of `attr`. Errors name the attribute
/// and what was expected.
[[nodiscard]] result<value> value_from_json(const attribute_decl& attr,
                                            const nlohmann::json& j);

/// Converts one value to JSON as `to_json` does for items.
[[nodiscard]] nlohmann::json value_to_json(const value& v);

/// Builds an item of `decl` from a JSON object. Attributes missing from the
/// object take their defaults; unknown keys are an error naming the key
/// (`"id"` and `"type"` are ignored). With `base`, missing attributes keep
/// the values of `base` instead (a partial update, as in HTTP PATCH).
[[nodiscard]] result<item> item_from_json(const type_decl& decl,
                                          const nlohmann::json& j,
                                          const item* base = nullptr);

/// The fast path of `item_from_json(decl, nlohmann::json::parse(text))`:
/// the same item, read from the text without building a JSON document. It
/// handles a flat object whose keys are attributes of `decl` (or `"id"`,
/// `"type"`) and whose values all convert; for anything else — invalid
/// JSON, another top-level value, nested arrays or objects, an unknown key,
/// a value that does not convert — it returns nullopt, and the caller takes
/// the full path, which also names the error.
[[nodiscard]] std::optional<item> item_from_json_text(const type_decl& decl,
                                                      std::string_view text);

/// Base64 (RFC 4648, with padding) used for bytes in JSON.
[[nodiscard]] std::string base64_encode(std::string_view data);
[[nodiscard]] result<std::string> base64_decode(std::string_view text);

} // namespace mantissa::store
