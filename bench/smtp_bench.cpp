// The SMTP front end (issue M7): N messages of S bytes over C concurrent
// connections, each acknowledged (250) only after the recipient's store
// committed it durably. The same client load can be sent to another SMTP
// server on the same machine (Postfix delivering to Maildir, set up by
// bench/smtp_vs_postfix.sh) for a baseline in the same run.
//
//   smtp_bench [--messages 1000] [--connections 8] [--size 10240]
//              [--dir /tmp] [--baseline-port P --baseline-maildir DIR]
//
// Each connection sends its share of messages one after the other
// (MAIL, RCPT, DATA, dot; waiting for each reply), to alice@example.com,
// every message different (its number in the subject and body).
// Prints messages/s acknowledged for each server and the ratio; with a
// baseline Maildir, also waits until every message is in the Maildir.

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/node.hpp"
#include "offerings/setup.hpp"
#include "protocols/smtp/backend.hpp"
#include "protocols/smtp/server.hpp"
#include "store/store.hpp"
#include "tests/support/smtp_client.hpp"

namespace {

using namespace mantissa;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "smtp_bench: %s\n", what.c_str());
  std::exit(1);
}

struct options {
  int messages = 1000;
  int connections = 8;
  std::size_t size = std::size_t{10} * 1024;
  fs::path parent = fs::temp_directory_path();
  int baseline_port = 0;
  fs::path baseline_maildir;
};

/// Message `i`: headers, then text lines (some starting with a dot) up to
/// `size` bytes.
std::string make_message(int i, std::size_t size) {
  auto n = std::to_string(i);
  std::string m = "From: Bench <bench@remote.example>\r\n"
                  "To: alice@example.com\r\n"
                  "Subject: benchmark message "
                  + n
                  + "\r\n"
                    "Date: Tue, 02 Dec 2025 12:00:00 +0000\r\n"
                    "Message-ID: <bench-"
                  + n + "@remote.example>\r\n\r\n";
  std::string line
    = "message " + n + ": the quick brown fox jumps over the lazy dog 0123";
  for (int k = 0; m.size() + line.size() + 2 < size; ++k)
    m += (k % 10 == 9 ? "." : "") + line + "\r\n";
  while (m.size() + 2 < size)
    m += "x";
  m += "\r\n";
  return m;
}

struct run_result {
  double seconds = 0;
  int acked = 0;
  int failed = 0;
};

/// Sends the messages over `connections` threads; counts the 250s.
run_result send_all(std::uint16_t port, const options& o) {
  std::vector<std::string> msgs;
  msgs.reserve(static_cast<std::size_t>(o.messages));
  for (int i = 0; i < o.messages; ++i)
    msgs.push_back(test::dot_stuff(make_message(i, o.size)));
  std::atomic<int> next{0}, acked{0}, failed{0};
  auto start = clock_type::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(o.connections));
  for (int t = 0; t < o.connections; ++t)
    threads.emplace_back([&] {
      try {
        test::smtp_connection c{port, std::chrono::seconds(60)};
        auto hello = c.read_reply();
        if (!hello || hello->code != 220 || c.code("EHLO bench.example") != 250)
          throw std::runtime_error("no greeting");
        for (int i = next++; i < o.messages; i = next++) {
          bool ok = c.code("MAIL FROM:<bench@remote.example>") == 250
                    && c.code("RCPT TO:<alice@example.com>") == 250
                    && c.code("DATA") == 354;
          if (ok) {
            c.send(msgs[static_cast<std::size_t>(i)]);
            auto r = c.read_reply();
            ok = r && r->code == 250;
          }
          ++(ok ? acked : failed);
          if (!ok)
            c.code("RSET");
        }
        c.code("QUIT");
      } catch (const std::exception& e) {
        std::fprintf(stderr, "smtp_bench: connection: %s\n", e.what());
        ++failed;
      }
    });
  for (auto& t : threads)
    t.join();
  run_result r;
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.acked = acked.load();
  r.failed = failed.load();
  return r;
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto& e : fs::directory_iterator{dir, ec})
    if (e.is_regular_file())
      ++n;
  return n;
}

void add_account(const fs::path& data, const std::string& address) {
  fs::create_directories(data);
  store::type_registry reg;
  if (!actors::register_account_types(reg))
    die("account types");
  auto site = store::store::open(actors::site_path(data), reg);
  if (!site)
    die("site store: " + site.error_value().message);
  auto addr = actors::parse_address(address);
  if (!addr || !actors::add_account(**site, *addr, "bench password"))
    die("cannot add " + address);
}

double load_average() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : -1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      die("missing value after " + a);
    const char* v = argv[i + 1];
    if (a == "--messages")
      o.messages = std::atoi(v);
    else if (a == "--connections")
      o.connections = std::atoi(v);
    else if (a == "--size")
      o.size = static_cast<std::size_t>(std::atol(v));
    else if (a == "--dir")
      o.parent = v;
    else if (a == "--baseline-port")
      o.baseline_port = std::atoi(v);
    else if (a == "--baseline-maildir")
      o.baseline_maildir = v;
    else
      die("unknown option " + a + " (see the source for usage)");
  }
  if (o.messages < 1 || o.connections < 1 || o.size < 512)
    die("--messages and --connections must be positive, --size >= 512");

  // -- Mantissa: a node with alice (an inbox), the SMTP server -------------
  auto data = o.parent / ("mantissa-smtp-bench-" + std::to_string(::getpid()));
  fs::remove_all(data);
  add_account(data, "alice@example.com");
  offerings::offering_registry known;
  if (!offerings::add_builtin_offerings(known))
    die("offerings");
  actors::node_options nopts;
  nopts.data_dir = data;
  auto n = std::make_unique<actors::node>(nopts);
  if (!offerings::register_offerings(known, *n)
      || !smtp::register_handlers(n->handlers()))
    die("register offerings");
  std::string err;
  if (!n->start(err))
    die("node: " + err);
  const std::string alice = "alice@example.com";
  const actors::caller sys{actors::system_role, "bench"};
  auto must = [](actors::reply r) {
    if (!r.ok)
      die("set-up: " + r.message);
    return r;
  };
  must(n->wait([&](auto done) { n->create_store(alice, done); }));
  auto inbox = must(
    n->wait([&](auto done) { n->put(sys, alice, "mail.inbox", "{}", done); }));
  auto inbox_id = nlohmann::json::parse(inbox.body)["id"].get<std::int64_t>();
  must(n->wait([&](auto done) {
    n->install(sys, alice, "mail.inbox", inbox_id, "[]", done);
  }));
  auto backend = smtp::make_node_backend(*n);
  smtp::server_options so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.session.hostname = "mx.example.com";
  so.session.domains = {"example.com"};
  smtp::server srv{so, *backend};
  if (!srv.start(err))
    die("smtp server: " + err);

  std::printf("%d messages of %zu bytes over %d connections, each "
              "acknowledged after a durable commit (load %.1f)\n",
              o.messages, o.size, o.connections, load_average());
  auto ours = send_all(srv.port(), o);
  auto count = must(n->wait(
    [&](auto done) { n->count(sys, alice, "mail.message", "", done); }));
  auto stored = nlohmann::json::parse(count.body)["count"].get<int>();
  srv.stop();
  n->stop();
  n.reset();
  fs::remove_all(data);
  if (ours.failed > 0 || stored != o.messages)
    die("mantissa: " + std::to_string(ours.failed) + " failed, "
        + std::to_string(stored) + " stored");
  double our_rate = ours.acked / ours.seconds;

  std::printf("%-34s %10s %10s\n", "server", "seconds", "msg/s");
  std::printf("%-34s %10.2f %10.0f\n", "mantissa (store commit per 250)",
              ours.seconds, our_rate);
  if (o.baseline_port == 0) {
    std::printf("no baseline (give --baseline-port, see "
                "bench/smtp_vs_postfix.sh)\n");
    return 0;
  }
  auto before
    = o.baseline_maildir.empty() ? 0 : count_files(o.baseline_maildir / "new");
  auto theirs = send_all(static_cast<std::uint16_t>(o.baseline_port), o);
  if (theirs.failed > 0)
    die("baseline: " + std::to_string(theirs.failed) + " messages failed");
  double their_rate = theirs.acked / theirs.seconds;
  std::printf("%-34s %10.2f %10.0f\n", "baseline (queue fsync per 250)",
              theirs.seconds, their_rate);
  if (!o.baseline_maildir.empty()) {
    // Postfix answers 250 once the message is in its queue; delivery to
    // the Maildir follows. Wait for it, for the record.
    auto start
      = clock_type::now() - std::chrono::duration<double>(theirs.seconds);
    auto want = before + static_cast<std::size_t>(o.messages);
    while (count_files(o.baseline_maildir / "new") < want
           && clock_type::now() - start < std::chrono::minutes(5))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto secs
      = std::chrono::duration<double>(clock_type::now() - start).count();
    auto got = count_files(o.baseline_maildir / "new") - before;
    std::printf("%-34s %10.2f %10.0f  (%zu in the Maildir)\n",
                "baseline, until in the Maildir", secs,
                static_cast<double>(got) / secs, got);
  }
  std::printf("ratio mantissa/baseline: %.2f (target >= 1.0: %s)\n",
              our_rate / their_rate,
              our_rate >= their_rate ? "met" : "not met");
  return 0;
}
