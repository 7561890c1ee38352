#include "wire/errors.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace mantissa::actors {

const char* to_string(error_code code) noexcept {
  switch (code) {
    case error_code::no_such_item: return "no_such_item";
    case error_code::no_such_type: return "no_such_type";
    case error_code::no_such_store: return "no_such_store";
    case error_code::no_such_handler: return "no_such_handler";
    case error_code::invalid_query: return "invalid_query";
    case error_code::invalid_value: return "invalid_value";
    case error_code::invalid_name: return "invalid_name";
    case error_code::forbidden: return "forbidden";
    case error_code::disallowed: return "disallowed";
    case error_code::in_use: return "in_use";
    case error_code::already_exists: return "already_exists";
    case error_code::store_unavailable: return "store_unavailable";
    case error_code::version_too_new: return "version_too_new";
    case error_code::no_upgrade_path: return "no_upgrade_path";
    case error_code::io_error: return "io_error";
    case error_code::timeout: return "timeout";
    case error_code::internal: return "internal";
    case error_code::unauthorized: return "unauthorized";
    case error_code::busy: return "busy";
    case error_code::no_such_user: return "no_such_user";
    case error_code::no_such_share: return "no_such_share";
    case error_code::handler_failed: return "handler_failed";
    case error_code::bad_sender: return "bad_sender";
  }
  return "unknown";
}

error_code from_store(store::errc code) noexcept {
  using store::errc;
  switch (code) {
    case errc::no_such_item: return error_code::no_such_item;
    case errc::no_such_type: return error_code::no_such_type;
    case errc::no_such_attribute:
    case errc::invalid_query: return error_code::invalid_query;
    case errc::invalid_value:
    case errc::constraint: return error_code::invalid_value;
    case errc::invalid_name: return error_code::invalid_name;
    case errc::disallowed: return error_code::disallowed;
    case errc::in_use: return error_code::in_use;
    case errc::already_exists: return error_code::already_exists;
    case errc::version_too_new: return error_code::version_too_new;
    case errc::no_upgrade_path: return error_code::no_upgrade_path;
    case errc::busy: return error_code::store_unavailable;
    case errc::io_error:
    case errc::read_only:
    case errc::corrupt:
    case errc::not_a_database: return error_code::io_error;
    case errc::internal: return error_code::internal;
    case errc::forbidden: return error_code::forbidden;
  }
  return error_code::internal;
}

caf::error make_error(error_code code, std::string message) {
  return caf::make_error(code, std::move(message));
}

caf::error make_error(const store::error& err) {
  return make_error(from_store(err.code), err.message);
}

std::string error_message(const caf::error& err) {
  if (err.category() == caf::atom("mantissa")) {
    auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      return ctx.get_as<std::string>(0);
    return to_string(static_cast<error_code>(err.code()));
  }
  if (err.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(err.code()));
  return caf::to_string(err);
}

error_code code_of(const caf::error& err) noexcept {
  if (err.category() == caf::atom("mantissa"))
    return static_cast<error_code>(err.code());
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout: return error_code::timeout;
      case caf::sec::request_receiver_down:
      case caf::sec::no_actor_published_at_port:
      case caf::sec::cannot_connect_to_node: return error_code::store_unavailable;
      default: return error_code::internal;
    }
  }
  return error_code::internal;
}

} // namespace mantissa::actors

namespace mantissa::actors {

std::string no_store_message(const std::string& address) {
  return "no store for " + address.substr(0, 320);
}

caf::error no_store_error(const std::string& address) {
  return make_error(error_code::no_such_store, no_store_message(address));
}

} // namespace mantissa::actors
