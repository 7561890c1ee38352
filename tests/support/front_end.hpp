#pragma once

// The HTTP front end for tests that drive it through a real node: the
// server on a free port of 127.0.0.1 over `make_api_handler`, and GETs on
// raw sockets. Header-only; its tests link mantissa_protocols.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/node.hpp"
#include "offerings/offering.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/routes.hpp"
#include "protocols/http/server.hpp"
#include "tests/support/http_client.hpp"

namespace mantissa::test {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct front_end {
  http::api_context ctx;
  std::unique_ptr<http::server> srv;

  /// Serves `node` with the offerings `known` and the websharing domain
  /// example.com. Both must outlive the front end (or its `stop`).
  void start(actors::node& node, const offerings::offering_registry* known) {
    ctx.node = &node;
    ctx.offerings = known;
    ctx.domains = {"example.com"};
    http::server_options hopts;
    hopts.port = 0;
    std::string err;
    srv = std::make_unique<http::server>(hopts, http::make_api_handler(ctx));
    INFO(err);
    REQUIRE(srv->start(err));
  }

  void stop() {
    if (srv)
      srv->stop();
  }

  /// GET `target` with extra headers (Host is 127.0.0.1).
  http_response get(const std::string& target, const header_list& headers = {}) {
    auto r = http_request(srv->port(), "GET", target, {}, headers);
    REQUIRE(r);
    return *r;
  }

  /// Checks that a POST to `target` is refused: `405` with
  /// `Allow: GET, HEAD`.
  void check_get_only(const std::string& target) {
    INFO("POST " << target);
    auto post = http_request(srv->port(), "POST", target, "{}");
    REQUIRE(post);
    CHECK(post->status == 405);
    CHECK(post->header("Allow") == "GET, HEAD");
  }

  /// GET `target` with the given Host header and Accept (the client's own
  /// Host is not sent).
  http_response get_host(const std::string& target, const std::string& host,
                         const std::string& accept) {
    http_connection c{srv->port()};
    c.send("GET " + target + " HTTP/1.1\r\nHost: " + host
           + "\r\nAccept: " + accept + "\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    return *r;
  }
};

} // namespace mantissa::test
