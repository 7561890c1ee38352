// The JSON API end to end: a real node over a temporary data directory,
// the real HTTP server on 127.0.0.1, real requests. Logins and sessions,
// the CSRF rule for cookies, items and shares as seen by their owner,
// another user and anonymous callers, groups, administration through the
// site store, and bad input of every kind.

#include "tests/protocols/http/api_fixture.hpp"

using namespace mantissa;
using namespace api_test;
using namespace std::chrono_literals;
using nlohmann::json;
using test::http_response;

TEST_CASE_METHOD(api_fixture,
                 "login answers a token and sets the session "
                 "cookie, and me and logout use it",
                 "[http][api]") {
  start();
  auto r = call(
    "POST", "/api/login",
    json{{"username", "Alice@Example.com"}, {"password", "alice password"}}
      .dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = body_of(r);
  auto token = j["token"].get<std::string>();
  CHECK(token.size() == 43);
  CHECK(j["address"] == alice);
  CHECK(j["role"] == "user:" + alice);
  CHECK(r.header("Set-Cookie")
        == "mantissa_session=" + token + "; HttpOnly; SameSite=Lax; Path=/");
  CHECK(r.header("Cache-Control") == "no-store");

  auto me = call("GET", "/api/me", {}, bearer(token));
  REQUIRE(me.status == 200);
  CHECK(body_of(me) == json{{"address", alice}, {"role", "user:" + alice}});
  auto by_cookie
    = call("GET", "/api/me", {}, {{"Cookie", "mantissa_session=" + token}});
  CHECK(by_cookie.status == 200);

  auto anonymous = call("GET", "/api/me");
  CHECK(anonymous.status == 401);
  CHECK(error_code_of(anonymous) == "unauthorized");
  CHECK(anonymous.header("WWW-Authenticate").find("Bearer") == 0);

  auto out = call("POST", "/api/logout", {}, bearer(token));
  REQUIRE(out.status == 200);
  CHECK(body_of(out) == json{{"ok", true}});
  CHECK(out.header("Set-Cookie").find("mantissa_session=;") == 0);
  CHECK(out.header("Set-Cookie").find("Max-Age=0") != std::string::npos);

  // The token is dead: refused, not treated as anonymous.
  auto after = call("GET", "/api/me", {}, bearer(token));
  CHECK(after.status == 401);
  auto read = call("GET", items_path(alice), {}, bearer(token));
  CHECK(read.status == 401);
  CHECK(error_code_of(read) == "unauthorized");
  // A dead cookie is cleared.
  auto stale = call("GET", items_path(alice), {},
                    {{"Cookie", "mantissa_session=" + token}});
  CHECK(stale.status == 401);
  CHECK(stale.header("Set-Cookie").find("Max-Age=0") != std::string::npos);
  // Logging out again, or logging in with a dead cookie, still works.
  CHECK(call("POST", "/api/logout", {}, bearer(token)).status == 200);
  auto again
    = call("POST", "/api/login",
           json{{"username", alice}, {"password", "alice password"}}.dump(),
           {{"Cookie", "mantissa_session=" + token}});
  CHECK(again.status == 200);
}

TEST_CASE_METHOD(api_fixture, "bad credentials of every kind are 401",
                 "[http][api]") {
  start();
  for (auto [user, password] :
       {std::pair<std::string, std::string>{alice, "wrong"},
        {"nobody@example.com", "alice password"},
        {"not an address", "x"},
        {"system", ""}}) {
    auto r = call("POST", "/api/login",
                  json{{"username", user}, {"password", password}}.dump());
    INFO(user);
    CHECK(r.status == 401);
    CHECK(error_code_of(r) == "unauthorized");
    CHECK(r.header("Set-Cookie").empty());
  }
  // The node key logs in as system on the node's port, never over HTTP.
  auto sys_login
    = call("POST", "/api/login",
           json{{"username", "system"}, {"password", n->node_key()}}.dump());
  CHECK(sys_login.status == 401);
  CHECK(call("POST", "/api/login", R"({"username":"a@b.c"})").status == 400);
  CHECK(call("POST", "/api/login", R"({"username":1,"password":"x"})").status
        == 400);
}

TEST_CASE_METHOD(api_fixture, "an expired session is refused", "[http][api]") {
  actors::auth_options auth;
  auth.session_idle = 1ms;
  start(auth);
  auto token = login(alice, "alice password");
  std::this_thread::sleep_for(20ms); // longer than the idle timeout
  auto r = call("GET", "/api/me", {}, bearer(token));
  CHECK(r.status == 401);
  CHECK(error_code_of(r) == "unauthorized");
  CHECK(call("GET", items_path(alice), {}, bearer(token)).status == 401);
}

TEST_CASE_METHOD(api_fixture,
                 "notes shared with bob, with everyone, and not "
                 "at all, read by each kind of caller",
                 "[http][api]") {
  start();
  auto a = login(alice, "alice password");
  auto b = login(bob, "bob password");
  auto for_bob = create_note(a, "for bob");
  auto public_note = create_note(a, "public");
  auto secret = create_note(a, "secret");

  auto s1 = share(a, for_bob, "user:" + bob, {"read"});
  CHECK(s1["share_id"].get<std::string>().size() == 32);
  CHECK(s1["url"] == "/users/alice/" + s1["share_id"].get<std::string>());
  auto s2 = share(a, public_note, "everyone", {"read"});

  // The owner sees everything.
  auto [owner_titles, owner_total] = titles(items_path(alice), bearer(a));
  CHECK(owner_titles
        == std::vector<std::string>{"for bob", "public", "secret"});
  CHECK(owner_total == 3);
  auto own = call("GET", note_path(secret), {}, bearer(a));
  REQUIRE(own.status == 200);
  CHECK(body_of(own)["title"] == "secret");
  // Bob sees what is shared with him and with everyone.
  auto [bob_titles, bob_total] = titles(items_path(alice), bearer(b));
  CHECK(bob_titles == std::vector<std::string>{"for bob", "public"});
  CHECK(bob_total == 2);
  CHECK(call("GET", note_path(for_bob), {}, bearer(b)).status == 200);
  CHECK(call("GET", note_path(public_note), {}, bearer(b)).status == 200);
  // Anonymous callers see what is shared with everyone.
  auto [anon_titles, anon_total] = titles(items_path(alice));
  CHECK(anon_titles == std::vector<std::string>{"public"});
  CHECK(anon_total == 1);
  CHECK(call("GET", note_path(public_note)).status == 200);
  CHECK(call("GET", note_path(for_bob)).status == 404);

  // The unshared note does not exist for bob: same answer as a missing one.
  auto hidden = call("GET", note_path(secret), {}, bearer(b));
  auto missing = call("GET", note_path(9999), {}, bearer(b));
  CHECK(hidden.status == 404);
  CHECK(missing.status == 404);
  CHECK(error_code_of(hidden) == error_code_of(missing));
  // Read-only: bob can neither write nor delete it, nor create items.
  auto write
    = call("PATCH", note_path(for_bob), R"({"title":"mine"})", bearer(b));
  CHECK(write.status == 404);
  CHECK(call("DELETE", note_path(for_bob), {}, bearer(b)).status == 404);
  CHECK(call("POST", items_path(alice), R"({"title":"x"})", bearer(b)).status
        == 404);
  // Nor may he list or change the store's shares.
  CHECK(call("GET", "/api/stores/" + alice + "/shares", {}, bearer(b)).status
        == 404);
  CHECK(call("DELETE",
             "/api/stores/" + alice + "/shares/"
               + s1["share_id"].get<std::string>(),
             {}, bearer(b))
          .status
        == 404);

  // The owner lists the shares.
  auto list = call("GET", "/api/stores/" + alice + "/shares", {}, bearer(a));
  REQUIRE(list.status == 200);
  CHECK(body_of(list)["shares"].size() == 2);

  // Unsharing takes effect at once.
  auto un = call("DELETE",
                 "/api/stores/" + alice + "/shares/"
                   + s1["share_id"].get<std::string>(),
                 {}, bearer(a));
  REQUIRE(un.status == 200);
  CHECK(body_of(un) == json{{"removed", 1}});
  CHECK(call("GET", note_path(for_bob), {}, bearer(b)).status == 404);
  auto un_public
    = call("DELETE",
           "/api/stores/" + alice + "/shares/"
             + s2["share_id"].get<std::string>() + "?role=everyone",
           {}, bearer(a));
  CHECK(body_of(un_public) == json{{"removed", 1}});
  CHECK(call("GET", note_path(public_note)).status == 404);

  // The owner updates and deletes.
  auto upd = call("PATCH", note_path(secret), R"({"body":"text"})", bearer(a));
  REQUIRE(upd.status == 200);
  CHECK(body_of(upd)["title"] == "secret");
  CHECK(body_of(upd)["body"] == "text");
  auto del = call("DELETE", note_path(secret), {}, bearer(a));
  REQUIRE(del.status == 200);
  CHECK(body_of(del) == json{{"ok", true}});
  CHECK(call("GET", note_path(secret), {}, bearer(a)).status == 404);
}

TEST_CASE_METHOD(api_fixture, "queries filter, sort and page", "[http][api]") {
  start();
  auto a = login(alice, "alice password");
  for (auto* t : {"b", "a", "d", "c"})
    create_note(a, t);
  auto where
    = json{{"attr", "title"}, {"op", "in"}, {"value", {"a", "b", "c"}}};
  auto [sorted, total]
    = titles(items_path(alice) + "?where=" + encode(where.dump())
               + "&sort=-title&limit=2&offset=0",
             bearer(a));
  CHECK(sorted == std::vector<std::string>{"c", "b"});
  CHECK(total == 3);
  auto [page2, total2]
    = titles(items_path(alice) + "?where=" + encode(where.dump())
               + "&sort=-title&limit=2&offset=2",
             bearer(a));
  CHECK(page2 == std::vector<std::string>{"a"});
  CHECK(total2 == 3);
  auto [json_sort, t3] = titles(
    items_path(alice) + "?sort=" + encode(R"([{"attr":"title","dir":"asc"}])"),
    bearer(a));
  CHECK(json_sort == std::vector<std::string>{"a", "b", "c", "d"});
  auto [two_keys, t4]
    = titles(items_path(alice) + "?sort=body,-title", bearer(a));
  CHECK(two_keys == std::vector<std::string>{"d", "c", "b", "a"});

  auto bad_where = call("GET",
                        items_path(alice) + "?where="
                          + encode(R"({"attr":"title","op":"~","value":1})"),
                        {}, bearer(a));
  CHECK(bad_where.status == 400);
  auto no_attr = call("GET", items_path(alice) + "?sort=nope", {}, bearer(a));
  CHECK(no_attr.status == 400);
  CHECK(call("GET", items_path(alice) + "?limit=-1", {}, bearer(a)).status
        == 400);
  CHECK(call("GET", items_path(alice) + "?limit=ten", {}, bearer(a)).status
        == 400);
  CHECK(call("GET", items_path(alice) + "?page=2", {}, bearer(a)).status
        == 400);
  CHECK(call("GET", items_path(alice) + "?sort=a,,b", {}, bearer(a)).status
        == 400);
  auto not_json
    = call("GET", items_path(alice) + "?where=%7Bnope", {}, bearer(a));
  CHECK(not_json.status == 400);
  CHECK(error_code_of(not_json) == "invalid_json");
}

TEST_CASE_METHOD(api_fixture,
                 "cookie-authenticated writes need "
                 "X-Requested-With, bearer tokens do not",
                 "[http][api]") {
  start();
  auto token = login(alice, "alice password");
  headers cookie{{"Cookie", "theme=dark; mantissa_session=" + token}};
  auto body = json{{"title", "by cookie"}}.dump();

  auto refused = call("POST", items_path(alice), body, cookie);
  CHECK(refused.status == 403);
  CHECK(error_code_of(refused) == "csrf");
  CHECK(body_of(refused)["error"]["message"].get<std::string>().find(
          "X-Requested-With")
        != std::string::npos);
  auto with_header = cookie;
  with_header.emplace_back("X-Requested-With", "mantissa");
  auto ok = call("POST", items_path(alice), body, with_header);
  REQUIRE(ok.status == 201);
  auto id = body_of(ok)["id"].get<std::int64_t>();
  // Every write method; reads need nothing.
  CHECK(call("PATCH", note_path(id), R"({"title":"x"})", cookie).status == 403);
  CHECK(call("DELETE", note_path(id), {}, cookie).status == 403);
  CHECK(call("POST", "/api/logout", {}, cookie).status == 403);
  CHECK(call("GET", note_path(id), {}, cookie).status == 200);
  CHECK(call("PATCH", note_path(id), R"({"title":"x"})", with_header).status
        == 200);
  // The bearer token needs no extra header.
  CHECK(call("POST", items_path(alice), body, bearer(token)).status == 201);
  // A login from a browser (it sends Origin) needs the header too.
  auto creds = json{{"username", alice}, {"password", "alice password"}}.dump();
  auto browser
    = call("POST", "/api/login", creds, {{"Origin", "https://evil.example"}});
  CHECK(browser.status == 403);
  CHECK(call("POST", "/api/login", creds,
             {{"Origin", "http://127.0.0.1"}, {"X-Requested-With", "mantissa"}})
          .status
        == 200);
  // Logout by cookie with the header ends the session.
  CHECK(call("POST", "/api/logout", {}, with_header).status == 200);
  CHECK(call("GET", "/api/me", {}, bearer(token)).status == 401);
}

TEST_CASE_METHOD(api_fixture, "groups and the default share", "[http][api]") {
  start();
  auto a = login(alice, "alice password");
  auto b = login(bob, "bob password");
  auto id = create_note(a, "team note");
  share(a, id, "group:editors", {"read", "write"});
  CHECK(call("PATCH", note_path(id), R"({"title":"bob was here"})", bearer(b))
          .status
        == 404);
  auto add = call("POST", "/api/stores/" + alice + "/groups/editors/members",
                  json{{"member", "user:" + bob}}.dump(), bearer(a));
  INFO(add.body);
  REQUIRE(add.status == 200);
  auto edited
    = call("PATCH", note_path(id), R"({"title":"bob was here"})", bearer(b));
  REQUIRE(edited.status == 200);
  CHECK(body_of(edited)["title"] == "bob was here");
  // Bob cannot add himself to other groups of alice's store.
  CHECK(call("POST", "/api/stores/" + alice + "/groups/admins/members",
             json{{"member", "user:" + bob}}.dump(), bearer(b))
          .status
        == 404);
  auto removed
    = call("DELETE",
           "/api/stores/" + alice + "/groups/group:editors/members/user:" + bob,
           {}, bearer(a));
  REQUIRE(removed.status == 200);
  CHECK(call("PATCH", note_path(id), R"({"title":"again"})", bearer(b)).status
        == 404);

  auto named = call("POST", "/api/stores/" + alice + "/shares",
                    json{{"type", "notes.note"},
                         {"item", id},
                         {"role", "everyone"},
                         {"share_id", "front-page"}}
                      .dump(),
                    bearer(a));
  REQUIRE(named.status == 201);
  CHECK(body_of(named)["share_id"] == "front-page");
  CHECK(body_of(named)["url"] == "/users/alice/front-page");
  auto def = call("PUT", "/api/stores/" + alice + "/default-share",
                  R"({"share_id":"front-page"})", bearer(a));
  CHECK(def.status == 200);
  CHECK(call("PUT", "/api/stores/" + alice + "/default-share",
             R"({"share_id":"front-page"})", bearer(b))
          .status
        == 404);
  auto got = wait([&](auto done) {
    n->get_share(actors::caller{"everyone", "t"}, alice, "", std::move(done));
  });
  REQUIRE(got.ok);
  CHECK(json::parse(got.body)["share_id"] == "front-page");
}

TEST_CASE_METHOD(api_fixture,
                 "accounts are administered by admins of the "
                 "site store only",
                 "[http][api]") {
  start();
  auto a = login(alice, "alice password");
  auto b = login(bob, "bob password");
  auto carol
    = json{{"username", "carol@example.com"}, {"password", "carol password"}}
        .dump();
  // Not an admin (or anonymous): nothing there.
  for (auto& h : {bearer(a), bearer(b), headers{}}) {
    auto list = call("GET", "/api/admin/users", {}, h);
    CHECK(list.status == 404);
    auto add = call("POST", "/api/admin/users", carol, h);
    CHECK(add.status == 404);
    CHECK(error_code_of(add) == "no_such_item");
  }
  // The node makes alice an admin (`mantissa user admin`).
  REQUIRE(wait([&](auto done) {
            n->member(sys, "site", "user:" + alice, "group:admin", true,
                      std::move(done));
          }).ok);
  auto list = call("GET", "/api/admin/users", {}, bearer(a));
  INFO(list.body);
  REQUIRE(list.status == 200);
  auto users = body_of(list)["users"];
  REQUIRE(users.size() == 2);
  CHECK(users[0]["address"] == alice);
  CHECK(users[0]["admin"] == true);
  CHECK(users[1]["address"] == bob);
  CHECK(users[1]["admin"] == false);
  CHECK(list.body.find("argon2") == std::string::npos);

  auto added = call("POST", "/api/admin/users", carol, bearer(a));
  INFO(added.body);
  REQUIRE(added.status == 201);
  CHECK(body_of(added)["address"] == "carol@example.com");
  CHECK(added.body.find("argon2") == std::string::npos);
  CHECK(call("POST", "/api/admin/users", carol, bearer(a)).status == 409);
  CHECK(call("POST", "/api/admin/users",
             R"({"username":"dave@example.com","password":""})", bearer(a))
          .status
        == 400);
  CHECK(call("POST", "/api/admin/users",
             R"({"username":"../etc","password":"x"})", bearer(a))
          .status
        == 400);
  CHECK(call("GET", "/api/admin/users", {}, bearer(a)).body.find("carol")
        != std::string::npos);

  // Carol logs in and has a store of her own, with her account's copy.
  auto c = login("carol@example.com", "carol password");
  create_note(c, "carol's", "carol@example.com");
  auto copy = wait([&](auto done) {
    n->query(sys, "carol@example.com", R"({"type":"mantissa.account"})",
             std::move(done));
  });
  REQUIRE(copy.ok);
  auto copies = json::parse(copy.body);
  REQUIRE(copies["total"] == 1);
  CHECK(copies["items"][0]["localpart"] == "carol");
  CHECK(copies["items"][0]["revision"] == 1);
}

TEST_CASE_METHOD(api_fixture,
                 "a fan-out over every user store is for site admins, and a "
                 "bad request is a 400",
                 "[http][api][fanout]") {
  start();
  auto a = login(alice, "alice password");
  auto b = login(bob, "bob password");
  create_note(a, "one");
  create_note(a, "two");
  create_note(b, "three", bob);
  auto spec = R"({"type":"notes.note"})";
  for (auto& h : {bearer(b), headers{}}) {
    auto refused = call("POST", "/api/admin/fanout", spec, h);
    CHECK(refused.status == 404);
  }
  REQUIRE(wait([&](auto done) {
            n->member(sys, "site", "user:" + alice, "group:admin", true,
                      std::move(done));
          }).ok);
  auto counted = call("POST", "/api/admin/fanout", spec, bearer(a));
  INFO(counted.body);
  REQUIRE(counted.status == 200);
  auto out = body_of(counted);
  CHECK(out["result"] == 3);
  CHECK(out["stores"] == 2);
  CHECK(out["failed"] == 0);
  auto listed = call("POST", "/api/admin/fanout",
                     R"({"op":"query","query":{"type":"notes.note","sort":["title"]},)"
                     R"("collate":"top","field":"title","order":"asc","limit":2})",
                     bearer(a));
  REQUIRE(listed.status == 200);
  auto top = body_of(listed)["result"];
  REQUIRE(top.size() == 2);
  CHECK(top[0]["title"] == "one");
  CHECK(top[1]["title"] == "three");
  CHECK(top[1]["store"] == bob);
  auto bad = call("POST", "/api/admin/fanout", R"({"op":"drop"})", bearer(a));
  CHECK(bad.status == 400);
  CHECK(error_code_of(bad) == "invalid_query");
  CHECK(call("POST", "/api/admin/fanout", "[1,2]", bearer(a)).status == 400);
  CHECK(call("GET", "/api/admin/fanout", {}, bearer(a)).status == 405);
}

TEST_CASE_METHOD(api_fixture,
                 "GET /metrics gives the front end's and the node's series in "
                 "the Prometheus text format",
                 "[http][api][metrics]") {
  start();
  auto a = login(alice, "alice password");
  create_note(a, "counted");
  CHECK(call("GET", items_path(alice), {}, bearer(a)).status == 200);
  CHECK(call("GET", "/api/stores/" + alice + "/items/notes.note/999999", {},
             bearer(a))
          .status
        == 404);
  auto m = call("GET", "/metrics", {}, {});
  REQUIRE(m.status == 200);
  CHECK(m.header("Content-Type").find("text/plain; version=0.0.4")
        != std::string::npos);
  auto has = [&](const std::string& line) {
    INFO(line);
    CHECK(m.body.find(line) != std::string::npos);
  };
  has("# TYPE mantissa_http_requests_total counter");
  has("mantissa_http_requests_total{route=\"login\",status=\"200\"} 1");
  has("mantissa_http_requests_total{route=\"items\",status=\"201\"} 1");
  has("mantissa_http_requests_total{route=\"items\",status=\"200\"} 1");
  has("mantissa_http_requests_total{route=\"item\",status=\"404\"} 1");
  has("# TYPE mantissa_http_request_seconds histogram");
  has("mantissa_http_request_seconds_bucket{route=\"items\",le=\"+Inf\"} 2");
  has("mantissa_http_request_seconds_count{route=\"login\"} 1");
  has("# TYPE mantissa_stores_open gauge");
  has("mantissa_store_activations_total ");
  has("mantissa_commits_total ");
  has("mantissa_committed_writes_total ");
  has("# TYPE mantissa_commit_batch_writes histogram");
  has("mantissa_commit_batch_writes_bucket{le=\"1\"} ");
  has("mantissa_commit_seconds_count ");
  has("mantissa_wal_sync_seconds_count ");
  has("# TYPE mantissa_interstore_outbox_depth gauge");
  has("mantissa_interstore_outbox_depth 0\n");
  has("# TYPE mantissa_scheduler_lag_seconds histogram");
  has("mantissa_scheduler_lag_seconds_count ");
  has("mantissa_moves_in_progress 0\n");
  has("mantissa_moves_total{result=\"ok\"} 0\n");
  has("mantissa_snapshots_in_progress 0\n");
  // Each sample line is NAME{LABELS} VALUE or NAME VALUE.
  std::istringstream lines{m.body};
  std::string line;
  std::regex sample{R"(^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$)"};
  while (std::getline(lines, line))
    if (!line.empty() && line[0] != '#') {
      INFO(line);
      CHECK(std::regex_match(line, sample));
    }
  // The scrape itself is counted at the next one.
  auto again = call("GET", "/metrics", {}, {});
  CHECK(again.body.find("mantissa_http_requests_total{route=\"metrics\",status=\"200\"} 1")
        != std::string::npos);
  CHECK(call("POST", "/metrics", "{}", {}).status == 405);
}

TEST_CASE_METHOD(api_fixture,
                 "the account handlers run only where they "
                 "belong",
                 "[http][api]") {
  start();
  auto owner = actors::caller{"user:" + alice, "t"};
  // Alice owns her store and may run handlers there, but not these.
  auto add = wait([&](auto done) {
    n->run(owner, alice, "mantissa.add_account",
           R"({"username":"eve@example.com","password":"x"})", std::move(done));
  });
  CHECK(add.code == actors::error_code::forbidden);
  auto copy = wait([&](auto done) {
    n->run(owner, alice, "mantissa.write_account_copy", "{}", std::move(done));
  });
  CHECK(copy.code == actors::error_code::forbidden);
  // The site store refuses non-admins before the handler runs, as if it
  // did not exist.
  auto by_bob = wait([&](auto done) {
    n->run(actors::caller{"user:" + bob, "t"}, "site", "mantissa.add_account",
           R"({"username":"eve@example.com","password":"x"})", std::move(done));
  });
  CHECK(by_bob.code == actors::error_code::no_such_handler);
  // Not even the node writes bob's account into alice's store.
  auto bobs = json{{"address", bob},    {"password_hash", ""},
                   {"disabled", false}, {"created", 0},
                   {"revision", 9},     {"login_methods", json::array()}};
  auto misplaced = wait([&](auto done) {
    n->run(sys, alice, "mantissa.write_account_copy", bobs.dump(),
           std::move(done));
  });
  CHECK(misplaced.code == actors::error_code::forbidden);
  auto listed = wait([&](auto done) {
    n->run(sys, "site", "mantissa.list_accounts", "{}", std::move(done));
  });
  REQUIRE(listed.ok);
  CHECK(json::parse(listed.body).size() == 2);
}

TEST_CASE_METHOD(api_fixture,
                 "bad input gets a clear 4xx and never hurts "
                 "the server",
                 "[http][api]") {
  start();
  auto a = login(alice, "alice password");
  auto h = bearer(a);

  auto broken = call("POST", items_path(alice), R"({"title": "x",})", h);
  CHECK(broken.status == 400);
  CHECK(error_code_of(broken) == "invalid_json");
  auto msg = body_of(broken)["error"]["message"].get<std::string>();
  CHECK(msg.find("line 1, column 15") != std::string::npos);
  CHECK(msg.find("byte 15") != std::string::npos);

  auto array = call("POST", items_path(alice), "[1,2]", h);
  CHECK(array.status == 400);
  CHECK(error_code_of(array) == "invalid_value");
  CHECK(call("POST", items_path(alice), "", h).status == 400);
  CHECK(call("POST", items_path(alice),
             std::string(100, '[') + std::string(100, ']'), h)
          .status
        == 400);
  CHECK(call("POST", items_path(alice), R"({"nope":1})", h).status == 400);
  CHECK(call("POST", items_path(alice), R"({"title":1})", h).status == 400);

  auto wrong_method = call("PUT", items_path(alice), "{}", h);
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.header("Allow") == "GET, HEAD, POST");
  CHECK(call("GET", "/api/login").status == 405);
  CHECK(call("DELETE", "/api/me", {}, h).header("Allow") == "GET, HEAD");

  CHECK(call("GET", "/api/nothing").status == 404);
  CHECK(call("GET", "/api").status == 404);
  CHECK(call("GET", "/api/stores/" + alice).status == 404);
  CHECK(error_code_of(call("GET", "/api/unknown/route")) == "not_found");

  auto bad_id = call("GET", items_path(alice) + "/abc", {}, h);
  CHECK(bad_id.status == 400);
  CHECK(call("GET", items_path(alice) + "/-1", {}, h).status == 400);
  CHECK(call("GET", items_path(alice) + "/0", {}, h).status == 400);
  CHECK(call("GET", items_path(alice) + "/99999999999999999999", {}, h).status
        == 400);
  CHECK(call("GET", "/api/stores/%zz/items/notes.note", {}, h).status == 400);
  CHECK(call("GET", "/api/stores/a%00b/items/notes.note", {}, h).status == 400);
  CHECK(call("GET", "/api/stores/../items/notes.note", {}, h).status == 400);

  auto unknown_type = call("GET", items_path(alice, "no.such"), {}, h);
  CHECK(unknown_type.status == 404);
  CHECK(error_code_of(unknown_type) == "no_such_type");
  // The node's own records are not served, even to the owner.
  CHECK(call("GET", items_path(alice, "mantissa.account"), {}, h).status
        == 404);
  CHECK(call("GET", items_path(alice, "mantissa.account") + "/1", {}, h).status
        == 404);
  CHECK(call("GET", items_path("site", "mantissa.session")).status == 404);
  auto unknown_store = call("GET", items_path("nobody@example.com"), {}, h);
  CHECK(unknown_store.status == 404);
  CHECK(call("GET", items_path("bad..name"), {}, h).status == 400);

  auto bad_share
    = call("POST", "/api/stores/" + alice + "/shares",
           R"({"type":"notes.note","item":"1","role":"everyone"})", h);
  CHECK(bad_share.status == 400);
  auto bad_role = call("POST", "/api/stores/" + alice + "/shares",
                       R"({"type":"notes.note","item":1,"role":"nobody"})", h);
  CHECK(bad_role.status / 100 == 4);

  // Odd requests of every kind, then the server still answers.
  for (auto* target :
       {"/api/%", "/api/%4", "/api//", "/api/stores//items/x",
        "/api/stores/a/items//1", "/api/stores/a/items/t/1/2",
        "/api/stores/%2F/items/t", "/api/login?x=%zz",
        "/api/stores/a/items/t?where=%ff", "/api/stores/a/items/t?%zz"}) {
    INFO(target);
    for (auto* method : {"GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"}) {
      auto r = call(method, target, "{\"\\ud800\":1}", h);
      INFO(method);
      CHECK(r.status >= 400);
      CHECK(r.status < 500);
    }
  }
  CHECK(call("GET", "/healthz").status == 200);
  CHECK(call("GET", items_path(alice), {}, h).status == 200);
}
