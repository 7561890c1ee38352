// Fuzzes the SMTP session state machine (protocols/smtp/session.hpp) with
// byte streams, without sockets: the first byte of an input picks the
// session's situation (TLS available, loopback, how requests are answered),
// the rest is what the client sends. Every input is fed twice, at once and
// in pieces of 1 to 8 bytes, and the two runs must agree byte for byte
// (unless STARTTLS was accepted: what came with that command is dropped).
// An input fails when the process crashes (sanitizers), the runs disagree,
// the output is not a sequence of well-formed replies, something is
// answered after the session closed, or a delivered message breaks the
// session's contract (size limit, CRLF line ends, its delivery id).
//
// Two builds of this file, as fuzz/http_request_fuzz.cpp:
//  - with Clang and -DMANTISSA_FUZZ=ON: a libFuzzer target;
//  - otherwise a standalone driver with its own seeded mutator, which runs
//    in CI (`ctest -R smtp_session_fuzz`):
//      smtp_session_fuzz [--runs N] [--seed S] [--corpus DIR] [FILE...]

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/smtp/session.hpp"

namespace {

using namespace mantissa;
namespace fs = std::filesystem;

constexpr std::size_t max_input = std::size_t{64} * 1024;

/// The input being run, saved by `die` (standalone driver only).
std::string_view current_input;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "smtp_session_fuzz: %s\n", what.c_str());
#ifndef MANTISSA_LIBFUZZER
  std::ofstream{"smtp_session_fuzz-failure.bin", std::ios::binary}
    << current_input;
  std::fprintf(stderr, "smtp_session_fuzz: input saved as "
                       "smtp_session_fuzz-failure.bin\n");
#endif
  std::abort();
}

/// A stable hash, so that answers depend on the request, not on timing.
std::uint32_t hash(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s)
    h = (h ^ c) * 16777619u;
  return h;
}

struct result {
  std::string output;
  std::vector<smtp::delivery> delivered;
  bool closed = false;
  /// A TLS handshake happened: input after STARTTLS then depends on how
  /// it arrived (the session drops what came with the command).
  bool handshake = false;
};

/// Runs the session over `input` fed in pieces of `chunk` bytes (0: at
/// once), answering its requests from `mode`.
result drive(std::uint8_t mode, std::string_view input, std::size_t chunk) {
  smtp::session_options o;
  o.hostname = "mx.example.com";
  o.domains = {"example.com", "example.org"};
  o.max_message_size = 2048;
  o.max_recipients = 4;
  o.max_command_line = 128;
  o.max_errors = 20;
  o.tls_available = (mode & 1) != 0;
  smtp::session s{o, {"192.0.2.7", (mode & 2) != 0}};
  s.set_clock([] { return std::chrono::system_clock::time_point{}; });
  s.start();
  result r;
  auto answer = [&] {
    for (;;) {
      r.output += s.take_output();
      (void)s.take_log();
      auto* q = s.pending();
      if (q == nullptr)
        return;
      auto h = hash(q->address + q->username + q->password);
      switch (q->kind) {
        case smtp::request_kind::check_recipient:
          if (q->address.rfind('@') == std::string::npos)
            die("asked to check a malformed address: " + q->address);
          s.recipient_checked(
            {static_cast<smtp::recipient_status::result>(h % 3), q->address});
          break;
        case smtp::request_kind::authenticate:
          s.authenticated(
            {static_cast<smtp::auth_status::result>(h % 3), q->username});
          break;
        case smtp::request_kind::deliver: {
          r.delivered.push_back(q->message);
          bool ok = (mode & 4) == 0 || hash(q->message.raw) % 2 == 0;
          s.delivered({ok, ok ? "" : "fuzz failure"});
          break;
        }
        case smtp::request_kind::start_tls:
          r.handshake = true;
          if ((mode & 8) != 0) {
            // A failed handshake: the server closes the connection.
            r.closed = true;
            return;
          }
          s.tls_started();
          break;
        case smtp::request_kind::none:
          return;
      }
    }
  };
  answer();
  if (chunk == 0)
    chunk = std::max<std::size_t>(1, input.size());
  std::size_t output_at_close = 0;
  bool seen_closed = false;
  for (std::size_t i = 0; i < input.size() && !r.closed; i += chunk) {
    s.receive(input.substr(i, chunk));
    answer();
    if (seen_closed && r.output.size() != output_at_close)
      die("output after the session closed");
    if (s.closed() && !seen_closed) {
      seen_closed = true;
      output_at_close = r.output.size();
    }
  }
  if (!r.closed)
    s.timed_out();
  r.output += s.take_output();
  if (seen_closed && r.output.size() != output_at_close)
    die("output after the session closed");
  r.closed = r.closed || s.closed();
  return r;
}

/// Every line is "DDD-text" or "DDD text" with a 2xx..5xx code, and a
/// reply's lines share their code.
void check_replies(const std::string& out) {
  std::size_t pos = 0;
  std::string open_code;
  while (pos < out.size()) {
    auto end = out.find("\r\n", pos);
    if (end == std::string::npos)
      die("output does not end with CRLF");
    auto line = std::string_view{out}.substr(pos, end - pos);
    if (line.size() < 4 || line[0] < '2' || line[0] > '5'
        || !std::isdigit(static_cast<unsigned char>(line[1]))
        || !std::isdigit(static_cast<unsigned char>(line[2]))
        || (line[3] != ' ' && line[3] != '-'))
      die("malformed reply line: " + std::string{line});
    if (line.find_first_of("\r\n") != std::string_view::npos)
      die("CR or LF inside a reply line");
    auto code = std::string{line.substr(0, 3)};
    if (!open_code.empty() && code != open_code)
      die("a multi-line reply changes its code");
    open_code = line[3] == '-' ? code : std::string{};
    pos = end + 2;
  }
  if (!open_code.empty())
    die("the output ends inside a multi-line reply");
}

void check_delivery(const smtp::delivery& d) {
  auto data = std::string_view{d.raw}.substr(d.data_offset);
  if (data.size() > 2048)
    die("a delivered message exceeds the size limit");
  if (d.recipients.empty() || d.recipients.size() > 4)
    die("a delivery with a wrong number of recipients");
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
      die("a delivered message has a bare LF");
    if (data[i] == '\r' && (i + 1 == data.size() || data[i + 1] != '\n'))
      die("a delivered message has a bare CR");
  }
  if (!data.empty() && !data.ends_with("\r\n"))
    die("a delivered message does not end with CRLF");
  if (d.delivery_id != smtp::make_delivery_id(d.sender, data))
    die("a delivery id does not match its message");
  if (d.raw.rfind("Received: from ", 0) != 0)
    die("a delivered message has no Received header first");
}

void run_one(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0)
    return;
  current_input = {reinterpret_cast<const char*>(bytes), size};
  auto mode = bytes[0];
  std::string_view input{reinterpret_cast<const char*>(bytes) + 1, size - 1};
  if (input.size() > max_input)
    input = input.substr(0, max_input);
  auto whole = drive(mode, input, 0);
  auto pieces = drive(mode, input, 1 + (mode >> 4) % 8);
  for (auto& d : pieces.delivered)
    check_delivery(d);
  check_replies(pieces.output);
  if (whole.handshake || pieces.handshake)
    return;
  if (whole.output != pieces.output)
    die("the output depends on how the input was split");
  if (whole.delivered.size() != pieces.delivered.size())
    die("the deliveries depend on how the input was split");
  for (std::size_t i = 0; i < whole.delivered.size(); ++i) {
    if (whole.delivered[i].raw != pieces.delivered[i].raw)
      die("a delivered message depends on how the input was split");
    check_delivery(whole.delivered[i]);
  }
  check_replies(whole.output);
}

} // namespace

#ifdef MANTISSA_LIBFUZZER

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  run_one(data, size);
  return 0;
}

#else // a standalone driver

namespace {

// clang-format off
const std::vector<std::string> tokens = {
  "\r\n", "\n", "\r", " ", ":", "<", ">", "@", ".", "\r\n.\r\n", "\n.\n",
  "\r\n..", std::string(1, '\0'), "EHLO c\r\n", "HELO c\r\n", "MAIL FROM:<a@b.example>\r\n",
  "MAIL FROM:<>\r\n", "MAIL FROM:<a@b.example> SIZE=99999\r\n",
  " BODY=8BITMIME", " SIZE=", "RCPT TO:<alice@example.com>\r\n",
  "RCPT TO:<x@elsewhere.example>\r\n", "RCPT TO:<postmaster>\r\n",
  "RCPT TO:<@r.example:bob@example.org>\r\n", "DATA\r\n", "RSET\r\n",
  "NOOP\r\n", "QUIT\r\n", "VRFY a\r\n", "HELP\r\n", "STARTTLS\r\n",
  "AUTH PLAIN\r\n", "AUTH PLAIN AGFAYi5leGFtcGxlAHB3\r\n", "AUTH PLAIN =\r\n",
  "*\r\n", "AUTH LOGIN\r\n", "EXPN x\r\n", "BDAT 10\r\n",
  "Subject: x\r\n\r\n", "\xff", "\xc3\xa9"};
// clang-format on

class generator {
 public:
  generator(std::uint64_t seed, std::vector<std::string> seeds)
    : rng_(seed), seeds_(std::move(seeds)) {}

  std::string next(std::uint64_t i) {
    if (i < seeds_.size())
      return seeds_[i];
    if (seeds_.empty() || pick(10) == 0)
      return random_bytes(1 + pick(600));
    auto s = seeds_[pick(seeds_.size())];
    auto rounds = 1 + pick(6);
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
    auto at = 1 + pick(s.size());
    if (s.empty()) {
      s.push_back(static_cast<char>(rng_() & 0xff));
      return;
    }
    switch (pick(9)) {
      case 0: // a new mode byte
        s[0] = static_cast<char>(rng_() & 0xff);
        break;
      case 1: // flip a bit
      {
        auto& c = s[pick(s.size())];
        c = static_cast<char>(static_cast<unsigned char>(c) ^ (1u << pick(8)));
        break;
      }
      case 2:
        s.insert(std::min(at, s.size()), random_bytes(1 + pick(8)));
        break;
      case 3:
        if (at < s.size())
          s.erase(at, 1 + pick(std::min<std::size_t>(s.size() - at, 32)));
        break;
      case 4:
      case 5: {
        auto& t = tokens[pick(tokens.size())];
        s.insert(std::min(at, s.size()), t);
        break;
      }
      case 6:
        if (at < s.size()) {
          auto len = 1 + pick(std::min<std::size_t>(s.size() - at, 64));
          s.insert(at, s.substr(at, len));
        }
        break;
      case 7: { // splice with another seed
        auto& other = seeds_[pick(seeds_.size())];
        s = s.substr(0, at)
            + other.substr(std::min(other.size(), 1 + pick(other.size())));
        break;
      }
      default: // repeat a short range (limits: long lines, many commands)
        if (at < s.size()) {
          auto piece
            = s.substr(at, 1 + pick(std::min<std::size_t>(s.size() - at, 16)));
          std::string run;
          auto times = 1 + pick(512);
          for (std::size_t k = 0; k < times && run.size() < 8192; ++k)
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
      std::fprintf(stderr, "usage: smtp_session_fuzz [--runs N] [--seed S] "
                           "[--corpus DIR] [FILE...]\n");
      return 2;
    } else
      files.emplace_back(a);
  }
  std::vector<std::string> seeds;
  std::error_code ec;
  if (!corpus.empty() && fs::is_directory(corpus, ec)) {
    std::vector<fs::path> names;
    for (auto& e : fs::directory_iterator{corpus})
      if (e.is_regular_file())
        names.push_back(e.path());
    std::sort(names.begin(), names.end());
    for (auto& n : names)
      seeds.push_back(read_file(n));
  }
  generator gen{seed, seeds};
  auto total = files.empty() ? runs : files.size();
  for (std::uint64_t i = 0; i < total; ++i) {
    auto input = files.empty() ? gen.next(i) : read_file(files[i]);
    run_one(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
  std::printf("smtp_session_fuzz: %llu inputs (seed %llu, %zu seeds), no "
              "failure\n",
              static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(seed), seeds.size());
  return 0;
}

#endif
