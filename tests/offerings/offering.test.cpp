// The offering API: validation, the registry, and plugins loaded with
// dlopen (tests/offerings/plugins/).

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "offerings/notes.hpp"
#include "offerings/offering.hpp"
#include "offerings/setup.hpp"
#include "tests/offerings/fixture.hpp"

using namespace mantissa;
using Catch::Matchers::Contains;

namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("offerings are validated before they are registered",
          "[offerings][bad-input]") {
  offerings::offering_registry reg;
  SECTION("bad names") {
    for (auto bad :
         {"", "Notes", "a@b.com", "../x", "has space", "x/y", "site"}) {
      INFO(bad);
      auto o = test::test_app_offering();
      o.name = bad;
      auto r = reg.add(o);
      REQUIRE_FALSE(r);
      CHECK(r.code() == store::errc::invalid_name);
    }
  }
  SECTION("a powerup whose type the offering does not register") {
    auto o = test::test_app_offering();
    o.installable_powerups.push_back({"ghost", "", "testapp.ghost", {}});
    auto r = reg.add(o);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error_value().message, Contains("testapp.ghost"));
  }
  SECTION("bad powerup and product names") {
    auto o = test::test_app_offering();
    o.installable_powerups[0].name = "Tool!";
    CHECK_FALSE(reg.add(o));
    o = test::test_app_offering();
    o.products[0].name = "";
    CHECK_FALSE(reg.add(o));
    o = test::test_app_offering();
    o.products[0].powerups.clear();
    CHECK_FALSE(reg.add(o));
  }
  SECTION("an empty handler, a bad handler interface and bad routes") {
    auto o = test::test_app_offering();
    o.handlers.push_back({"testapp.nothing", {}});
    CHECK_FALSE(reg.add(o));
    const std::string h = "testapp.hi";
    auto with_handler = [&] {
      auto w = test::test_app_offering();
      w.handlers.push_back({h, [](store::store&, const nlohmann::json&,
                                  const actors::caller&)
                                 -> store::result<nlohmann::json> {
                              return nlohmann::json("hi");
                            }});
      return w;
    };
    o = with_handler();
    o.handlers.back().interface = "not an interface";
    CHECK_FALSE(reg.add(o));
    using offerings::route_store;
    auto refused = [&](offerings::route r, const char* why) {
      INFO(r.method << " " << r.pattern);
      auto bad = with_handler();
      bad.routes.push_back(r);
      auto res = reg.add(bad);
      REQUIRE_FALSE(res);
      CHECK_THAT(res.error_value().message, Contains(why));
    };
    refused({"GET", "no-slash", h}, "must start with '/'");
    refused({"FETCH", "/x", h}, "method");
    refused({"GET", "/a//b", h}, "neither {name}");
    refused({"GET", "/a b", h}, "neither {name}");
    refused({"GET", "/{x}/{x}", h}, "appears twice");
    refused({"GET", "/{Bad}", h}, "is not [a-z_]");
    refused({"GET", "/x", "testapp.nobody"}, "not one of the offering's");
    refused({"GET", "/{a}", h, route_store::param, "b"}, "store parameter");
    refused({"GET", "/{a}", h, route_store::app, "", "{s}"}, "share parameter");
    auto twice = with_handler();
    twice.routes = {{"GET", "/x", h}, {"GET", "/x", h}};
    CHECK_FALSE(reg.add(twice));
    auto good = with_handler();
    good.routes = {{"GET", "/", h, route_store::caller, "", "", true},
                   {"GET", "/u/{who}/{s}", h, route_store::param, "who", "{s}"},
                   {"POST", "/fixed", h, route_store::app, "", "home"}};
    // (In a registry of its own: this test ends with `reg` empty.)
    offerings::offering_registry accepted;
    REQUIRE(accepted.add(good));
    CHECK(accepted.page_of(good.name) == "/apps/" + good.name + "/");
  }
  SECTION("an HTML view of an unregistered type, or without a function") {
    auto o = test::test_app_offering();
    o.html_views["testapp.ghost"] = [](const nlohmann::json&) {
      return std::string{};
    };
    auto r = reg.add(o);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error_value().message, Contains("testapp.ghost"));
    o = test::test_app_offering();
    o.html_views["testapp.tool"] = nullptr;
    CHECK_FALSE(reg.add(o));
  }
  CHECK(reg.all().empty());
}

TEST_CASE("the notes view escapes every value", "[offerings]") {
  offerings::offering_registry reg;
  REQUIRE(offerings::add_builtin_offerings(reg));
  CHECK(reg.find_html_view("mail.message") == nullptr);
  auto* view = reg.find_html_view("notes.note");
  REQUIRE(view != nullptr);
  auto html = (*view)(nlohmann::json{{"id", 1},
                                     {"type", "notes.note"},
                                     {"title", "<script>x</script>"},
                                     {"body", "a & 'b' \"c\""}});
  CHECK(has(html, "<h1>&lt;script&gt;x&lt;/script&gt;</h1>"));
  CHECK(has(html, "a &amp; &#39;b&#39; &quot;c&quot;</p>"));
  CHECK_FALSE(has(html, "<script>"));
  // Missing or non-string attributes render as empty.
  CHECK(has((*view)(nlohmann::json{{"title", 5}}), "<h1></h1>"));
  CHECK(offerings::html_escape("<>&\"'") == "&lt;&gt;&amp;&quot;&#39;");
}

TEST_CASE("names are unique across offerings", "[offerings]") {
  offerings::offering_registry reg;
  REQUIRE(offerings::add_builtin_offerings(reg));
  auto again = reg.add(offerings::notes::make_offering());
  REQUIRE_FALSE(again);
  CHECK(again.code() == store::errc::already_exists);

  auto o = test::test_app_offering();
  o.installable_powerups[0].name = "notebook"; // taken by notes
  auto r = reg.add(o);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error_value().message, Contains("notebook"));
  CHECK(reg.find("testapp") == nullptr);

  o = test::test_app_offering();
  o.products[0].name = "mail"; // shipped by mail
  CHECK_FALSE(reg.add(o));
  CHECK(reg.find("testapp") == nullptr);
}

TEST_CASE("an offering may not be named after a path of the front end",
          "[offerings][bad-input]") {
  offerings::offering_registry reg;
  REQUIRE(offerings::add_builtin_offerings(reg));
  for (auto name : offerings::reserved_path_segments) {
    INFO(name);
    CHECK(offerings::is_reserved_path_segment(name));
    auto o = test::test_app_offering();
    o.name = std::string{name};
    auto r = reg.add(o);
    REQUIRE_FALSE(r);
    // The built-ins hold "notes" and "mail"; the rest are refused by name.
    if (name == "notes" || name == "mail") {
      CHECK(r.code() == store::errc::already_exists);
    } else {
      CHECK(r.code() == store::errc::invalid_name);
      CHECK_THAT(r.error_value().message, Contains("reserved"));
      CHECK_FALSE(offerings::validate(o));
    }
  }
  CHECK_FALSE(offerings::is_reserved_path_segment("apis"));
  CHECK_FALSE(offerings::is_reserved_path_segment("API"));
  CHECK(reg.all().size() == 2);
}

TEST_CASE("the built-in offerings", "[offerings]") {
  offerings::offering_registry reg;
  REQUIRE(offerings::add_builtin_offerings(reg));
  REQUIRE(reg.all().size() == 2);
  CHECK(reg.all()[0]->name == "mail");
  CHECK(reg.all()[1]->name == "notes");
  auto [owner, powerup] = reg.find_powerup("notebook");
  REQUIRE(owner != nullptr);
  CHECK(owner->name == "notes");
  CHECK(powerup->type == "notes.notebook");
  CHECK(reg.find("mail")->delivery_powerup_type == "mail.inbox");
  for (auto* o : reg.all()) {
    REQUIRE(o->shares.size() == 1);
    CHECK(o->shares[0].interfaces
          == std::vector<std::string>{"read", "write", "delete"});
  }
  store::type_registry types;
  actors::handler_registry handlers;
  REQUIRE(offerings::register_offerings(reg, types, handlers));
  CHECK(types.current("notes.note") != nullptr);
  CHECK(types.current("mail.message") != nullptr);
  CHECK(types.current("mantissa.product") != nullptr);
  for (auto name : {"notes.create", "notes.edit", "notes.list", "notes.delete",
                    "mail.deliver", "mail.list", "mail.mark_read"})
    CHECK(handlers.find(name) != nullptr);
}

TEST_CASE("a plugin built for this API version registers its offering",
          "[offerings][plugin]") {
  offerings::offering_registry reg;
  auto name = reg.load_plugin(MANTISSA_TEST_PLUGIN);
  INFO((name ? "" : name.error_value().message));
  REQUIRE(name);
  CHECK(*name == "hello");
  auto* o = reg.find("hello");
  REQUIRE(o != nullptr);
  CHECK(o->version == "0.1");
  CHECK(reg.find_powerup("greeter").first == o);

  // Its types, handler and route work in this process.
  store::type_registry types;
  actors::handler_registry handlers;
  REQUIRE(offerings::register_offerings(reg, types, handlers));
  test::temp_dir dir;
  auto s = store::store::open(dir / "u.sqlite", types);
  REQUIRE(s);
  auto* greet = handlers.find("hello.greet");
  REQUIRE(greet != nullptr);
  auto r = (*greet)(**s, {{"name", "plugin"}}, {"system", "t"});
  REQUIRE(r);
  CHECK((*r)["text"] == "hello, plugin");
  CHECK(*(*s)->count("hello.greeting") == 1);
  REQUIRE(o->routes.size() == 1);
  CHECK(o->routes[0].handler == "hello.greet");
  CHECK(reg.page_of("hello").empty());

  // Loading it twice is refused, and the first copy stays.
  auto again = reg.load_plugin(MANTISSA_TEST_PLUGIN);
  REQUIRE_FALSE(again);
  CHECK(again.code() == store::errc::invalid_value);
  CHECK(reg.find("hello") != nullptr);
}

TEST_CASE("a plugin built for another API version is refused",
          "[offerings][plugin]") {
  offerings::offering_registry reg;
  REQUIRE(offerings::add_builtin_offerings(reg));
  auto r = reg.load_plugin(MANTISSA_TEST_OLD_PLUGIN);
  REQUIRE_FALSE(r);
  auto& msg = r.error_value().message;
  INFO(msg);
  CHECK(has(msg, MANTISSA_TEST_OLD_PLUGIN));
  CHECK(has(msg, "API version " + std::to_string(offerings::api_version + 1)));
  CHECK(has(msg, "API version " + std::to_string(offerings::api_version)));
  CHECK(reg.all().size() == 2); // nothing of it registered
}

TEST_CASE("files that are not offering plugins are refused clearly",
          "[offerings][plugin][bad-input]") {
  offerings::offering_registry reg;
  test::temp_dir dir;
  SECTION("a library without the symbols") {
    auto r = reg.load_plugin(MANTISSA_TEST_NO_SYMBOLS_PLUGIN);
    REQUIRE_FALSE(r);
    CHECK(has(r.error_value().message, "mantissa_offering_api_version"));
    CHECK(has(r.error_value().message, "not a Mantissa offering"));
  }
  SECTION("a plugin built against other headers of this API version") {
    auto r = reg.load_plugin(MANTISSA_TEST_STALE_PLUGIN);
    REQUIRE_FALSE(r);
    CHECK(has(r.error_value().message, "other offering headers"));
    CHECK(has(r.error_value().message, MANTISSA_TEST_STALE_PLUGIN));
  }
  SECTION("a text file") {
    auto path = dir / "notes.so";
    std::ofstream{path} << "this is not a library\n";
    auto r = reg.load_plugin(path);
    REQUIRE_FALSE(r);
    CHECK(has(r.error_value().message, path.string()));
    CHECK(has(r.error_value().message, "cannot load"));
  }
  SECTION("a missing file and a bare name") {
    auto r = reg.load_plugin(dir / "missing.so");
    REQUIRE_FALSE(r);
    CHECK(has(r.error_value().message, "no such file"));
    r = reg.load_plugin("libc.so.6");
    REQUIRE_FALSE(r);
    CHECK(has(r.error_value().message, "path"));
  }
  SECTION("a list of plugins stops at the first bad one") {
    auto r
      = offerings::load_plugins(reg, std::string{" "} + MANTISSA_TEST_PLUGIN
                                       + " , " + MANTISSA_TEST_OLD_PLUGIN);
    REQUIRE_FALSE(r);
    CHECK(reg.find("hello") != nullptr);
    auto none = offerings::load_plugins(reg, " , ");
    REQUIRE(none);
    CHECK(none->empty());
  }
  CHECK(reg.find("old") == nullptr);
}

// The tutorial's plugin, built out of tree against the installed package by
// the CTest fixture "examples: …" (tests/CMakeLists.txt), which CTest runs
// first; missing means that fixture failed or did not run.
TEST_CASE_METHOD(test::offerings_fixture,
                 "the tutorial's out-of-tree offering loads and works",
                 "[offerings][plugin][example]") {
  INFO("the plugin, built by the CTest fixture \"examples: …\": "
       MANTISSA_EXAMPLE_OFFERING);
  REQUIRE(std::filesystem::exists(MANTISSA_EXAMPLE_OFFERING));
  auto name = known.load_plugin(MANTISSA_EXAMPLE_OFFERING);
  INFO((name ? "" : name.error_value().message));
  REQUIRE(name);
  CHECK(*name == "todo");
  REQUIRE(known.find("todo")->register_types(types));
  REQUIRE(offerings::install_offering(*site, ctx(), "todo"));
  add_user("bob@example.com");
  REQUIRE(offerings::add_product_to_user(*site, ctx(), addr("bob@example.com"),
                                         "todo"));
  start_node(&known);
  auto task = ok("bob@example.com", "todo.add", {{"title", "write docs"}});
  CHECK(task["title"] == "write docs");
  CHECK(task["done"] == false);
  CHECK(ok("bob@example.com", "todo.done", {{"id", task["id"]}})["done"]
        == true);
  auto list = ok("bob@example.com", "todo.list", nlohmann::json::object());
  REQUIRE(list["tasks"].size() == 1);
  // Its hook (todo.task's before_create) trims titles and refuses blank
  // ones, so nothing is added.
  CHECK(ok("bob@example.com", "todo.add", {{"title", "  tidy \n"}})["title"]
        == "tidy");
  auto blank = run("bob@example.com", "todo.add", {{"title", " \t "}});
  CHECK_FALSE(blank.ok);
  CHECK(blank.message.find("todo.task: the title is blank") != std::string::npos);
  CHECK(ok("bob@example.com", "todo.list", nlohmann::json::object())["tasks"]
          .size()
        == 2);
}
