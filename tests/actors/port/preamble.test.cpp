// The login that opens a connection to the node's port
// (wire/port/preamble.hpp): encoding, decoding and every refusal.

#include <catch2/catch.hpp>

#include <string>

#include "wire/port/preamble.hpp"

using namespace mantissa::actors::port;

TEST_CASE("a login request survives its encoding", "[port][preamble]") {
  login_request req{login_kind::node, "n2", std::string(100, 's')};
  auto bytes = encode_request(req);
  REQUIRE(bytes);
  REQUIRE(bytes->size() == request_head_size + 2 + 100);
  auto n = request_body_size(bytes->data());
  REQUIRE(n);
  CHECK(*n == 102);
  auto back = decode_request(
    bytes->data(), std::string_view{bytes->data() + request_head_size, *n});
  REQUIRE(back);
  CHECK(back->kind == login_kind::node);
  CHECK(back->user == "n2");
  CHECK(back->secret == req.secret);
}

TEST_CASE("a malformed login request is refused before its body is read",
          "[port][preamble]") {
  auto bytes = *encode_request({login_kind::user, "alice@example.com", "pw"});
  auto head = [&] { return std::string(bytes.data(), request_head_size); };
  SECTION("another protocol (a BASP header, an HTTP request)") {
    std::string basp(request_head_size, '\0');
    basp[0] = 1;
    CHECK_FALSE(request_body_size(basp.data()));
    std::string http = "GET / HTTP";
    CHECK_FALSE(request_body_size(http.data()));
  }
  SECTION("another version") {
    auto h = head();
    h[4] = 2;
    CHECK_FALSE(request_body_size(h.data()));
  }
  SECTION("an unknown kind") {
    auto h = head();
    h[5] = 9;
    CHECK_FALSE(request_body_size(h.data()));
  }
  SECTION("fields over their limits or an empty user") {
    auto h = head();
    h[6] = static_cast<char>(0xFF);  // user length 65,280+
    CHECK_FALSE(request_body_size(h.data()));
    auto h2 = head();
    h2[6] = 0;
    h2[7] = 0;
    CHECK_FALSE(request_body_size(h2.data()));
    auto h3 = head();
    h3[8] = 0x10;  // secret length 4,096+
    h3[9] = 0x01;
    CHECK_FALSE(request_body_size(h3.data()));
  }
  SECTION("a body of another size") {
    CHECK_FALSE(decode_request(bytes.data(), "short"));
  }
  CHECK_FALSE(encode_request({login_kind::user, std::string(513, 'u'), ""}));
  CHECK_FALSE(encode_request({login_kind::user, "u", std::string(4097, 's')}));
  CHECK(max_request <= 5 * 1024);
}

TEST_CASE("a login answer survives its encoding", "[port][preamble]") {
  auto bytes = encode_answer(18, "wrong username or password");
  auto n = answer_body_size(bytes.data());
  REQUIRE(n);
  auto a = decode_answer(bytes.data(),
                         std::string_view{bytes.data() + answer_head_size, *n});
  REQUIRE(a);
  CHECK(a->status == 18);
  CHECK(a->body == "wrong username or password");
  // Bodies are cut at the limit rather than refused.
  auto big = encode_answer(0, std::string(10'000, 'x'));
  CHECK(big.size() == answer_head_size + max_answer_body);
  std::string junk(answer_head_size, 'x');
  CHECK_FALSE(answer_body_size(junk.data()));
}
