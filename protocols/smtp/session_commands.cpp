// The session's commands other than DATA: EHLO/HELO, MAIL, RCPT, RSET,
// VRFY, HELP, STARTTLS and AUTH, with the answers to their requests.

#include "protocols/smtp/session.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "protocols/smtp/internal/text.hpp"

namespace mantissa::smtp {

using namespace internal;

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
