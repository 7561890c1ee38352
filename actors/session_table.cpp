#include "actors/session_table.hpp"

#include <sodium.h>

namespace mantissa::actors {

namespace {

std::string base64url(const unsigned char* data, std::size_t size) {
  std::string out(sodium_base64_encoded_len(
                    size, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), data, size,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

} // namespace

std::string session_table::new_token() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  auto token = base64url(raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  return token;
}

std::string session_table::hash_token(std::string_view token) {
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h,
                     reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  char hex[2 * sizeof h + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return std::string{hex, 2 * sizeof h};
}

bool session_table::live(const entry& e, std::int64_t now_ms) const {
  if (e.ended)
    return !e.ended->load(std::memory_order_relaxed);
  return now_ms - e.s.last_seen_ms <= opts_.session_idle.count()
         && now_ms - e.s.created_ms <= opts_.session_lifetime.count();
}

void session_table::add(const std::string& token_hash, session s,
                        std::int64_t item_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  by_hash_[token_hash] = entry{std::move(s), item_id, false, {}};
}

void session_table::add_bound(const std::string& token_hash, session s,
                              session_end_flag ended) {
  std::lock_guard<std::mutex> guard{mtx_};
  by_hash_[token_hash] = entry{std::move(s), 0, false, std::move(ended)};
}

std::unordered_map<std::string, session_table::entry>::iterator
session_table::erase(std::unordered_map<std::string, entry>::iterator i) {
  if (i->second.ended)
    i->second.ended->store(true, std::memory_order_relaxed);
  return by_hash_.erase(i);
}

std::optional<session> session_table::validate(std::string_view token,
                                               std::int64_t now_ms) {
  if (token.empty() || token.size() > 256)
    return std::nullopt;
  auto h = hash_token(token);
  std::lock_guard<std::mutex> guard{mtx_};
  // The map is keyed by the token's hash, which a guesser cannot steer;
  // the stored hash is compared once more in constant time.
  auto i = by_hash_.find(h);
  if (i == by_hash_.end()
      || sodium_memcmp(i->first.data(), h.data(), h.size()) != 0)
    return std::nullopt;
  if (!live(i->second, now_ms)) {
    if (i->second.item_id != 0)
      dropped_.push_back(i->second.item_id);
    erase(i);
    return std::nullopt;
  }
  i->second.s.last_seen_ms = now_ms;
  i->second.touched = true;
  return i->second.s;
}

std::optional<std::int64_t> session_table::remove(std::string_view token) {
  auto h = hash_token(token);
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = by_hash_.find(h);
  if (i == by_hash_.end())
    return std::nullopt;
  auto id = i->second.item_id;
  erase(i);
  return id;
}

std::vector<std::int64_t>
session_table::remove_address(std::string_view address) {
  std::vector<std::int64_t> ids;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = by_hash_.begin(); i != by_hash_.end();) {
    if (i->second.s.address == address) {
      ids.push_back(i->second.item_id);
      i = erase(i);
    } else {
      ++i;
    }
  }
  return ids;
}

void session_table::set_item_id(const std::string& token_hash,
                                std::int64_t item_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = by_hash_.find(token_hash); i != by_hash_.end())
    i->second.item_id = item_id;
}

session_table::sweep_result session_table::sweep(std::int64_t now_ms) {
  sweep_result out;
  std::lock_guard<std::mutex> guard{mtx_};
  out.expired = std::move(dropped_);
  dropped_.clear();
  for (auto i = by_hash_.begin(); i != by_hash_.end();) {
    if (!live(i->second, now_ms)) {
      if (i->second.item_id != 0)
        out.expired.push_back(i->second.item_id);
      i = erase(i);
      continue;
    }
    if (i->second.touched && i->second.item_id != 0)
      out.touched.emplace_back(i->second.item_id, i->second.s.last_seen_ms);
    i->second.touched = false;
    ++i;
  }
  return out;
}

std::size_t session_table::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return by_hash_.size();
}

} // namespace mantissa::actors
