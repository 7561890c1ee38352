#pragma once

// Shared set-up for the offerings tests: a data directory with a site store
// opened offline (as the CLI does), the built-in offerings and, on demand,
// a node started over the same directory.

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/site_config.hpp"
#include "offerings/setup.hpp"
#include "offerings/site.hpp"
#include "tests/support/node.hpp"

namespace mantissa::test {

/// An offering with an app powerup, for install tests: type
/// `testapp.settings` installed in its app store under `settings`,
/// installable powerup `testapp-tool`, product `testapp`, a site powerup
/// `testapp.site_hook` (interface `testapp_hook`), and a type
/// `testapp.addon` that requires a tool.
inline offerings::offering test_app_offering() {
  offerings::offering o;
  o.name = "testapp";
  o.description = "An offering for tests";
  o.version = "3";
  o.register_types = [](store::type_registry& types) -> store::result<void> {
    store::type_decl settings{"testapp.settings", 1, {}};
    store::attribute_decl motto{"motto", store::attribute_type::text};
    motto.default_value = std::string{"hi"};
    settings.attributes = {motto};
    settings.powerup_interfaces = {{"settings", 5}};
    MANTISSA_TRY(types.add(settings));
    store::type_decl tool{"testapp.tool", 1, {}};
    tool.attributes = {{"n", store::attribute_type::integer}};
    tool.powerup_interfaces = {{"tool", 0}};
    MANTISSA_TRY(types.add(tool));
    store::type_decl addon{"testapp.addon", 1, {}};
    addon.attributes = {{"n", store::attribute_type::integer}};
    addon.powerup_interfaces = {{"addon", 0}};
    addon.requires_types = {"testapp.tool"};
    MANTISSA_TRY(types.add(addon));
    store::type_decl hook{"testapp.site_hook", 1, {}};
    hook.attributes = {{"n", store::attribute_type::integer}};
    MANTISSA_TRY(types.add(hook));
    return {};
  };
  o.app_powerups = {{"testapp.settings", {}}};
  o.site_powerups = {{"testapp.site_hook", {{"testapp_hook", 1}}}};
  o.installable_powerups = {{"testapp-tool", "A tool", "testapp.tool", {}}};
  o.products = {{"testapp", {"testapp-tool"}}};
  return o;
}

/// A data directory whose site store is open in this process.
struct offline_fixture : node_fixture {
  store::type_registry types;
  offerings::offering_registry known;
  std::unique_ptr<store::store> site;

  offline_fixture() {
    REQUIRE(actors::register_account_types(types));
    REQUIRE(actors::register_site_config_types(types));
    REQUIRE(offerings::register_site_types(types));
    REQUIRE(offerings::add_builtin_offerings(known));
    REQUIRE(known.add(test_app_offering()));
    REQUIRE(known.register_types(types));
    std::filesystem::create_directories(data);
    auto s = store::store::open(actors::site_path(data), types);
    REQUIRE(s);
    site = std::move(*s);
  }

  [[nodiscard]] offerings::site_context ctx() const {
    return {data, &known, &types};
  }

  void add_user(const std::string& address) {
    auto addr = actors::parse_address(address);
    REQUIRE(addr);
    auto acct = actors::add_account(*site, *addr, std::nullopt);
    REQUIRE(acct);
  }

  actors::address addr(const std::string& address) {
    auto a = actors::parse_address(address);
    REQUIRE(a);
    return *a;
  }

  /// Opens a user or app store the way a store actor would.
  std::unique_ptr<store::store> open(const std::string& address) {
    auto path = actors::store_path(data, addr(address));
    REQUIRE(std::filesystem::exists(path));
    auto s = store::store::open(path, types);
    REQUIRE(s);
    return std::move(*s);
  }
};

/// The offline fixture plus a node over the same data directory, started
/// after the offline set-up closed the site store.
struct offerings_fixture : offline_fixture {
  const actors::caller sys{actors::system_role, "test"};

  /// Starts the node with the built-in offerings, or with every offering
  /// of `with` when given.
  void start_node(const offerings::offering_registry* with = nullptr) {
    site.reset();
    start_with_offerings(with);
  }

  actors::reply run(const std::string& address, const std::string& handler,
                    const nlohmann::json& args) {
    return n->wait([&](actors::reply_handler done) {
      n->run(sys, address, handler, args.dump(), std::move(done));
    });
  }

  /// Runs a handler that must succeed; returns its JSON answer.
  nlohmann::json ok(const std::string& address, const std::string& handler,
                    const nlohmann::json& args) {
    auto r = run(address, handler, args);
    INFO(handler << ": " << r.message);
    REQUIRE(r.ok);
    return nlohmann::json::parse(r.body);
  }
};

} // namespace mantissa::test
