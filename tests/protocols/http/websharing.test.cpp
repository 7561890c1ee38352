// Websharing through the real front end: a node over real SQLite files,
// the HTTP server on 127.0.0.1, and requests on raw sockets. Shared notes
// as HTML (escaped) and JSON, for anonymous and logged-in callers, the
// default share, the host form, and static files with traversal attempts.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "actors/node.hpp"
#include "offerings/notes.hpp"
#include "offerings/setup.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"
#include "store/store.hpp"
#include "tests/support/front_end.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/node.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using nlohmann::json;
using test::http_response;

namespace {

const std::string alice = "alice@example.com";
const actors::caller owner{"user:alice@example.com", "t"};
const std::string json_accept = "application/json";

/// An offering with two types: `webtest.card` has no HTML view (the
/// generic one shows it) and `webtest.broken` has a view that throws.
offerings::offering card_offering() {
  offerings::offering o;
  o.name = "webtest";
  o.register_types = [](store::type_registry& types) -> store::result<void> {
    for (auto* name : {"webtest.card", "webtest.broken"}) {
      store::type_decl d{name, 1, {}};
      d.attributes = {{"label", store::attribute_type::text},
                      {"count", store::attribute_type::integer}};
      MANTISSA_TRY(types.add(d));
    }
    return {};
  };
  o.html_views["webtest.broken"] = [](const json&) -> std::string {
    throw std::runtime_error("broken view");
  };
  return o;
}

struct web_fixture : test::node_fixture {
  std::filesystem::path static_dir = dir / "static";
  offerings::offering_registry known;
  test::front_end web;

  web_fixture() {
    add_account("alice@example.com", "alice password");
    add_account("bob@example.com", "bob password");
    // The notes offering, serving a static directory of the test's own.
    std::filesystem::create_directories(static_dir / "css");
    write(static_dir / "index.html", "<p>hello</p>");
    write(static_dir / "css" / "site.css", "body{color:red}");
    write(dir / "secret.txt", "top secret");
    std::filesystem::create_symlink(dir / "secret.txt",
                                    static_dir / "escape.txt");
    auto notes = offerings::notes::make_offering();
    notes.static_dir = static_dir;
    REQUIRE(known.add(notes));
    REQUIRE(known.add(card_offering()));

    start_with_offerings(&known);
    for (auto* a : {"alice@example.com", "bob@example.com"})
      REQUIRE(create_store(a).ok);

    web.start(*n, &known);
  }

  ~web_fixture() {
    web.stop();
    n->stop();
  }

  static void write(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out{p, std::ios::binary};
    out << text;
  }

  std::string login(const std::string& user, const std::string& password) {
    std::promise<actors::login_result> p;
    auto f = p.get_future();
    n->auth().login(user, password, "127.0.0.1", [&p](actors::login_result r) {
      p.set_value(std::move(r));
    });
    REQUIRE(f.wait_for(60s) == std::future_status::ready);
    auto r = f.get();
    INFO(r.message);
    REQUIRE(r.ok);
    return r.token;
  }

  std::int64_t note(const std::string& title, const std::string& body) {
    auto r = call([&](auto done) {
      n->put(owner, alice, "notes.note",
             json{{"title", title}, {"body", body}}.dump(), std::move(done));
    });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body)["id"].get<std::int64_t>();
  }

  std::int64_t put(const std::string& type, const json& attrs) {
    auto r = call([&](auto done) {
      n->put(owner, alice, type, attrs.dump(), std::move(done));
    });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body)["id"].get<std::int64_t>();
  }

  std::string share(std::int64_t id, const std::string& role,
                    const std::string& share_id = "",
                    const std::string& type = "notes.note") {
    auto r = call([&](auto done) {
      n->share(owner, alice, type, id, role, R"(["read"])", share_id,
               std::move(done));
    });
    INFO(r.message);
    REQUIRE(r.ok);
    return json::parse(r.body)["share_id"].get<std::string>();
  }

  http_response get(const std::string& target,
                    const test::header_list& headers = {}) {
    return web.get(target, headers);
  }

  /// GET `target` as JSON.
  http_response get_json(const std::string& target,
                         const std::string& token = {}) {
    std::vector<std::pair<std::string, std::string>> h{{"Accept", json_accept}};
    if (!token.empty())
      h.emplace_back("Authorization", "Bearer " + token);
    return get(target, h);
  }

  http_response get_host(const std::string& target, const std::string& host,
                         const std::string& accept = "text/html") {
    return web.get_host(target, host, accept);
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE_METHOD(web_fixture,
                 "a note shared with everyone is a public page, "
                 "its values escaped",
                 "[websharing]") {
  auto id = note("<script>alert(1)</script> & co", "line one\n<b>two</b>");
  auto sid = share(id, "everyone");

  auto page = get("/users/alice/" + sid);
  REQUIRE(page.status == 200);
  CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(page.header("Content-Security-Policy")
        == "default-src 'none'; style-src 'unsafe-inline'; "
           "frame-ancestors 'none'");
  CHECK(page.header("X-Frame-Options") == "DENY");
  CHECK(page.header("X-Content-Type-Options") == "nosniff");
  CHECK_FALSE(has(page.body, "<script>"));
  CHECK_FALSE(has(page.body, "<b>two"));
  CHECK(
    has(page.body, "<h1>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</h1>"));
  CHECK(has(page.body, "&lt;b&gt;two&lt;/b&gt;"));
  CHECK(has(page.body, "<title>&lt;script&gt;"));

  // The same share as JSON: the store's answer as it is.
  auto j = get_json("/users/alice/" + sid);
  REQUIRE(j.status == 200);
  CHECK(j.header("Content-Type") == "application/json");
  auto body = json::parse(j.body);
  CHECK(body["share_id"] == sid);
  CHECK(body["interfaces"] == json{"read"});
  CHECK(body["item"]["title"] == "<script>alert(1)</script> & co");
  CHECK(body["item"]["type"] == "notes.note");

  // q-values decide; a browser's */* gets HTML.
  CHECK(get("/users/alice/" + sid,
            {{"Accept", "text/html;q=0.5, application/json"}})
          .header("Content-Type")
        == "application/json");
  CHECK(get("/users/alice/" + sid,
            {{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}})
          .header("Content-Type")
        == "text/html; charset=utf-8");
}

TEST_CASE_METHOD(web_fixture,
                 "a type without a view gets the generic view "
                 "(escaped), and so does one whose view throws",
                 "[websharing]") {
  auto card
    = put("webtest.card", {{"label", "<i>hi</i> & \"bye\""}, {"count", 3}});
  auto sid = share(card, "everyone", "card", "webtest.card");
  auto page = get("/users/alice/" + sid);
  REQUIRE(page.status == 200);
  CHECK(has(page.body, "<h1>webtest.card</h1>"));
  CHECK(
    has(page.body,
        "<dt>label</dt><dd>&lt;i&gt;hi&lt;/i&gt; &amp; &quot;bye&quot;</dd>"));
  CHECK(has(page.body, "<dt>count</dt><dd>3</dd>"));
  CHECK_FALSE(has(page.body, "<i>"));

  auto broken = put("webtest.broken", {{"label", "still shown"}});
  share(broken, "everyone", "broken", "webtest.broken");
  auto fallback = get("/users/alice/broken");
  REQUIRE(fallback.status == 200);
  CHECK(has(fallback.body, "<dd>still shown</dd>"));
}

TEST_CASE_METHOD(web_fixture, "a share with one user needs that user's token",
                 "[websharing]") {
  auto id = note("for bob", "hello bob");
  auto sid = share(id, "user:bob@example.com");
  auto bob = login("bob@example.com", "bob password");

  auto r = get_json("/users/alice/" + sid, bob);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["item"]["body"] == "hello bob");
  // Bob's session cookie works too, for the HTML page.
  auto page
    = get("/users/alice/" + sid, {{"Cookie", "mantissa_session=" + bob}});
  CHECK(page.status == 200);
  CHECK(has(page.body, "hello bob"));

  // Anonymous, a token that is not valid, and another user: not found,
  // exactly like a share that does not exist (never 403).
  auto anon = get_json("/users/alice/" + sid);
  CHECK(anon.status == 404);
  CHECK(get_json("/users/alice/" + sid, "not-a-valid-token").status == 404);
  auto alice_token = login("alice@example.com", "alice password");
  auto own = get_json("/users/alice/" + sid, alice_token);
  REQUIRE(own.status == 200);
  CHECK(json::parse(own.body)["interfaces"] == json{"*"});
  auto missing = get_json("/users/alice/nosuchshare");
  CHECK(missing.status == 404);
  CHECK(json::parse(missing.body) == json::parse(anon.body));
  auto html_missing = get("/users/alice/" + sid);
  CHECK(html_missing.status == 404);
  CHECK(html_missing.header("Content-Type") == "text/html; charset=utf-8");
}

TEST_CASE_METHOD(web_fixture, "the default share answers /users/{localpart}",
                 "[websharing]") {
  CHECK(get("/users/alice").status == 404); // no default share yet
  auto id = note("home page", "welcome");
  share(id, "everyone", "home");
  REQUIRE(call([&](auto done) {
            n->set_default_share(owner, alice, "home", std::move(done));
          }).ok);
  for (auto* target : {"/users/alice", "/users/alice/", "/users/Alice/"}) {
    INFO(target);
    auto r = get_json(target);
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["share_id"] == "home");
  }
  auto page = get("/users/alice/");
  CHECK(page.status == 200);
  CHECK(has(page.body, "<h1>home page</h1>"));
  // Unknown users, malformed names and other paths are not found.
  CHECK(get("/users/nobody/").status == 404);
  CHECK(get("/users/a%20b/home").status == 404);
  CHECK(get("/users/alice/home/more").status == 404);
  CHECK(get("/users/").status == 404);
  CHECK(get("/users/alice/a%2fb").status == 400);
}

TEST_CASE_METHOD(web_fixture,
                 "the host form maps {localpart}.{domain}/{share} "
                 "to the user's share",
                 "[websharing]") {
  auto id = note("hosted", "on a subdomain");
  auto sid = share(id, "everyone");
  share(id, "everyone", "home");
  REQUIRE(call([&](auto done) {
            n->set_default_share(owner, alice, "home", std::move(done));
          }).ok);

  auto r = get_host("/" + sid, "alice.example.com", json_accept);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["item"]["title"] == "hosted");
  // Case and port do not matter; "/" is the default share.
  auto root = get_host("/", "Alice.Example.COM:8080");
  REQUIRE(root.status == 200);
  CHECK(has(root.body, "<h1>hosted</h1>"));
  // /users and /static work on any host.
  CHECK(get_host("/users/alice/" + sid, "alice.example.com").status == 200);
  // www, the bare domain and other domains are not the host form: the
  // request falls through to the 404 of a path no route takes (a page for
  // this browser-like client, JSON for an API client).
  for (auto* host :
       {"www.example.com", "example.com", "alice.example.org", "127.0.0.1"}) {
    INFO(host);
    auto other = get_host("/" + sid, host);
    CHECK(other.status == 404);
    CHECK(other.header("Content-Type") == "text/html; charset=utf-8");
    CHECK_FALSE(has(other.body, "hosted"));
    auto api = get_host("/" + sid, host, json_accept);
    CHECK(api.status == 404);
    CHECK(api.header("Content-Type") == "application/json");
  }
  CHECK(get_host("/" + sid, "bob.example.com").status == 404);
  CHECK(get_host("/nosuch", "alice.example.com").status == 404);
  CHECK(get_host("/a/b", "alice.example.com").status == 404);
}

TEST_CASE_METHOD(web_fixture, "a note that is not shared is not found",
                 "[websharing]") {
  auto id = note("private", "mine");
  auto sid = share(id, "user:bob@example.com");
  REQUIRE(call([&](auto done) {
            n->unshare(owner, alice, sid, "", std::move(done));
          }).ok);
  auto bob = login("bob@example.com", "bob password");
  CHECK(get_json("/users/alice/" + sid, bob).status == 404);
  CHECK(get("/users/alice/" + sid).status == 404);
  // Writes to a share page are not allowed.
  web.check_get_only("/users/alice/" + sid);
}

TEST_CASE_METHOD(web_fixture,
                 "static files are served from the offering's "
                 "directory and nowhere else",
                 "[websharing]") {
  auto index = get("/static/notes/index.html");
  REQUIRE(index.status == 200);
  CHECK(index.body == "<p>hello</p>");
  CHECK(index.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(index.header("X-Content-Type-Options") == "nosniff");
  auto css = get("/static/notes/css/site.css");
  REQUIRE(css.status == 200);
  CHECK(css.header("Content-Type") == "text/css; charset=utf-8");
  CHECK(css.body == "body{color:red}");

  for (auto* target :
       {"/static/notes/../../etc/passwd",
        "/static/notes/%2e%2e/%2e%2e/etc/passwd",
        "/static/notes/..%2f..%2fetc%2fpasswd", "/static/notes/css%2fsite.css",
        "/static/notes/%2fetc%2fpasswd", "/static/notes/index.html%00.txt",
        "/static/notes/./index.html",
        "/static/notes/escape.txt", // a symlink out of it
        "/static/notes/css",        // a directory
        "/static/notes/", "/static/notes/missing.txt",
        "/static/mail/index.html", // no static_dir
        "/static/nosuch/index.html", "/static/", "/static/notes//index.html"}) {
    INFO(target);
    auto r = get(target);
    CHECK((r.status == 404 || r.status == 400));
    CHECK_FALSE(has(r.body, "top secret"));
    CHECK_FALSE(has(r.body, "root:"));
  }
}
