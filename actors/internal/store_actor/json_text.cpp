#include "actors/internal/store_actor/json_text.hpp"

namespace mantissa::actors::internal::store_parts {

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

store::result<nlohmann::json> parse_json(const std::string& text,
                                         const char* what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return store::error{store::errc::invalid_query,
                        std::string{"invalid JSON in "} + what + " at byte "
                          + std::to_string(e.byte) + ": " + e.what()};
  }
}

store::result<store::item> item_from_text(const store::type_decl& decl,
                                          const std::string& text) {
  if (auto it = store::item_from_json_text(decl, text))
    return std::move(*it);
  auto j = parse_json(text, "the item");
  if (!j)
    return std::move(j).error_value();
  return store::item_from_json(decl, *j);
}
} // namespace mantissa::actors::internal::store_parts
