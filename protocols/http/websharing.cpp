#include "protocols/http/api_util.hpp"
#include "protocols/http/routes.hpp"

namespace mantissa::http {

bool handle_websharing(const api_context&, request&, responder&) {
  return false;  // routes land here (docs/http-api.md)
}

} // namespace mantissa::http
