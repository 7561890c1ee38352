// The session's state and its input: replies, the log, the data budget,
// timeouts and shutdown, and the splitting of input into command lines.
// The commands are in session_commands.cpp, the message data in
// session_data.cpp.

#include "protocols/smtp/session.hpp"

#include <algorithm>
#include <utility>

#include "protocols/smtp/internal/text.hpp"

namespace mantissa::smtp {

using namespace internal;

namespace {

/// Lines of an AUTH response may be longer than commands (RFC 4954 §4).
constexpr std::size_t max_auth_line = 12'288;

} // namespace

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

// -- input ----------------------------------------------------------------------

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
} // namespace mantissa::smtp
