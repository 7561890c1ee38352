// http_bench: the HTTP front end's performance check of issue M6, against a
// baseline measured in the same run.
//
//   bare   the same `http::server` (same threads, limits and keep-alive)
//          whose handler answers a constant JSON body of the size of the
//          real item: the cost of the transport alone.
//   real   a node with alice and one note, the server with
//          `make_api_handler`, and an authenticated
//          `GET /api/stores/alice@example.com/items/notes.note/{id}`
//          (Bearer token): session validation, routing, the store actor's
//          read, the reply. During this run 1,000 idle keep-alive
//          connections (each sent one request, answered, then left open)
//          are held, and checked to be still open afterwards.
//
// Load: `wrk -t2 -c64 -d10s --latency` (Debian package wrk) on the same
// URL with the same header for both. Targets: real/bare >= 0.6 req/s, real
// p99 <= 10 ms.
//
//   build-rel/bench/http_bench [options]
//     --duration S     seconds per wrk run (10)
//     --connections C  wrk connections (64)
//     --threads T      wrk threads (2)
//     --idle N         idle keep-alive connections held in the real run (1000)
//     --server-threads N  Asio threads of the server (2)
//     --dir DIR        parent of the temporary data directory (/tmp)
//     --tls 1          both runs over HTTPS (a self-signed certificate made
//                      with openssl; no idle connections in this mode)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/node.hpp"
#include "offerings/setup.hpp"
#include "protocols/http/api.hpp"
#include "protocols/http/server.hpp"
#include "store/store.hpp"

using namespace mantissa;
using namespace std::chrono_literals;

namespace {

struct options {
  int duration = 10;
  int connections = 64;
  int threads = 2;
  int idle = 1000;
  unsigned server_threads = 2;
  bool tls = false;
  std::filesystem::path parent = std::filesystem::temp_directory_path();
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "http_bench: %s\n", what.c_str());
  std::exit(1);
}

double load_average() {
  double avg[1] = {0};
  return ::getloadavg(avg, 1) == 1 ? avg[0] : -1;
}

// -- raw sockets --------------------------------------------------------------

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die(std::string{"socket: "} + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    die(std::string{"connect: "} + std::strerror(errno));
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

/// Sends one request and reads one Content-Length framed response; returns
/// the status (0 on failure) and the body.
int exchange(int fd, const std::string& request, std::string* body = nullptr) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL)
      != static_cast<ssize_t>(request.size()))
    return 0;
  std::string buf;
  char tmp[8192];
  std::size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    auto n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0)
      return 0;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  int status = std::atoi(buf.c_str() + buf.find(' ') + 1);
  std::size_t length = 0;
  auto cl = buf.find("Content-Length: ");
  if (cl == std::string::npos)
    cl = buf.find("content-length: ");
  if (cl != std::string::npos && cl < head_end)
    length = std::strtoull(buf.c_str() + cl + 16, nullptr, 10);
  while (buf.size() < head_end + 4 + length) {
    auto n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0)
      return 0;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  if (body != nullptr)
    *body = buf.substr(head_end + 4, length);
  return status;
}

/// True when the peer has not closed `fd` (nothing readable, no EOF).
bool still_open(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) == 0)
    return true;
  char c;
  auto n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0;
}

// -- wrk ----------------------------------------------------------------------

struct wrk_result {
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  long non_2xx = 0;
  long errors = 0;
  std::string output;
};

/// "1.23ms" / "850.00us" / "1.01s" in milliseconds.
double to_ms(const std::string& v) {
  double x = std::strtod(v.c_str(), nullptr);
  if (v.ends_with("us"))
    return x / 1000;
  if (v.ends_with("ms"))
    return x;
  if (v.ends_with("s"))
    return x * 1000;
  return x;
}

/// The word after `label` in `text`, searching from `from` on.
std::string field_after(const std::string& text, const std::string& label,
                        std::size_t from = 0) {
  auto at = text.find(label, from);
  if (at == std::string::npos)
    return {};
  at += label.size();
  while (at < text.size() && text[at] == ' ')
    ++at;
  auto end = text.find_first_of(" \n", at);
  return text.substr(at, end - at);
}

wrk_result run_wrk(const options& opt, std::uint16_t port,
                   const std::string& path, const std::string& token) {
  auto cmd = "wrk -t" + std::to_string(opt.threads) + " -c"
             + std::to_string(opt.connections) + " -d"
             + std::to_string(opt.duration)
             + "s --latency -H 'Authorization: " + "Bearer " + token
             + "' '" + (opt.tls ? "https" : "http") + "://127.0.0.1:"
             + std::to_string(port) + path + "' 2>&1";
  wrk_result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    die("cannot run wrk");
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    r.output.append(buf, n);
  if (::pclose(p) != 0 || r.output.find("Requests/sec:") == std::string::npos)
    die("wrk failed (install it: apt-get install wrk):\n" + r.output);
  r.rps = std::strtod(field_after(r.output, "Requests/sec:").c_str(), nullptr);
  auto dist = r.output.find("Latency Distribution");
  if (dist == std::string::npos)
    die("wrk printed no latency distribution:\n" + r.output);
  r.p50_ms = to_ms(field_after(r.output, "50%", dist));
  r.p99_ms = to_ms(field_after(r.output, "99%", dist));
  auto non2xx = field_after(r.output, "Non-2xx or 3xx responses:");
  r.non_2xx = non2xx.empty() ? 0 : std::atol(non2xx.c_str());
  if (auto errs = r.output.find("Socket errors:"); errs != std::string::npos)
    for (auto* kind : {"connect ", "read ", "write ", "timeout "})
      r.errors += std::atol(field_after(r.output, kind, errs).c_str());
  return r;
}

void print_row(const char* name, const wrk_result& r) {
  std::printf("%-34s %10.0f %9.2f %9.2f %8ld\n", name, r.rps, r.p50_ms,
              r.p99_ms, r.non_2xx + r.errors);
}

// -- the node -----------------------------------------------------------------

void add_account(const std::filesystem::path& data, const std::string& address,
                 const std::string& password) {
  std::filesystem::create_directories(data);
  store::type_registry reg;
  if (!actors::register_account_types(reg))
    die("account types");
  auto site = store::store::open(actors::site_path(data), reg);
  if (!site)
    die("site store: " + site.error_value().message);
  auto addr = actors::parse_address(address);
  if (!addr || !actors::add_account(**site, *addr, password))
    die("cannot add " + address);
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      die("missing value after " + a);
    const char* v = argv[i + 1];
    if (a == "--duration")
      opt.duration = std::atoi(v);
    else if (a == "--connections")
      opt.connections = std::atoi(v);
    else if (a == "--threads")
      opt.threads = std::atoi(v);
    else if (a == "--idle")
      opt.idle = std::atoi(v);
    else if (a == "--server-threads")
      opt.server_threads = static_cast<unsigned>(std::atoi(v));
    else if (a == "--dir")
      opt.parent = v;
    else if (a == "--tls")
      opt.tls = std::atoi(v) != 0;
    else
      die("unknown option " + a + " (see the source for usage)");
  }
  if (opt.duration < 1 || opt.connections < 1 || opt.threads < 1 || opt.idle < 0
      || opt.server_threads < 1)
    die("counts must be positive");
  // Idle connections need two descriptors each in this process.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2 * static_cast<rlim_t>(opt.idle) + 256)
      die("the descriptor limit is too low for --idle "
          + std::to_string(opt.idle));
  }

  // -- set-up: alice, a note, a session ---------------------------------------
  auto data
    = opt.parent / ("mantissa-http-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(data);
  add_account(data, "alice@example.com", "bench password");
  offerings::offering_registry known;
  if (!offerings::add_builtin_offerings(known))
    die("offerings");
  actors::node_options nopts;
  nopts.data_dir = data;
  actors::node n{nopts};
  if (!offerings::register_offerings(known, n))
    die("register offerings");
  std::string err;
  if (!n.start(err))
    die("node: " + err);
  const std::string alice = "alice@example.com";
  const actors::caller owner{"user:alice@example.com", "bench"};
  auto must = [](actors::reply r) {
    if (!r.ok)
      die("set-up: " + r.message);
    return r;
  };
  must(n.wait([&](auto done) { n.create_store(alice, done); }));
  nlohmann::json note{
    {"title", "Benchmark note"},
    {"body", "A note of ordinary size: a few sentences of text, the kind of "
             "thing a person writes down to remember later. It is read "
             "again and again by the benchmark."}};
  auto put = must(n.wait(
    [&](auto done) { n.put(owner, alice, "notes.note", note.dump(), done); }));
  auto id = nlohmann::json::parse(put.body)["id"].get<std::int64_t>();
  auto item = must(
    n.wait([&](auto done) { n.get(owner, alice, "notes.note", id, done); }));
  std::promise<actors::login_result> login;
  n.auth().login(
    "alice@example.com", "bench password", "127.0.0.1",
    [&](actors::login_result r) { login.set_value(std::move(r)); });
  auto session = login.get_future().get();
  if (!session.ok)
    die("login: " + session.message);
  auto path
    = "/api/stores/" + alice + "/items/notes.note/" + std::to_string(id);
  auto request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 + "Authorization: Bearer " + session.token + "\r\n\r\n";

  http::server_options hopts;
  hopts.port = 0;
  hopts.threads = opt.server_threads;
  if (opt.tls) {
    opt.idle = 0; // the idle connections speak plain HTTP
    auto cert = (data / "cert.pem").string();
    auto key = (data / "key.pem").string();
    auto cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
               "/CN=localhost -keyout '" + key + "' -out '" + cert
               + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
      die("cannot make a certificate with openssl");
    hopts.tls = tls::make_server_context({cert, key}, err);
    if (!hopts.tls)
      die("TLS: " + err);
  }

  std::printf("http_bench: wrk -t%d -c%d -d%ds --latency%s, server threads %u, "
              "item %zu bytes, load average %.1f\n",
              opt.threads, opt.connections, opt.duration,
              opt.tls ? " over HTTPS" : "", opt.server_threads,
              item.body.size(), load_average());
  std::printf("%-34s %10s %9s %9s %8s\n", "work", "req/s", "p50 ms", "p99 ms",
              "errors");

  // -- (a) bare: the transport with a constant answer -------------------------
  wrk_result bare;
  {
    auto body = item.body;
    http::server srv{
      hopts, [body](const http::request&, const http::responder& reply) {
        reply(http::response{200, "application/json", {}, body});
      }};
    if (!srv.start(err))
      die("bare server: " + err);
    bare = run_wrk(opt, srv.port(), path, session.token);
    srv.stop();
  }
  print_row("bare server, constant body", bare);

  // -- (b) real: node + API -------------------------------------------------
  http::api_context ctx{&n, &known, {"example.com"}, false};
  http::server srv{hopts, http::make_api_handler(ctx)};
  if (!srv.start(err))
    die("server: " + err);
  if (!opt.tls) {
    int fd = connect_to(srv.port());
    std::string answer;
    auto status = exchange(fd, request, &answer);
    ::close(fd);
    if (status != 200) {
      std::printf("real: GET %s answers %d, not 200: %s\n"
                  "(the JSON API route GET /api/stores/{address}/items/"
                  "{type}/{id} is not there yet?)\n",
                  path.c_str(), status, answer.substr(0, 200).c_str());
      srv.stop();
      n.stop();
      std::filesystem::remove_all(data);
      return 1;
    }
  }
  std::vector<int> idle;
  idle.reserve(static_cast<std::size_t>(opt.idle));
  int idle_answered = 0;
  for (int i = 0; i < opt.idle; ++i) {
    int fd = connect_to(srv.port());
    if (exchange(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 200)
      ++idle_answered;
    idle.push_back(fd);
  }
  auto real = run_wrk(opt, srv.port(), path, session.token);
  print_row("node: GET item, Bearer token", real);
  int idle_open = 0;
  int idle_alive = 0;
  for (int fd : idle) {
    if (still_open(fd)) {
      ++idle_open;
      if (exchange(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
          == 200)
        ++idle_alive;
    }
    ::close(fd);
  }
  srv.stop();
  n.stop();
  std::filesystem::remove_all(data);

  auto ratio = bare.rps > 0 ? real.rps / bare.rps : 0;
  std::printf("ratio real/bare %.2f (target >= 0.60): %s\n", ratio,
              ratio >= 0.6 ? "met" : "NOT met");
  std::printf("real p99 %.2f ms (target <= 10 ms): %s\n", real.p99_ms,
              real.p99_ms <= 10 ? "met" : "NOT met");
  std::printf("idle keep-alive connections: %d opened and answered %d, %d "
              "still open after the run, %d answered a second request\n",
              opt.idle, idle_answered, idle_open, idle_alive);
  if (real.non_2xx + real.errors + bare.non_2xx + bare.errors > 0)
    std::printf("warning: wrk saw errors or non-2xx answers:\n%s\n",
                real.output.c_str());
  std::printf("load average at the end %.1f\n", load_average());
  return 0;
}
