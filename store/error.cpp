#include "store/error.hpp"

namespace mantissa::store {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::io_error: return "io_error";
    case errc::corrupt: return "corrupt";
    case errc::not_a_database: return "not_a_database";
    case errc::read_only: return "read_only";
    case errc::busy: return "busy";
    case errc::constraint: return "constraint";
    case errc::invalid_name: return "invalid_name";
    case errc::invalid_value: return "invalid_value";
    case errc::no_such_type: return "no_such_type";
    case errc::no_such_item: return "no_such_item";
    case errc::no_such_attribute: return "no_such_attribute";
    case errc::invalid_query: return "invalid_query";
    case errc::disallowed: return "disallowed";
    case errc::in_use: return "in_use";
    case errc::already_exists: return "already_exists";
    case errc::version_too_new: return "version_too_new";
    case errc::no_upgrade_path: return "no_upgrade_path";
    case errc::internal: return "internal";
    case errc::forbidden: return "forbidden";
  }
  return "unknown";
}

} // namespace mantissa::store
