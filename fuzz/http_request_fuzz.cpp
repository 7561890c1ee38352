// Fuzzes the HTTP front end with raw bytes, through the path a client's
// bytes really take: a node (real SQLite files, accounts with shares, an
// offering with static files), `make_api_handler`, and the `http::server`
// on 127.0.0.1:0. Each input is written to a fresh connection, which is
// then half-closed; the answer is read until the server closes. An input
// fails when the process crashes (sanitizers), the server does not close
// the connection within 10 s, it answers something that is not HTTP, or it
// answers 500 (a handler threw or dropped its responder). Every 500
// inputs, and at the end, GET /healthz must still answer 200.
//
// Most inputs are logged in. Before the first input the driver logs in
// alice (a site admin) and bob (an ordinary user) through POST /api/login;
// an input's placeholders `@ALICE@` and `@BOB@` are replaced by their live
// session tokens (in a bearer header, a cookie or anywhere else the
// mutator put them). Sessions the input ended (logout, a disabled account,
// a new password) are restored before the next input. An input counts as
// *authenticated* when it carried a token and its first answer came from
// an API handler past the session check (not 401, not 403, not a route
// or path error); the run fails when fewer than `--min-authenticated`
// percent (20) of the inputs were, so the fuzzer cannot fall back to
// anonymous requests unnoticed. carol's store is the canary: no token the
// fuzzer holds may write it (she shares one note with bob, read only),
// and her notes must be the same after the run.
//
// Two builds of this file:
//  - with Clang and -DMANTISSA_FUZZ=ON: a libFuzzer target
//    (MANTISSA_LIBFUZZER is defined), coverage-guided;
//  - otherwise a standalone driver with its own seeded mutator, which runs
//    in CI (`ctest -R http_request_fuzz`):
//      http_request_fuzz [--runs N] [--seed S] [--corpus DIR]
//                        [--min-authenticated PCT] [FILE...]
//    FILEs are replayed as they are (e.g. a saved failure); without FILEs,
//    N inputs are made from the corpus's seeds (mutated) and random bytes,
//    the same ones for the same seed (MANTISSA_SEED overrides --seed).
// See docs/http-api.md, "Fuzzing".

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "actors/node.hpp"
#include "log/log.hpp"
#include "offerings/notes.hpp"
#include "offerings/setup.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"
#include "store/store.hpp"

namespace {

using namespace mantissa;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// Inputs longer than this are cut (more only fills socket buffers).
constexpr std::size_t max_input = std::size_t{64} * 1024;
/// How long one connection may take before the input counts as a hang.
constexpr auto connection_deadline = 10s;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", what.c_str());
  std::abort();
}

/// What happened to one input.
struct outcome {
  bool ok = true;
  std::string why;      ///< when not ok
  std::string received; ///< everything the server sent
};

/// Writes `bytes` to a new connection, half-closes it and reads until the
/// server closes. Reading and writing are interleaved (poll) so that a
/// server that answers before reading everything cannot deadlock us.
outcome exchange(std::uint16_t port, std::string_view bytes) {
  outcome out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    die(std::string{"socket: "} + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      && errno != EINPROGRESS)
    die(std::string{"connect: "} + std::strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + connection_deadline;
  std::size_t sent = 0;
  bool write_open = true;
  auto finish_writing = [&] {
    ::shutdown(fd, SHUT_WR);
    write_open = false;
  };
  if (bytes.empty())
    finish_writing();
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.ok = false;
      out.why = "the server did not close the connection within 10 s";
      break;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0) {
      if (errno == EINTR)
        continue;
      die(std::string{"poll: "} + std::strerror(errno));
    }
    if (write_open && (p.revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      auto n
        = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        if (sent == bytes.size())
          finish_writing();
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        write_open = false; // the server closed early (e.g. after a 431)
      }
    }
    if ((p.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        out.received.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR))
        break; // closed (or reset): done
    }
  }
  ::close(fd);
  return out;
}

/// Checks what the server sent: nothing, or HTTP responses none of which
/// is a 500.
void check_answer(outcome& o) {
  if (!o.ok || o.received.empty())
    return;
  std::string_view rest = o.received;
  if (!rest.starts_with("HTTP/1.1 ") && !rest.starts_with("HTTP/1.0 ")) {
    o.ok = false;
    o.why = "the answer is not an HTTP response";
    return;
  }
  // Status lines at the start of a line (bodies are JSON or HTML and do not
  // contain this sequence unless they quote it, which a 500 body does not).
  for (std::size_t at = 0; at != std::string_view::npos;
       at = rest.find("\nHTTP/1.", at + 1)) {
    auto line = rest.substr(at == 0 ? 0 : at + 1, 12);
    if (line.size() == 12 && line.substr(9, 3) == "500") {
      o.ok = false;
      o.why = "the server answered 500";
      return;
    }
  }
}

bool healthy(std::uint16_t port) {
  auto o = exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n");
  return o.ok && o.received.starts_with("HTTP/1.1 200 ");
}

/// The status of the first response in `received`, or 0 for none.
int first_status(const std::string& received) {
  if (received.size() < 12 || !received.starts_with("HTTP/1."))
    return 0;
  return std::atoi(received.c_str() + 9);
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Whether the first answer in `received` came from an API handler past
/// the session check: an API answer (they all carry `Cache-Control:
/// no-store`) that is not 401 or 403 (a dead token, CSRF) and not one of
/// the errors the API gives before it looks at the session (a malformed
/// path, no such route, a method the route does not take).
bool past_authentication(const std::string& received) {
  auto status = first_status(received);
  if (status == 0 || status == 401 || status == 403)
    return false;
  auto end = received.find("\r\n\r\n");
  if (end == std::string::npos)
    return false;
  auto head = lower(std::string_view{received}.substr(0, end));
  if (head.find("\r\ncache-control: no-store") == std::string::npos)
    return false;
  if (status == 400 || status == 404 || status == 405) {
    auto body = std::string_view{received}.substr(end + 4, 64);
    constexpr std::string_view prefix = R"({"error":{"code":")";
    if (!body.starts_with(prefix))
      return false;
    body.remove_prefix(prefix.size());
    for (std::string_view early :
         {"invalid_path\"", "not_found\"", "method_not_allowed\""})
      if (body.starts_with(early))
        return false;
  }
  return true;
}

/// A password the fuzzer never sends (it holds no token of carol's).
constexpr const char* password = "fuzz password";
constexpr const char* alice_address = "alice@example.com";
constexpr const char* bob_address = "bob@example.com";
constexpr const char* carol_address = "carol@example.com";

/// The accounts the fuzzer logs in, by the placeholder its inputs name
/// them with.
struct account {
  std::string placeholder; ///< e.g. "@BOB@"
  std::string address;
  std::string token; ///< the live session token
};

/// A node with three accounts, the notes offering with a static
/// directory, and the HTTP front end on an ephemeral port:
///  - alice, a site admin (group:admin), with a note shared with everyone
///    as "pub" (also her default share) and one shared with bob to read
///    and write as "for-bob";
///  - bob, an ordinary user;
///  - carol, the canary: two notes, one shared with bob to read as
///    "carol-ro". Nobody but the system may write her store.
/// alice and bob are logged in through the API. Owns a temporary data
/// directory, removed in the destructor.
class environment {
 public:
  environment() {
    auto pattern
      = (fs::temp_directory_path() / "mantissa-fuzz-XXXXXX").string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      die("mkdtemp failed");
    dir_ = buf.data();
    auto data = dir_ / "data";
    auto static_dir = dir_ / "static";
    fs::create_directories(static_dir / "css");
    std::ofstream{static_dir / "index.html"} << "<p>hello</p>";
    std::ofstream{static_dir / "css" / "site.css"} << "p{}";
    std::ofstream{dir_ / "secret.txt"} << "secret";

    add_accounts(data);
    auto notes = offerings::notes::make_offering();
    notes.static_dir = static_dir;
    if (!known_.add(notes))
      die("cannot add the notes offering");

    // The admin routes log every request at info or warn: thousands of
    // lines. Errors still show.
    log::configure(log::format::text, log::level::error);
    actors::node_options opts;
    opts.data_dir = data;
    // No login may stall the run: failures are not slowed down, and at
    // most two password checks run or wait at once.
    opts.auth.free_failures = 1 << 30;
    opts.auth.max_pending = 2;
    node_ = std::make_unique<actors::node>(opts);
    if (!offerings::register_offerings(known_, *node_))
      die("cannot register the offerings");
    std::string err;
    if (!node_->start(err))
      die("node: " + err);
    for (auto* a : {alice_address, bob_address, carol_address})
      must(node_->wait([&](auto done) { node_->create_store(a, done); }));
    auto alice_note
      = note(alice_address, R"({"title":"<b>hi</b>","body":"a shared note"})");
    share(alice_address, alice_note, "everyone", R"(["read"])", "pub");
    must(node_->wait([&](auto done) {
      node_->set_default_share(owner(alice_address), alice_address, "pub",
                               done);
    }));
    auto for_bob
      = note(alice_address, R"({"title":"for bob","body":"edit me"})");
    share(alice_address, for_bob, "user:bob@example.com", R"(["read","write"])",
          "for-bob");
    auto canary = note(carol_address, R"({"title":"canary","body":"carol's"})");
    share(carol_address, canary, "user:bob@example.com", R"(["read"])",
          "carol-ro");
    note(carol_address, R"({"title":"private","body":"carol only"})");
    make_admin();
    canary_ = carol_notes();

    ctx_.node = node_.get();
    ctx_.offerings = &known_;
    ctx_.domains = {"example.com"};
    http::server_options hopts;
    hopts.port = 0;
    hopts.read_timeout = 5s;
    server_
      = std::make_unique<http::server>(hopts, http::make_api_handler(ctx_));
    if (!server_->start(err))
      die("server: " + err);
    accounts_ = {{"@ALICE@", alice_address, {}}, {"@BOB@", bob_address, {}}};
    for (auto& a : accounts_)
      if (!log_in(a))
        die("cannot log in " + a.address);
  }

  ~environment() {
    server_->stop();
    node_->stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;

  [[nodiscard]] std::uint16_t port() const { return server_->port(); }

  /// `input` with every placeholder replaced by its account's token; sets
  /// `carried` when there was one.
  [[nodiscard]] std::string with_tokens(std::string_view input,
                                        bool& carried) const {
    std::string out{input};
    carried = false;
    for (auto& a : accounts_)
      for (auto at = out.find(a.placeholder); at != std::string::npos;
           at = out.find(a.placeholder, at + a.token.size())) {
        out.replace(at, a.placeholder.size(), a.token);
        carried = true;
      }
    return out;
  }

  /// Makes every account's session live again after an input that may
  /// have ended it. Checks only when `suspect` (an input that got a 401
  /// or named logout, disable or a password): an account whose token no
  /// longer answers GET /api/me is enabled again and gets a new session
  /// put straight into the node's session table (a login through the API
  /// would cost a password check each time, and its own input may have
  /// changed the password).
  void keep_sessions(bool suspect) {
    if (!suspect)
      return;
    for (auto& a : accounts_) {
      auto me = exchange(port(), "GET /api/me HTTP/1.1\r\nHost: x\r\n"
                                 "Authorization: Bearer "
                                   + a.token + "\r\nConnection: close\r\n\r\n");
      if (first_status(me.received) == 200)
        continue;
      ++restored_;
      const actors::caller sys{actors::system_role, "fuzz"};
      auto args = nlohmann::json{{"address", a.address}, {"disabled", false}};
      must(node_->wait([&](auto done) {
        node_->run(sys, "site", "mantissa.set_disabled", args.dump(), done);
      }));
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
      a.token = actors::session_table::new_token();
      node_->auth().sessions().add(
        actors::session_table::hash_token(a.token),
        actors::session{a.address, "user:" + a.address, now, now});
    }
  }

  /// Puts alice back into group:admin (an input may have taken her out).
  void make_admin() {
    const actors::caller sys{actors::system_role, "fuzz"};
    (void)node_->wait([&](auto done) {
      node_->member(sys, "site", "user:alice@example.com", "group:admin", true,
                    done);
    });
  }

  /// carol's notes as the system reads them (the canary).
  [[nodiscard]] std::string carol_notes() {
    const actors::caller sys{actors::system_role, "fuzz"};
    return must(node_->wait([&](auto done) {
             node_->query(sys, carol_address,
                          R"({"type":"notes.note","sort":["id"]})", done);
           }))
      .body;
  }

  [[nodiscard]] const std::string& canary() const { return canary_; }
  /// How many times a session had to be restored.
  [[nodiscard]] std::uint64_t restored() const { return restored_; }

 private:
  static actors::reply must(actors::reply r) {
    if (!r.ok)
      die("set-up: " + r.message);
    return r;
  }

  static actors::caller owner(const std::string& address) {
    return {"user:" + address, "fuzz"};
  }

  std::int64_t note(const std::string& address, const std::string& json) {
    auto put = must(node_->wait([&](auto done) {
      node_->put(owner(address), address, "notes.note", json, done);
    }));
    return nlohmann::json::parse(put.body)["id"].get<std::int64_t>();
  }

  void share(const std::string& address, std::int64_t id,
             const std::string& role, const std::string& interfaces,
             const std::string& share_id) {
    must(node_->wait([&](auto done) {
      node_->share(owner(address), address, "notes.note", id, role, interfaces,
                   share_id, done);
    }));
  }

  /// POST /api/login for `a`; keeps the token.
  bool log_in(account& a) {
    auto body
      = nlohmann::json{{"username", a.address}, {"password", password}}.dump();
    auto o = exchange(port(), "POST /api/login HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: "
                                + std::to_string(body.size())
                                + "\r\nConnection: close\r\n\r\n" + body);
    if (first_status(o.received) != 200)
      return false;
    auto end = o.received.find("\r\n\r\n");
    auto j = nlohmann::json::parse(o.received.substr(end + 4), nullptr, false);
    if (!j.is_object() || !j.contains("token") || !j["token"].is_string())
      return false;
    a.token = j["token"].get<std::string>();
    return true;
  }

  static void add_accounts(const fs::path& data) {
    fs::create_directories(data);
    store::type_registry reg;
    if (!actors::register_account_types(reg))
      die("account types");
    auto site = store::store::open(actors::site_path(data), reg);
    if (!site)
      die("site store: " + site.error_value().message);
    for (auto* a : {alice_address, bob_address, carol_address}) {
      auto addr = actors::parse_address(a);
      if (!addr || !actors::add_account(**site, *addr, password))
        die("cannot add an account");
    }
  }

  fs::path dir_;
  offerings::offering_registry known_;
  std::unique_ptr<actors::node> node_;
  http::api_context ctx_;
  std::unique_ptr<http::server> server_;
  std::vector<account> accounts_;
  std::string canary_;
  std::uint64_t restored_ = 0;
};

/// What one input did.
struct result {
  std::string why;            ///< a failure, or ""
  int status = 0;             ///< of the first answer (0: none)
  bool authenticated = false; ///< see past_authentication
};

/// Runs one input (its placeholders replaced by live tokens).
result run_one(environment& env, std::string_view raw, std::uint64_t count) {
  if (raw.size() > max_input)
    raw = raw.substr(0, max_input);
  bool carried = false;
  auto input = env.with_tokens(raw, carried);
  auto o = exchange(env.port(), input);
  check_answer(o);
  result r;
  r.status = first_status(o.received);
  r.authenticated = carried && past_authentication(o.received);
  if (!o.ok) {
    r.why = o.why;
    return r;
  }
  auto l = lower(raw);
  env.keep_sessions(o.received.find(" 401 ") != std::string::npos
                    || l.find("logout") != std::string::npos
                    || l.find("disable") != std::string::npos
                    || l.find("password") != std::string::npos);
  if (count % 500 == 0) {
    if (!healthy(env.port()))
      r.why = "GET /healthz no longer answers 200";
    env.make_admin();
  }
  return r;
}

} // namespace

#ifdef MANTISSA_LIBFUZZER

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  // Kept for the life of the process: libFuzzer exits without a hook.
  static environment* env = new environment();
  static std::uint64_t count = 0;
  auto r = run_one(*env, {reinterpret_cast<const char*>(data), size}, ++count);
  if (!r.why.empty())
    die(r.why);
  return 0;
}

#else // a standalone driver

namespace {

/// Pieces of HTTP the mutator inserts (a dictionary).
// clang-format off
const std::vector<std::string> tokens = {
  "\r\n", "\r\n\r\n", "\n", "\r", " ", ":", "/", "?", "&", "=", "%", "%00",
  "%2f", "%2e%2e", "..", "../", "%zz", "%", "+", "#", ";", ",", "\"", "\\",
  "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ",
  " HTTP/1.1", " HTTP/1.0", " HTTP/2.0", " HTTP/9.9",
  "Host: ", "Host: alice.example.com", "Host: www.example.com",
  "Host: [::1]:80", "Content-Length: ", "Content-Length: 0",
  "Content-Length: 18446744073709551616", "Content-Length: -1",
  "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked",
  "Connection: close", "Connection: keep-alive", "Expect: 100-continue",
  "Accept: application/json", "Accept: text/html;q=0.1, application/json;q=x",
  "Accept: */*;q=1e400", "Authorization: Bearer ", "Authorization: Basic ",
  "Cookie: mantissa_session=", "Cookie: ;;=;", "X-Request-Id: ",
  "0\r\n\r\n", "ffffffffffffffff\r\n", "5;ext=1\r\n", "/users/alice/",
  "/users/alice/pub", "/users/", "/static/notes/", "/static/notes/index.html",
  "/api/", "/api/me", "/api/stores/alice@example.com/items/notes.note/1",
  "/healthz", "{", "}", "[", "]", "{\"title\":", "null", "1e999", "\xff",
  "\xc3\x28", "\xe2\x82", "\xf0\x9f\x92\xa9",
  // Logged in (the driver puts live tokens in place of the placeholders).
  "@ALICE@", "@BOB@", "Authorization: Bearer @BOB@\r\n",
  "Authorization: Bearer @ALICE@\r\n", "Authorization: bearer @BOB@",
  "Cookie: mantissa_session=@BOB@\r\n", "Cookie: mantissa_session=@ALICE@",
  "X-Requested-With: mantissa\r\n", "Origin: http://evil.example\r\n",
  "/api/stores/bob@example.com/items/notes.note",
  "/api/stores/carol@example.com/items/notes.note/1",
  "/api/stores/alice@example.com/shares", "/api/stores/site/",
  "/api/admin/users", "/api/admin/fanout", "/api/admin/stores/",
  "/groups/friends/members", "/default-share", "/mail/1/raw",
  "?where=", "?sort=-title&limit=2&offset=1", "&limit=-1",
  "\"role\":\"user:bob@example.com\"", "\"interfaces\":[\"write\"]"};

/// What the request mutator puts in place.
const std::vector<std::string> auth_headers = {
  "Authorization: Bearer @BOB@\r\n", "Authorization: Bearer @BOB@\r\n",
  "Authorization: Bearer @ALICE@\r\n",
  "Cookie: mantissa_session=@BOB@\r\nX-Requested-With: mantissa\r\n",
  "Cookie: mantissa_session=@ALICE@\r\n"};
const std::vector<std::string> methods = {"GET", "POST", "PUT", "PATCH",
                                          "DELETE", "HEAD", "OPTIONS"};
const std::vector<std::string> segments = {
  "alice@example.com", "bob@example.com", "carol@example.com",
  "ALICE@Example.COM", "nobody@example.com", "site", "notes", "x",
  "items", "shares", "groups", "members", "default-share", "mail", "raw",
  "notes.note", "notes.notebook", "mantissa.account", "mantissa.session",
  "mantissa.setting", "1", "2", "3", "0", "-1", "99999999999999999999",
  "pub", "for-bob", "carol-ro", "friends", "group:friends",
  "user:bob@example.com", "everyone", "users", "disable", "enable",
  "password", "backup", "move", "fanout", "overview", "stats", "stores",
  "offerings", "", "%00", "%2e%2e", "%2F", "a%40b", std::string(300, 'a')};
const std::vector<std::string> queries = {
  "", "?limit=1", "?limit=0", "?limit=-5", "?offset=3&limit=1",
  "?limit=99999999999999999999", "?sort=title", "?sort=-modified",
  "?sort=nosuch", "?where=title:eq:hi", "?where=title:prefix:f",
  "?where=body:contains:%25", "?where=", "?where=id:gt:1&sort=-id",
  "?where=title:zz:1", "?x=%zz", "?sort=&where="};
const std::vector<std::string> bodies = {
  "", "{}", "[]", "null", "1", "\"x\"", "{\"title\":\"t\"}",
  R"({"title":"t","body":"b"})", R"({"username":"bob@example.com","password":"x"})",
  R"({"type":"notes.note","item":1,"role":"user:bob@example.com","interfaces":["read","write"]})",
  R"({"type":"notes.note","item":2,"role":"everyone","share_id":"s1"})",
  R"({"share_id":"pub"})", R"({"member":"user:bob@example.com"})",
  R"({"type":"notes.note","where":{"attr":"title","op":"prefix","value":"c"}})",
  R"({"op":"query","query":{"type":"notes.note"},"stores":["carol@example.com"]})",
  R"({"username":"dave@example.com","password":"p"})",
  R"({"to":"n2"})", R"({"password":"new"})", "{\"title\":", "\xff\xfe"};
const std::vector<std::string> member_names = {
  "title", "body", "type", "item", "role", "interfaces", "share_id", "id",
  "created", "modified", "where", "sort", "limit", "offset", "op", "query",
  "stores", "handler", "args", "address", "password", "product", "member",
  "to", "username", "x"};
const std::vector<std::string> values = {
  "null", "true", "0", "-1", "1e308", "9223372036854775807",
  "-9223372036854775808", "18446744073709551616", "1.5", "\"\"",
  "\"x\"", "\"carol@example.com\"", "\"user:carol@example.com\"",
  "\"group:admin\"", "\"everyone\"", "\"notes.note\"", "\"mantissa.account\"",
  "[]", "{}", "[\"read\",\"write\",\"delete\"]", "[1,2,3]",
  "{\"attr\":\"title\",\"op\":\"eq\",\"value\":\"canary\"}",
  "\"" + std::string(20000, 'x') + "\"", "\"\\u0000\"", "\"\\u00e9\""};
const std::vector<std::string> headers = {
  "Authorization: Bearer @BOB@", "Authorization: Bearer @ALICE@",
  "Authorization: Bearer @BOB@x", "Authorization: Basic Ym9iOng=",
  "Cookie: mantissa_session=@BOB@", "Cookie: mantissa_session=@ALICE@; a=b",
  "X-Requested-With: mantissa", "X-Requested-With:", "Origin: http://x",
  "Accept: text/html", "Accept: application/json", "X-Request-Id: a b",
  "X-Forwarded-For: 10.0.0.1", "Connection: close", "Expect: 100-continue",
  "Content-Type: text/plain", "Range: bytes=0-1"};

const std::vector<std::string> numbers = {"0",     "1",  "-1", "65536",
                                          "99999999999999999999",
                                          "0x10",  "1.5", "", "4294967295"};
// clang-format on

class generator {
 public:
  generator(std::uint64_t seed, std::vector<std::string> seeds)
    : rng_(seed), seeds_(std::move(seeds)) {}

  /// The `i`-th input: each seed once as it is, then one in ten random
  /// bytes; of the rest, a third are seeds mutated byte-wise and two
  /// thirds mutated as requests (method, path segments, query, JSON body, a
  /// header; Content-Length kept right), so that most reach a handler.
  /// Three in four inputs without a placeholder get a session header.
  std::string next(std::uint64_t i) {
    if (i < seeds_.size())
      return seeds_[i];
    if (seeds_.empty() || pick(10) == 0)
      return random_bytes(pick(600));
    auto s = seeds_[pick(seeds_.size())];
    bool as_request = pick(3) != 0 && one_request(s);
    auto rounds = 1 + pick(as_request ? 3 : 5);
    for (std::size_t r = 0; r < rounds; ++r)
      as_request ? mutate_request(s) : mutate(s);
    if (s.find("@ALICE@") == std::string::npos
        && s.find("@BOB@") == std::string::npos && pick(4) != 0) {
      auto eol = s.find("\r\n");
      if (eol != std::string::npos)
        s.insert(eol + 2, auth_headers[pick(auth_headers.size())]);
    }
    if (s.size() > max_input)
      s.resize(max_input);
    return s;
  }

 private:
  std::size_t pick(std::size_t n) {
    return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n);
  }

  /// Whether `s` holds exactly one request head (then it is mutated as
  /// one request).
  static bool one_request(const std::string& s) {
    auto end = s.find("\r\n\r\n");
    return end != std::string::npos && s.find(" HTTP/1.") != std::string::npos
           && s.find(" HTTP/1.", end) == std::string::npos;
  }

  /// One change that keeps `s` a well-formed request: another method, a
  /// path segment or the query replaced, a JSON member changed, added or
  /// removed, a header added; Content-Length follows the body.
  void mutate_request(std::string& s) {
    auto end = s.find("\r\n\r\n");
    auto head = s.substr(0, end);
    auto body = s.substr(end + 4);
    auto line_end = head.find("\r\n");
    auto line = head.substr(0, line_end);
    auto rest
      = line_end == std::string::npos ? std::string{} : head.substr(line_end);
    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 <= sp1)
      return mutate(s);
    auto method = line.substr(0, sp1);
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto version = line.substr(sp2);
    switch (pick(12)) {
      case 0:
        method = methods[pick(methods.size())];
        break;
      case 1: { // a path segment
        auto q = target.find('?');
        auto path = target.substr(0, q);
        auto query = q == std::string::npos ? std::string{} : target.substr(q);
        std::vector<std::string> segs;
        for (std::size_t at = 0;;) {
          auto slash = path.find('/', at);
          segs.push_back(path.substr(at, slash - at));
          if (slash == std::string::npos)
            break;
          at = slash + 1;
        }
        if (segs.size() > 2) {
          auto k = 2 + pick(segs.size() - 2);
          if (pick(8) == 0)
            segs.erase(segs.begin() + static_cast<std::ptrdiff_t>(k));
          else if (pick(8) == 0)
            segs.insert(segs.begin() + static_cast<std::ptrdiff_t>(k),
                        segments[pick(segments.size())]);
          else
            segs[k] = segments[pick(segments.size())];
        }
        path.clear();
        for (std::size_t k = 0; k < segs.size(); ++k)
          path += (k == 0 ? "" : "/") + segs[k];
        target = path + query;
        break;
      }
      case 2: { // the query
        auto q = target.find('?');
        target = target.substr(0, q) + queries[pick(queries.size())];
        break;
      }
      case 3:
      case 4:
      case 5:
      case 6:
      case 7: { // the body
        auto j = nlohmann::json::parse(body, nullptr, false);
        if (!j.is_object() || pick(6) == 0) {
          body = bodies[pick(bodies.size())];
          break;
        }
        auto v = nlohmann::json::parse(values[pick(values.size())]);
        auto& names_in = member_names;
        if (j.empty() || pick(3) == 0)
          j[names_in[pick(names_in.size())]] = v;
        else {
          auto it = j.begin();
          std::advance(it, static_cast<std::ptrdiff_t>(pick(j.size())));
          if (pick(4) == 0)
            j.erase(it);
          else
            *it = v;
        }
        body = j.dump();
        break;
      }
      default: // a header
        rest += "\r\n" + headers[pick(headers.size())];
        break;
    }
    // Content-Length follows the body (a chunked seed keeps its framing).
    auto l = rest;
    for (auto& c : l)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l.find("transfer-encoding") == std::string::npos) {
      auto cl = l.find("\r\ncontent-length:");
      if (cl != std::string::npos) {
        auto eol = rest.find("\r\n", cl + 2);
        rest.replace(cl,
                     eol == std::string::npos ? std::string::npos : eol - cl,
                     "\r\nContent-Length: " + std::to_string(body.size()));
      } else if (!body.empty()) {
        rest += "\r\nContent-Length: " + std::to_string(body.size());
      }
    }
    s = method + " " + target + version + rest + "\r\n\r\n" + body;
  }

  std::string random_bytes(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng_() & 0xff);
    return s;
  }

  void mutate(std::string& s) {
    auto at = pick(s.size() + 1);
    switch (pick(10)) {
      case 0: // flip a bit
        if (!s.empty()) {
          auto& c = s[pick(s.size())];
          c = static_cast<char>(static_cast<unsigned char>(c)
                                ^ (1u << pick(8)));
        }
        break;
      case 1: // overwrite a byte
        if (!s.empty())
          s[pick(s.size())] = static_cast<char>(rng_() & 0xff);
        break;
      case 2: // insert random bytes
        s.insert(at, random_bytes(1 + pick(8)));
        break;
      case 3: // delete a range
        if (at < s.size())
          s.erase(at, 1 + pick(std::min<std::size_t>(s.size() - at, 32)));
        break;
      case 4:
      case 5: // insert a token
        s.insert(at, tokens[pick(tokens.size())]);
        break;
      case 6: // duplicate a range
        if (at < s.size()) {
          auto len = 1 + pick(std::min<std::size_t>(s.size() - at, 64));
          s.insert(at, s.substr(at, len));
        }
        break;
      case 7: { // splice with another seed
        auto& other = seeds_[pick(seeds_.size())];
        s = s.substr(0, at) + other.substr(pick(other.size() + 1));
        break;
      }
      case 8: { // replace a run of digits with another number
        auto d = s.find_first_of("0123456789", at);
        if (d != std::string::npos) {
          auto e = s.find_first_not_of("0123456789", d);
          s.replace(d, e == std::string::npos ? std::string::npos : e - d,
                    numbers[pick(numbers.size())]);
        }
        break;
      }
      default: // repeat a short range many times (limits)
        if (at < s.size()) {
          auto piece
            = s.substr(at, 1 + pick(std::min<std::size_t>(s.size() - at, 16)));
          std::string run;
          auto times = 1 + pick(2048);
          for (std::size_t k = 0; k < times && run.size() < max_input; ++k)
            run += piece;
          s.insert(at, run);
        }
        break;
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> seeds_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 2048)) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n\n";
    else if (c < 0x20 || c >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t runs = 20'000;
  std::uint64_t seed = 1;
  double min_authenticated = 20.0;
  fs::path corpus;
#ifdef MANTISSA_FUZZ_CORPUS
  corpus = MANTISSA_FUZZ_CORPUS;
#endif
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--runs" && i + 1 < argc)
      runs = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--corpus" && i + 1 < argc)
      corpus = argv[++i];
    else if (a == "--min-authenticated" && i + 1 < argc)
      min_authenticated = std::strtod(argv[++i], nullptr);
    else if (a.starts_with("-")) {
      std::fprintf(stderr, "usage: http_request_fuzz [--runs N] [--seed S] "
                           "[--corpus DIR] [--min-authenticated PCT] "
                           "[FILE...]\n");
      return 2;
    } else
      files.emplace_back(a);
  }
  if (const char* v = std::getenv("MANTISSA_SEED"); v != nullptr && *v != 0)
    seed = std::strtoull(v, nullptr, 10);

  std::vector<std::string> inputs_from_files;
  for (auto& f : files)
    inputs_from_files.push_back(read_file(f));
  std::vector<std::string> seeds;
  std::error_code ec;
  if (!corpus.empty() && fs::is_directory(corpus, ec)) {
    std::vector<fs::path> names;
    for (auto& e : fs::directory_iterator{corpus})
      if (e.is_regular_file())
        names.push_back(e.path());
    std::sort(names.begin(), names.end()); // the same order every run
    for (auto& n : names)
      seeds.push_back(read_file(n));
  }

  if (files.empty())
    std::printf("http_request_fuzz: seed %llu (MANTISSA_SEED=%llu replays "
                "it)\n",
                static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  environment env;
  generator gen{seed, seeds};
  auto total = files.empty() ? runs : files.size();
  auto started = std::chrono::steady_clock::now();
  std::uint64_t failed = 0;
  std::uint64_t ran = 0;
  std::uint64_t authenticated = 0;
  // By the status of each input's first answer: how many, and seconds.
  std::map<int, std::pair<std::uint64_t, double>> statuses;
  for (std::uint64_t i = 0; i < total; ++i) {
    auto input = files.empty() ? gen.next(i) : inputs_from_files[i];
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_one(env, input, i + 1);
    auto took
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
    ++ran;
    if (r.authenticated)
      ++authenticated;
    auto& [count, seconds] = statuses[r.status];
    ++count;
    seconds += took;
    if (took > 1.0)
      std::fprintf(stderr, "input %llu: slow, %.1f s, first answer %d:\n%s\n",
                   static_cast<unsigned long long>(i), took, r.status,
                   printable(input).c_str());
    if (r.why.empty())
      continue;
    ++failed;
    auto name = "http_request_fuzz-failure-" + std::to_string(i) + ".bin";
    std::ofstream{name, std::ios::binary} << input;
    std::fprintf(stderr, "input %llu: %s (saved as %s):\n%s\n",
                 static_cast<unsigned long long>(i), r.why.c_str(),
                 name.c_str(), printable(input).c_str());
    if (failed >= 5)
      break;
  }
  bool ok_at_end = healthy(env.port());
  if (!ok_at_end) {
    std::fprintf(stderr, "GET /healthz does not answer 200 after the run\n");
    ++failed;
  }
  // The canary: carol's notes are as they were.
  auto canary = env.carol_notes();
  if (canary != env.canary()) {
    std::fprintf(stderr,
                 "carol's notes changed, though no token the fuzzer holds "
                 "may write them:\nbefore: %s\nafter:  %s\n",
                 env.canary().c_str(), canary.c_str());
    ++failed;
  }
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
        .count();
  std::string seen;
  for (auto& [status, stat] : statuses) {
    char line[96];
    std::snprintf(line, sizeof(line), " %s:%llu (%.1f s)",
                  status == 0 ? "none" : std::to_string(status).c_str(),
                  static_cast<unsigned long long>(stat.first), stat.second);
    seen += line;
  }
  double pct = ran == 0 ? 0.0
                        : 100.0 * static_cast<double>(authenticated)
                            / static_cast<double>(ran);
  std::printf("http_request_fuzz: first answers%s\n", seen.c_str());
  std::printf("http_request_fuzz: %llu of %llu inputs (%.1f%%) reached a "
              "handler logged in; sessions restored %llu times\n",
              static_cast<unsigned long long>(authenticated),
              static_cast<unsigned long long>(ran), pct,
              static_cast<unsigned long long>(env.restored()));
  // A replay of a few files proves nothing about the share.
  if (files.empty() && ran >= 100 && pct < min_authenticated) {
    std::fprintf(stderr,
                 "only %.1f%% of the inputs got past authentication (at "
                 "least %.1f%% expected): the fuzzer no longer reaches the "
                 "logged-in handlers\n",
                 pct, min_authenticated);
    ++failed;
  }
  std::printf("http_request_fuzz: %llu inputs (seed %llu, %zu seeds) in %.1f "
              "s\n%llu passed, %llu failed\n",
              static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(seed), seeds.size(), secs,
              static_cast<unsigned long long>(total - std::min(total, failed)),
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

#endif
