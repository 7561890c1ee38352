#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "actors/accounts.hpp"
#include "actors/site_config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace mantissa::actors;
using store::errc;

namespace {

const store::type_registry& site_registry() {
  static const auto reg = [] {
    auto r = std::make_unique<store::type_registry>();
    if (auto ok = register_account_types(*r); !ok)
      throw std::runtime_error(ok.error_value().message);
    if (auto ok = register_site_config_types(*r); !ok)
      throw std::runtime_error(ok.error_value().message);
    return r;
  }();
  return *reg;
}

std::unique_ptr<store::store> open_site(const test::temp_dir& dir) {
  auto s = store::store::open(site_path(dir.path()), site_registry());
  REQUIRE(s);
  return std::move(*s);
}

service make_service(std::string kind, std::string host, std::int64_t port) {
  service s;
  s.kind = std::move(kind);
  s.host = std::move(host);
  s.port = port;
  return s;
}

} // namespace

TEST_CASE("services are added, listed and removed", "[actors][site_config]") {
  test::temp_dir dir;
  auto site = open_site(dir);

  auto http = add_service(*site, make_service("http", "0.0.0.0", 8080));
  REQUIRE(http);
  CHECK(http->id > 0);
  REQUIRE(add_service(*site, make_service("smtp", "Mail.Example.com", 25)));
  REQUIRE(add_service(*site, make_service("listen", "::1", 4242)));
  REQUIRE(add_service(*site, make_service("http", "0.0.0.0", 8443)));

  auto dup = add_service(*site, make_service("http", "0.0.0.0", 8080));
  REQUIRE_FALSE(dup);
  CHECK(dup.code() == errc::already_exists);

  auto all = list_services(*site);
  REQUIRE(all);
  REQUIRE(all->size() == 4);
  CHECK((*all)[0].kind == "http");
  CHECK((*all)[0].port == 8080);
  CHECK((*all)[1].port == 8443);
  CHECK((*all)[2].kind == "listen");
  CHECK((*all)[3].host == "mail.example.com");
  CHECK((*all)[3].enabled);

  REQUIRE(remove_service(*site, "http", "0.0.0.0", 8080));
  CHECK(remove_service(*site, "http", "0.0.0.0", 8080).code()
        == errc::no_such_item);
  REQUIRE(remove_service(*site, "smtp", "MAIL.example.com", 25));
  CHECK(list_services(*site)->size() == 2);

  // Survives reopening the file.
  site.reset();
  auto again = open_site(dir);
  CHECK(list_services(*again)->size() == 2);
}

TEST_CASE("bad services are refused", "[actors][site_config]") {
  test::temp_dir dir;
  auto site = open_site(dir);
  CHECK(add_service(*site, make_service("ftp", "h", 21)).code()
        == errc::invalid_value);
  CHECK(add_service(*site, make_service("http", "", 80)).code()
        == errc::invalid_value);
  CHECK(add_service(*site, make_service("http", "a b", 80)).code()
        == errc::invalid_value);
  CHECK(add_service(*site, make_service("http", "h/../x", 80)).code()
        == errc::invalid_value);
  CHECK(add_service(*site, make_service("http", "h", -1)).code()
        == errc::invalid_value);
  CHECK(add_service(*site, make_service("http", "h", 65536)).code()
        == errc::invalid_value);
  CHECK(add_service(*site, make_service("http", "h", 0)));
  CHECK(list_services(*site)->size() == 1);
}

TEST_CASE("settings are set, replaced, read, listed and removed",
          "[actors][site_config]") {
  test::temp_dir dir;
  auto site = open_site(dir);

  auto d = set_setting(*site, "site.domain", "example.com");
  REQUIRE(d);
  CHECK_FALSE(d->secret);
  REQUIRE(set_setting(*site, "mail.api_key", "sk-live-0123456789abcdef", true));

  auto got = get_setting(*site, "site.domain");
  REQUIRE(got);
  CHECK(got->value == "example.com");
  CHECK(get_setting(*site, "nope").code() == errc::no_such_item);

  auto replaced = set_setting(*site, "site.domain", "example.org");
  REQUIRE(replaced);
  CHECK(replaced->id == d->id);
  CHECK(get_setting(*site, "site.domain")->value == "example.org");

  auto all = list_settings(*site);
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].key == "mail.api_key");
  CHECK((*all)[0].secret);
  CHECK((*all)[1].key == "site.domain");

  REQUIRE(remove_setting(*site, "site.domain"));
  CHECK(remove_setting(*site, "site.domain").code() == errc::no_such_item);
  CHECK(list_settings(*site)->size() == 1);
}

TEST_CASE("setting keys are validated", "[actors][site_config]") {
  test::temp_dir dir;
  auto site = open_site(dir);
  CHECK(set_setting(*site, "", "v").code() == errc::invalid_name);
  CHECK(set_setting(*site, "Upper", "v").code() == errc::invalid_name);
  CHECK(set_setting(*site, "a b", "v").code() == errc::invalid_name);
  CHECK(set_setting(*site, "a/b", "v").code() == errc::invalid_name);
  CHECK(set_setting(*site, std::string{"a\0b", 3}, "v").code()
        == errc::invalid_name);
  CHECK(set_setting(*site, std::string(129, 'k'), "v").code()
        == errc::invalid_name);
  CHECK(set_setting(*site, std::string(128, 'k'), "v"));
  CHECK(
    set_setting(*site, "k", std::string(max_setting_value_size + 1, 'v')).code()
    == errc::invalid_value);
  CHECK(get_setting(*site, "../x").code() == errc::invalid_name);
}

TEST_CASE("secrets are never shown in full", "[actors][site_config]") {
  setting plain{0, "site.domain", "example.com", false};
  CHECK(masked(plain) == "example.com");

  setting key{0, "mail.api_key", "sk-live-0123456789abcdef", true};
  auto shown = masked(key);
  CHECK(shown.find("0123456789") == std::string::npos);
  CHECK(shown.find(key.value) == std::string::npos);
  CHECK(shown.rfind("sk", 0) == 0);
  CHECK_THAT(shown, Catch::Contains("24"));

  setting short_secret{0, "pin", "1234", true};
  CHECK(masked(short_secret) == "********");
  setting empty_secret{0, "token", "", true};
  CHECK(masked(empty_secret) == "********");
  setting odd{0, "token", "\xc3\xa9\xc3\xa9-very-long-secret", true};
  CHECK(masked(odd) == "********");
}
