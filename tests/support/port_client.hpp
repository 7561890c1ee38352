#pragma once

// A legitimate custom actor for the tests against node processes: a CAF
// client system of this process, logged in on a node's actor port with
// the client library (client/client.hpp).

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "wire/errors.hpp"
#include "client/client.hpp"

namespace mantissa::test {

/// Logged in as `user` on 127.0.0.1:`port` (the test fails otherwise).
struct port_client {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::optional<client::session> s;

  port_client(std::uint16_t port, const std::string& user,
              const std::string& password) {
    client::configure(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto gw = client::connect(*sys, "127.0.0.1", port);
    REQUIRE(gw);
    auto x = client::session::login(*sys, *gw, user, password);
    INFO((x ? std::string{} : actors::error_message(x.error())));
    REQUIRE(x);
    s.emplace(std::move(*x));
  }

  ~port_client() { s.reset(); }

  /// A write and a read of its own store still work.
  bool works(const std::string& store, const std::string& title) {
    auto put = s->put(store, "notes.note", {{"title", title}});
    if (!put)
      return false;
    auto got = s->get(store, "notes.note", (*put)["id"].get<std::int64_t>());
    return got && (*got)["title"] == title;
  }
};

} // namespace mantissa::test
