#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "store/error.hpp"
#include "store/item.hpp"

namespace mantissa::actors::internal::store_parts {

/// `j` as compact JSON text; invalid UTF-8 is replaced, never thrown.
std::string dump(const nlohmann::json& j);

/// Parses JSON text from a client; errors name the position.
store::result<nlohmann::json> parse_json(const std::string& text,
                                         const char* what);

/// The item of `decl` in a client's JSON text, with the errors of
/// `parse_json` + `item_from_json`; a flat object is read without building
/// a JSON document.
store::result<store::item> item_from_text(const store::type_decl& decl,
                                          const std::string& text);

} // namespace mantissa::actors::internal::store_parts
