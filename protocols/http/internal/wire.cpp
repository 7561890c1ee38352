#include "protocols/http/internal/wire.hpp"

#include <cctype>
#include <cstdio>
#include <string>
#include <utility>

#include "log/log.hpp"

namespace mantissa::http {

namespace wire {

namespace {

namespace bhttp = boost::beast::http;

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

bool has_crlf(std::string_view s) noexcept {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

/// Headers the transport owns; a handler's values for them are ignored.
bool is_managed_header(std::string_view name) noexcept {
  return iequals(name, "Content-Length") || iequals(name, "Connection")
         || iequals(name, "Transfer-Encoding");
}

} // namespace

void log_error(std::string_view what) {
  mantissa::log::warn("http", what);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y))
      return false;
  }
  return true;
}

/// `{"error":{"code":...,"message":...}}` with the given status.
response error_response(int status, std::string_view code,
                        std::string_view text) {
  response r;
  r.status = status;
  r.body = "{\"error\":{\"code\":";
  append_json_string(r.body, code);
  r.body += ",\"message\":";
  append_json_string(r.body, text);
  r.body += "}}";
  return r;
}

/// Turns a handler's response into a wire message. Invalid statuses become a
/// 500; header fields containing CR or LF are dropped (no header injection).
/// `keep_alive` is applied later, when the write order is known.
message to_message(response r, unsigned version, bool head) {
  if (r.status < 200 || r.status > 599) {
    log_error("handler returned invalid status " + std::to_string(r.status));
    r = error_response(500, "internal", "invalid response status");
  }
  message msg;
  msg.version(version);
  msg.result(static_cast<unsigned>(r.status));
  bool has_server = false;
  for (auto& [name, value] : r.headers) {
    if (name.empty() || has_crlf(name) || has_crlf(value)) {
      log_error("dropped a response header containing CR/LF");
      continue;
    }
    if (is_managed_header(name))
      continue;
    has_server = has_server || iequals(name, "Server");
    msg.insert(name, value);
  }
  if (!has_server)
    msg.set(bhttp::field::server, "mantissa");
  // Every answer is what its Content-Type says (no sniffing a JSON answer
  // into a page), and none may be framed by another site unless its
  // handler said otherwise.
  if (msg.find("X-Content-Type-Options") == msg.end())
    msg.set("X-Content-Type-Options", "nosniff");
  if (msg.find("X-Frame-Options") == msg.end()
      && msg.find("Content-Security-Policy") == msg.end())
    msg.set("X-Frame-Options", "DENY");
  if (!r.content_type.empty() && !has_crlf(r.content_type))
    msg.set(bhttp::field::content_type, r.content_type);
  if (r.status == 204 || r.status == 304)
    r.body.clear();
  auto size = r.body.size();
  msg.body() = std::move(r.body);
  msg.prepare_payload();
  if (head) {
    msg.body().clear();
    msg.content_length(size);
  }
  return msg;
}

} // namespace wire

std::string_view request::header_value(std::string_view name) const {
  for (auto& [key, value] : headers)
    if (wire::iequals(key, name))
      return value;
  return {};
}

} // namespace mantissa::http
