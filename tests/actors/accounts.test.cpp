#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "actors/accounts.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace mantissa::actors;
using store::errc;

namespace {

const store::type_registry& registry() {
  static const auto reg = [] {
    auto r = std::make_unique<store::type_registry>();
    auto ok = register_account_types(*r);
    if (!ok)
      throw std::runtime_error(ok.error_value().message);
    return r;
  }();
  return *reg;
}

std::unique_ptr<store::store> open_store(const std::filesystem::path& p) {
  std::filesystem::create_directories(p.parent_path());
  auto s = store::store::open(p, registry());
  REQUIRE(s);
  return std::move(*s);
}

address addr(std::string_view text) {
  auto a = parse_address(text);
  REQUIRE(a);
  return *a;
}

errc rejected(std::string_view text) {
  auto a = parse_address(text);
  REQUIRE_FALSE(a);
  return a.code();
}

/// Site and user records agree on everything duplicated.
void check_in_sync(store::store& site, store::store& user, const address& a) {
  auto in_site = find_account(site, a);
  REQUIRE(in_site);
  auto copy = read_account_copy(user);
  REQUIRE(copy);
  CHECK(*copy == *in_site);
}

} // namespace

// -- addresses ----------------------------------------------------------------

TEST_CASE("valid addresses parse and are lower-cased", "[actors][accounts]") {
  auto a = addr("Alice.Smith+Tag@Example.COM");
  CHECK(a.localpart == "alice.smith+tag");
  CHECK(a.domain == "example.com");
  CHECK(to_string(a) == "alice.smith+tag@example.com");
  CHECK_FALSE(a.is_offering());

  auto o = addr("Notes");
  CHECK(o.localpart == "notes");
  CHECK(o.is_offering());
  CHECK(to_string(o) == "notes");

  CHECK(addr("a_b-c@mail-1.example.org").domain == "mail-1.example.org");
  CHECK(addr("bob@localhost").domain == "localhost");
}

TEST_CASE("path traversal and separators are rejected", "[actors][accounts]") {
  CHECK(rejected("../x@example.com") == errc::invalid_name);
  CHECK(rejected("..@example.com") == errc::invalid_name);
  CHECK(rejected("a..b@example.com") == errc::invalid_name);
  CHECK(rejected(".hidden@example.com") == errc::invalid_name);
  CHECK(rejected("a/b@x.com") == errc::invalid_name);
  CHECK(rejected("a\\b@x.com") == errc::invalid_name);
  CHECK(rejected("alice@../etc") == errc::invalid_name);
  CHECK(rejected("alice@x/y.com") == errc::invalid_name);
  CHECK(rejected("alice@.example.com") == errc::invalid_name);
  CHECK(rejected("alice@example.com.") == errc::invalid_name);
  CHECK(rejected("..") == errc::invalid_name);
  CHECK(rejected("../apps") == errc::invalid_name);

  auto slash = parse_address("a/b@x.com");
  CHECK_THAT(slash.error_value().message, Catch::Contains("path separator"));
  auto dots = parse_address("../x@example.com");
  CHECK_THAT(dots.error_value().message, Catch::Contains("'..'"));
}

TEST_CASE("empty, control, non-ASCII and over-long names are rejected",
          "[actors][accounts]") {
  CHECK(rejected("") == errc::invalid_name);
  CHECK(rejected("@example.com") == errc::invalid_name);
  CHECK(rejected("alice@") == errc::invalid_name);
  CHECK(rejected("a@b@example.com") == errc::invalid_name);

  auto nul = parse_address(std::string_view{"al\0ce@example.com", 17});
  REQUIRE_FALSE(nul);
  CHECK_THAT(nul.error_value().message, Catch::Contains("NUL"));
  CHECK(rejected("al\tice@example.com") == errc::invalid_name);
  CHECK(rejected("alice@exam\x7fple.com") == errc::invalid_name);
  auto utf8 = parse_address("j\xc3\xb6rg@example.com");
  REQUIRE_FALSE(utf8);
  CHECK_THAT(utf8.error_value().message, Catch::Contains("non-ASCII"));
  CHECK(rejected("alice smith@example.com") == errc::invalid_name);
  CHECK(rejected("alice@exa_mple.com") == errc::invalid_name);
  CHECK(rejected("alice@-example.com") == errc::invalid_name);
  CHECK(rejected("alice@example-.com") == errc::invalid_name);
  CHECK(rejected("al!ce@example.com") == errc::invalid_name);

  CHECK(parse_address(std::string(64, 'a') + "@example.com"));
  auto long_local = parse_address(std::string(65, 'a') + "@example.com");
  REQUIRE_FALSE(long_local);
  CHECK_THAT(long_local.error_value().message, Catch::Contains("longer"));
  CHECK(parse_address("a@" + std::string(63, 'b') + ".com"));
  CHECK(rejected("a@" + std::string(64, 'b') + ".com") == errc::invalid_name);
  std::string domain;
  while (domain.size() < 251)
    domain += std::string(9, 'd') + ".";
  domain += "com";
  CHECK(rejected("a@" + domain) == errc::invalid_name);
  CHECK(rejected(std::string(65, 'n')) == errc::invalid_name);
}

TEST_CASE("hand-built addresses are validated too", "[actors][accounts]") {
  CHECK_FALSE(normalize(address{"../etc", "example.com"}));
  CHECK_FALSE(normalize(address{"alice", "../.."}));
  CHECK_FALSE(normalize(address{"", "example.com"}));
  auto n = normalize(address{"ALICE", "EXAMPLE.com"});
  REQUIRE(n);
  CHECK(*n == address{"alice", "example.com"});
}

TEST_CASE("store paths stay inside the data directory", "[actors][accounts]") {
  std::filesystem::path data = "/srv/data";
  CHECK(store_path(data, addr("Alice@Example.com"))
        == "/srv/data/users/example.com/alice.sqlite");
  CHECK(store_path(data, addr("notes")) == "/srv/data/apps/notes.sqlite");
  CHECK(site_path(data) == "/srv/data/site.sqlite");
}

// -- passwords ----------------------------------------------------------------

TEST_CASE("passwords hash with argon2id and verify", "[actors][accounts]") {
  auto h = hash_password("correct horse battery staple");
  REQUIRE(h);
  CHECK(h->rfind("$argon2id$", 0) == 0);
  CHECK(h->find("correct") == std::string::npos);
  CHECK(verify_password(*h, "correct horse battery staple"));
  CHECK_FALSE(verify_password(*h, "correct horse battery stapler"));
  CHECK_FALSE(verify_password(*h, ""));
  CHECK_FALSE(verify_password("", "anything"));
  CHECK_FALSE(verify_password("$argon2id$garbage", "anything"));
  CHECK_FALSE(needs_rehash(*h));
  CHECK(needs_rehash("$argon2id$garbage"));
  CHECK(needs_rehash(""));

  auto again = hash_password("correct horse battery staple");
  REQUIRE(again);
  CHECK(*again != *h);

  CHECK(hash_password("").code() == errc::invalid_value);
  CHECK(hash_password(std::string(max_password_size + 1, 'x')).code()
        == errc::invalid_value);
}

// -- accounts -----------------------------------------------------------------

TEST_CASE("an account logs in with its password only", "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  auto a = add_account(*site, addr("alice@example.com"), "s3cret");
  REQUIRE(a);
  CHECK(a->revision == 1);
  CHECK_FALSE(a->disabled);
  CHECK_FALSE(a->artificial());
  CHECK(a->created.micros > 0);
  REQUIRE(a->login_methods.size() == 1);
  CHECK(a->login_methods[0]
        == login_method{addr("alice@example.com"), "email", true, true});

  CHECK(*check_password(*site, addr("alice@example.com"), "s3cret"));
  CHECK(*check_password(*site, addr("ALICE@example.COM"), "s3cret"));
  CHECK_FALSE(*check_password(*site, addr("alice@example.com"), "S3cret"));
  CHECK_FALSE(*check_password(*site, addr("alice@example.com"), ""));
  CHECK_FALSE(*check_password(*site, addr("nobody@example.com"), "s3cret"));
  CHECK(check_password(*site, address{"../x", "example.com"}, "s3cret").code()
        == errc::invalid_name);
}

TEST_CASE("an artificial account exists but cannot log in",
          "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  auto a = add_account(*site, addr("shared@example.com"), std::nullopt);
  REQUIRE(a);
  CHECK(a->artificial());
  CHECK(find_account(*site, addr("shared@example.com")));
  CHECK_FALSE(*check_password(*site, addr("shared@example.com"), ""));
  CHECK_FALSE(*check_password(*site, addr("shared@example.com"), "x"));

  auto app = add_account(*site, addr("notes"), std::nullopt);
  REQUIRE(app);
  CHECK(app->login_methods.empty());
  CHECK(add_account(*site, addr("mail"), "pw").code() == errc::invalid_value);
  CHECK(set_password(*site, addr("notes"), "pw").code() == errc::invalid_value);

  auto with = set_password(*site, addr("shared@example.com"), "now-a-person");
  REQUIRE(with);
  CHECK(*check_password(*site, addr("shared@example.com"), "now-a-person"));
  auto without = set_password(*site, addr("shared@example.com"), std::nullopt);
  REQUIRE(without);
  CHECK(without->artificial());
  CHECK_FALSE(
    *check_password(*site, addr("shared@example.com"), "now-a-person"));
}

TEST_CASE("a disabled account cannot log in", "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  REQUIRE(add_account(*site, addr("bob@example.com"), "pw"));
  auto d = set_disabled(*site, addr("bob@example.com"), true);
  REQUIRE(d);
  CHECK(d->disabled);
  CHECK_FALSE(*check_password(*site, addr("bob@example.com"), "pw"));
  REQUIRE(set_disabled(*site, addr("bob@example.com"), false));
  CHECK(*check_password(*site, addr("bob@example.com"), "pw"));
  CHECK(set_disabled(*site, addr("nobody@example.com"), true).code()
        == errc::no_such_item);
}

TEST_CASE("duplicate accounts are refused case-insensitively",
          "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  REQUIRE(add_account(*site, addr("carol@example.com"), std::nullopt));
  auto dup = add_account(*site, address{"Carol", "EXAMPLE.COM"}, std::nullopt);
  REQUIRE_FALSE(dup);
  CHECK(dup.code() == errc::already_exists);
  CHECK(add_account(*site, addr("carol@example.org"), std::nullopt));
  CHECK(add_account(*site, address{"x/y", "example.com"}, std::nullopt).code()
        == errc::invalid_name);

  auto all = list_accounts(*site);
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK(to_string((*all)[0].addr) == "carol@example.com");
  CHECK(to_string((*all)[1].addr) == "carol@example.org");
  CHECK((*all)[0].login_methods.size() == 1);

  CHECK(find_account(*site, addr("CAROL@example.com")));
  CHECK(find_account(*site, addr("dave@example.com")).code()
        == errc::no_such_item);
}

TEST_CASE("login methods are extra addresses of one account",
          "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  REQUIRE(add_account(*site, addr("erin@example.com"), "pw"));
  REQUIRE(add_account(*site, addr("frank@example.com"), std::nullopt));

  auto a = add_login_method(*site, addr("erin@example.com"),
                            {addr("Erin@Other.org"), "email", false, true});
  REQUIRE(a);
  CHECK(a->revision == 2);
  REQUIRE(a->login_methods.size() == 2);
  CHECK(*check_password(*site, addr("erin@other.org"), "pw"));

  auto unverified
    = add_login_method(*site, addr("erin@example.com"),
                       {addr("e@third.net"), "email", false, false});
  REQUIRE(unverified);
  CHECK_FALSE(*check_password(*site, addr("e@third.net"), "pw"));

  CHECK(add_login_method(*site, addr("frank@example.com"),
                         {addr("erin@other.org"), "email", false, true})
          .code()
        == errc::already_exists);
  CHECK(add_login_method(*site, addr("frank@example.com"),
                         {addr("erin@example.com"), "email", false, true})
          .code()
        == errc::already_exists);
  CHECK(add_account(*site, addr("erin@other.org"), std::nullopt).code()
        == errc::already_exists);
  CHECK(add_login_method(*site, addr("frank@example.com"),
                         {addr("notes"), "email", false, true})
          .code()
        == errc::invalid_value);
  CHECK(add_login_method(*site, addr("frank@example.com"),
                         {addr("f@x.org"), "E Mail", false, true})
          .code()
        == errc::invalid_name);

  auto by_login = find_account_by_login(*site, addr("erin@other.org"));
  REQUIRE(by_login);
  CHECK(to_string(by_login->addr) == "erin@example.com");
}

TEST_CASE("deleting an account deletes its login methods",
          "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  REQUIRE(add_account(*site, addr("gina@example.com"), std::nullopt));
  auto recs = account_item_type().select(*site);
  REQUIRE(recs);
  REQUIRE(recs->size() == 1);
  REQUIRE(site->remove(std::string{account_type_name}, recs->front().id));
  CHECK(*site->count(std::string{login_method_type_name}) == 0);
}

// -- duplication --------------------------------------------------------------

TEST_CASE("the user store's copy stays in sync through add, disable, passwd",
          "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  auto a = addr("hank@example.com");
  auto user = open_store(store_path(dir.path(), a));

  CHECK(read_account_copy(*user).code() == errc::no_such_item);

  std::int64_t last = 0;
  auto sync = [&](const store::result<account>& changed) {
    REQUIRE(changed);
    CHECK(changed->revision > last);
    last = changed->revision;
    auto w = write_account_copy(*user, *changed);
    REQUIRE(w);
    CHECK(*w);
    check_in_sync(*site, *user, a);
  };

  sync(add_account(*site, a, "first"));
  sync(set_disabled(*site, a, true));
  sync(set_disabled(*site, a, false));
  sync(set_password(*site, a, "second"));
  sync(
    add_login_method(*site, a, {addr("hank@other.org"), "email", false, true}));
  sync(set_password(*site, a, std::nullopt));

  auto copy = read_account_copy(*user);
  REQUIRE(copy);
  CHECK(copy->revision == 6);
  CHECK(copy->artificial());
  CHECK(copy->login_methods.size() == 2);
  CHECK(*user->count(std::string{account_type_name}) == 1);
  CHECK(*user->count(std::string{login_method_type_name}) == 2);

  // The copy survives closing and reopening the file on its own.
  user.reset();
  auto reopened = open_store(store_path(dir.path(), a));
  check_in_sync(*site, *reopened, a);
}

TEST_CASE("an older revision never overwrites the copy", "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  auto a = addr("ivy@example.com");
  auto user = open_store(store_path(dir.path(), a));

  auto v1 = add_account(*site, a, std::nullopt);
  REQUIRE(v1);
  auto v2 = set_disabled(*site, a, true);
  REQUIRE(v2);
  CHECK(v2->revision == v1->revision + 1);

  REQUIRE(*write_account_copy(*user, *v2));
  auto stale = write_account_copy(*user, *v1);
  REQUIRE(stale);
  CHECK_FALSE(*stale);
  CHECK(read_account_copy(*user)->disabled);
  CHECK(*write_account_copy(*user, *v2));

  auto unchanged = set_disabled(*site, a, true);
  REQUIRE(unchanged);
  CHECK(unchanged->revision == v2->revision);
}

TEST_CASE("a user store holds only its own account", "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  auto j = add_account(*site, addr("jack@example.com"), std::nullopt);
  auto k = add_account(*site, addr("kate@example.com"), std::nullopt);
  REQUIRE(j);
  REQUIRE(k);
  auto user = open_store(store_path(dir.path(), j->addr));
  REQUIRE(*write_account_copy(*user, *j));
  auto wrong = write_account_copy(*user, *k);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.code() == errc::invalid_value);
  CHECK(read_account_copy(*user)->addr == j->addr);
}

TEST_CASE("revisions only grow", "[actors][accounts]") {
  test::temp_dir dir;
  auto site = open_store(site_path(dir.path()));
  auto a = addr("lena@example.com");
  std::int64_t last = 0;
  auto step = [&](const store::result<account>& r) {
    REQUIRE(r);
    CHECK(r->revision == last + 1);
    last = r->revision;
  };
  step(add_account(*site, a, std::nullopt));
  for (int i = 0; i < 5; ++i)
    step(set_disabled(*site, a, i % 2 == 0));
  step(set_password(*site, a, "pw"));
  step(add_login_method(*site, a,
                        {addr("lena@b.example"), "email", false, false}));
  CHECK(find_account(*site, a)->revision == last);
}
