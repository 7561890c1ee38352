// The message data: DATA, the dot-stuffed body up to the final dot, the
// Received header, and the answer to the delivery; with the delivery id
// and the date they carry.

#include "protocols/smtp/session.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include <openssl/evp.h>

#include "protocols/smtp/internal/text.hpp"

namespace mantissa::smtp {

using namespace internal;

// -- helpers ------------------------------------------------------------------

std::string make_delivery_id(std::string_view sender, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  auto* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1
            && EVP_DigestUpdate(ctx, "mantissa-smtp-1", 16) == 1
            && EVP_DigestUpdate(ctx, sender.data(), sender.size()) == 1
            && EVP_DigestUpdate(ctx, "\0", 1) == 1
            && EVP_DigestUpdate(ctx, data.data(), data.size()) == 1
            && EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{len} * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed",
                                                   "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months{
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                days[static_cast<std::size_t>(tm.tm_wday % 7)], tm.tm_mday,
                months[static_cast<std::size_t>(tm.tm_mon % 12)],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}
// -- DATA ---------------------------------------------------------------------

void session::cmd_data(std::string_view arg) {
  if (!arg.empty()) {
    client_error("501 5.5.4 Syntax: DATA", "DATA with an argument");
    return;
  }
  if (stage_ == stage::mail) {
    // Every RCPT was refused (pipelined clients send DATA regardless).
    client_error("554 5.5.1 Error: no valid recipients",
                 "DATA without valid recipients");
    return;
  }
  if (stage_ != stage::rcpt) {
    client_error("503 5.5.1 Error: need RCPT command", "DATA before RCPT");
    return;
  }
  mode_ = mode::data;
  // The Received header goes first, made now: the message is then stored
  // as it is held, without a copy.
  data_ = received_header();
  data_offset_ = data_.size();
  if (declared_size_ > 0 && reserve(data_offset_ + declared_size_))
    data_.reserve(data_offset_ + declared_size_);
  data_line_start_ = true;
  data_dot_ = 0;
  data_prev_ = '\n';
  data_too_big_ = false;
  data_bare_ = false;
  reply("354 End data with <CR><LF>.<CR><LF>");
}

void session::data_content(const char* p, std::size_t n) {
  if (n == 0 || data_too_big_ || data_over_budget_)
    return;
  if (data_.size() - data_offset_ + n > opts_.max_message_size) {
    data_too_big_ = true;
    data_.clear();
    data_.shrink_to_fit();
    release();
    return;
  }
  // A string grows by doubling: what it holds is up to twice its size.
  auto holding = std::max(data_.capacity(), data_.size() + n);
  if (holding > data_.capacity())
    holding = std::max(holding, 2 * data_.capacity());
  if (!reserve(holding)) {
    data_over_budget_ = true;
    data_.clear();
    data_.shrink_to_fit();
    release();
    return;
  }
  data_.append(p, n);
}

std::size_t session::on_data(std::size_t pos) {
  const char* base = in_.data();
  const std::size_t end = in_.size();
  while (pos < end) {
    char c = base[pos];
    if (data_line_start_) {
      if (data_dot_ == 0) {
        if (c == '.') {
          data_dot_ = 1;
          ++pos;
          continue;
        }
        data_line_start_ = false;
      } else if (data_dot_ == 1) {
        if (c == '\r') {
          data_dot_ = 2;
          ++pos;
          continue;
        }
        if (c == '\n') {
          // ".\n": taken as the end, but a message with bare line ends is
          // refused and the connection closed (see end_of_data).
          data_bare_ = true;
          end_of_data();
          return pos + 1;
        }
        // A stuffed dot: removed (RFC 5321 §4.5.2).
        data_dot_ = 0;
        data_line_start_ = false;
      } else {
        if (c == '\n') {
          end_of_data();
          return pos + 1;
        }
        // ".\r" and something else: the dot was stuffing; the CR is bare.
        data_content("\r", 1);
        data_prev_ = '\r';
        data_dot_ = 0;
        data_line_start_ = false;
      }
    }
    // Content up to the next LF (or the end of the input).
    const void* found = std::memchr(base + pos, '\n', end - pos);
    std::size_t stop
      = found != nullptr
          ? static_cast<std::size_t>(static_cast<const char*>(found) - base)
          : end;
    // A CR is bare unless an LF follows it.
    if (data_prev_ == '\r' && pos < stop)
      data_bare_ = true;
    // Any CR before the last byte of the line is bare (the last one is
    // followed by the LF, or by the next chunk's first byte).
    if (stop > pos + 1
        && std::memchr(base + pos, '\r', stop - 1 - pos) != nullptr)
      data_bare_ = true;
    if (found == nullptr) {
      data_content(base + pos, end - pos);
      if (end > pos)
        data_prev_ = base[end - 1];
      return end;
    }
    char before = stop > pos ? base[stop - 1] : data_prev_;
    if (before != '\r')
      data_bare_ = true;
    data_content(base + pos, stop + 1 - pos);
    data_prev_ = '\n';
    data_line_start_ = true;
    data_dot_ = 0;
    pos = stop + 1;
  }
  return pos;
}

void session::end_of_data() {
  mode_ = mode::command;
  data_line_start_ = true;
  data_dot_ = 0;
  if (data_bare_) {
    // Where a message with bare CR or LF ends is ambiguous (the "SMTP
    // smuggling" attacks): refuse it and stop reading this connection.
    log("554 bare CR or LF in message data; closing");
    data_.clear();
    close_with("554 5.6.0 Error: message contains bare <CR> or <LF>; lines "
               "must end with <CR><LF>");
    return;
  }
  if (data_too_big_) {
    log("552 message over the size limit");
    reset_transaction();
    reply("552 5.3.4 Message size exceeds fixed limit of "
          + std::to_string(opts_.max_message_size) + " bytes");
    return;
  }
  if (data_over_budget_) {
    log("452 message data over the server's budget");
    reset_transaction();
    reply("452 4.3.1 Insufficient system storage, try again later");
    return;
  }
  pending_.emplace();
  pending_->kind = request_kind::deliver;
  auto& m = pending_->message;
  m.sender = sender_;
  m.recipients = recipients_;
  m.delivery_id
    = make_delivery_id(sender_, std::string_view{data_}.substr(data_offset_));
  delivery_id_ = m.delivery_id;
  m.authenticated = authenticated_;
  m.data_offset = data_offset_;
  m.raw = std::move(data_);  // no copy: the budget counts its capacity
  data_.clear();
}

std::string session::received_header() const {
  std::string with = esmtp_ ? "ESMTP" : "SMTP";
  if (tls_)
    with += "S";
  if (!authenticated_.empty())
    with += "A";
  std::string h = "Received: from " + helo_ + " ([" + peer_.address + "])\r\n";
  h += "\tby " + opts_.hostname + " (Mantissa) with " + with;
  if (recipients_.size() == 1)
    h += "\r\n\tfor <" + recipients_.front().address + ">";
  h += "; " + rfc5322_date(now_()) + "\r\n";
  return h;
}

void session::delivered(const delivery_status& r) {
  if (!pending_ || pending_->kind != request_kind::deliver)
    return;
  auto id = delivery_id_.substr(0, 16);
  pending_.reset();
  reset_transaction();
  release();
  if (r.ok) {
    reply("250 2.0.0 Ok: delivered as " + id);
  } else if (r.permanent) {
    log("554 delivery refused: " + r.detail);
    reply("554 5.3.0 Error: the message cannot be stored");
  } else {
    log("451 delivery failed: " + r.detail);
    reply("451 4.3.0 Error: could not store the message, try again later");
  }
  if (stopping_) {
    shutting_down();
    return;
  }
  process();
}
} // namespace mantissa::smtp
