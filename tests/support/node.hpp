#pragma once

// An in-process node for the tests: a temporary data directory, accounts
// made in its site store before the node runs (as `mantissa user add`
// does), a node started over it with the types and handlers a test
// declares, the built-in offerings or a given set of them, and torn down
// before the directory goes (the node first, then the files).
//
// Header-only: a test that never starts a node with offerings needs no
// offerings library (the functions it does not call are not emitted).

#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "actors/accounts.hpp"
#include "actors/node.hpp"
#include "offerings/setup.hpp"
#include "store/store.hpp"
#include "tests/support/decls.hpp"
#include "tests/support/temp_dir.hpp"

namespace mantissa::test {

struct node_fixture {
  temp_dir dir;
  std::filesystem::path data = dir / "data";
  std::unique_ptr<actors::node> n;  // destroyed (stopped) before `dir`

  node_fixture() = default;
  /// `prefix`: the temporary directory's name starts with it.
  explicit node_fixture(const std::string& prefix) : dir{prefix} {}
  node_fixture(const node_fixture&) = delete;
  node_fixture& operator=(const node_fixture&) = delete;

  /// Starts a node over `data` with `opts` (its data_dir set here);
  /// `declare` adds its types, handlers or offerings before it starts.
  void start_node(actors::node_options opts = {},
                  const std::function<void(actors::node&)>& declare = {}) {
    opts.data_dir = data;
    n = std::make_unique<actors::node>(opts);
    if (declare)
      declare(*n);
    std::string err;
    bool started = n->start(err);
    INFO(err);
    REQUIRE(started);
  }

  /// Starts a node with the built-in offerings, or with every offering of
  /// `with` when given.
  void start_with_offerings(const offerings::offering_registry* with = nullptr,
                            actors::node_options opts = {}) {
    start_node(std::move(opts), [with](actors::node& node) {
      if (with != nullptr)
        REQUIRE(offerings::register_offerings(*with, node));
      else
        REQUIRE(offerings::register_builtin_offerings(node));
    });
  }

  /// Stops the node and lets it go (the data stays).
  void stop_node() {
    n->stop();
    n.reset();
  }

  /// Runs `f(done)` on the node and waits for its reply.
  template <class F>
  actors::reply call(F&& f) {
    return n->wait([&](actors::reply_handler done) { f(std::move(done)); });
  }

  actors::reply create_store(const std::string& address) {
    return call([&](auto done) { n->create_store(address, std::move(done)); });
  }

  /// Adds an account to the site store while no node runs; `disabled`
  /// disables it, `copy` also makes its store with the account's copy in
  /// it.
  void add_account(const std::string& address,
                   std::optional<std::string> password, bool disabled = false,
                   bool copy = false) {
    std::filesystem::create_directories(data);
    store::type_registry reg;
    REQUIRE(actors::register_account_types(reg));
    auto site = store::store::open(actors::site_path(data), reg);
    REQUIRE(site);
    auto addr = actors::parse_address(address);
    REQUIRE(addr);
    auto acct = actors::add_account(**site, *addr, std::move(password));
    REQUIRE(acct);
    if (disabled)
      REQUIRE(actors::set_disabled(**site, *addr, true));
    if (!copy)
      return;
    auto path = actors::store_path(data, *addr);
    std::filesystem::create_directories(path.parent_path());
    auto user = store::store::open(path, reg);
    REQUIRE(user);
    REQUIRE(actors::write_account_copy(**user, *acct));
  }
};

} // namespace mantissa::test
