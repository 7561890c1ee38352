// Online administration in a three-node cluster of real processes: an
// offering installed through a node that is not the seed, a user added
// with a product through another, products given and taken through any
// node, and the uninstall refused while a user's store (on another node)
// has a product of the offering (docs/cluster.md, "Online
// administration").

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "client/client.hpp"
#include "tests/support/cluster.hpp"
#include "wire/errors.hpp"
#include "wire/protocol.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using mantissa::test::run;
using mantissa::test::run_result;
using mantissa::test::temp_dir;
namespace fs = std::filesystem;
using namespace mantissa::test::cluster;

namespace {

/// `mantissa ARGS... --connect ENDPOINT --key KEY`.
run_result through(const std::string& endpoint, const fs::path& key,
                   std::vector<std::string> args, const std::string& in = {}) {
  args.insert(args.begin(), MANTISSA_BINARY);
  for (auto& a : {std::string{"--connect"}, endpoint, std::string{"--key"},
                  key.string()})
    args.push_back(a);
  return run(args, in, 120s);
}

/// What a user's own session at `port` gets for the administrative
/// operation `op`: the node's answer, or "error: MESSAGE".
std::string as_user(std::uint16_t port, const std::string& user,
                    const std::string& password, const std::string& op,
                    const std::string& args) {
  caf::actor_system_config cfg;
  mantissa::client::configure(cfg);
  caf::actor_system sys{cfg};
  auto gw = mantissa::client::connect(sys, "127.0.0.1", port);
  REQUIRE(gw);
  auto s = mantissa::client::session::login(sys, *gw, user, password);
  REQUIRE(s);
  std::string out;
  caf::scoped_actor self{sys};
  self
    ->request(s->handle(), std::chrono::seconds(60),
              mantissa::actors::admin_atom::value, s->caller(), op, args)
    .receive([&](std::string& body) { out = body; },
             [&](caf::error& e) {
               out = "error: " + mantissa::actors::error_message(e);
             });
  return out;
}

bool has(const run_result& r, const std::string& text) {
  return r.out.find(text) != std::string::npos
         || r.err.find(text) != std::string::npos;
}

} // namespace

TEST_CASE("online install and product grant in a three-node cluster, through "
          "any node",
          "[integration][cluster][admin]") {
  temp_dir dir;
  node_process n1{dir / "n1", "n1", {"--no-demo"}};
  REQUIRE(run({MANTISSA_BINARY, "init", "--domain", "example.com", "--data",
               n1.data().string()},
              {}, 60s)
            .exit_code
          == 0);
  n1.start();
  auto key = n1.data() / "cluster.key";
  node_process n2{dir / "n2", "n2", joining(n1)};
  node_process n3{dir / "n3", "n3", joining(n1)};
  for (auto* n : {&n2, &n3})
    n->start();
  INFO("n1: " << n1.err() << "\nn2: " << n2.err() << "\nn3: " << n3.err());
  // Every member must know the others (a store's node is reached by its
  // address as that member last heard it), not only the seed.
  for (auto* n : {&n1, &n2, &n3})
    REQUIRE(eventually(
      [&] { return all_up(n->endpoint(), key, {"n1", "n2", "n3"}); }, 30s));

  // Installed through n2: the records in the seed's site store, the app
  // store on the seed.
  auto r = through(n2.endpoint(), key, {"offering", "install", "notes"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(has(r, "installed offering notes 1.0"));
  CHECK(has(r, "created product notes"));
  CHECK(fs::exists(n1.data() / "apps" / "notes.sqlite"));
  CHECK_FALSE(fs::exists(n2.data() / "apps" / "notes.sqlite"));
  CHECK(through(n3.endpoint(), key, {"offering", "install", "notes"}).exit_code
        != 0);

  // A user on n3, with the product, added through n2; an unknown product
  // refused before the account exists.
  auto bad = through(n2.endpoint(), key,
                     {"user", "add", "bob@example.com", "--password-stdin",
                      "--product", "nothing"},
                     "a long password\n");
  CHECK(bad.exit_code != 0);
  CHECK(has(bad, "no product named"));
  r = through(n2.endpoint(), key,
              {"user", "add", "alice@example.com", "--password-stdin",
               "--node", "n3", "--product", "notes"},
              "a long password\n");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(has(r, "added alice@example.com on node n3"));
  CHECK(has(r, "added product notes to alice@example.com"));
  CHECK(fs::exists(n3.data() / "users" / "example.com" / "alice.sqlite"));

  // Uninstall refused through n3, naming alice's store.
  r = through(n3.endpoint(), key, {"offering", "uninstall", "notes"});
  CHECK(r.exit_code != 0);
  CHECK(has(r, "alice@example.com"));

  // A user's own session at the port may not administer.
  auto refused = as_user(n2.listen(), "alice@example.com", "a long password",
                         "uninstall", R"({"name":"notes"})");
  CHECK(refused.rfind("error: ", 0) == 0);
  CHECK(through(n3.endpoint(), key, {"offering", "install", "notes"}).exit_code
        != 0); // still installed

  // A product made through n1, given and taken through other nodes.
  r = through(n1.endpoint(), key,
              {"product", "create", "plain", "--powerups", "notebook"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  r = through(n2.endpoint(), key,
              {"user", "product", "add", "alice@example.com", "plain"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(has(r, "added product plain to alice@example.com"));
  for (auto* product : {"notes", "plain"}) {
    r = through(n1.endpoint(), key,
                {"user", "product", "remove", "alice@example.com", product});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
  r = through(n3.endpoint(), key, {"offering", "uninstall", "notes"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(has(r, "removed product notes"));
  CHECK(has(r, "removed product plain"));
}
