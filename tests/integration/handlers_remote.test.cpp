// Who may run a handler, against a node process (docs/offerings.md, "Who
// may run a handler"): alice shares a note with bob for `read`; bob runs
// `notes.read` (interface `read`) through the share over the actor port,
// over `POST /api/stores/{address}/handlers/{name}` and through the notes
// route, and gets that note only; without the share, with a handler
// without an interface, or as a stranger, he gets what a missing handler
// (or a missing store) gets.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "wire/errors.hpp"
#include "wire/protocol.hpp"
#include "tests/support/cluster.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/port_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using namespace mantissa::test::cluster;
using mantissa::test::http_request;
using mantissa::test::port_client;
using mantissa::test::run;
using mantissa::test::temp_dir;
using nlohmann::json;
namespace actors = mantissa::actors;

namespace {

const std::string pw = "correct horse battery";
const std::string alice = "alice@example.com";
const std::string bob = "bob@example.com";
const std::string carol = "carol@example.com";
using headers = std::vector<std::pair<std::string, std::string>>;

struct shared_site {
  temp_dir dir;
  node_process node{dir / "n1", "n1", {}};
  headers alice_auth, bob_auth, carol_auth;
  std::int64_t shared_id = 0;
  std::int64_t other_id = 0;
  std::string share_id;

  shared_site() {
    auto offline = [&](std::vector<std::string> args, const std::string& in) {
      args.insert(args.begin(), MANTISSA_BINARY);
      args.insert(args.end(), {"--data", node.data().string()});
      auto r = run(args, in, 60s);
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
    };
    offline({"init", "--domain", "example.com"}, {});
    offline({"offering", "install", "notes"}, {});
    for (auto& u : {alice, bob, carol})
      offline({"user", "add", u, "--product", "notes", "--password-stdin"},
              pw + "\n");
    node.start();
    alice_auth = login(node.http(), alice, pw);
    bob_auth = login(node.http(), bob, pw);
    carol_auth = login(node.http(), carol, pw);
    shared_id = note("for bob");
    other_id = note("alice only");
    auto r = http_request(node.http(), "POST", "/api/stores/" + alice + "/shares",
                          json{{"type", "notes.note"},
                               {"item", shared_id},
                               {"role", "user:" + bob},
                               {"interfaces", {"read"}}}
                            .dump(),
                          alice_auth);
    REQUIRE(r);
    REQUIRE(r->status == 201);
    share_id = json::parse(r->body).at("share_id").get<std::string>();
  }

  std::int64_t note(const std::string& title) {
    auto r = http_request(node.http(), "POST",
                          "/api/stores/" + alice + "/items/notes.note",
                          json{{"title", title}}.dump(), alice_auth);
    REQUIRE(r);
    REQUIRE(r->status == 201);
    return json::parse(r->body).at("id").get<std::int64_t>();
  }

  /// POST .../handlers/{name}[?share=] as `who`: status and body.
  std::pair<int, json> run_http(const headers& who, const std::string& name,
                                const json& args, const std::string& share) {
    auto target = "/api/stores/" + alice + "/handlers/" + name
                  + (share.empty() ? "" : "?share=" + share);
    auto r = http_request(node.http(), "POST", target, args.dump(), who);
    REQUIRE(r);
    return {r->status, json::parse(r->body, nullptr, false)};
  }
};

std::string code_of(const json& j) {
  return j.contains("error") ? j["error"].value("code", "") : "";
}

} // namespace

TEST_CASE("handlers through a share over HTTP and the notes route",
          "[integration][handlers]") {
  shared_site s;
  // The owner runs it on any note.
  auto [st, body] = s.run_http(s.alice_auth, "notes.read",
                               {{"id", s.other_id}}, "");
  CHECK(st == 200);
  CHECK(body["title"] == "alice only");
  // Bob, through the share: the shared note, whatever id he names.
  std::tie(st, body) = s.run_http(s.bob_auth, "notes.read",
                                  {{"id", s.other_id}}, s.share_id);
  CHECK(st == 200);
  CHECK(body["title"] == "for bob");
  // Without the share, or a handler without an interface: 404 as for a
  // handler that does not exist.
  for (auto& [name, share] :
       std::vector<std::pair<std::string, std::string>>{
         {"notes.read", ""}, {"notes.list", s.share_id},
         {"notes.create", s.share_id}, {"notes.nothing", s.share_id}}) {
    INFO(name << " " << share);
    std::tie(st, body) = s.run_http(s.bob_auth, name, {}, share);
    CHECK(st == 404);
    CHECK(code_of(body) == "no_such_handler");
  }
  // Carol and anonymous callers: nothing of alice's store is theirs.
  for (auto* who : {&s.carol_auth, static_cast<headers*>(nullptr)}) {
    std::tie(st, body) = s.run_http(who ? *who : headers{}, "notes.read", {},
                                    s.share_id);
    CHECK(st == 404);
    CHECK(code_of(body) == "no_such_store");
  }
  // The notes route runs the same handler in alice's store.
  auto route = "/apps/notes/shared/" + alice + "/" + s.share_id;
  auto r = http_request(s.node.http(), "GET", route, {}, s.bob_auth);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["title"] == "for bob");
  r = http_request(s.node.http(), "GET", route, {}, s.carol_auth);
  REQUIRE(r);
  CHECK(r->status == 404);
  r = http_request(s.node.http(), "GET", "/apps/notes/shared/" + alice, {},
                   s.bob_auth);
  REQUIRE(r);
  CHECK(r->status == 404);
  r = http_request(s.node.http(), "DELETE", route, {}, s.bob_auth);
  REQUIRE(r);
  CHECK(r->status == 405);
}

TEST_CASE("handlers through a share over the actor port",
          "[integration][handlers][port]") {
  shared_site s;
  auto ask = [&](port_client& c, caf::message msg) -> std::pair<bool, json> {
    auto store = c.s->lookup(alice);
    if (!store)
      return {false, json{{"code", actors::to_string(actors::code_of(
                                     store.error()))}}};
    caf::scoped_actor self{*c.sys};
    std::pair<bool, json> out;
    self->request(*store, 30s, std::move(msg))
      .receive(
        [&](const std::string& body) { out = {true, json::parse(body)}; },
        [&](caf::error& e) {
          out = {false, json{{"code", actors::to_string(actors::code_of(e))}}};
        });
    return out;
  };
  port_client bobs{s.node.listen(), bob, pw};
  auto who = bobs.s->caller();
  auto args = json{{"id", s.other_id}}.dump();
  auto name = std::string{"notes.read"};
  auto [ok, body] = ask(bobs, caf::make_message(actors::run_atom::value, who,
                                                name, args, s.share_id));
  INFO(body.dump());
  REQUIRE(ok);
  CHECK(body["title"] == "for bob");
  std::tie(ok, body)
    = ask(bobs, caf::make_message(actors::run_atom::value, who, name, args));
  CHECK_FALSE(ok);
  CHECK(body["code"] == "no_such_handler");
  std::tie(ok, body) = ask(bobs, caf::make_message(actors::run_atom::value, who,
                                                   std::string{"notes.list"},
                                                   std::string{"{}"},
                                                   s.share_id));
  CHECK_FALSE(ok);
  CHECK(body["code"] == "no_such_handler");
  port_client carols{s.node.listen(), carol, pw};
  std::tie(ok, body)
    = ask(carols, caf::make_message(actors::run_atom::value,
                                    carols.s->caller(), name, args, s.share_id));
  CHECK_FALSE(ok);
  CHECK(body["code"] == "no_such_store");
}
