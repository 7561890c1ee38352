#include "wire/port/preamble.hpp"

#include <cstring>

namespace mantissa::actors::port {

namespace {

constexpr char magic[4] = {'M', 'N', 'T', 'S'};

void put16(std::vector<char>& out, std::size_t x) {
  out.push_back(static_cast<char>((x >> 8) & 0xFF));
  out.push_back(static_cast<char>(x & 0xFF));
}

std::size_t get16(const char* p) {
  auto hi = static_cast<unsigned char>(p[0]);
  auto lo = static_cast<unsigned char>(p[1]);
  return (static_cast<std::size_t>(hi) << 8) | lo;
}

bool good_magic(const char* head) {
  return std::memcmp(head, magic, sizeof magic) == 0
         && static_cast<std::uint8_t>(head[4]) == preamble_version;
}

} // namespace

std::optional<std::vector<char>> encode_request(const login_request& req) {
  if (req.user.size() > max_user_size || req.secret.size() > max_secret_size)
    return std::nullopt;
  std::vector<char> out;
  out.reserve(request_head_size + req.user.size() + req.secret.size());
  out.insert(out.end(), magic, magic + sizeof magic);
  out.push_back(static_cast<char>(preamble_version));
  out.push_back(static_cast<char>(req.kind));
  put16(out, req.user.size());
  put16(out, req.secret.size());
  out.insert(out.end(), req.user.begin(), req.user.end());
  out.insert(out.end(), req.secret.begin(), req.secret.end());
  return out;
}

std::optional<std::size_t> request_body_size(const char* head) {
  if (!good_magic(head))
    return std::nullopt;
  auto kind = static_cast<std::uint8_t>(head[5]);
  if (kind != static_cast<std::uint8_t>(login_kind::user)
      && kind != static_cast<std::uint8_t>(login_kind::node))
    return std::nullopt;
  auto user = get16(head + 6);
  auto secret = get16(head + 8);
  if (user == 0 || user > max_user_size || secret > max_secret_size)
    return std::nullopt;
  return user + secret;
}

std::optional<login_request> decode_request(const char* head,
                                            std::string_view body) {
  auto n = request_body_size(head);
  if (!n || *n != body.size())
    return std::nullopt;
  login_request req;
  req.kind = static_cast<login_kind>(static_cast<std::uint8_t>(head[5]));
  auto user = get16(head + 6);
  req.user.assign(body.substr(0, user));
  req.secret.assign(body.substr(user));
  return req;
}

std::vector<char> encode_answer(std::uint8_t status, std::string_view body) {
  if (body.size() > max_answer_body)
    body = body.substr(0, max_answer_body);
  std::vector<char> out;
  out.reserve(answer_head_size + body.size());
  out.insert(out.end(), magic, magic + sizeof magic);
  out.push_back(static_cast<char>(preamble_version));
  out.push_back(static_cast<char>(status));
  put16(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::optional<std::size_t> answer_body_size(const char* head) {
  if (!good_magic(head))
    return std::nullopt;
  auto n = get16(head + 6);
  if (n > max_answer_body)
    return std::nullopt;
  return n;
}

std::optional<login_answer> decode_answer(const char* head,
                                          std::string_view body) {
  auto n = answer_body_size(head);
  if (!n || *n != body.size())
    return std::nullopt;
  return login_answer{static_cast<std::uint8_t>(head[5]), std::string{body}};
}

} // namespace mantissa::actors::port
