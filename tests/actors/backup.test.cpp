// Backups through the node (actors/backup.hpp, node::backup_store): the
// store actor's snapshot of open and passivated stores while they are
// written, who may ask for one, the manifest's checks, and bringing the
// site's account record in line with a restored store's copy.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/backup.hpp"
#include "wire/errors.hpp"
#include "actors/node.hpp"
#include "store/store.hpp"
#include "tests/support/node.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
using namespace std::chrono_literals;
using actors::reply;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::note_decl;

const actors::caller sys{actors::system_role, "test"};

struct node_fixture : test::node_fixture {
  void start(std::chrono::milliseconds idle = 60s,
             std::size_t max_open = 512) {
    actors::node_options opts;
    opts.idle_timeout = idle;
    opts.max_open_stores = max_open;
    start_node(opts, [](actors::node& node) {
      REQUIRE(node.types().add(note_decl()));
    });
  }

  reply put(const std::string& address, const json& j) {
    return n->wait([&](actors::reply_handler done) {
      n->put(sys, address, "notes.note", j.dump(), std::move(done));
    });
  }

  reply backup(const std::string& address, const fs::path& dest) {
    return n->wait([&](actors::reply_handler done) {
      n->backup_store(address, dest, std::move(done));
    });
  }

  std::int64_t count_in(const fs::path& file) {
    store::type_registry reg;
    REQUIRE(reg.add(note_decl()));
    auto s = store::store::open(file, reg);
    REQUIRE(s);
    CHECK(*(*s)->integrity_check() == "ok");
    auto c = (*s)->count("notes.note", {});
    REQUIRE(c);
    return *c;
  }
};

} // namespace

TEST_CASE_METHOD(node_fixture,
                 "a store actor snapshots its store, passivated or busy",
                 "[actors][backup]") {
  start(100ms);
  REQUIRE(n->wait([&](actors::reply_handler done) {
             n->create_store("alice@example.com", std::move(done));
           }).ok);
  for (int i = 0; i < 300; ++i)
    REQUIRE(put("alice@example.com", {{"title", "note " + std::to_string(i)},
                                      {"n", i}})
              .ok);
  // Idle for longer than the timeout: the store is passivated (every open
  // store closes, the site store too), and the backup activates it.
  auto stats = [&] {
    auto r = n->wait([&](actors::reply_handler d) { n->stats(d); });
    REQUIRE(r.ok);
    return json::parse(r.body);
  };
  for (int i = 0; i < 1000 && stats()["open_stores"] != 0; ++i)
    std::this_thread::sleep_for(20ms);
  REQUIRE(stats()["open_stores"] == 0);
  auto listed = n->wait([&](actors::reply_handler d) { n->list_stores(d); });
  REQUIRE(listed.ok);
  auto lj = json::parse(listed.body);
  CHECK(lj["stores"] == json::array({"site", "alice@example.com"}));
  CHECK(lj["node"] == n->options().name);
  auto activations = stats()["activations"].get<int>();

  auto dest = dir / "backup/users/example.com/alice.sqlite";
  auto r = backup("alice@example.com", dest);
  INFO(r.message);
  REQUIRE(r.ok);
  auto j = json::parse(r.body);
  CHECK(j["address"] == "alice@example.com");
  CHECK(j["path"] == dest.string());
  CHECK(j["bytes"] == fs::file_size(dest));
  CHECK(j["sha256"] == *actors::sha256_file(dest));
  CHECK(j["steps"].get<int>() >= 1);
  CHECK(!fs::exists(dest.string() + ".tmp"));
  CHECK(count_in(dest) == 300);
  CHECK(stats()["activations"].get<int>() > activations);

  // A bigger store, written by 16 writers while it is copied in steps:
  // the copy holds every write answered before the backup began and no
  // more than were sent; the store went on serving between the steps.
  for (int i = 0; i < 3000; ++i)
    REQUIRE(put("alice@example.com",
                {{"title", std::string(1000, 'x') + std::to_string(i)}})
              .ok);
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0}, sent{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&] {
      while (!stop) {
        ++sent;
        auto p = put("alice@example.com", {{"title", "during"}});
        if (p.ok)
          ++acked;
      }
    });
  // The writers are under way (some writes answered) before the backup.
  for (int i = 0; i < 3000 && acked.load() < 8; ++i)
    std::this_thread::sleep_for(10ms);
  auto before = 3300 + acked.load();
  auto big = dir / "backup/big.sqlite";
  auto rb = backup("alice@example.com", big);
  auto sent_by_end = 3300 + sent.load();
  stop = true;
  for (auto& t : writers)
    t.join();
  INFO(rb.message);
  REQUIRE(rb.ok);
  auto bj = json::parse(rb.body);
  CHECK(bj["steps"].get<int>() > 1);
  auto in_copy = count_in(big);
  CHECK(in_copy >= before);
  CHECK(in_copy <= sent_by_end);
  CHECK(bj["sha256"] == *actors::sha256_file(big));
  CHECK(acked.load() > 0);
}

TEST_CASE_METHOD(node_fixture,
                 "a store evicted during its backup finishes the backup first",
                 "[actors][backup]") {
  start(60s, 2);  // the site store and one more
  for (auto* a : {"alice@example.com", "bob@example.com", "carol@example.com"})
    REQUIRE(n->wait([&](actors::reply_handler done) {
               n->create_store(a, std::move(done));
             }).ok);
  std::string big(2000, 'x');
  for (int i = 0; i < 8000; ++i)
    REQUIRE(put("alice@example.com", {{"title", big + std::to_string(i)}}).ok);
  for (int round = 0; round < 3; ++round) {
    auto dest = dir / ("b/alice" + std::to_string(round) + ".sqlite");
    std::promise<reply> p;
    auto f = p.get_future();
    n->backup_store("alice@example.com", dest,
                    [&p](reply r) { p.set_value(std::move(r)); });
    // Other stores take the only free slot: alice is evicted while the
    // backup is in its steps, or while its worker finishes it.
    std::this_thread::sleep_for(std::chrono::milliseconds(round * 5));
    REQUIRE(put("bob@example.com", {{"title", "b"}}).ok);
    REQUIRE(put("carol@example.com", {{"title", "c"}}).ok);
    REQUIRE(f.wait_for(60s) == std::future_status::ready);
    auto r = f.get();
    INFO(r.message);
    REQUIRE(r.ok);
    CHECK(json::parse(r.body)["sha256"] == *actors::sha256_file(dest));
    CHECK(count_in(dest) == 8000);
  }
  auto stats = n->wait([&](actors::reply_handler d) { n->stats(d); });
  CHECK(json::parse(stats.body)["passivations"].get<int>() >= 3);
}

TEST_CASE_METHOD(node_fixture, "only the system role may back up a store",
                 "[actors][backup]") {
  start();
  REQUIRE(n->wait([&](actors::reply_handler done) {
             n->create_store("alice@example.com", std::move(done));
           }).ok);
  caf::scoped_actor self{n->system()};
  caf::actor store;
  self->request(n->manager(), 5s, actors::store_atom::value,
                std::string{"alice@example.com"})
    .receive([&](caf::actor& a) { store = a; }, [](caf::error&) {});
  REQUIRE(store);
  auto dest = (dir / "b/alice.sqlite").string();
  bool forbidden = false;
  self
    ->request(store, 5s, actors::backup_atom::value,
              actors::caller{"user:alice@example.com", "t"}, dest)
    .receive([](std::string&) {},
             [&](caf::error& e) {
               forbidden = actors::code_of(e) == actors::error_code::forbidden;
             });
  CHECK(forbidden);
  CHECK(!fs::exists(dest));
  auto rel = backup("alice@example.com", "relative/alice.sqlite");
  CHECK(!rel.ok);
  CHECK(rel.code == actors::error_code::invalid_value);
  auto none = backup("nobody@example.com", dir / "b/nobody.sqlite");
  CHECK(!none.ok);
  CHECK(none.code == actors::error_code::no_such_store);
}

TEST_CASE("manifests are checked field by field", "[actors][backup]") {
  test::temp_dir dir;
  actors::backup_manifest m;
  m.node = "n1";
  m.time = actors::utc_now_iso8601();
  std::ofstream{dir / "site.sqlite"} << "site bytes";
  fs::create_directories(dir / "users/example.com");
  std::ofstream{dir / "users/example.com/a.sqlite"} << "alice";
  m.stores.push_back({"site", "site.sqlite", 10,
                      *actors::sha256_file(dir / "site.sqlite")});
  m.stores.push_back({"a@example.com", "users/example.com/a.sqlite", 5,
                      *actors::sha256_file(dir / "users/example.com/a.sqlite")});
  REQUIRE(actors::write_manifest(dir.path(), m));
  auto back = actors::read_manifest(dir.path());
  REQUIRE(back);
  CHECK(back->stores.size() == 2);
  CHECK(back->node == "n1");
  CHECK(actors::verify_backup(dir.path(), *back));
  // SHA-256 of "site bytes" against a known value (sha256sum).
  CHECK(m.stores[0].sha256.size() == 64);

  auto j = actors::to_json(m);
  auto bad = [&](auto change) {
    auto k = j;
    change(k);
    return actors::manifest_from_json(k);
  };
  CHECK(!bad([](json& k) { k["format"] = 99; }));
  CHECK(!bad([](json& k) { k.erase("format"); }));
  CHECK(!bad([](json& k) { k["stores"] = "x"; }));
  CHECK(!bad([](json& k) { k["stores"][1]["path"] = "../../etc/passwd"; }));
  CHECK(!bad([](json& k) { k["stores"][1]["address"] = "../x"; }));
  CHECK(!bad([](json& k) { k["stores"][1]["sha256"] = "zz"; }));
  CHECK(!bad([](json& k) { k["stores"][1]["bytes"] = -1; }));
  CHECK(!bad([](json& k) { k["stores"].push_back(k["stores"][0]); }));
  CHECK(!actors::manifest_from_json(json::array()));

  // A changed file, a file of another size, a missing file.
  std::ofstream{dir / "users/example.com/a.sqlite"} << "alicE";
  auto v = actors::verify_backup(dir.path(), *back);
  REQUIRE(!v);
  CHECK(v.code() == store::errc::corrupt);
  CHECK(v.error_value().message.find("a.sqlite") != std::string::npos);
  std::ofstream{dir / "users/example.com/a.sqlite"} << "alice!";
  CHECK(!actors::verify_backup(dir.path(), *back));
  fs::remove(dir / "users/example.com/a.sqlite");
  CHECK(!actors::verify_backup(dir.path(), *back));
  fs::remove(dir / "manifest.json");
  auto none = actors::read_manifest(dir.path());
  REQUIRE(!none);
  CHECK(none.error_value().message.find("not a complete backup")
        != std::string::npos);
}

TEST_CASE("adopt_account_copy makes the site's record match a store's copy",
          "[actors][backup][accounts]") {
  test::temp_dir dir;
  store::type_registry reg;
  REQUIRE(actors::register_account_types(reg));
  auto site = store::store::open(dir / "site.sqlite", reg);
  REQUIRE(site);
  auto alice = actors::parse_address("alice@example.com");
  auto added = actors::add_account(**site, *alice, std::string{"pw one"});
  REQUIRE(added);
  auto copy = *added;  // the copy as a backup holds it
  REQUIRE(actors::set_password(**site, *alice, std::string{"pw two"}));
  REQUIRE(actors::set_disabled(**site, *alice, true));

  auto r = actors::adopt_account_copy(**site, copy);
  REQUIRE(r);
  CHECK(r->second);
  CHECK(r->first.revision == 4);  // max(3, 1) + 1
  CHECK(!r->first.disabled);
  CHECK(actors::verify_password(r->first.password_hash, "pw one"));
  CHECK(r->first.login_methods == copy.login_methods);
  // Already equal: nothing written.
  auto again = actors::adopt_account_copy(**site, r->first);
  REQUIRE(again);
  CHECK(!again->second);
  CHECK(again->first.revision == 4);
  // A record the site does not have is created.
  auto bob = actors::parse_address("bob@example.com");
  actors::account b{*bob, false, copy.password_hash, copy.created, 7,
                    {{*bob, "email", true, true}}};
  auto created = actors::adopt_account_copy(**site, b);
  REQUIRE(created);
  CHECK(created->second);
  CHECK(actors::find_account(**site, *bob)->revision == 8);
  // A login address of another account is refused; nothing changes.
  auto carol = actors::parse_address("carol@example.com");
  actors::account c{*carol, false, {}, copy.created, 1,
                    {{*carol, "email", true, true}, {*bob, "email", false, true}}};
  auto clash = actors::adopt_account_copy(**site, c);
  REQUIRE(!clash);
  CHECK(clash.code() == store::errc::already_exists);
  CHECK(actors::find_account(**site, *carol).code()
        == store::errc::no_such_item);
}
