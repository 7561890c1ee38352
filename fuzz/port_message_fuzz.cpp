// Fuzzes the node's actor port (docs/security.md, "The actor port") as a
// logged-in ordinary user would: a real `mantissa start --listen` child
// process on 127.0.0.1, bob logged in with the client library, and
// seeded random messages sent through everything his session hands out:
// the session itself and the forwarders for his store, alice's, the site
// store, the notes offering's and any actor a reply names.
//
// The messages are the store protocol (wire/protocol.hpp) with random
// arguments (addresses, item types and ids, JSON bodies, huge and empty
// strings, callers claiming other roles, with the login's capability, a
// wrong one or none) and ill-typed ones (wrong arity, wrong types, unknown
// atoms). A message to the session with the login's capability never
// ends it (logout is only sent with a wrong one).
//
// The run fails when
//  - the node process exits (a crash: it is built with the sanitizers);
//  - every `--probe` messages, bob's session can no longer write a note
//    to his own store and read it back;
//  - a reply carries what bob must not see: alice's private note, a
//    password hash, a session's token hash;
//  - at the end, alice's notes (read by alice over HTTP) differ from
//    before: bob could read one (shared with him) and write none;
//  - the node wrote a sanitizer report on its standard error.
//
//   port_message_fuzz [--messages N] [--seed S] [--probe K]
//
// Every random choice comes from the seed, which is printed;
// MANTISSA_SEED overrides --seed. See docs/security.md, "Fuzzing the
// port".

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/message_builder.hpp>
#include <caf/others.hpp>
#include <caf/scoped_actor.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "wire/errors.hpp"
#include "wire/protocol.hpp"
#include "client/client.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace actors = mantissa::actors;
namespace client = mantissa::client;
namespace test = mantissa::test;
namespace fs = std::filesystem;

const std::string password = "fuzz password";
const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
/// In alice's private note: no reply to bob may carry it.
const std::string alice_marker = "ALICE-PRIVATE-7d41b0";
/// In the note alice shares with bob to read.
const std::string shared_marker = "SHARED-WITH-BOB-93ac";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "port_message_fuzz: %s\n", what.c_str());
  std::exit(1);
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    die("no free port");
  ::close(fd);
  return ntohs(a.sin_port);
}

using headers = std::vector<std::pair<std::string, std::string>>;

/// A node process over a fresh data directory with the notes offering,
/// alice and bob: alice has a private note and one shared with bob to
/// read. The destructor stops the node (SIGKILL through `test::child` if
/// it does not stop).
class site {
 public:
  site() : listen_(free_port()) {
    auto data = (dir_ / "data").string();
    auto offline
      = [&](std::vector<std::string> args, const std::string& in = {}) {
          args.insert(args.begin(), MANTISSA_BINARY);
          args.push_back("--data");
          args.push_back(data);
          auto r = test::run(args, in, 120s);
          if (r.exit_code != 0)
            die("mantissa " + args[1] + ": " + r.err);
        };
    offline({"init", "--domain", "example.com"});
    offline({"offering", "install", "notes"});
    for (auto& u : {alice, bob})
      offline({"user", "add", u, "--product", "notes", "--password-stdin"},
              password + "\n");
    node_ = std::make_unique<test::child>(std::vector<std::string>{
      MANTISSA_BINARY, "start", "--data", data, "--http", "127.0.0.1:0",
      "--listen", "127.0.0.1:" + std::to_string(listen_)});
    auto line = node_->wait_for_line("serving http://", 120s);
    std::smatch m;
    if (!line || !std::regex_search(*line, m, std::regex{R"(:(\d+)/)"}))
      die("the node did not start: " + node_->err());
    http_ = static_cast<std::uint16_t>(std::stoi(m[1]));
    alice_auth_ = {{"Authorization", "Bearer " + login(alice)}};
    auto priv = call("POST", "/api/stores/" + alice + "/items/notes.note",
                     json{{"title", "private"}, {"body", alice_marker}});
    auto shared = call("POST", "/api/stores/" + alice + "/items/notes.note",
                       json{{"title", "shared"}, {"body", shared_marker}});
    call("POST", "/api/stores/" + alice + "/shares",
         json{{"type", "notes.note"},
              {"item", shared["id"]},
              {"role", "user:" + bob},
              {"interfaces", {"read"}},
              {"share_id", "for-bob"}});
    (void)priv;
  }

  ~site() {
    if (node_->wait(0ms))
      return;
    node_->signal(SIGTERM);
    if (!node_->wait(30s))
      node_->signal(SIGKILL);
  }

  site(const site&) = delete;
  site& operator=(const site&) = delete;

  [[nodiscard]] std::uint16_t listen() const { return listen_; }

  /// The exit code of the node process if it has exited.
  std::optional<int> exited() { return node_->wait(0ms); }

  /// Everything the node wrote to its standard error so far. Reading it
  /// (and its standard output) also keeps its pipes from filling up.
  std::string node_err() {
    (void)node_->out();
    return node_->err();
  }

  /// alice's notes and shares as alice reads them over HTTP.
  json alice_view() {
    return json{
      {"notes",
       call("GET", "/api/stores/" + alice + "/items/notes.note?sort=id", {})},
      {"shares", call("GET", "/api/stores/" + alice + "/shares", {})}};
  }

 private:
  std::string login(const std::string& user) {
    auto r = test::http_request(
      http_, "POST", "/api/login",
      json{{"username", user}, {"password", password}}.dump());
    if (!r || r->status != 200)
      die("cannot log " + user + " in over HTTP");
    return json::parse(r->body)["token"].get<std::string>();
  }

  json call(const std::string& method, const std::string& target,
            const json& body) {
    auto r = test::http_request(http_, method, target,
                                body.is_null() ? std::string{} : body.dump(),
                                alice_auth_);
    if (!r || r->status / 100 != 2)
      die(method + " " + target + ": "
          + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
    return json::parse(r->body);
  }

  test::temp_dir dir_{"mantissa-port-fuzz"};
  std::uint16_t listen_;
  std::uint16_t http_ = 0;
  std::unique_ptr<test::child> node_;
  headers alice_auth_;
};

// -- random messages ----------------------------------------------------------

// clang-format off
const std::vector<std::string> addresses = {
  "alice@example.com", "bob@example.com", "site", "notes",
  "carol@example.com", "ALICE@EXAMPLE.COM", "", "x", "@", "a@b",
  "alice@example.com\n", "../site", "site\0x", "system", "notes.note"};
const std::vector<std::string> types = {
  "notes.note", "notes.notebook", "mantissa.account", "mantissa.session",
  "mantissa.setting", "mantissa.share", "nosuch.type", "", "notes.",
  "NOTES.NOTE"};
const std::vector<std::string> roles = {
  "system", "user:alice@example.com", "user:bob@example.com", "everyone",
  "authenticated", "group:admin", "", "user:", "group:friends"};
const std::vector<std::string> handlers = {
  "notes.create", "notes.edit", "notes.list", "mantissa.set_password",
  "mantissa.set_disabled", "mantissa.check_admin", "mantissa.login_lookup",
  "mantissa.write_account_copy", "mantissa.list_offerings", "mail.deliver",
  "nosuch", ""};
const std::vector<std::string> json_values = {
  "null", "true", "0", "-1", "1e308", "9223372036854775807",
  "18446744073709551616", "\"\"", "\"x\"", "\"alice@example.com\"",
  "\"user:alice@example.com\"", "\"system\"", "[]", "{}",
  "[\"read\",\"write\",\"delete\"]", "\"notes.note\"",
  "{\"attr\":\"title\",\"op\":\"eq\",\"value\":\"private\"}"};
const std::vector<std::string> member_names = {
  "title", "body", "type", "id", "where", "sort", "limit", "offset",
  "address", "password", "disabled", "sender", "share", "payload",
  "messages", "acked", "attr", "op", "value", "x"};
const std::vector<std::string> commands = {
  "status", "join", "beat", "leave", "nosuch", ""};
// clang-format on

/// Makes the messages; the only source of randomness of the run.
class generator {
 public:
  explicit generator(std::uint64_t seed) : rng_(seed) {}

  std::size_t pick(std::size_t n) {
    return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n);
  }

  template<class T>
  const T& one_of(const std::vector<T>& v) {
    return v[pick(v.size())];
  }

  /// A string: mostly from `pool`, sometimes empty, huge or random bytes.
  std::string text(const std::vector<std::string>& pool) {
    switch (pick(12)) {
      case 0:
        return {};
      case 1:
        return std::string(1 + pick(256 * 1024), 'a');
      case 2: {
        std::string s(pick(64), '\0');
        for (auto& c : s)
          c = static_cast<char>(rng_() & 0xff);
        return s;
      }
      default:
        return one_of(pool);
    }
  }

  std::int64_t id() {
    switch (pick(8)) {
      case 0:
        return std::numeric_limits<std::int64_t>::max();
      case 1:
        return std::numeric_limits<std::int64_t>::min();
      case 2:
        return -1;
      case 3:
        return 0;
      default:
        return static_cast<std::int64_t>(1 + pick(12));
    }
  }

  /// A JSON text: an object of random members, a random value, or
  /// something that is not JSON.
  std::string body() {
    switch (pick(10)) {
      case 0:
        return text(json_values);
      case 1:
        return "{\"title\":";
      case 2: {
        // Deep nesting.
        auto depth = 1 + pick(2000);
        return std::string(depth, '[') + std::string(depth, ']');
      }
      default: {
        json j = json::object();
        auto n = pick(5);
        for (std::size_t i = 0; i < n; ++i)
          j[one_of(member_names)] = json::parse(one_of(json_values));
        if (pick(3) == 0)
          j["type"] = one_of(types);
        return j.dump();
      }
    }
  }

  /// The caller of a message: any role (the forwarders put the session's
  /// in its place), with the login's capability most of the time.
  actors::caller caller(const actors::caller& login) {
    actors::caller c{one_of(roles), "fuzz-" + std::to_string(pick(1000)),
                     login.capability};
    switch (pick(10)) {
      case 0:
        c.capability.clear();
        break;
      case 1:
        c.capability = std::string(login.capability.size(), 'A');
        break;
      case 2:
        c.capability = login.capability.substr(1);
        break;
      default:
        break;
    }
    return c;
  }

  /// A store protocol message with random arguments.
  caf::message well_typed(const actors::caller& login, const std::string& tmp) {
    using namespace actors;
    auto who = caller(login);
    switch (pick(30)) {
      case 0:
        return caf::make_message(get_atom::value, who, text(types), id());
      case 1:
        return caf::make_message(put_atom::value, who, text(types), body());
      case 2:
        return caf::make_message(update_atom::value, who, text(types), id(),
                                 body());
      case 3:
        return caf::make_message(delete_atom::value, who, text(types), id());
      case 4:
        return caf::make_message(query_atom::value, who, body());
      case 5:
        return caf::make_message(query_atom::value, who,
                                 json{{"type", one_of(types)}}.dump());
      case 6:
        return caf::make_message(count_atom::value, who, text(types),
                                 pick(2) == 0 ? std::string{} : body());
      case 7:
        return caf::make_message(install_atom::value, who, text(types), id(),
                                 body());
      case 8:
        return caf::make_message(uninstall_atom::value, who, text(types), id());
      case 9:
        return caf::make_message(powerups_atom::value, who,
                                 text({"notebook", "read", ""}));
      case 10:
        return caf::make_message(run_atom::value, who, text(handlers), body());
      case 11:
        return caf::make_message(share_atom::value, who, text(types), id(),
                                 text(roles), body(),
                                 text({"s1", "for-bob", "pub", ""}));
      case 12:
        return caf::make_message(unshare_atom::value, who,
                                 text({"s1", "for-bob", ""}), text(roles));
      case 13:
        return caf::make_message(shares_atom::value, who, id());
      case 14:
        return caf::make_message(getshare_atom::value, who,
                                 text({"s1", "for-bob", "nosuch"}));
      case 15:
        return caf::make_message(member_atom::value, who, text(roles),
                                 text(roles), pick(2) == 0);
      case 16:
        return caf::make_message(defshare_atom::value, who,
                                 text({"for-bob", "s1", ""}));
      case 17:
        return caf::make_message(visible_atom::value, who);
      case 18: {
        json batch{{"sender", one_of(addresses)},
                   {"acked", static_cast<std::int64_t>(pick(3))},
                   {"messages",
                    {{{"id", 1},
                      {"share", "for-bob"},
                      {"type", one_of(types)},
                      {"payload", json::parse(one_of(json_values))}}}}};
        return caf::make_message(inbox_atom::value, who,
                                 pick(4) == 0 ? body() : batch.dump());
      }
      case 19: {
        json req{{"sender", one_of(addresses)},
                 {"share", "for-bob"},
                 {"type", one_of(types)},
                 {"payload", json::object()}};
        return caf::make_message(ask_atom::value, who,
                                 pick(4) == 0 ? body() : req.dump());
      }
      case 20:
        return caf::make_message(backup_atom::value, who,
                                 pick(2) == 0 ? tmp + "/b.sqlite" : text({""}));
      case 21:
        return caf::make_message(store_atom::value, who, text(addresses));
      case 22:
        return caf::make_message(
          route_atom::value, who, text(addresses),
          caf::make_message(get_atom::value, who, one_of(types), id()));
      case 23:
        return caf::make_message(cluster_atom::value, who, text(commands),
                                 body());
      case 24:
        return caf::make_message(fanout_atom::value, who, body());
      case 25:
        return caf::make_message(stores_atom::value, who);
      case 26:
        return caf::make_message(stats_atom::value, who);
      case 27:
        return caf::make_message(bksnap_atom::value, who, text(addresses));
      case 28:
        return caf::make_message(bkchunk_atom::value, who,
                                 static_cast<std::uint64_t>(pick(4)),
                                 static_cast<std::uint64_t>(pick(1 << 21)));
      default:
        return caf::make_message(move_atom::value, who, text(addresses),
                                 text({"n1", "n2", ""}));
    }
  }

  /// A message of wrong arity or types, or with an atom nobody knows.
  caf::message ill_typed(const actors::caller& login) {
    static const std::vector<caf::atom_value> atoms
      = {actors::get_atom::value,    actors::put_atom::value,
         actors::update_atom::value, actors::query_atom::value,
         actors::run_atom::value,    actors::share_atom::value,
         actors::store_atom::value,  actors::logout_atom::value,
         actors::login_atom::value,  actors::route_atom::value,
         actors::inbox_atom::value,  actors::backup_atom::value,
         caf::atom("nosuch"),        caf::atom(""),
         caf::atom("forward"),       caf::atom("lookup")};
    caf::message_builder b;
    if (pick(6) != 0)
      b.append(one_of(atoms));
    auto n = pick(6);
    for (std::size_t i = 0; i < n; ++i) {
      switch (pick(8)) {
        case 0:
          b.append(caller(login));
          break;
        case 1:
          b.append(text(types));
          break;
        case 2:
          b.append(id());
          break;
        case 3:
          b.append(static_cast<std::uint64_t>(rng_()));
          break;
        case 4:
          b.append(pick(2) == 0);
          break;
        case 5:
          b.append(1.5);
          break;
        case 6:
          b.append(body());
          break;
        default:
          b.append(one_of(atoms));
          break;
      }
    }
    return b.to_message();
  }

 private:
  std::mt19937_64 rng_;
};

/// Whether `text` (a reply) carries something bob must not see: alice's
/// private note, a session's token hash, or any password hash (the node's
/// own records, `mantissa.*` items, are read only by the node, also in
/// bob's own store: docs/security.md, "Fuzzing the port").
std::optional<std::string> leak_in(std::string_view text) {
  for (std::string_view secret :
       {std::string_view{alice_marker}, std::string_view{"token_hash"},
        std::string_view{"$argon2id$"}})
    if (text.find(secret) != std::string_view::npos)
      return std::string{secret};
  return std::nullopt;
}

struct counts {
  std::uint64_t strings = 0;
  std::uint64_t others = 0; ///< actors and anything else
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;
  std::map<std::string, std::uint64_t> codes; ///< errors by code
};

} // namespace

int main(int argc, char** argv) {
  std::uint64_t messages = 20000;
  std::uint64_t seed = 1;
  std::uint64_t probe_every = 100;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--messages" && i + 1 < argc)
      messages = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--probe" && i + 1 < argc)
      probe_every
        = std::max<std::uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
    else {
      std::fprintf(stderr, "usage: port_message_fuzz [--messages N] "
                           "[--seed S] [--probe K]\n");
      return 2;
    }
  }
  if (const char* v = std::getenv("MANTISSA_SEED"); v != nullptr && *v != 0)
    seed = std::strtoull(v, nullptr, 10);
  std::printf("port_message_fuzz: seed %llu (MANTISSA_SEED=%llu replays it)\n",
              static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);

  auto started = std::chrono::steady_clock::now();
  site s;
  auto before = s.alice_view();
  test::temp_dir tmp{"mantissa-port-fuzz-dest"};

  caf::actor_system_config cfg;
  client::configure(cfg);
  cfg.set("logger.console", caf::atom("none"));
  std::uint64_t failed = 0;
  std::uint64_t sent = 0;
  counts seen;
  {
    caf::actor_system sys{cfg};
    auto gw = client::connect(sys, "127.0.0.1", s.listen());
    if (!gw)
      die("connect: " + sys.render(gw.error()));
    auto login = client::session::login(sys, *gw, bob, password);
    if (!login)
      die("login as bob: " + actors::error_message(login.error()));
    auto& bobs = *login;
    const auto& who = bobs.caller();
    // The handles the session gives out; replies may add more.
    std::vector<caf::actor> targets{bobs.handle()};
    for (auto& addr : {bob, alice, std::string{"site"}, std::string{"notes"}}) {
      auto h = bobs.lookup(addr);
      if (!h)
        die("lookup of " + addr + ": " + actors::error_message(h.error()));
      targets.push_back(*h);
    }
    caf::scoped_actor self{sys};
    generator gen{seed};

    auto fail = [&](std::uint64_t i, const std::string& why) {
      std::fprintf(stderr, "message %llu: %s\n",
                   static_cast<unsigned long long>(i), why.c_str());
      ++failed;
    };
    std::uint64_t probes = 0;
    auto probe = [&](std::uint64_t i) {
      (void)s.node_err();
      if (auto code = s.exited()) {
        fail(i, "the node exited with " + std::to_string(*code) + ":\n"
                  + s.node_err());
        return false;
      }
      auto title = "probe " + std::to_string(++probes);
      auto put = bobs.put(bob, "notes.note", {{"title", title}});
      if (!put) {
        fail(i, "bob can no longer write his own store: "
                  + actors::error_message(put.error()));
        return false;
      }
      auto got = bobs.get(bob, "notes.note", (*put)["id"].get<std::int64_t>());
      if (!got || (*got)["title"] != title) {
        fail(i, "bob can no longer read his own note: "
                  + (got ? got->dump() : actors::error_message(got.error())));
        return false;
      }
      // The note shared with him stays readable.
      auto shared = bobs.query(alice, {{"type", "notes.note"}});
      if (!shared || shared->dump().find(shared_marker) == std::string::npos) {
        fail(i, "bob no longer sees the note alice shares with him: "
                  + (shared ? shared->dump()
                            : actors::error_message(shared.error())));
        return false;
      }
      return true;
    };
    if (!probe(0))
      die("the probe fails before any message");

    for (std::uint64_t i = 1; i <= messages && failed == 0; ++i) {
      ++sent;
      auto& target = targets[gen.pick(targets.size())];
      auto msg = gen.pick(4) == 0 ? gen.ill_typed(who)
                                  : gen.well_typed(who, tmp.path().string());
      // Never end the session itself: a logout carries a wrong capability.
      if (msg.size() >= 2 && msg.match_element<caf::atom_value>(0)
          && msg.get_as<caf::atom_value>(0) == actors::logout_atom::value
          && msg.match_element<actors::caller>(1)
          && msg.get_as<actors::caller>(1).capability == who.capability)
        msg.get_mutable_as<actors::caller>(1).capability = "not-the-login's";
      auto check = [&](std::string_view text, const char* what) {
        if (auto leak = leak_in(text))
          fail(i, std::string{what} + " carries '" + *leak
                    + "' to bob: " + std::string{text.substr(0, 512)}
                    + "\nmessage: " + caf::to_string(msg).substr(0, 512));
      };
      self->request(target, 10s, msg)
        .receive(
          [&](caf::error& err) {
            if (err.category() == caf::atom("system")
                && err.code()
                     == static_cast<std::uint8_t>(caf::sec::request_timeout))
              ++seen.timeouts;
            else
              ++seen.errors;
            if (err.category() == caf::atom("mantissa"))
              ++seen.codes[actors::to_string(actors::code_of(err))];
            else
              ++seen.codes[sys.render(err).substr(0, 40)];
            check(actors::error_message(err), "an error");
          },
          caf::others >>
            [&](caf::message_view& x) -> caf::result<caf::message> {
            auto reply = x.copy_content_to_message();
            if (reply.match_elements<std::string>()) {
              ++seen.strings;
              check(reply.get_as<std::string>(0), "a reply");
            } else {
              ++seen.others;
              check(caf::to_string(reply), "a reply");
              // A handle the session gave out: a target from now on.
              if (reply.size() >= 1 && reply.match_element<caf::actor>(0)
                  && targets.size() < 16)
                if (auto h = reply.get_as<caf::actor>(0))
                  targets.push_back(h);
            }
            return caf::message{};
          });
      if (i % probe_every == 0 || i == messages)
        probe(i);
    }
  }
  // alice's notes and shares, as she reads them, are what they were.
  if (auto code = s.exited()) {
    std::fprintf(stderr, "the node exited with %d:\n%s\n", *code,
                 s.node_err().c_str());
    ++failed;
  } else {
    auto after = s.alice_view();
    if (after != before) {
      std::fprintf(stderr,
                   "alice's store changed, though bob may only read one of "
                   "her notes:\nbefore: %s\nafter:  %s\n",
                   before.dump().c_str(), after.dump().c_str());
      ++failed;
    }
  }
  auto err = s.node_err();
  for (const char* report :
       {"ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"})
    if (err.find(report) != std::string::npos) {
      std::fprintf(stderr, "the node reported '%s':\n%s\n", report,
                   err.c_str());
      ++failed;
      break;
    }
  std::string codes;
  for (auto& [code, n] : seen.codes)
    codes += " " + code + ":" + std::to_string(n);
  std::printf("port_message_fuzz: errors by code%s\n", codes.c_str());
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
        .count();
  std::printf("port_message_fuzz: %llu messages (seed %llu) in %.1f s: "
              "%llu string replies, %llu other replies, %llu errors, %llu "
              "timeouts\n%s\n",
              static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(seed), secs,
              static_cast<unsigned long long>(seen.strings),
              static_cast<unsigned long long>(seen.others),
              static_cast<unsigned long long>(seen.errors),
              static_cast<unsigned long long>(seen.timeouts),
              failed == 0 ? "passed" : "FAILED");
  return failed == 0 ? 0 : 1;
}
