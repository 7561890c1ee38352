// Item hooks (docs/store.md, "Item hooks") run whichever way an item is
// written, against a `mantissa start` process: the notes offering's hooks
// set `created` and `modified` of a note written over HTTP (the JSON API's
// item routes), over the actor port (the client library), and by the
// handler a fan-out runs in every user store. What a writer gives for them
// is replaced.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/cluster.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/port_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::http_request;
using mantissa::test::port_client;
using mantissa::test::temp_dir;
using mantissa::test::cluster::node_process;
using nlohmann::json;

namespace {

const std::string pw = "a long password";
const std::string alice = "alice@example.com";
const std::string root = "root@example.com";

/// Now, in microseconds since 1970 (what a timestamp attribute holds).
std::int64_t now_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// A node whose users alice (with the notes product) and root (an
/// administrator) log in with `pw`.
struct notes_node {
  temp_dir dir;
  node_process node{dir / "n1", "n1", {}};

  notes_node() {
    const std::vector<std::pair<std::vector<std::string>, std::string>> steps{
      {{"init", "--domain", "example.com"}, ""},
      {{"offering", "install", "notes"}, ""},
      {{"user", "add", alice, "--product", "notes", "--password-stdin"},
       pw + "\n"},
      {{"user", "add", root, "--password-stdin"}, pw + "\n"},
      {{"user", "admin", root}, ""}};
    for (auto& [args, input] : steps) {
      std::vector<std::string> argv{MANTISSA_BINARY};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.insert(argv.end(), {"--data", node.data().string()});
      auto r = mantissa::test::run(argv, input, 60s);
      INFO(args[0] << ": " << r.err);
      REQUIRE(r.exit_code == 0);
    }
    node.start();
  }

  /// An HTTP request as `token`'s user; the answer must have `status`.
  json call(const std::string& method, const std::string& target,
            const std::string& token, const json& body, int status = 200) {
    std::vector<std::pair<std::string, std::string>> auth;
    if (!token.empty())
      auth.emplace_back("Authorization", "Bearer " + token);
    auto r = http_request(node.http(), method, target,
                          body.is_null() ? std::string{} : body.dump(), auth);
    REQUIRE(r);
    INFO(method << " " << target << ": " << r->body);
    REQUIRE(r->status == status);
    return json::parse(r->body);
  }

  std::string login(const std::string& user) {
    return call("POST", "/api/login", "",
                {{"username", user}, {"password", pw}})["token"];
  }
};

const std::string notes = "/api/stores/" + alice + "/items/notes.note";

/// A note as the hooks leave it on create: created at a time in
/// [since, now], modified = created.
void created_by_hooks(const json& note, std::int64_t since) {
  INFO(note.dump());
  auto created = note.at("created").get<std::int64_t>();
  CHECK(created >= since);
  CHECK(created <= now_micros());
  CHECK(note.at("modified") == note.at("created"));
}

/// `after` is `before` updated by the hooks: same created, later modified.
void updated_by_hooks(const json& before, const json& after) {
  INFO(before.dump() << " -> " << after.dump());
  CHECK(after.at("created") == before.at("created"));
  CHECK(after.at("modified").get<std::int64_t>()
        > before.at("modified").get<std::int64_t>());
}

} // namespace

TEST_CASE("hooks set a note's times over HTTP, the actor port and a fan-out",
          "[hooks][integration]") {
  notes_node site;
  auto token = site.login(alice);

  SECTION("HTTP: POST and PATCH of the JSON API's item routes") {
    auto since = now_micros();
    auto made = site.call("POST", notes, token,
                          {{"title", "http"}, {"created", 5}, {"modified", 5}},
                          201);
    created_by_hooks(made, since);
    auto path = notes + "/" + std::to_string(made["id"].get<std::int64_t>());
    auto changed
      = site.call("PATCH", path, token, {{"body", "edited"}, {"created", 7}});
    CHECK(changed["body"] == "edited");
    updated_by_hooks(made, changed);
    // What PATCH answered is what is stored (and what the store actor's
    // cache now serves).
    CHECK(site.call("GET", path, token, nullptr) == changed);
  }

  SECTION("the actor port: put and update of the client library") {
    port_client port{site.node.listen(), alice, pw};
    auto since = now_micros();
    auto made = port.s->put(alice, "notes.note", {{"title", "port"}, {"created", 5}});
    REQUIRE(made);
    created_by_hooks(*made, since);
    auto changed = port.s->update(alice, "notes.note",
                                  (*made)["id"].get<std::int64_t>(),
                                  {{"title", "port, edited"}, {"modified", 1}});
    REQUIRE(changed);
    CHECK((*changed)["title"] == "port, edited");
    updated_by_hooks(*made, *changed);
  }

  SECTION("a fan-out: notes.create run in every user store") {
    auto admin = site.login(root);
    auto since = now_micros();
    auto out = site.call("POST", "/api/admin/fanout", admin,
                         {{"op", "run"},
                          {"handler", "notes.create"},
                          {"args", {{"title", "fanned out"}}},
                          {"stores", {{"addresses", json::array({alice})}}}});
    INFO(out.dump());
    CHECK(out["ok"] == 1);
    // where={"attr":"title","op":"prefix","value":"fanned"}
    auto found = site.call("GET",
                           notes + "?where=%7B%22attr%22%3A%22title%22%2C%22op%22"
                                   "%3A%22prefix%22%2C%22value%22%3A%22fanned%22%7D",
                           token, nullptr);
    REQUIRE(found["items"].size() == 1);
    created_by_hooks(found["items"][0], since);
  }
}
