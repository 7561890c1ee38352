#include "protocols/smtp/session.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <utility>

#include <openssl/evp.h>

namespace mantissa::smtp {

namespace {

/// Lines of an AUTH response may be longer than commands (RFC 4954 §4).
constexpr std::size_t max_auth_line = 12'288;

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size()
         && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Printable ASCII without space.
bool is_graphic(char c) noexcept {
  return c > 0x20 && c < 0x7f;
}

/// What a client sent, shown in a log line: printable ASCII, at most 80
/// bytes, other bytes as \xNN.
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < 80; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (s.size() > 80)
    out += "...";
  return out;
}

/// A domain: dot-separated labels of letters, digits and '-', or an
/// address literal in brackets.
bool valid_domain(std::string_view d) noexcept {
  if (d.empty() || d.size() > 255)
    return false;
  if (d.front() == '[')
    return d.size() > 2 && d.back() == ']'
           && std::all_of(d.begin() + 1, d.end() - 1, [](char c) {
                return is_graphic(c) && c != '[' && c != ']' && c != '\\';
              });
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63)
      return false;
  }
  return label > 0;
}

/// A local part: printable ASCII without the characters that end a path,
/// or a quoted string.
bool valid_local_part(std::string_view l) noexcept {
  if (l.empty() || l.size() > std::size_t{64} * 4)
    return false;
  if (l.size() >= 2 && l.front() == '"' && l.back() == '"')
    return std::all_of(l.begin() + 1, l.end() - 1,
                       [](char c) { return c >= 0x20 && c < 0x7f; });
  return std::all_of(l.begin(), l.end(), [](char c) {
    return is_graphic(c) && c != '<' && c != '>' && c != '(' && c != ')'
           && c != ',' && c != ';' && c != ':' && c != '\\' && c != '"'
           && c != '[' && c != ']';
  });
}

/// The parts of `FROM:<path> params` / `TO:<path> params`.
struct path_arg {
  bool ok = false;
  std::string path; ///< without brackets and source route; may be empty
  std::string params;
};

/// Parses `<keyword>:<path> [params]`; tolerates a space after the colon
/// and before the bracket, as many clients send it.
path_arg parse_path(std::string_view arg, std::string_view keyword) {
  path_arg out;
  if (!istarts_with(arg, keyword))
    return out;
  arg.remove_prefix(keyword.size());
  arg = trim(arg);
  if (arg.empty() || arg.front() != ':')
    return out;
  arg.remove_prefix(1);
  arg = trim(arg);
  if (arg.empty() || arg.front() != '<')
    return out;
  auto close = arg.find('>');
  if (close == std::string_view::npos)
    return out;
  auto path = arg.substr(1, close - 1);
  auto rest = arg.substr(close + 1);
  if (!rest.empty() && rest.front() != ' ')
    return out;
  // A source route (<@a,@b:user@d>) is ignored, as RFC 5321 §3.3 allows.
  if (!path.empty() && path.front() == '@') {
    auto colon = path.find(':');
    if (colon == std::string_view::npos)
      return out;
    path.remove_prefix(colon + 1);
  }
  out.ok = true;
  out.path = std::string{path};
  out.params = std::string{trim(rest)};
  return out;
}

/// Splits `local@domain` at the last '@' and checks both parts.
bool split_mailbox(std::string_view path, std::string_view& local,
                   std::string_view& domain) {
  auto at = path.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == path.size())
    return false;
  local = path.substr(0, at);
  domain = path.substr(at + 1);
  return valid_local_part(local) && valid_domain(domain);
}

std::vector<std::string_view> split_params(std::string_view params) {
  std::vector<std::string_view> out;
  while (!params.empty()) {
    auto sp = params.find(' ');
    auto word = params.substr(0, sp);
    if (!word.empty())
      out.push_back(word);
    if (sp == std::string_view::npos)
      break;
    params.remove_prefix(sp + 1);
  }
  return out;
}

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/// Strict base64 (padding required); nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view s) {
  if (s.size() % 4 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(s.size() / 4 * 3);
  for (std::size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == s.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0)
        return std::nullopt;
      v[k] = base64_value(c);
      if (v[k] < 0)
        return std::nullopt;
    }
    auto n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2)
      out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1)
      out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

} // namespace

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

// -- session ------------------------------------------------------------------

session::session(session_options opts, peer_info peer)
  : opts_(std::move(opts)), peer_(std::move(peer)),
    now_([] { return std::chrono::system_clock::now(); }) {
  for (auto& d : opts_.domains)
    d = to_lower(d);
}

void session::set_clock(
  std::function<std::chrono::system_clock::time_point()> now) {
  now_ = std::move(now);
}

void session::start() {
  reply("220 " + opts_.hostname + " ESMTP Mantissa");
}

std::string session::take_output() {
  return std::exchange(out_, {});
}

std::vector<std::string> session::take_log() {
  return std::exchange(log_, {});
}

request* session::pending() noexcept {
  return pending_ ? &*pending_ : nullptr;
}

const request* session::pending() const noexcept {
  return pending_ ? &*pending_ : nullptr;
}

bool session::wants_input() const noexcept {
  return !closed_ && !pending_;
}

void session::receive(std::string_view bytes) {
  if (closed_)
    return;
  in_.append(bytes);
  process();
}

void session::reply(std::string_view text) {
  out_.append(text);
  out_.append("\r\n");
}

void session::log(std::string line) {
  log_.push_back(peer_.address + ": " + std::move(line));
}

void session::client_error(std::string_view text, std::string_view why) {
  log(std::string{text.substr(0, 3)} + " " + std::string{why});
  if (++errors_ > opts_.max_errors) {
    log("too many errors, closing");
    close_with("421 4.7.0 " + opts_.hostname
               + " Error: too many errors, closing connection");
    return;
  }
  reply(text);
}

void session::close_with(std::string_view text) {
  reply(text);
  closed_ = true;
  in_.clear();
}

void session::reset_transaction() {
  stage_ = stage_ == stage::fresh ? stage::fresh : stage::greeted;
  sender_.clear();
  recipients_.clear();
  data_.clear();
  data_.shrink_to_fit();
  data_offset_ = 0;
  declared_size_ = 0;
  data_too_big_ = false;
  data_bare_ = false;
  data_over_budget_ = false;
  if (!pending_)
    release();
}

session::~session() {
  release();
}

bool session::reserve(std::size_t total) {
  if (!opts_.budget || total <= reserved_)
    return true;
  constexpr std::size_t step = std::size_t{1} << 20;
  auto want = (total + step - 1) / step * step;
  if (!opts_.budget->take(want - reserved_))
    return false;
  reserved_ = want;
  return true;
}

void session::release() {
  if (opts_.budget && reserved_ > 0)
    opts_.budget->give(reserved_);
  reserved_ = 0;
}

bool session::auth_offered() const noexcept {
  return opts_.auth_enabled
         && (tls_ || (peer_.loopback && opts_.auth_plain_loopback));
}

void session::timed_out() {
  if (closed_)
    return;
  log(in_data() ? "timeout while receiving message data" : "timeout");
  close_with("421 4.4.2 " + opts_.hostname
             + " Error: timeout exceeded, closing connection");
}

void session::shutting_down() {
  if (closed_)
    return;
  if (pending_) {
    stopping_ = true;
    return;
  }
  close_with("421 4.3.2 " + opts_.hostname
             + " Service shutting down, closing connection");
}

// -- input
// ----------------------------------------------------------------------

void session::process() {
  std::size_t pos = 0;
  while (!closed_ && !pending_ && pos < in_.size()) {
    if (mode_ == mode::data) {
      pos = on_data(pos);
      continue;
    }
    auto limit
      = mode_ == mode::auth_response ? max_auth_line : opts_.max_command_line;
    auto nl = in_.find('\n', pos);
    if (skipping_long_line_) {
      if (nl == std::string::npos) {
        pos = in_.size();
        break;
      }
      skipping_long_line_ = false;
      pos = nl + 1;
      continue;
    }
    if (nl == std::string::npos) {
      if (in_.size() - pos >= limit) {
        // The line is too long already: answer now, drop it to its end.
        skipping_long_line_ = true;
        pos = in_.size();
        if (mode_ == mode::auth_response)
          mode_ = mode::command;
        client_error("500 5.5.2 Error: line too long",
                     "command line longer than " + std::to_string(limit)
                       + " bytes");
      }
      break;
    }
    auto len = nl - pos;
    if (len + 1 > limit) {
      pos = nl + 1;
      if (mode_ == mode::auth_response)
        mode_ = mode::command;
      client_error("500 5.5.2 Error: line too long", "command line longer than "
                                                       + std::to_string(limit)
                                                       + " bytes");
      continue;
    }
    std::string line = in_.substr(pos, len);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    on_line(line);
  }
  if (closed_)
    in_.clear();
  else
    in_.erase(0, std::min(pos, in_.size()));
}

void session::on_line(std::string_view line) {
  if (line.find('\0') != std::string_view::npos
      || line.find('\r') != std::string_view::npos) {
    if (mode_ == mode::auth_response)
      mode_ = mode::command;
    client_error("500 5.5.2 Error: invalid characters in command",
                 "NUL or bare CR in a command line");
    return;
  }
  if (mode_ == mode::auth_response) {
    mode_ = mode::command;
    if (line == "*") {
      client_error("501 5.0.0 Authentication cancelled", "AUTH cancelled");
      return;
    }
    auth_plain(line);
    return;
  }
  auto sp = line.find(' ');
  auto verb = line.substr(0, sp);
  auto arg = sp == std::string_view::npos ? std::string_view{}
                                          : trim(line.substr(sp + 1));
  if (iequals(verb, "EHLO"))
    return cmd_helo(arg, true);
  if (iequals(verb, "HELO"))
    return cmd_helo(arg, false);
  if (iequals(verb, "MAIL"))
    return cmd_mail(arg);
  if (iequals(verb, "RCPT"))
    return cmd_rcpt(arg);
  if (iequals(verb, "DATA"))
    return cmd_data(arg);
  if (iequals(verb, "RSET"))
    return cmd_rset(arg);
  if (iequals(verb, "NOOP"))
    return reply("250 2.0.0 Ok");
  if (iequals(verb, "QUIT")) {
    close_with("221 2.0.0 Bye");
    return;
  }
  if (iequals(verb, "VRFY"))
    return cmd_vrfy(arg);
  if (iequals(verb, "HELP"))
    return cmd_help(arg);
  if (iequals(verb, "STARTTLS"))
    return cmd_starttls(arg);
  if (iequals(verb, "AUTH"))
    return cmd_auth(arg);
  if (iequals(verb, "EXPN") || iequals(verb, "BDAT") || iequals(verb, "ETRN")
      || iequals(verb, "TURN") || iequals(verb, "SEND") || iequals(verb, "SOML")
      || iequals(verb, "SAML")) {
    client_error("502 5.5.1 Error: command not implemented",
                 "unsupported command " + printable(verb));
    return;
  }
  if (line.empty()) {
    client_error("500 5.5.2 Error: empty command", "empty command line");
    return;
  }
  client_error("500 5.5.2 Error: command not recognized",
               "unknown command " + printable(verb));
}

// -- commands -----------------------------------------------------------------

void session::cmd_helo(std::string_view arg, bool extended) {
  if (arg.empty() || arg.size() > 255
      || !std::all_of(arg.begin(), arg.end(), is_graphic)) {
    client_error(std::string{"501 5.5.4 Syntax: "}
                   + (extended ? "EHLO" : "HELO") + " hostname",
                 "bad EHLO/HELO argument '" + printable(arg) + "'");
    return;
  }
  helo_ = std::string{arg};
  esmtp_ = extended;
  stage_ = stage::greeted;
  reset_transaction();
  if (!extended) {
    reply("250 " + opts_.hostname);
    return;
  }
  std::vector<std::string> lines{
    opts_.hostname + " greets " + helo_,
    "SIZE " + std::to_string(opts_.max_message_size), "8BITMIME", "PIPELINING",
    "ENHANCEDSTATUSCODES"};
  if (opts_.tls_available && !tls_)
    lines.emplace_back("STARTTLS");
  if (auth_offered() && authenticated_.empty())
    lines.emplace_back("AUTH PLAIN");
  lines.emplace_back("HELP");
  for (std::size_t i = 0; i < lines.size(); ++i)
    reply((i + 1 < lines.size() ? "250-" : "250 ") + lines[i]);
}

void session::cmd_mail(std::string_view arg) {
  if (stage_ == stage::fresh) {
    client_error("503 5.5.1 Error: send EHLO or HELO first",
                 "MAIL before EHLO");
    return;
  }
  if (stage_ != stage::greeted) {
    client_error("503 5.5.1 Error: nested MAIL command", "nested MAIL");
    return;
  }
  auto p = parse_path(arg, "FROM");
  if (!p.ok) {
    client_error("501 5.5.4 Syntax: MAIL FROM:<address>",
                 "bad MAIL argument '" + printable(arg) + "'");
    return;
  }
  std::string_view local, domain;
  if (!p.path.empty() && !split_mailbox(p.path, local, domain)) {
    client_error("501 5.1.7 Bad sender address syntax",
                 "bad sender '" + printable(p.path) + "'");
    return;
  }
  for (auto param : split_params(p.params)) {
    if (!esmtp_) {
      client_error("555 5.5.4 Error: parameters need EHLO",
                   "MAIL parameters after HELO");
      return;
    }
    if (istarts_with(param, "SIZE=")) {
      auto v = param.substr(5);
      if (v.empty() || v.size() > 18
          || v.find_first_not_of("0123456789") != std::string_view::npos) {
        client_error("501 5.5.4 Bad SIZE parameter",
                     "bad SIZE '" + printable(param) + "'");
        return;
      }
      auto size = std::stoull(std::string{v});
      if (size > opts_.max_message_size) {
        log("552 declared size " + std::to_string(size) + " over the limit");
        reply("552 5.3.4 Message size exceeds fixed limit of "
              + std::to_string(opts_.max_message_size) + " bytes");
        return;
      }
      if (opts_.budget
          && size > opts_.budget->limit() - std::min(opts_.budget->limit(),
                                                     opts_.budget->used())) {
        log("452 declared size " + std::to_string(size)
            + " over what the server can hold now");
        reply("452 4.3.1 Insufficient system storage, try again later");
        return;
      }
      declared_size_ = static_cast<std::size_t>(size);
    } else if (istarts_with(param, "BODY=")) {
      auto v = param.substr(5);
      if (!iequals(v, "7BIT") && !iequals(v, "8BITMIME")) {
        client_error("501 5.5.4 Unsupported BODY parameter",
                     "bad BODY '" + printable(param) + "'");
        return;
      }
    } else if (istarts_with(param, "AUTH=")) {
      // RFC 4954 §5: accepted and not used (no relaying).
    } else {
      client_error("555 5.5.4 Unsupported parameter",
                   "unsupported MAIL parameter '" + printable(param) + "'");
      return;
    }
  }
  sender_ = p.path;
  stage_ = stage::mail;
  reply("250 2.1.0 Ok");
}

void session::cmd_rcpt(std::string_view arg) {
  if (stage_ != stage::mail && stage_ != stage::rcpt) {
    client_error("503 5.5.1 Error: need MAIL command", "RCPT before MAIL");
    return;
  }
  auto p = parse_path(arg, "TO");
  if (!p.ok || p.path.empty()) {
    client_error("501 5.5.4 Syntax: RCPT TO:<address>",
                 "bad RCPT argument '" + printable(arg) + "'");
    return;
  }
  if (!p.params.empty()) {
    client_error("555 5.5.4 Unsupported parameter",
                 "unsupported RCPT parameter '" + printable(p.params) + "'");
    return;
  }
  std::string address;
  if (iequals(p.path, "postmaster") && !opts_.domains.empty()) {
    address = "postmaster@" + opts_.domains.front();
  } else {
    std::string_view local, domain;
    if (!split_mailbox(p.path, local, domain)) {
      client_error("501 5.1.3 Bad recipient address syntax",
                   "bad recipient '" + printable(p.path) + "'");
      return;
    }
    address = to_lower(p.path);
    auto dom = to_lower(domain);
    if (std::find(opts_.domains.begin(), opts_.domains.end(), dom)
        == opts_.domains.end()) {
      client_error("550 5.7.1 <" + std::string{p.path}
                     + ">: Relay access denied",
                   "relay denied for <" + printable(p.path) + "> from <"
                     + printable(sender_) + ">");
      return;
    }
  }
  for (auto& r : recipients_)
    if (r.address == address) {
      reply("250 2.1.5 Ok");
      return;
    }
  if (recipients_.size() >= opts_.max_recipients) {
    log("452 too many recipients");
    reply("452 4.5.3 Error: too many recipients");
    return;
  }
  pending_.emplace();
  pending_->kind = request_kind::check_recipient;
  pending_->address = std::move(address);
}

void session::recipient_checked(const recipient_status& r) {
  if (!pending_ || pending_->kind != request_kind::check_recipient)
    return;
  auto address = std::move(pending_->address);
  pending_.reset();
  switch (r.status) {
    case recipient_status::result::accepted:
      recipients_.push_back({address, r.store});
      stage_ = stage::rcpt;
      reply("250 2.1.5 Ok");
      break;
    case recipient_status::result::unknown:
      client_error("550 5.1.1 <" + address
                     + ">: Recipient address rejected: User unknown",
                   "unknown recipient <" + printable(address) + ">");
      break;
    case recipient_status::result::unavailable:
      log("451 cannot check recipient <" + printable(address) + "> now");
      reply("451 4.3.0 <" + address
            + ">: Temporary lookup failure, try again later");
      break;
  }
  if (stopping_) {
    shutting_down();
    return;
  }
  process();
}

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

void session::cmd_rset(std::string_view arg) {
  if (!arg.empty()) {
    client_error("501 5.5.4 Syntax: RSET", "RSET with an argument");
    return;
  }
  reset_transaction();
  reply("250 2.0.0 Ok");
}

void session::cmd_vrfy(std::string_view arg) {
  if (arg.empty()) {
    client_error("501 5.5.4 Syntax: VRFY address", "VRFY without argument");
    return;
  }
  reply("252 2.5.0 Cannot VRFY user, but will accept message and attempt "
        "delivery");
}

void session::cmd_help(std::string_view) {
  std::string cmds = "EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP";
  if (opts_.tls_available && !tls_)
    cmds += " STARTTLS";
  if (auth_offered())
    cmds += " AUTH";
  reply("214 2.0.0 Commands: " + cmds);
}

void session::cmd_starttls(std::string_view arg) {
  if (!opts_.tls_available) {
    client_error("502 5.5.1 Error: command not implemented",
                 "STARTTLS without a certificate");
    return;
  }
  if (tls_) {
    client_error("503 5.5.1 Error: TLS already active", "STARTTLS twice");
    return;
  }
  if (!arg.empty()) {
    client_error("501 5.5.4 Syntax: STARTTLS", "STARTTLS with an argument");
    return;
  }
  if (stage_ == stage::fresh) {
    client_error("503 5.5.1 Error: send EHLO first", "STARTTLS before EHLO");
    return;
  }
  if (stage_ != stage::greeted) {
    client_error("503 5.5.1 Error: STARTTLS in a mail transaction",
                 "STARTTLS in a transaction");
    return;
  }
  reply("220 2.0.0 Ready to start TLS");
  pending_.emplace();
  pending_->kind = request_kind::start_tls;
}

void session::tls_started() {
  if (!pending_ || pending_->kind != request_kind::start_tls)
    return;
  pending_.reset();
  tls_ = true;
  // RFC 3207 §4.2: forget everything learnt before the handshake, and
  // anything the client sent before it (command injection).
  in_.clear();
  stage_ = stage::fresh;
  helo_.clear();
  esmtp_ = false;
  authenticated_.clear();
  reset_transaction();
  if (stopping_)
    shutting_down();
}

void session::cmd_auth(std::string_view arg) {
  if (!auth_offered()) {
    if (opts_.auth_enabled && opts_.tls_available && !tls_)
      client_error("530 5.7.0 Must issue a STARTTLS command first",
                   "AUTH without TLS");
    else
      client_error("502 5.5.1 Error: authentication not enabled",
                   "AUTH not offered");
    return;
  }
  if (stage_ == stage::fresh || !esmtp_) {
    client_error("503 5.5.1 Error: send EHLO first", "AUTH before EHLO");
    return;
  }
  if (!authenticated_.empty()) {
    client_error("503 5.5.1 Error: already authenticated", "AUTH twice");
    return;
  }
  if (stage_ != stage::greeted) {
    client_error("503 5.5.1 Error: AUTH not allowed in a mail transaction",
                 "AUTH in a transaction");
    return;
  }
  auto sp = arg.find(' ');
  auto mech = arg.substr(0, sp);
  auto initial = sp == std::string_view::npos ? std::string_view{}
                                              : trim(arg.substr(sp + 1));
  if (!iequals(mech, "PLAIN")) {
    client_error("504 5.5.4 Error: unsupported authentication mechanism",
                 "AUTH mechanism '" + printable(mech) + "'");
    return;
  }
  if (initial.empty()) {
    mode_ = mode::auth_response;
    reply("334 ");
    return;
  }
  auth_plain(initial == "=" ? std::string_view{} : initial);
}

void session::auth_plain(std::string_view b64) {
  auto decoded = base64_decode(b64);
  if (!decoded) {
    client_error("501 5.5.2 Error: cannot decode AUTH response",
                 "AUTH response is not base64");
    return;
  }
  auto first = decoded->find('\0');
  auto second = first == std::string::npos ? std::string::npos
                                           : decoded->find('\0', first + 1);
  if (second == std::string::npos
      || decoded->find('\0', second + 1) != std::string::npos) {
    client_error("501 5.5.2 Error: malformed AUTH PLAIN response",
                 "AUTH PLAIN response without three parts");
    return;
  }
  auto authzid = decoded->substr(0, first);
  auto authcid = decoded->substr(first + 1, second - first - 1);
  auto password = decoded->substr(second + 1);
  if (authcid.empty() || password.empty()
      || (!authzid.empty() && to_lower(authzid) != to_lower(authcid))) {
    client_error("535 5.7.8 Error: authentication failed",
                 "AUTH PLAIN with an empty or foreign identity");
    return;
  }
  pending_.emplace();
  pending_->kind = request_kind::authenticate;
  pending_->username = std::move(authcid);
  pending_->password = std::move(password);
}

void session::authenticated(const auth_status& r) {
  if (!pending_ || pending_->kind != request_kind::authenticate)
    return;
  auto user = std::move(pending_->username);
  pending_.reset();
  switch (r.status) {
    case auth_status::result::ok:
      authenticated_ = r.address;
      log("authenticated as " + r.address);
      reply("235 2.7.0 Authentication successful");
      break;
    case auth_status::result::invalid:
      client_error("535 5.7.8 Error: authentication failed",
                   "authentication failed for '" + printable(user) + "'");
      break;
    case auth_status::result::unavailable:
      log("454 authentication unavailable");
      reply("454 4.7.0 Temporary authentication failure");
      break;
  }
  if (stopping_) {
    shutting_down();
    return;
  }
  process();
}

} // namespace mantissa::smtp
