#include "actors/auth.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <fstream>
#include <map>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "actors/accounts.hpp"
#include "actors/handlers.hpp"
#include "actors/internal/cluster.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "store/typed.hpp"

namespace mantissa::actors {

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::string base64url(const unsigned char* data, std::size_t size) {
  std::string out(sodium_base64_encoded_len(
                    size, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), data, size,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

const caller system_caller{system_role, "auth"};

} // namespace

std::string primary_role(std::string_view address) {
  return "user:" + std::string{address};
}

// -- rate_limiter -------------------------------------------------------------

rate_limiter::rate_limiter(const auth_options& opts, std::size_t max_entries)
  : opts_(opts), max_entries_(std::max<std::size_t>(1, max_entries)) {
}

std::chrono::milliseconds rate_limiter::delay(const std::string& key,
                                              clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key);
  if (i == entries_.end())
    return std::chrono::milliseconds::zero();
  if (now - i->second.last > opts_.forget_after) {
    entries_.erase(i);
    return std::chrono::milliseconds::zero();
  }
  auto over = i->second.failures - opts_.free_failures;
  if (over < 0)
    return std::chrono::milliseconds::zero();
  auto d = opts_.base_delay;
  for (int k = 0; k < over && d < opts_.max_delay; ++k)
    d *= 2;
  return std::min(d, opts_.max_delay);
}

void rate_limiter::failure(const std::string& key, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (entries_.size() >= max_entries_ && entries_.count(key) == 0)
    sweep(now);
  auto& e = entries_[key];
  if (e.failures > 0 && now - e.last > opts_.forget_after)
    e.failures = 0;
  ++e.failures;
  e.last = now;
}

void rate_limiter::success(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.erase(key);
}

std::size_t rate_limiter::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.size();
}

void rate_limiter::sweep(clock::time_point now) {
  for (auto i = entries_.begin(); i != entries_.end();) {
    if (now - i->second.last > opts_.forget_after)
      i = entries_.erase(i);
    else
      ++i;
  }
  // Still full: forget the oldest half rather than grow without bound.
  if (entries_.size() >= max_entries_) {
    std::vector<clock::time_point> times;
    times.reserve(entries_.size());
    for (auto& [k, e] : entries_)
      times.push_back(e.last);
    auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
    std::nth_element(times.begin(), mid, times.end());
    auto cutoff = *mid;
    for (auto i = entries_.begin(); i != entries_.end();) {
      if (i->second.last <= cutoff)
        i = entries_.erase(i);
      else
        ++i;
    }
  }
}

// -- session_table ------------------------------------------------------------

std::string session_table::new_token() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  auto token = base64url(raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  return token;
}

std::string session_table::hash_token(std::string_view token) {
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h,
                     reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  char hex[2 * sizeof h + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return std::string{hex, 2 * sizeof h};
}

bool session_table::live(const entry& e, std::int64_t now_ms) const {
  return now_ms - e.s.last_seen_ms <= opts_.session_idle.count()
         && now_ms - e.s.created_ms <= opts_.session_lifetime.count();
}

void session_table::add(const std::string& token_hash, session s,
                        std::int64_t item_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  by_hash_[token_hash] = entry{std::move(s), item_id, false};
}

std::optional<session> session_table::validate(std::string_view token,
                                               std::int64_t now_ms) {
  if (token.empty() || token.size() > 256)
    return std::nullopt;
  auto h = hash_token(token);
  std::lock_guard<std::mutex> guard{mtx_};
  // The map is keyed by the token's hash, which a guesser cannot steer;
  // the stored hash is compared once more in constant time.
  auto i = by_hash_.find(h);
  if (i == by_hash_.end()
      || sodium_memcmp(i->first.data(), h.data(), h.size()) != 0)
    return std::nullopt;
  if (!live(i->second, now_ms)) {
    if (i->second.item_id != 0)
      dropped_.push_back(i->second.item_id);
    by_hash_.erase(i);
    return std::nullopt;
  }
  i->second.s.last_seen_ms = now_ms;
  i->second.touched = true;
  return i->second.s;
}

std::optional<std::int64_t> session_table::remove(std::string_view token) {
  auto h = hash_token(token);
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = by_hash_.find(h);
  if (i == by_hash_.end())
    return std::nullopt;
  auto id = i->second.item_id;
  by_hash_.erase(i);
  return id;
}

std::vector<std::int64_t>
session_table::remove_address(std::string_view address) {
  std::vector<std::int64_t> ids;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = by_hash_.begin(); i != by_hash_.end();) {
    if (i->second.s.address == address) {
      ids.push_back(i->second.item_id);
      i = by_hash_.erase(i);
    } else {
      ++i;
    }
  }
  return ids;
}

void session_table::set_item_id(const std::string& token_hash,
                                std::int64_t item_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = by_hash_.find(token_hash); i != by_hash_.end())
    i->second.item_id = item_id;
}

session_table::sweep_result session_table::sweep(std::int64_t now_ms) {
  sweep_result out;
  std::lock_guard<std::mutex> guard{mtx_};
  out.expired = std::move(dropped_);
  dropped_.clear();
  for (auto i = by_hash_.begin(); i != by_hash_.end();) {
    if (!live(i->second, now_ms)) {
      if (i->second.item_id != 0)
        out.expired.push_back(i->second.item_id);
      i = by_hash_.erase(i);
      continue;
    }
    if (i->second.touched && i->second.item_id != 0)
      out.touched.emplace_back(i->second.item_id, i->second.s.last_seen_ms);
    i->second.touched = false;
    ++i;
  }
  return out;
}

std::size_t session_table::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return by_hash_.size();
}

// -- authenticator ------------------------------------------------------------

struct authenticator::impl {
  struct job {
    std::string username;
    std::string password;
    std::string client;
    login_handler done;
  };

  impl(node& nd, auth_options o, std::string key)
    : n(nd), opts(o), node_key(std::move(key)), limiter(o), table(o) {
  }

  node& n;
  auth_options opts;
  std::string node_key;
  std::string cluster_key;  // set before the first login, then read-only
  rate_limiter limiter;
  session_table table;

  std::mutex mtx;
  std::condition_variable cv;
  std::multimap<clock_type::time_point, job> jobs;  // by not-before time
  bool stopping = false;
  clock_type::time_point next_sweep = clock_type::now() + std::chrono::minutes(1);
  std::vector<std::thread> workers;

  void start() {
    auto k = std::max(1u, opts.workers);
    for (unsigned i = 0; i < k; ++i)
      workers.emplace_back([this] { work(); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopping = true;
    }
    cv.notify_all();
    for (auto& t : workers)
      t.join();
    workers.clear();
    std::multimap<clock_type::time_point, job> left;
    {
      std::lock_guard<std::mutex> guard{mtx};
      left.swap(jobs);
    }
    for (auto& [at, j] : left) {
      sodium_memzero(j.password.data(), j.password.size());
      j.done(login_result{false, {}, {}, error_code::busy,
                          "the node is shutting down"});
    }
  }

  void work() {
    std::unique_lock<std::mutex> lock{mtx};
    while (!stopping) {
      auto now = clock_type::now();
      if (now >= next_sweep) {
        next_sweep = now + std::chrono::minutes(1);
        lock.unlock();
        sweep();
        lock.lock();
        continue;
      }
      auto wake = next_sweep;
      if (!jobs.empty()) {
        if (jobs.begin()->first <= now) {
          auto j = std::move(jobs.begin()->second);
          jobs.erase(jobs.begin());
          lock.unlock();
          auto r = check(j);
          sodium_memzero(j.password.data(), j.password.size());
          j.done(std::move(r));
          lock.lock();
          continue;
        }
        wake = std::min(wake, jobs.begin()->first);
      }
      cv.wait_until(lock, wake);
    }
  }

  static login_result refused() {
    return {false, {}, {}, error_code::unauthorized,
            "wrong username or password"};
  }

  void failed(const job& j) {
    auto now = clock_type::now();
    limiter.failure("account:" + j.username, now);
    limiter.failure("client:" + j.client, now);
  }

  static bool same_key(const std::string& given, const std::string& key) {
    return !key.empty() && given.size() == key.size()
           && sodium_memcmp(given.data(), key.data(), key.size()) == 0;
  }

  login_result check(job& j) {
    if (j.username == "system") {
      bool by_cluster = same_key(j.password, cluster_key);
      bool ok = by_cluster || same_key(j.password, node_key);
      if (!ok) {
        failed(j);
        return refused();
      }
      limiter.success("account:" + j.username);
      auto r = open_session(session{"system", system_role, 0, 0}, false);
      r.by_cluster_key = by_cluster;
      return r;
    }
    std::string hash;
    std::string address;
    if (auto addr = parse_address(j.username); addr && !addr->is_offering()) {
      auto lookup = [&](const std::string& where) {
        return n.wait([&](reply_handler done) {
          n.run(system_caller, where, "mantissa.login_lookup",
                nlohmann::json{{"username", to_string(*addr)}}.dump(),
                std::move(done));
        });
      };
      auto r = lookup(internal::accounts_address);
      if (!r.ok && r.code == error_code::store_unavailable) {
        // The seed of the cluster is out of reach: the user's own store
        // holds a copy of its account (kept in sync), good enough to check
        // a login by the account's address.
        auto own = lookup(to_string(*addr));
        if (own.ok)
          r = std::move(own);
      }
      if (!r.ok)
        return {false, {}, {}, r.code, "cannot check the login: " + r.message};
      auto found = nlohmann::json::parse(r.body, nullptr, false);
      if (found.is_object()) {
        hash = found.value("hash", "");
        address = found.value("address", "");
      }
    }
    if (!verify_or_dummy(hash, j.password)) {
      failed(j);
      return refused();
    }
    limiter.success("account:" + j.username);
    limiter.success("client:" + j.client);
    return open_session(session{address, primary_role(address), 0, 0}, true);
  }

  login_result open_session(session s, bool persist) {
    auto now = unix_ms();
    s.created_ms = now;
    s.last_seen_ms = now;
    auto token = session_table::new_token();
    auto h = session_table::hash_token(token);
    std::int64_t id = 0;
    if (persist) {
      nlohmann::json rec{{"token_hash", h},
                         {"address", s.address},
                         {"created", now},
                         {"last_seen", now}};
      auto r = n.wait([&](reply_handler done) {
        n.put(system_caller, "site", "mantissa.session", rec.dump(),
              std::move(done));
      });
      if (!r.ok)
        return {false, {}, {}, r.code, "cannot store the session: " + r.message};
      auto item = nlohmann::json::parse(r.body, nullptr, false);
      if (item.is_object())
        id = item.value("id", std::int64_t{0});
    }
    table.add(h, s, id);
    return {true, std::move(token), std::move(s), {}, {}};
  }

  void forget(const std::vector<std::int64_t>& ids) {
    for (auto id : ids)
      if (id != 0)
        n.remove(system_caller, "site", "mantissa.session", id, [](reply) {});
  }

  void sweep() {
    auto r = table.sweep(unix_ms());
    forget(r.expired);
    for (auto& [id, seen] : r.touched)
      n.update(system_caller, "site", "mantissa.session", id,
               nlohmann::json{{"last_seen", seen}}.dump(), [](reply) {});
  }
};

void authenticator::set_cluster_key(std::string key) {
  impl_->cluster_key = std::move(key);
}

authenticator::authenticator(node& n, auth_options opts, std::string node_key)
  : impl_(std::make_unique<impl>(n, opts, std::move(node_key))) {
  impl_->start();
}

authenticator::~authenticator() {
  impl_->stop();
}

void authenticator::shutdown() {
  impl_->stop();
}

bool authenticator::load(std::string& err) {
  auto& d = *impl_;
  auto r = d.n.wait([&](reply_handler done) {
    d.n.query(system_caller, "site", R"({"type":"mantissa.session"})",
              std::move(done));
  });
  if (!r.ok) {
    err = "cannot load sessions: " + r.message;
    return false;
  }
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    err = "cannot load sessions: unexpected reply";
    return false;
  }
  for (auto& it : j["items"]) {
    session s{it.value("address", ""), "", it.value("created", std::int64_t{0}),
              it.value("last_seen", std::int64_t{0})};
    s.role = primary_role(s.address);
    d.table.add(it.value("token_hash", ""), std::move(s),
                it.value("id", std::int64_t{0}));
  }
  sweep();
  return true;
}

void authenticator::login(std::string username, std::string password,
                          std::string client, login_handler done) {
  auto& d = *impl_;
  // Usernames match case-insensitively: count failures per lower-cased name.
  std::transform(username.begin(), username.end(), username.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (username.size() > 512)
    username.resize(512);
  auto now = clock_type::now();
  auto wait = std::max(d.limiter.delay("account:" + username, now),
                       d.limiter.delay("client:" + client, now));
  {
    std::lock_guard<std::mutex> guard{d.mtx};
    if (!d.stopping && d.jobs.size() < d.opts.max_pending) {
      d.jobs.emplace(now + wait, impl::job{std::move(username),
                                           std::move(password),
                                           std::move(client), std::move(done)});
      d.cv.notify_one();
      return;
    }
  }
  sodium_memzero(password.data(), password.size());
  done(login_result{false, {}, {}, error_code::busy,
                    "too many logins in progress; try again later"});
}

std::optional<session> authenticator::validate(std::string_view token) {
  return impl_->table.validate(token, unix_ms());
}

bool authenticator::logout(std::string_view token) {
  auto id = impl_->table.remove(token);
  if (!id)
    return false;
  impl_->forget({*id});
  return true;
}

std::size_t authenticator::revoke(std::string_view address) {
  auto ids = impl_->table.remove_address(address);
  impl_->forget(ids);
  return ids.size();
}

void authenticator::sweep() {
  impl_->sweep();
}

const auth_options& authenticator::options() const noexcept {
  return impl_->opts;
}

session_table& authenticator::sessions() noexcept {
  return impl_->table;
}

// -- stored sessions and the login lookup -------------------------------------

namespace {

struct session_record {
  store::item_id id = 0;
  std::string token_hash;
  std::string address;
  std::int64_t created = 0;
  std::int64_t last_seen = 0;
};

const store::item_type<session_record>& session_item_type() {
  static const auto t
    = store::item_type<session_record>{"mantissa.session", 1}
        .attribute("token_hash", &session_record::token_hash,
                   {.indexed = true, .max_size = 64})
        .attribute("address", &session_record::address,
                   {.indexed = true, .max_size = 320})
        .attribute("created", &session_record::created)
        .attribute("last_seen", &session_record::last_seen);
  return t;
}

} // namespace

store::result<void> register_auth_types(store::type_registry& registry) {
  return registry.add(session_item_type().decl());
}

store::result<void> register_auth_handlers(handler_registry& handlers) {
  // Site store only, system role only: the password hash of a usable
  // account with a verified login method at `username`, or empty strings.
  return handlers.add(
    "mantissa.login_lookup",
    [](store::store& site, const nlohmann::json& args,
       const caller& who) -> store::result<nlohmann::json> {
      if (who.role != system_role)
        return store::error{store::errc::forbidden, "system role only"};
      nlohmann::json out{{"address", ""}, {"hash", ""}};
      if (!args.is_object() || !args.contains("username")
          || !args["username"].is_string())
        return out;
      auto addr = parse_address(args["username"].get<std::string>());
      if (!addr)
        return out;
      auto acct = find_account_by_login(site, *addr);
      if (!acct) {
        if (acct.code() == store::errc::no_such_item)
          return out;
        return std::move(acct).error_value();
      }
      if (!acct->disabled && !acct->artificial()) {
        out["address"] = to_string(acct->addr);
        out["hash"] = acct->password_hash;
      }
      return out;
    });
}

// -- the node key -------------------------------------------------------------

std::string load_node_key(const std::string& data_dir, std::string& err) {
  return load_key_file(data_dir + "/node.key", true, err);
}

std::string load_key_file(const std::string& path, bool create,
                          std::string& err) {
  if (!create && ::access(path.c_str(), R_OK) != 0) {
    err = "cannot read " + path + ": " + std::strerror(errno);
    return {};
  }
  int fd = create ? ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                           0600)
                  : -1;
  if (fd >= 0) {
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    auto key = base64url(raw, sizeof raw) + "\n";
    sodium_memzero(raw, sizeof raw);
    bool ok = ::write(fd, key.data(), key.size())
              == static_cast<ssize_t>(key.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok) {
      err = "cannot write " + path;
      ::unlink(path.c_str());
      return {};
    }
  } else if (create && errno != EEXIST) {
    err = "cannot create " + path + ": " + std::strerror(errno);
    return {};
  }
  std::ifstream in{path};
  std::string key;
  std::getline(in, key);
  if (key.size() < 32) {
    err = path + " holds no valid key (delete it to make a new one)";
    return {};
  }
  return key;
}

} // namespace mantissa::actors
