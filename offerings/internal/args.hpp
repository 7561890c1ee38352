#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "store/error.hpp"
#include "store/item.hpp"
#include "store/type.hpp"

/// Reading handler arguments: every helper names the handler and the
/// argument in its error, and none throws.
namespace mantissa::offerings::internal {

/// The arguments as an object: null (no arguments) becomes `{}`; anything
/// but an object is `invalid_value`.
inline store::result<nlohmann::json> args_object(std::string_view handler,
                                                 const nlohmann::json& args) {
  if (args.is_null())
    return nlohmann::json::object();
  if (!args.is_object())
    return store::error{store::errc::invalid_value,
                        std::string{handler}
                          + ": arguments must be a JSON object"};
  return args;
}

/// An optional string argument; present but not a string is `invalid_value`.
inline store::result<std::optional<std::string>>
opt_string(std::string_view handler, const nlohmann::json& args,
           const char* key) {
  auto i = args.find(key);
  if (i == args.end() || i->is_null())
    return std::optional<std::string>{};
  if (!i->is_string())
    return store::error{store::errc::invalid_value, std::string{handler} + ": '"
                                                      + key
                                                      + "' must be a string"};
  return std::optional<std::string>{i->get<std::string>()};
}

/// An optional integer argument within [min, max].
inline store::result<std::optional<std::int64_t>>
opt_int(std::string_view handler, const nlohmann::json& args, const char* key,
        std::int64_t min, std::int64_t max) {
  auto i = args.find(key);
  if (i == args.end() || i->is_null())
    return std::optional<std::int64_t>{};
  if (!i->is_number_integer())
    return store::error{store::errc::invalid_value, std::string{handler} + ": '"
                                                      + key
                                                      + "' must be an integer"};
  // Large unsigned values do not fit; compare before converting.
  if (i->is_number_unsigned()
      && i->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    return store::error{store::errc::invalid_value, std::string{handler} + ": '"
                                                      + key
                                                      + "' is out of range"};
  auto v = i->get<std::int64_t>();
  if (v < min || v > max)
    return store::error{store::errc::invalid_value,
                        std::string{handler} + ": '" + key
                          + "' must be between " + std::to_string(min) + " and "
                          + std::to_string(max)};
  return std::optional<std::int64_t>{v};
}

/// The page a list handler answers: its `limit` (0 to 1000, default 50)
/// and `offset` (default 0) arguments.
struct page {
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};

/// Reads the `limit` and `offset` arguments of a list handler.
inline store::result<page> page_args(std::string_view handler,
                                     const nlohmann::json& args) {
  MANTISSA_TRY_LET(limit, opt_int(handler, args, "limit", 0, 1000));
  MANTISSA_TRY_LET(offset, opt_int(handler, args, "offset", 0, INT64_MAX));
  return page{limit->value_or(50), offset->value_or(0)};
}

/// A required item id argument (`id`, a positive integer).
inline store::result<store::item_id> required_id(std::string_view handler,
                                                 const nlohmann::json& args) {
  auto id = opt_int(handler, args, "id", 1, INT64_MAX);
  if (!id)
    return std::move(id).error_value();
  if (!*id)
    return store::error{store::errc::invalid_value,
                        std::string{handler} + ": 'id' is required"};
  return **id;
}

/// The item as JSON without the attributes named in `drop`.
inline nlohmann::json without(nlohmann::json j,
                              std::initializer_list<const char*> drop) {
  for (auto* k : drop)
    j.erase(k);
  return j;
}

} // namespace mantissa::offerings::internal
