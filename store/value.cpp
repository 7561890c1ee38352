#include "store/value.hpp"

namespace mantissa::store {

const char* to_string(attribute_type t) noexcept {
  switch (t) {
    case attribute_type::integer: return "integer";
    case attribute_type::real: return "real";
    case attribute_type::text: return "text";
    case attribute_type::bytes: return "bytes";
    case attribute_type::boolean: return "boolean";
    case attribute_type::timestamp: return "timestamp";
    case attribute_type::json: return "json";
    case attribute_type::reference: return "reference";
  }
  return "unknown";
}

std::string describe(const value& v) {
  struct visitor {
    std::string operator()(std::monostate) const { return "null"; }
    std::string operator()(std::int64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const {
      return nlohmann::json(x).dump();
    }
    std::string operator()(const std::string& x) const {
      return nlohmann::json(x).dump(-1, ' ', false,
                                    nlohmann::json::error_handler_t::replace);
    }
    std::string operator()(const blob& x) const {
      return "<" + std::to_string(x.data.size()) + " bytes>";
    }
    std::string operator()(bool x) const { return x ? "true" : "false"; }
    std::string operator()(timestamp x) const {
      return "@" + std::to_string(x.micros) + "us";
    }
    std::string operator()(const nlohmann::json& x) const {
      return x.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    std::string operator()(reference x) const {
      return "#" + std::to_string(x.id);
    }
  };
  return std::visit(visitor{}, v);
}

} // namespace mantissa::store
