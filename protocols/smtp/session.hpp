#pragma once

#include <atomic>
#include <memory>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The SMTP front end (RFC 5321 with the ESMTP extensions SIZE,
/// PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS and AUTH PLAIN).
/// docs/smtp.md describes what is and is not supported.
namespace mantissa::smtp {

/// Bytes of message data the sessions of one server may hold at once (the
/// setting `smtp.data_budget`): a session takes its share as the data of a
/// message arrives, in steps of 1 MiB, and gives it back once the message
/// is delivered or dropped. Over it the message gets 452 (nothing is
/// stored, the client tries again later). Thread-safe.
class data_budget {
 public:
  explicit data_budget(std::size_t limit) : limit_(limit) {}
  /// Takes `n` bytes if they fit.
  bool take(std::size_t n) {
    auto cur = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || cur > limit_ - n)
        return false;
    } while (!used_.compare_exchange_weak(cur, cur + n,
                                          std::memory_order_relaxed));
    return true;
  }
  void give(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  [[nodiscard]] std::size_t used() const {
    return used_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }

 private:
  std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

/// Limits and identity of one SMTP session.
struct session_options {
  /// The name the server gives in its greeting and Received headers.
  std::string hostname = "localhost";
  /// The domains mail is accepted for (lower case). RCPT TO any other
  /// domain is refused as relaying.
  std::vector<std::string> domains;
  /// Largest message accepted (SIZE), in bytes of the message as sent.
  std::size_t max_message_size = std::size_t{25} * 1024 * 1024;
  /// Recipients accepted per message; more get 452.
  std::size_t max_recipients = 100;
  /// Longest command line, CRLF included; longer ones get 500 and are
  /// dropped. (Lines of message data have no limit but SIZE.)
  std::size_t max_command_line = 2048;
  /// Client errors (5xx answers to bad commands) tolerated per session;
  /// one more closes it with 421.
  std::size_t max_errors = 10;
  /// STARTTLS can be offered (a certificate is configured).
  bool tls_available = false;
  /// AUTH PLAIN is offered on a connection that is encrypted, or comes
  /// from a loopback address (unless `auth_plain_loopback` is off).
  bool auth_enabled = true;
  /// AUTH PLAIN without TLS from a loopback address (the setting
  /// `smtp.auth_over_plain`: `loopback`, or `never` behind a TCP proxy on
  /// the same host, where every client looks local).
  bool auth_plain_loopback = true;
  /// Shared by the sessions of a server (null: no bound).
  std::shared_ptr<data_budget> budget;
};

/// Who is on the other side of the connection.
struct peer_info {
  std::string address; ///< IP address of the client
  bool loopback = false;
};

/// One accepted recipient: the address as given in RCPT TO (lower case)
/// and the store that receives mail for it.
struct recipient {
  std::string address;
  std::string store;
};

/// A message to deliver, with its envelope.
struct delivery {
  std::string sender; ///< MAIL FROM path, empty for a bounce (<>)
  std::vector<recipient> recipients;
  /// The message as it will be stored: a Received header, then the
  /// client's data exactly as sent (dot-unstuffed, CRLF line ends).
  std::string raw;
  /// The client's data alone (the tail of `raw`).
  std::size_t data_offset = 0;
  /// Identifies the message: hex SHA-256 of the envelope sender and the
  /// client's data. A client that retries the same message gets the same
  /// id, so stores that already hold it keep one copy.
  std::string delivery_id;
  /// The account that authenticated with AUTH, or empty.
  std::string authenticated;
};

/// What the session needs from the outside before it can go on.
enum class request_kind {
  none,
  check_recipient, ///< is `address` a local mailbox? -> recipient_checked
  authenticate,    ///< check `username`/`password` -> authenticated
  deliver,         ///< store `message` durably -> delivered
  start_tls,       ///< write the output, then do the TLS handshake ->
                   ///< tls_started (or close on failure)
};

struct request {
  request_kind kind = request_kind::none;
  std::string address;  ///< check_recipient: lower-cased, local domain
  std::string username; ///< authenticate
  std::string password; ///< authenticate
  delivery message;     ///< deliver
};

/// The answer to a check_recipient request.
struct recipient_status {
  enum class result {
    accepted,    ///< 250; `store` receives the mail
    unknown,     ///< 550 5.1.1 (no such account, disabled, no inbox)
    unavailable, ///< 451 4.3.0: could not check now, try later
  } status
    = result::unknown;
  std::string store;
};

/// The answer to an authenticate request.
struct auth_status {
  enum class result {
    ok,          ///< 235; `address` is the account
    invalid,     ///< 535 5.7.8
    unavailable, ///< 454 4.7.0
  } status
    = result::invalid;
  std::string address;
};

/// The answer to a deliver request: `ok` only once every recipient's
/// store committed the message durably.
struct delivery_status {
  bool ok = false;
  std::string detail; ///< for the log when not ok
  /// Not ok, and retrying will not help (a malformed message, a recipient
  /// store that refuses it): 554 instead of 451.
  bool permanent = false;
};

/// The SMTP protocol of one connection as a pure state machine: bytes in,
/// replies and requests out. It never touches a socket, a clock or a
/// store, so tests and the fuzzer drive it directly; the server
/// (protocols/smtp/server.hpp) moves its bytes and answers its requests.
///
/// Use: `start()` once; then repeatedly `receive(bytes)`, write
/// `take_output()` to the client, and when `pending()` is a request,
/// answer it with the matching function (which goes on with the input
/// buffered meanwhile). Stop reading while `!wants_input()`; close the
/// connection once `closed()` and the output is written.
///
/// Thread rule: one thread at a time (the connection's strand).
class session {
 public:
  session(session_options opts, peer_info peer);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Queues the 220 greeting.
  void start();

  /// Takes bytes from the client and processes as much as possible.
  void receive(std::string_view bytes);

  /// The reply bytes produced so far (consumed).
  [[nodiscard]] std::string take_output();

  /// Log lines about bad input and refusals (consumed), without CRLF.
  [[nodiscard]] std::vector<std::string> take_log();

  /// The outstanding request, or null. While one is outstanding, input
  /// is only buffered. The caller may move the delivery out of it.
  [[nodiscard]] request* pending() noexcept;
  [[nodiscard]] const request* pending() const noexcept;

  void recipient_checked(const recipient_status& r);
  void authenticated(const auth_status& r);
  void delivered(const delivery_status& r);
  /// The TLS handshake after STARTTLS succeeded: the session starts over
  /// (a new EHLO is needed), as RFC 3207 requires.
  void tls_started();

  /// The connection was idle too long: 421 and close.
  void timed_out();
  /// The server is stopping: 421 and close (unless a delivery is pending,
  /// which is answered first).
  void shutting_down();

  /// No more input will be processed: write the output and close.
  [[nodiscard]] bool closed() const noexcept { return closed_; }
  /// Whether reading more input is useful now.
  [[nodiscard]] bool wants_input() const noexcept;
  /// Receiving message data (after 354): the server uses the data
  /// timeout then.
  [[nodiscard]] bool in_data() const noexcept { return mode_ == mode::data; }
  /// The connection is encrypted (after STARTTLS).
  [[nodiscard]] bool encrypted() const noexcept { return tls_; }

  /// Sets the time used in Received headers (the system clock when not
  /// set), for tests that compare whole messages.
  void set_clock(std::function<std::chrono::system_clock::time_point()> now);

 private:
  enum class mode { command, data, auth_response };
  enum class stage { fresh, greeted, mail, rcpt };

  void process();
  void on_line(std::string_view line);
  /// Consumes message data from `in_` starting at `pos`; returns where
  /// it stopped (the end of the input, or just past the end marker).
  std::size_t on_data(std::size_t pos);
  void end_of_data();
  void data_content(const char* p, std::size_t n);

  void cmd_helo(std::string_view arg, bool extended);
  void cmd_mail(std::string_view arg);
  void cmd_rcpt(std::string_view arg);
  void cmd_data(std::string_view arg);
  void cmd_rset(std::string_view arg);
  void cmd_vrfy(std::string_view arg);
  void cmd_help(std::string_view arg);
  void cmd_starttls(std::string_view arg);
  void cmd_auth(std::string_view arg);
  void auth_plain(std::string_view b64);

  void reply(std::string_view text);
  /// A 5xx caused by the client: counted, and logged.
  void client_error(std::string_view text, std::string_view why);
  void log(std::string line);
  void close_with(std::string_view text);
  void reset_transaction();
  [[nodiscard]] bool auth_offered() const noexcept;
  [[nodiscard]] std::string received_header() const;

  session_options opts_;
  peer_info peer_;
  std::function<std::chrono::system_clock::time_point()> now_;

  std::string in_;  ///< unprocessed input
  std::string out_; ///< replies not yet taken
  std::vector<std::string> log_;
  std::optional<request> pending_;

  mode mode_ = mode::command;
  stage stage_ = stage::fresh;
  bool closed_ = false;
  bool tls_ = false;
  bool skipping_long_line_ = false;
  bool stopping_ = false; ///< shutting_down() came while a request ran
  std::size_t errors_ = 0;
  std::string helo_;
  bool esmtp_ = false;
  std::string authenticated_;

  // The transaction.
  std::string sender_;
  std::vector<recipient> recipients_;
  /// The message as it will be stored: the Received header (made at DATA),
  /// then the data so far.
  std::string data_;
  std::size_t data_offset_ = 0; ///< where the client's data starts
  std::size_t declared_size_ = 0; ///< MAIL FROM ... SIZE=, or 0
  std::size_t reserved_ = 0; ///< taken from opts_.budget
  bool data_over_budget_ = false;
  /// Takes what holding `total` bytes of data needs from the budget.
  bool reserve(std::size_t total);
  /// Gives the session's share of the budget back.
  void release();
  std::string delivery_id_; ///< of the message being delivered
  bool data_line_start_ = true;
  bool data_too_big_ = false;
  bool data_bare_ = false; ///< a bare CR or LF was seen
  char data_prev_ = '\n';  ///< the last byte of data seen
  /// At a line start: 0 nothing seen, 1 ".", 2 ".\r".
  int data_dot_ = 0;
};

/// Hex SHA-256 of `sender` and `data` (see `delivery::delivery_id`).
[[nodiscard]] std::string make_delivery_id(std::string_view sender,
                                           std::string_view data);

/// `t` as an RFC 5322 date in UTC: "Tue, 02 Dec 2025 20:07:01 +0000".
[[nodiscard]] std::string rfc5322_date(std::chrono::system_clock::time_point t);

} // namespace mantissa::smtp
