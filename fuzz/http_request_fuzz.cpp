// Fuzzes the HTTP front end with raw bytes, through the path a client's
// bytes really take: a node (real SQLite files, an account with a shared
// note, an offering with static files), `make_api_handler`, and the
// `http::server` on 127.0.0.1:0. Each input is written to a fresh
// connection, which is then half-closed; the answer is read until the
// server closes. An input fails when the process crashes (sanitizers), the
// server does not close the connection within 10 s, it answers something
// that is not HTTP, or it answers 500 (a handler threw or dropped its
// responder). Every 500 inputs, and at the end, GET /healthz must still
// answer 200.
//
// Two builds of this file:
//  - with Clang and -DMANTISSA_FUZZ=ON: a libFuzzer target
//    (MANTISSA_LIBFUZZER is defined), coverage-guided;
//  - otherwise a standalone driver with its own seeded mutator, which runs
//    in CI (`ctest -R http_request_fuzz`):
//      http_request_fuzz [--runs N] [--seed S] [--corpus DIR] [FILE...]
//    FILEs are replayed as they are (e.g. a saved failure); without FILEs,
//    N inputs are made from the corpus's seeds (mutated) and random bytes,
//    the same ones for the same seed.
// See docs/http-api.md, "Fuzzing".

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/node.hpp"
#include "offerings/notes.hpp"
#include "offerings/setup.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"
#include "store/store.hpp"

namespace {

using namespace mantissa;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// Inputs longer than this are cut (more only fills socket buffers).
constexpr std::size_t max_input = std::size_t{64} * 1024;
/// How long one connection may take before the input counts as a hang.
constexpr auto connection_deadline = 10s;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", what.c_str());
  std::abort();
}

/// A node with alice (a note shared with everyone as "pub", also her
/// default share) and bob, the notes offering with a static directory,
/// and the HTTP front end on an ephemeral port. Owns a temporary data
/// directory, removed in the destructor.
class environment {
 public:
  environment() {
    auto pattern
      = (fs::temp_directory_path() / "mantissa-fuzz-XXXXXX").string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      die("mkdtemp failed");
    dir_ = buf.data();
    auto data = dir_ / "data";
    auto static_dir = dir_ / "static";
    fs::create_directories(static_dir / "css");
    std::ofstream{static_dir / "index.html"} << "<p>hello</p>";
    std::ofstream{static_dir / "css" / "site.css"} << "p{}";
    std::ofstream{dir_ / "secret.txt"} << "secret";

    add_accounts(data);
    auto notes = offerings::notes::make_offering();
    notes.static_dir = static_dir;
    if (!known_.add(notes))
      die("cannot add the notes offering");

    actors::node_options opts;
    opts.data_dir = data;
    // No login may stall the run: failures are not slowed down, and at
    // most two password checks run or wait at once.
    opts.auth.free_failures = 1 << 30;
    opts.auth.max_pending = 2;
    node_ = std::make_unique<actors::node>(opts);
    if (!offerings::register_offerings(known_, *node_))
      die("cannot register the offerings");
    std::string err;
    if (!node_->start(err))
      die("node: " + err);
    const actors::caller alice{"user:alice@example.com", "fuzz"};
    const std::string address = "alice@example.com";
    for (auto* a : {"alice@example.com", "bob@example.com"})
      must(node_->wait([&](auto done) { node_->create_store(a, done); }));
    auto put = must(node_->wait([&](auto done) {
      node_->put(alice, address, "notes.note",
                 R"({"title":"<b>hi</b>","body":"a shared note"})", done);
    }));
    auto id = nlohmann::json::parse(put.body)["id"].get<std::int64_t>();
    must(node_->wait([&](auto done) {
      node_->share(alice, address, "notes.note", id, "everyone", R"(["read"])",
                   "pub", done);
    }));
    must(node_->wait([&](auto done) {
      node_->set_default_share(alice, address, "pub", done);
    }));

    ctx_.node = node_.get();
    ctx_.offerings = &known_;
    ctx_.domains = {"example.com"};
    http::server_options hopts;
    hopts.port = 0;
    hopts.read_timeout = 5s;
    server_
      = std::make_unique<http::server>(hopts, http::make_api_handler(ctx_));
    if (!server_->start(err))
      die("server: " + err);
  }

  ~environment() {
    server_->stop();
    node_->stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;

  [[nodiscard]] std::uint16_t port() const { return server_->port(); }

 private:
  static actors::reply must(actors::reply r) {
    if (!r.ok)
      die("set-up: " + r.message);
    return r;
  }

  static void add_accounts(const fs::path& data) {
    fs::create_directories(data);
    store::type_registry reg;
    if (!actors::register_account_types(reg))
      die("account types");
    auto site = store::store::open(actors::site_path(data), reg);
    if (!site)
      die("site store: " + site.error_value().message);
    for (auto* a : {"alice@example.com", "bob@example.com"}) {
      auto addr = actors::parse_address(a);
      if (!addr || !actors::add_account(**site, *addr, "fuzz password"))
        die("cannot add an account");
    }
  }

  fs::path dir_;
  offerings::offering_registry known_;
  std::unique_ptr<actors::node> node_;
  http::api_context ctx_;
  std::unique_ptr<http::server> server_;
};

/// What happened to one input.
struct outcome {
  bool ok = true;
  std::string why;      ///< when not ok
  std::string received; ///< everything the server sent
};

/// Writes `bytes` to a new connection, half-closes it and reads until the
/// server closes. Reading and writing are interleaved (poll) so that a
/// server that answers before reading everything cannot deadlock us.
outcome exchange(std::uint16_t port, std::string_view bytes) {
  outcome out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    die(std::string{"socket: "} + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      && errno != EINPROGRESS)
    die(std::string{"connect: "} + std::strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + connection_deadline;
  std::size_t sent = 0;
  bool write_open = true;
  auto finish_writing = [&] {
    ::shutdown(fd, SHUT_WR);
    write_open = false;
  };
  if (bytes.empty())
    finish_writing();
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.ok = false;
      out.why = "the server did not close the connection within 10 s";
      break;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0) {
      if (errno == EINTR)
        continue;
      die(std::string{"poll: "} + std::strerror(errno));
    }
    if (write_open && (p.revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      auto n
        = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        if (sent == bytes.size())
          finish_writing();
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        write_open = false; // the server closed early (e.g. after a 431)
      }
    }
    if ((p.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        out.received.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR))
        break; // closed (or reset): done
    }
  }
  ::close(fd);
  return out;
}

/// Checks what the server sent: nothing, or HTTP responses none of which
/// is a 500.
void check_answer(outcome& o) {
  if (!o.ok || o.received.empty())
    return;
  std::string_view rest = o.received;
  if (!rest.starts_with("HTTP/1.1 ") && !rest.starts_with("HTTP/1.0 ")) {
    o.ok = false;
    o.why = "the answer is not an HTTP response";
    return;
  }
  // Status lines at the start of a line (bodies are JSON or HTML and do not
  // contain this sequence unless they quote it, which a 500 body does not).
  for (std::size_t at = 0; at != std::string_view::npos;
       at = rest.find("\nHTTP/1.", at + 1)) {
    auto line = rest.substr(at == 0 ? 0 : at + 1, 12);
    if (line.size() == 12 && line.substr(9, 3) == "500") {
      o.ok = false;
      o.why = "the server answered 500";
      return;
    }
  }
}

bool healthy(std::uint16_t port) {
  auto o = exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n");
  return o.ok && o.received.starts_with("HTTP/1.1 200 ");
}

/// The status of the first response in `received`, or 0 for none.
int first_status(const std::string& received) {
  if (received.size() < 12 || !received.starts_with("HTTP/1."))
    return 0;
  return std::atoi(received.c_str() + 9);
}

/// Runs one input; returns a description of the failure, or "". Sets
/// `status` to the status of the first answer (0: none).
std::string run_one(const environment& env, std::string_view input,
                    std::uint64_t count, int* status = nullptr) {
  if (input.size() > max_input)
    input = input.substr(0, max_input);
  auto o = exchange(env.port(), input);
  check_answer(o);
  if (status != nullptr)
    *status = first_status(o.received);
  if (!o.ok)
    return o.why;
  if (count % 500 == 0 && !healthy(env.port()))
    return "GET /healthz no longer answers 200";
  return {};
}

} // namespace

#ifdef MANTISSA_LIBFUZZER

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  // Kept for the life of the process: libFuzzer exits without a hook.
  static environment* env = new environment();
  static std::uint64_t count = 0;
  auto why
    = run_one(*env, {reinterpret_cast<const char*>(data), size}, ++count);
  if (!why.empty())
    die(why);
  return 0;
}

#else // a standalone driver

namespace {

/// Pieces of HTTP the mutator inserts (a dictionary).
// clang-format off
const std::vector<std::string> tokens = {
  "\r\n", "\r\n\r\n", "\n", "\r", " ", ":", "/", "?", "&", "=", "%", "%00",
  "%2f", "%2e%2e", "..", "../", "%zz", "%", "+", "#", ";", ",", "\"", "\\",
  "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ",
  " HTTP/1.1", " HTTP/1.0", " HTTP/2.0", " HTTP/9.9",
  "Host: ", "Host: alice.example.com", "Host: www.example.com",
  "Host: [::1]:80", "Content-Length: ", "Content-Length: 0",
  "Content-Length: 18446744073709551616", "Content-Length: -1",
  "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked",
  "Connection: close", "Connection: keep-alive", "Expect: 100-continue",
  "Accept: application/json", "Accept: text/html;q=0.1, application/json;q=x",
  "Accept: */*;q=1e400", "Authorization: Bearer ", "Authorization: Basic ",
  "Cookie: mantissa_session=", "Cookie: ;;=;", "X-Request-Id: ",
  "0\r\n\r\n", "ffffffffffffffff\r\n", "5;ext=1\r\n", "/users/alice/",
  "/users/alice/pub", "/users/", "/static/notes/", "/static/notes/index.html",
  "/api/", "/api/me", "/api/stores/alice@example.com/items/notes.note/1",
  "/healthz", "{", "}", "[", "]", "{\"title\":", "null", "1e999", "\xff",
  "\xc3\x28", "\xe2\x82", "\xf0\x9f\x92\xa9"};

const std::vector<std::string> numbers = {"0",     "1",  "-1", "65536",
                                          "99999999999999999999",
                                          "0x10",  "1.5", "", "4294967295"};
// clang-format on

class generator {
 public:
  generator(std::uint64_t seed, std::vector<std::string> seeds)
    : rng_(seed), seeds_(std::move(seeds)) {}

  /// The `i`-th input: each seed once as it is, then one in ten random
  /// bytes, nine in ten mutated seeds.
  std::string next(std::uint64_t i) {
    if (i < seeds_.size())
      return seeds_[i];
    if (seeds_.empty() || pick(10) == 0)
      return random_bytes(pick(600));
    auto s = seeds_[pick(seeds_.size())];
    auto rounds = 1 + pick(5);
    for (std::size_t r = 0; r < rounds; ++r)
      mutate(s);
    if (s.size() > max_input)
      s.resize(max_input);
    return s;
  }

 private:
  std::size_t pick(std::size_t n) {
    return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n);
  }

  std::string random_bytes(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng_() & 0xff);
    return s;
  }

  void mutate(std::string& s) {
    auto at = pick(s.size() + 1);
    switch (pick(10)) {
      case 0: // flip a bit
        if (!s.empty()) {
          auto& c = s[pick(s.size())];
          c = static_cast<char>(static_cast<unsigned char>(c)
                                ^ (1u << pick(8)));
        }
        break;
      case 1: // overwrite a byte
        if (!s.empty())
          s[pick(s.size())] = static_cast<char>(rng_() & 0xff);
        break;
      case 2: // insert random bytes
        s.insert(at, random_bytes(1 + pick(8)));
        break;
      case 3: // delete a range
        if (at < s.size())
          s.erase(at, 1 + pick(std::min<std::size_t>(s.size() - at, 32)));
        break;
      case 4:
      case 5: // insert a token
        s.insert(at, tokens[pick(tokens.size())]);
        break;
      case 6: // duplicate a range
        if (at < s.size()) {
          auto len = 1 + pick(std::min<std::size_t>(s.size() - at, 64));
          s.insert(at, s.substr(at, len));
        }
        break;
      case 7: { // splice with another seed
        auto& other = seeds_[pick(seeds_.size())];
        s = s.substr(0, at) + other.substr(pick(other.size() + 1));
        break;
      }
      case 8: { // replace a run of digits with another number
        auto d = s.find_first_of("0123456789", at);
        if (d != std::string::npos) {
          auto e = s.find_first_not_of("0123456789", d);
          s.replace(d, e == std::string::npos ? std::string::npos : e - d,
                    numbers[pick(numbers.size())]);
        }
        break;
      }
      default: // repeat a short range many times (limits)
        if (at < s.size()) {
          auto piece
            = s.substr(at, 1 + pick(std::min<std::size_t>(s.size() - at, 16)));
          std::string run;
          auto times = 1 + pick(2048);
          for (std::size_t k = 0; k < times && run.size() < max_input; ++k)
            run += piece;
          s.insert(at, run);
        }
        break;
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> seeds_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 2048)) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n\n";
    else if (c < 0x20 || c >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t runs = 20'000;
  std::uint64_t seed = 1;
  fs::path corpus;
#ifdef MANTISSA_FUZZ_CORPUS
  corpus = MANTISSA_FUZZ_CORPUS;
#endif
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--runs" && i + 1 < argc)
      runs = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--corpus" && i + 1 < argc)
      corpus = argv[++i];
    else if (a.starts_with("-")) {
      std::fprintf(stderr, "usage: http_request_fuzz [--runs N] [--seed S] "
                           "[--corpus DIR] [FILE...]\n");
      return 2;
    } else
      files.emplace_back(a);
  }

  std::vector<std::string> inputs_from_files;
  for (auto& f : files)
    inputs_from_files.push_back(read_file(f));
  std::vector<std::string> seeds;
  std::error_code ec;
  if (!corpus.empty() && fs::is_directory(corpus, ec)) {
    std::vector<fs::path> names;
    for (auto& e : fs::directory_iterator{corpus})
      if (e.is_regular_file())
        names.push_back(e.path());
    std::sort(names.begin(), names.end()); // the same order every run
    for (auto& n : names)
      seeds.push_back(read_file(n));
  }

  environment env;
  generator gen{seed, seeds};
  auto total = files.empty() ? runs : files.size();
  auto started = std::chrono::steady_clock::now();
  std::uint64_t failed = 0;
  // By the status of each input's first answer: how many, and seconds.
  std::map<int, std::pair<std::uint64_t, double>> statuses;
  for (std::uint64_t i = 0; i < total; ++i) {
    auto input = files.empty() ? gen.next(i) : inputs_from_files[i];
    int status = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto why = run_one(env, input, i + 1, &status);
    auto took
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
    auto& [count, seconds] = statuses[status];
    ++count;
    seconds += took;
    if (took > 1.0)
      std::fprintf(stderr, "input %llu: slow, %.1f s, first answer %d:\n%s\n",
                   static_cast<unsigned long long>(i), took, status,
                   printable(input).c_str());
    if (why.empty())
      continue;
    ++failed;
    auto name = "http_request_fuzz-failure-" + std::to_string(i) + ".bin";
    std::ofstream{name, std::ios::binary} << input;
    std::fprintf(stderr, "input %llu: %s (saved as %s):\n%s\n",
                 static_cast<unsigned long long>(i), why.c_str(), name.c_str(),
                 printable(input).c_str());
    if (failed >= 5)
      break;
  }
  bool ok_at_end = healthy(env.port());
  if (!ok_at_end) {
    std::fprintf(stderr, "GET /healthz does not answer 200 after the run\n");
    ++failed;
  }
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
        .count();
  std::string seen;
  for (auto& [status, stat] : statuses) {
    char line[96];
    std::snprintf(line, sizeof(line), " %s:%llu (%.1f s)",
                  status == 0 ? "none" : std::to_string(status).c_str(),
                  static_cast<unsigned long long>(stat.first), stat.second);
    seen += line;
  }
  std::printf("http_request_fuzz: first answers%s\n", seen.c_str());
  std::printf("http_request_fuzz: %llu inputs (seed %llu, %zu seeds) in %.1f "
              "s\n%llu passed, %llu failed\n",
              static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(seed), seeds.size(), secs,
              static_cast<unsigned long long>(total - std::min(total, failed)),
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

#endif
