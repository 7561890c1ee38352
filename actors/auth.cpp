#include "actors/auth.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <thread>
#include <unordered_map>
#include <variant>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include "actors/accounts.hpp"
#include "actors/handlers.hpp"
#include "actors/internal/cluster.hpp"
#include "wire/protocol.hpp"
#include "log/log.hpp"
#include "store/typed.hpp"

namespace mantissa::actors {

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

const caller system_caller{system_role, "auth"};

} // namespace

std::string primary_role(std::string_view address) {
  return "user:" + std::string{address};
}

// -- authenticator ------------------------------------------------------------

struct authenticator::impl {
  struct job {
    std::string username;
    std::string password;
    std::string client;
    login_handler done;
    login_channel channel = login_channel::web;
  };

  impl(store_requests& st, auth_options o, std::string key)
    : stores(st), opts(o), node_key(std::move(key)), limiter(o), table(o) {
  }

  store_requests& stores;
  auth_options opts;
  /// Sessions read by `load`, until `verify_loaded` checks them.
  struct stored_session {
    std::string token_hash;
    session s;
    std::int64_t id = 0;
    std::string tag;
  };
  std::vector<stored_session> loaded;
  std::string node_key;
  std::string cluster_key;  // set before the first login, then read-only
  rate_limiter limiter;
  session_table table;

  std::mutex mtx;
  std::condition_variable cv;
  /// Logins waiting for a worker, per client address, each client's by
  /// not-before time. Workers serve the clients in turn (`turns`), so one
  /// client's pile of attempts delays that client, not the others.
  std::unordered_map<std::string,
                     std::multimap<clock_type::time_point, job>> queues;
  std::deque<std::string> turns;  // clients with waiting logins, next first
  std::size_t queued = 0;

  /// The next login whose time has come, taking clients in turn; or the
  /// time the earliest one comes (under `mtx`).
  std::variant<job, clock_type::time_point> next_job(clock_type::time_point now,
                                                     clock_type::time_point wake) {
    for (auto t = turns.begin(); t != turns.end(); ++t) {
      auto q = queues.find(*t);
      auto& mine = q->second;
      if (mine.begin()->first > now) {
        wake = std::min(wake, mine.begin()->first);
        continue;
      }
      auto j = std::move(mine.begin()->second);
      mine.erase(mine.begin());
      --queued;
      auto client = std::move(*t);
      turns.erase(t);
      if (mine.empty())
        queues.erase(q);
      else
        turns.push_back(std::move(client));
      return j;
    }
    return wake;
  }
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
    std::unordered_map<std::string, std::multimap<clock_type::time_point, job>>
      left;
    {
      std::lock_guard<std::mutex> guard{mtx};
      left.swap(queues);
      turns.clear();
      queued = 0;
    }
    for (auto& [client, mine] : left)
      for (auto& [at, j] : mine) {
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
      auto next = next_job(now, next_sweep);
      if (auto* j = std::get_if<job>(&next)) {
        lock.unlock();
        auto r = check(*j);
        sodium_memzero(j->password.data(), j->password.size());
        j->done(std::move(r));
        lock.lock();
        continue;
      }
      auto wake = std::get<clock_type::time_point>(next);
      cv.wait_until(lock, wake);
    }
  }

  static login_result refused() {
    return {false, {}, {}, error_code::unauthorized,
            "wrong username or password"};
  }

  /// The rate limiter's keys of a login: the client, the account as asked
  /// for by that client, and the account from every client.
  static std::string client_key(const std::string& client) {
    return "client:" + client;
  }
  static std::string pair_key(const std::string& user,
                              const std::string& client) {
    return "account:" + user + "\n" + client;
  }
  static std::string account_key(const std::string& user) {
    return "account:" + user;
  }

  void failed(const job& j) {
    auto now = clock_type::now();
    limiter.failure(client_key(j.client), now);
    limiter.failure(pair_key(j.username, j.client), now);
    limiter.failure(account_key(j.username), now);
  }

  /// How long a login of `user` from `client` waits before it is checked.
  std::chrono::milliseconds delay_of(const std::string& user,
                                     const std::string& client,
                                     clock_type::time_point now) {
    return std::max({limiter.delay(client_key(client), now),
                     limiter.delay(pair_key(user, client), now),
                     limiter.delay(account_key(user), now,
                                   opts.account_free_failures)});
  }

  static bool same_key(const std::string& given, const std::string& key) {
    return !key.empty() && given.size() == key.size()
           && sodium_memcmp(given.data(), key.data(), key.size()) == 0;
  }

  /// What the accounts say of a login name: the account's address and
  /// password hash, both empty when no usable account answers to it.
  struct account_answer {
    bool ok = true;
    error_code code = error_code::internal;
    std::string message;
    std::string address;
    std::string hash;
  };

  account_answer lookup_account(const std::string& username) {
    account_answer out;
    auto addr = parse_address(username);
    if (!addr || addr->is_offering())
      return out;
    auto lookup = [&](const std::string& where) {
      return wait_for([&](reply_handler done) {
        stores.run(system_caller, where, "mantissa.login_lookup",
              nlohmann::json{{"username", to_string(*addr)}}.dump(),
              std::move(done));
      });
    };
    auto r = lookup(internal::accounts_address);
    bool from_own_store = false;
    if (!r.ok && r.code == error_code::store_unavailable) {
      // The seed of the cluster is out of reach: the user's own store
      // holds a copy of its account (kept in sync, written only by the
      // node), good enough to check a login by the account's address.
      auto own = lookup(to_string(*addr));
      if (own.ok) {
        r = std::move(own);
        from_own_store = true;
      }
    }
    if (!r.ok)
      return {false, r.code, r.message, {}, {}};
    auto found = nlohmann::json::parse(r.body, nullptr, false);
    if (found.is_object()) {
      out.hash = found.value("hash", "");
      out.address = found.value("address", "");
    }
    // A store answers for its own account only: a copy that names another
    // account proves nothing.
    if (from_own_store && out.address != to_string(*addr)) {
      out.hash.clear();
      out.address.clear();
    }
    return out;
  }

  login_result check(job& j) {
    if (j.username == "system" && j.channel == login_channel::port) {
      bool by_cluster = same_key(j.password, cluster_key);
      bool ok = by_cluster || same_key(j.password, node_key);
      if (!ok)
        return refused();
      auto r = open_session(session{"system", system_role, 0, 0}, false);
      r.by_cluster_key = by_cluster;
      return r;
    }
    auto found = lookup_account(j.username);
    if (!found.ok)
      return {false, {}, {}, found.code, "cannot check the login: " + found.message};
    auto& hash = found.hash;
    auto& address = found.address;
    if (!verify_or_dummy(hash, j.password)) {
      failed(j);
      return refused();
    }
    limiter.success(account_key(j.username));
    limiter.success(pair_key(j.username, j.client));
    limiter.success(client_key(j.client));
    return open_session(session{address, primary_role(address), 0, 0},
                        j.channel != login_channel::port, password_tag(hash));
  }

  /// Opens a session: stored (it outlives a restart) for a bearer token,
  /// or bound to the connection of a login on the port.
  login_result open_session(session s, bool persist, std::string tag = {}) {
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
                         {"last_seen", now},
                         {"password_tag", std::move(tag)}};
      auto r = wait_for([&](reply_handler done) {
        stores.put(system_caller, "site", "mantissa.session", rec.dump(),
              std::move(done));
      });
      if (!r.ok)
        return {false, {}, {}, r.code, "cannot store the session: " + r.message};
      auto item = nlohmann::json::parse(r.body, nullptr, false);
      if (item.is_object())
        id = item.value("id", std::int64_t{0});
    }
    if (persist) {
      table.add(h, s, id);
      return {true, std::move(token), std::move(s), {}, {}};
    }
    auto ended = std::make_shared<std::atomic<bool>>(false);
    table.add_bound(h, s, ended);
    login_result r{true, std::move(token), std::move(s), {}, {}};
    r.ended = std::move(ended);
    return r;
  }

  void forget(const std::vector<std::int64_t>& ids) {
    for (auto id : ids)
      if (id != 0)
        stores.remove(system_caller, "site", "mantissa.session", id,
                      [](reply) {});
  }

  void sweep() {
    auto r = table.sweep(unix_ms());
    forget(r.expired);
    for (auto& [id, seen] : r.touched)
      stores.update(system_caller, "site", "mantissa.session", id,
               nlohmann::json{{"last_seen", seen}}.dump(), [](reply) {});
  }
};

void authenticator::set_cluster_key(std::string key) {
  impl_->cluster_key = std::move(key);
}

authenticator::authenticator(store_requests& stores, auth_options opts,
                             std::string node_key)
  : impl_(std::make_unique<impl>(stores, opts, std::move(node_key))) {
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
  auto r = wait_for([&](reply_handler done) {
    d.stores.query(system_caller, "site", R"({"type":"mantissa.session"})",
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
  d.loaded.clear();
  for (auto& it : j["items"]) {
    impl::stored_session st;
    st.s = session{it.value("address", ""), "",
                   it.value("created", std::int64_t{0}),
                   it.value("last_seen", std::int64_t{0})};
    st.s.role = primary_role(st.s.address);
    st.token_hash = it.value("token_hash", "");
    st.id = it.value("id", std::int64_t{0});
    st.tag = it.value("password_tag", "");
    d.loaded.push_back(std::move(st));
  }
  return true;
}

void authenticator::verify_loaded() {
  auto& d = *impl_;
  auto loaded = std::move(d.loaded);
  d.loaded.clear();
  // Each account once: its password now, or nothing (disabled, gone).
  std::unordered_map<std::string, impl::account_answer> accounts;
  std::size_t kept = 0;
  std::size_t ended = 0;
  std::size_t unknown = 0;
  std::vector<std::int64_t> stale;
  for (auto& st : loaded) {
    auto a = accounts.find(st.s.address);
    if (a == accounts.end())
      a = accounts.emplace(st.s.address, d.lookup_account(st.s.address)).first;
    auto& found = a->second;
    if (!found.ok) {
      // The accounts cannot be read now: the session is not brought back
      // (nor deleted; the next start checks it again).
      ++unknown;
      continue;
    }
    bool same = !found.hash.empty() && found.address == st.s.address
                && !st.tag.empty() && password_tag(found.hash) == st.tag;
    if (!same) {
      stale.push_back(st.id);
      ++ended;
      continue;
    }
    d.table.add(st.token_hash, std::move(st.s), st.id);
    ++kept;
  }
  d.forget(stale);
  if (!loaded.empty())
    log::info("auth", "sessions brought back",
              {{"kept", std::to_string(kept)},
               {"ended", std::to_string(ended)},
               {"unchecked", std::to_string(unknown)}});
  sweep();
}

namespace {

/// The rate limiter's and the queue's name of a client: an IPv6 address
/// stands for its /64 (one host holds a whole /64 as easily as one
/// address); anything else as it is.
std::string client_name(std::string client) {
  in6_addr a6{};
  if (client.find(':') == std::string::npos
      || ::inet_pton(AF_INET6, client.c_str(), &a6) != 1)
    return client;
  static constexpr unsigned char v4_mapped[12]
    = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(a6.s6_addr, v4_mapped, 12) == 0) {
    char buf[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, a6.s6_addr + 12, buf, sizeof(buf));
    return buf;
  }
  std::memset(a6.s6_addr + 8, 0, 8);
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
  return std::string{buf} + "/64";
}

} // namespace

void authenticator::login(std::string username, std::string password,
                          std::string client, login_handler done,
                          login_channel channel) {
  auto& d = *impl_;
  // Usernames match case-insensitively: count failures per lower-cased name.
  std::transform(username.begin(), username.end(), username.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (username.size() > 512)
    username.resize(512);
  client = client_name(std::move(client));
  if (username == "system" && channel == login_channel::port) {
    // The node key and the cluster key are 256 random bits: no guessing to
    // slow down, and no argon2id to queue. Checked at once, so that no
    // stranger's failures can delay the node's tools or its peers.
    impl::job j{std::move(username), std::move(password), std::move(client),
                {}, channel};
    auto r = d.check(j);
    sodium_memzero(j.password.data(), j.password.size());
    done(std::move(r));
    return;
  }
  auto now = clock_type::now();
  auto wait = d.delay_of(username, client, now);
  {
    std::lock_guard<std::mutex> guard{d.mtx};
    auto q = d.queues.find(client);
    std::size_t mine = q == d.queues.end() ? 0 : q->second.size();
    if (!d.stopping && d.queued < d.opts.max_pending
        && mine < d.opts.max_pending_per_client) {
      if (q == d.queues.end()) {
        q = d.queues.emplace(client, decltype(q->second){}).first;
        d.turns.push_back(client);
      }
      q->second.emplace(now + wait,
                        impl::job{std::move(username), std::move(password),
                                  std::move(client), std::move(done), channel});
      ++d.queued;
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
  /// `password_tag` of the account's password hash at login: a session
  /// whose account has another password since is not brought back.
  std::string password_tag;
};

/// Version 1 had no password tag: such sessions are not brought back by a
/// restart (the upgrade leaves the tag empty, which matches no password).
const store::item_type<session_record>& session_item_type_v1() {
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

const store::item_type<session_record>& session_item_type() {
  static const auto t
    = store::item_type<session_record>{"mantissa.session", 2}
        .attribute("token_hash", &session_record::token_hash,
                   {.indexed = true, .max_size = 64})
        .attribute("address", &session_record::address,
                   {.indexed = true, .max_size = 320})
        .attribute("created", &session_record::created)
        .attribute("last_seen", &session_record::last_seen)
        .attribute("password_tag", &session_record::password_tag,
                   {.max_size = 64});
  return t;
}

} // namespace

std::string password_tag(std::string_view hash) {
  if (hash.empty())
    return {};
  unsigned char h[16];
  crypto_generichash(h, sizeof h,
                     reinterpret_cast<const unsigned char*>(hash.data()),
                     hash.size(), nullptr, 0);
  char hex[2 * sizeof h + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return std::string{hex, 2 * sizeof h};
}

store::result<std::int64_t> end_stored_sessions(store::store& site,
                                                std::string_view address) {
  return site.remove_where(
    "mantissa.session",
    store::cmp("address", store::compare_op::eq,
               store::value{std::string{address}}));
}

store::result<void> register_auth_types(store::type_registry& registry) {
  MANTISSA_TRY(registry.add(session_item_type().decl()));
  MANTISSA_TRY(registry.add_legacy(session_item_type_v1().decl()));
  return registry.add_copy_upgrader("mantissa.session", 1, 2);
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
    // 256 random bits, written like a session token.
    auto key = session_table::new_token() + "\n";
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
