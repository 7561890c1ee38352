#include "actors/accounts.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <tuple>
#include <utility>

#include <sodium.h>

namespace mantissa::actors {

namespace {

using store::errc;
using store::error;

// -- validation ---------------------------------------------------------------

/// `text` quoted for an error message: bytes outside printable ASCII as
/// `\xNN`, cut after 80 bytes.
std::string printable(std::string_view text) {
  std::string out = "\"";
  std::size_t n = 0;
  for (unsigned char c : text) {
    if (++n > 80) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '"';
  return out;
}

std::string lower(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

error bad_name(std::string_view what, std::string_view part,
               std::string_view problem) {
  return {errc::invalid_name, std::string{what} + " " + printable(part) + " "
                                + std::string{problem}};
}

/// The checks every part of an address shares: those that keep it a single,
/// harmless path component.
store::result<void> check_component(std::string_view what,
                                    std::string_view part,
                                    std::size_t max_size) {
  if (part.empty())
    return error{errc::invalid_name, std::string{what} + " is empty"};
  for (unsigned char c : part) {
    if (c == 0)
      return bad_name(what, part, "contains a NUL byte");
    if (c < 0x20 || c == 0x7f)
      return bad_name(what, part, "contains a control character");
    if (c >= 0x80)
      return bad_name(what, part, "contains a non-ASCII character");
    if (c == ' ')
      return bad_name(what, part, "contains a space");
  }
  if (part.find("..") != std::string_view::npos)
    return bad_name(what, part, "contains '..'");
  if (part.find_first_of("/\\") != std::string_view::npos)
    return bad_name(what, part, "contains a path separator");
  if (part.front() == '.')
    return bad_name(what, part, "starts with '.'");
  if (part.back() == '.')
    return bad_name(what, part, "ends with '.'");
  if (part.size() > max_size)
    return bad_name(what, part,
                    "is longer than " + std::to_string(max_size) + " bytes");
  return {};
}

store::result<void> check_localpart(std::string_view what,
                                    std::string_view part) {
  MANTISSA_TRY(check_component(what, part, max_localpart_size));
  for (char c : part)
    if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '+' && c != '-')
      return bad_name(what, part,
                      std::string{"contains '"} + c
                        + "' (allowed: a-z 0-9 . _ + -)");
  return {};
}

store::result<void> check_domain(std::string_view part) {
  MANTISSA_TRY(check_component("domain", part, max_domain_size));
  std::size_t start = 0;
  for (;;) {
    auto dot = part.find('.', start);
    auto label = part.substr(start, dot == std::string_view::npos
                                      ? std::string_view::npos
                                      : dot - start);
    if (label.size() > max_label_size)
      return bad_name("domain", part,
                      "has a label longer than "
                        + std::to_string(max_label_size) + " bytes");
    for (char c : label)
      if (!is_lower_alnum(c) && c != '-')
        return bad_name("domain", part,
                        std::string{"contains '"} + c
                          + "' (labels allow a-z 0-9 -)");
    if (label.front() == '-' || label.back() == '-')
      return bad_name("domain", part,
                      "has a label starting or ending with '-'");
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return {};
}

// -- passwords ----------------------------------------------------------------

bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

void wipe(std::optional<std::string>& password) {
  if (password && !password->empty())
    sodium_memzero(password->data(), password->size());
}

/// A hash of a password nobody knows, made with the current parameters:
/// verifying against it costs what verifying a real account costs.
const std::string& dummy_hash() {
  static const std::string hash = [] {
    auto h = hash_password("mantissa: no such account");
    return h ? std::move(*h) : std::string{};
  }();
  return hash;
}

store::result<std::string> hash_optional(std::optional<std::string>& password) {
  if (!password)
    return std::string{};
  auto h = hash_password(*password);
  wipe(password);
  return h;
}

/// The normalized `addr` and the hash of `password` ("" for none), the
/// password wiped in every case; an offering's account cannot have one.
store::result<std::pair<address, std::string>>
checked_credentials(const address& addr, std::optional<std::string>& password) {
  auto a = normalize(addr);
  if (!a) {
    wipe(password);
    return std::move(a).error_value();
  }
  if (a->is_offering() && password) {
    wipe(password);
    return error{errc::invalid_value, "offering account " + to_string(*a)
                                        + " cannot have a password"};
  }
  auto hash = hash_optional(password);
  if (!hash)
    return std::move(hash).error_value();
  return std::pair{std::move(*a), std::move(*hash)};
}

// -- items --------------------------------------------------------------------

store::timestamp now() {
  using namespace std::chrono;
  return store::timestamp{
    duration_cast<microseconds>(system_clock::now().time_since_epoch())
      .count()};
}

store::condition address_is(const address& a) {
  return store::and_(
    {store::cmp("localpart", store::compare_op::eq, store::value{a.localpart}),
     store::cmp("domain", store::compare_op::eq, store::value{a.domain})});
}

store::condition methods_of(store::item_id account_id) {
  return store::cmp("account", store::compare_op::eq,
                    store::value{store::reference{account_id}});
}

const std::vector<store::sort_key>& method_order() {
  static const std::vector<store::sort_key> order{
    {"protocol", false}, {"domain", false}, {"localpart", false}};
  return order;
}

store::result<void> check_protocol(std::string_view protocol) {
  if (protocol.empty() || protocol.size() > 32
      || !std::all_of(protocol.begin(), protocol.end(), [](char c) {
           return is_lower_alnum(c) || c == '_' || c == '-';
         }))
    return error{errc::invalid_name,
                 "login protocol " + printable(protocol)
                   + " must be 1-32 characters of a-z 0-9 _ -"};
  return {};
}

store::result<login_method> checked_method(const login_method& m) {
  auto addr = normalize(m.addr);
  if (!addr)
    return std::move(addr).error_value();
  if (addr->is_offering())
    return error{errc::invalid_value, "login method "
                                        + printable(m.addr.localpart)
                                        + " has no domain"};
  MANTISSA_TRY(check_protocol(m.protocol));
  login_method out = m;
  out.addr = std::move(*addr);
  return out;
}

login_method to_method(const login_method_record& r) {
  return {{r.localpart, r.domain}, r.protocol, r.internal, r.verified};
}

login_method_record to_record(const login_method& m,
                              store::item_id account_id) {
  login_method_record r;
  r.account = store::reference{account_id};
  r.localpart = m.addr.localpart;
  r.domain = m.addr.domain;
  r.protocol = m.protocol;
  r.internal = m.internal;
  r.verified = m.verified;
  return r;
}

account to_account(const account_record& r, std::vector<login_method> methods) {
  account a;
  a.addr = {r.localpart, r.domain};
  a.disabled = r.disabled;
  a.password_hash = r.password_hash;
  a.created = r.created;
  a.revision = r.revision;
  a.login_methods = std::move(methods);
  return a;
}

store::result<std::optional<account_record>> find_record(store::store& s,
                                                         const address& addr) {
  store::query q;
  q.where = address_is(addr);
  q.limit = 1;
  auto found = account_item_type().select(s, std::move(q));
  if (!found)
    return std::move(found).error_value();
  if (found->empty())
    return std::optional<account_record>{};
  return std::optional<account_record>{std::move(found->front())};
}

store::result<std::vector<login_method_record>>
find_methods_at(store::store& s, const address& addr) {
  store::query q;
  q.where = address_is(addr);
  return login_method_item_type().select(s, std::move(q));
}

store::result<std::vector<login_method>> load_methods(store::store& s,
                                                      store::item_id id) {
  store::query q;
  q.where = methods_of(id);
  q.sort = method_order();
  auto records = login_method_item_type().select(s, std::move(q));
  if (!records)
    return std::move(records).error_value();
  std::vector<login_method> out;
  out.reserve(records->size());
  for (auto& r : *records)
    out.push_back(to_method(r));
  return out;
}

store::result<account> load_account(store::store& s, const account_record& r) {
  auto methods = load_methods(s, r.id);
  if (!methods)
    return std::move(methods).error_value();
  return to_account(r, std::move(*methods));
}

error no_account(const address& addr) {
  return {errc::no_such_item, "no account " + to_string(addr)};
}

/// Runs `change` on the account at `addr` in one transaction; when it
/// reports a change, bumps the revision and writes the account back.
template<class F>
store::result<account> modify(store::store& site, const address& addr,
                              F&& change) {
  auto a = normalize(addr);
  if (!a)
    return std::move(a).error_value();
  return site.transact([&]() -> store::result<account> {
    auto found = find_record(site, *a);
    if (!found)
      return std::move(found).error_value();
    if (!*found)
      return no_account(*a);
    auto& record = **found;
    store::result<bool> changed = change(record);
    if (!changed)
      return std::move(changed).error_value();
    if (*changed) {
      ++record.revision;
      MANTISSA_TRY(account_item_type().update(site, record));
    }
    return load_account(site, record);
  });
}

} // namespace

// -- addresses ----------------------------------------------------------------

store::result<address> normalize(const address& addr) {
  address out{lower(addr.localpart), lower(addr.domain)};
  if (out.domain.empty()) {
    MANTISSA_TRY(check_localpart("offering name", out.localpart));
  } else {
    MANTISSA_TRY(check_localpart("localpart", out.localpart));
    MANTISSA_TRY(check_domain(out.domain));
  }
  return out;
}

store::result<address> parse_address(std::string_view text) {
  if (text.empty())
    return error{errc::invalid_name, "address is empty"};
  auto at = text.find('@');
  if (at == std::string_view::npos)
    return normalize(address{std::string{text}, {}});
  if (text.find('@', at + 1) != std::string_view::npos)
    return bad_name("address", text, "contains more than one '@'");
  if (at + 1 == text.size())
    return bad_name("address", text, "has an empty domain");
  if (at == 0)
    return bad_name("address", text, "has an empty localpart");
  return normalize(
    address{std::string{text.substr(0, at)}, std::string{text.substr(at + 1)}});
}

std::string to_string(const address& addr) {
  if (addr.domain.empty())
    return addr.localpart;
  return addr.localpart + "@" + addr.domain;
}

std::filesystem::path store_path(const std::filesystem::path& data_dir,
                                 const address& addr) {
  if (addr.domain.empty())
    return data_dir / "apps" / (addr.localpart + ".sqlite");
  return data_dir / "users" / addr.domain / (addr.localpart + ".sqlite");
}

std::filesystem::path site_path(const std::filesystem::path& data_dir) {
  return data_dir / "site.sqlite";
}

// -- passwords ----------------------------------------------------------------

const unsigned long long password_opslimit
  = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
const std::size_t password_memlimit
  = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;

store::result<std::string> hash_password(std::string_view password) {
  if (password.empty())
    return error{errc::invalid_value, "the password is empty"};
  if (password.size() > max_password_size)
    return error{errc::invalid_value, "the password is longer than "
                                        + std::to_string(max_password_size)
                                        + " bytes"};
  if (!sodium_ready())
    return error{errc::internal, "libsodium could not be initialised"};
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            password_opslimit, password_memlimit,
                            crypto_pwhash_ALG_ARGON2ID13)
      != 0)
    return error{errc::internal, "password hashing ran out of memory"};
  return std::string{out};
}

bool verify_password(std::string_view hash, std::string_view password) {
  if (!sodium_ready() || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES)
    return false;
  std::string h{hash};
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size())
         == 0;
}

bool needs_rehash(std::string_view hash) {
  if (!sodium_ready() || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES)
    return true;
  std::string h{hash};
  return crypto_pwhash_argon2id_str_needs_rehash(h.c_str(), password_opslimit,
                                                 password_memlimit)
         != 0;
}

// -- items --------------------------------------------------------------------

const store::item_type<account_record>& account_item_type() {
  static const auto t
    = store::item_type<account_record>{std::string{account_type_name}, 1}
        .attribute("localpart", &account_record::localpart,
                   {.max_size = max_localpart_size})
        .attribute("domain", &account_record::domain,
                   {.indexed = true, .max_size = max_domain_size})
        .attribute("disabled", &account_record::disabled)
        .attribute("password_hash", &account_record::password_hash,
                   {.max_size = crypto_pwhash_STRBYTES})
        .attribute("created", &account_record::created)
        .attribute("revision", &account_record::revision)
        .index({"domain", "localpart"});
  return t;
}

const store::item_type<login_method_record>& login_method_item_type() {
  static const auto t
    = store::item_type<login_method_record>{std::string{login_method_type_name},
                                            1}
        .attribute("account", &login_method_record::account,
                   {.target = std::string{account_type_name},
                    .on_delete = store::delete_policy::cascade})
        .attribute("localpart", &login_method_record::localpart,
                   {.max_size = max_localpart_size})
        .attribute("domain", &login_method_record::domain,
                   {.indexed = true, .max_size = max_domain_size})
        .attribute("protocol", &login_method_record::protocol, {.max_size = 32})
        .attribute("internal", &login_method_record::internal)
        .attribute("verified", &login_method_record::verified)
        .index({"domain", "localpart"});
  return t;
}

store::result<void> register_account_types(store::type_registry& registry) {
  MANTISSA_TRY(registry.add(account_item_type().decl()));
  return registry.add(login_method_item_type().decl());
}

// -- accounts -----------------------------------------------------------------

store::result<account> add_account(store::store& site, const address& addr,
                                   std::optional<std::string> password) {
  auto c = checked_credentials(addr, password);
  if (!c)
    return std::move(c).error_value();
  const address& a = c->first;
  std::string& hash = c->second;
  return site.transact([&]() -> store::result<account> {
    auto existing = find_record(site, a);
    if (!existing)
      return std::move(existing).error_value();
    if (*existing)
      return error{errc::already_exists,
                   "account " + to_string(a) + " exists already"};
    auto taken = find_methods_at(site, a);
    if (!taken)
      return std::move(taken).error_value();
    if (!taken->empty())
      return error{errc::already_exists, to_string(a)
                                           + " is a login address of "
                                             "another account"};
    account_record r;
    r.localpart = a.localpart;
    r.domain = a.domain;
    r.password_hash = std::move(hash);
    r.created = now();
    r.revision = 1;
    MANTISSA_TRY(account_item_type().insert(site, r));
    if (!a.is_offering()) {
      auto m = to_record(login_method{a, "email", true, true}, r.id);
      MANTISSA_TRY(login_method_item_type().insert(site, m));
    }
    return load_account(site, r);
  });
}

store::result<account> find_account(store::store& site, const address& addr) {
  auto a = normalize(addr);
  if (!a)
    return std::move(a).error_value();
  auto found = find_record(site, *a);
  if (!found)
    return std::move(found).error_value();
  if (!*found)
    return no_account(*a);
  return load_account(site, **found);
}

store::result<account> find_account_by_login(store::store& site,
                                             const address& addr) {
  auto a = normalize(addr);
  if (!a)
    return std::move(a).error_value();
  auto methods = find_methods_at(site, *a);
  if (!methods)
    return std::move(methods).error_value();
  for (auto& m : *methods) {
    if (!m.verified || !m.account)
      continue;
    auto r = account_item_type().get(site, m.account->id);
    if (!r)
      return std::move(r).error_value();
    return load_account(site, *r);
  }
  return error{errc::no_such_item, "no account logs in as " + to_string(*a)};
}

store::result<std::vector<account>> list_accounts(store::store& site) {
  store::query q;
  q.sort = {{"domain", false}, {"localpart", false}};
  auto records = account_item_type().select(site, std::move(q));
  if (!records)
    return std::move(records).error_value();
  store::query mq;
  mq.sort = method_order();
  auto methods = login_method_item_type().select(site, std::move(mq));
  if (!methods)
    return std::move(methods).error_value();
  std::map<store::item_id, std::vector<login_method>> by_account;
  for (auto& m : *methods)
    if (m.account)
      by_account[m.account->id].push_back(to_method(m));
  std::vector<account> out;
  out.reserve(records->size());
  for (auto& r : *records)
    out.push_back(to_account(r, std::move(by_account[r.id])));
  return out;
}

store::result<account> set_disabled(store::store& site, const address& addr,
                                    bool disabled) {
  return modify(site, addr, [&](account_record& r) -> store::result<bool> {
    if (r.disabled == disabled)
      return false;
    r.disabled = disabled;
    return true;
  });
}

store::result<account> set_password(store::store& site, const address& addr,
                                    std::optional<std::string> password) {
  auto c = checked_credentials(addr, password);
  if (!c)
    return std::move(c).error_value();
  std::string& hash = c->second;
  return modify(site, c->first, [&](account_record& r) -> store::result<bool> {
    if (r.password_hash.empty() && hash.empty())
      return false;
    r.password_hash = std::move(hash);
    return true;
  });
}

store::result<account> add_login_method(store::store& site, const address& addr,
                                        const login_method& method) {
  auto m = checked_method(method);
  if (!m)
    return std::move(m).error_value();
  return modify(site, addr, [&](account_record& r) -> store::result<bool> {
    auto taken = find_methods_at(site, m->addr);
    if (!taken)
      return std::move(taken).error_value();
    if (!taken->empty())
      return error{errc::already_exists,
                   to_string(m->addr) + " is already a login address"};
    auto other = find_record(site, m->addr);
    if (!other)
      return std::move(other).error_value();
    if (*other && (*other)->id != r.id)
      return error{errc::already_exists,
                   to_string(m->addr) + " is another account's address"};
    auto rec = to_record(*m, r.id);
    MANTISSA_TRY(login_method_item_type().insert(site, rec));
    return true;
  });
}

store::result<bool> check_password(store::store& site, const address& addr,
                                   std::string_view password) {
  auto a = normalize(addr);
  if (!a)
    return std::move(a).error_value();
  auto acct = find_account_by_login(site, *a);
  if (!acct && acct.code() != errc::no_such_item)
    return std::move(acct).error_value();
  const bool usable = acct && !acct->disabled && !acct->artificial()
                      && password.size() <= max_password_size;
  return verify_or_dummy(usable ? std::string_view{acct->password_hash}
                                : std::string_view{},
                         password);
}

bool verify_or_dummy(std::string_view hash, std::string_view password) {
  password = password.substr(0, max_password_size);
  if (hash.empty()) {
    (void)verify_password(dummy_hash(), password);
    return false;
  }
  return verify_password(hash, password);
}

namespace {

/// The address of `copy` normalized and its login methods checked.
store::result<std::pair<address, std::vector<login_method>>>
checked_copy(const account& copy) {
  auto a = normalize(copy.addr);
  if (!a)
    return std::move(a).error_value();
  std::vector<login_method> methods;
  methods.reserve(copy.login_methods.size());
  for (auto& m : copy.login_methods) {
    auto c = checked_method(m);
    if (!c)
      return std::move(c).error_value();
    methods.push_back(std::move(*c));
  }
  return std::pair{std::move(*a), std::move(methods)};
}

/// Writes `r`, holding `a` and the state of `copy` at `revision`, into `s`
/// with exactly the login methods `methods` (inside the caller's
/// transaction).
store::result<void> store_account(store::store& s, account_record& r,
                                  const address& a, const account& copy,
                                  std::int64_t revision,
                                  const std::vector<login_method>& methods) {
  r.localpart = a.localpart;
  r.domain = a.domain;
  r.disabled = copy.disabled;
  r.password_hash = copy.password_hash;
  r.created = copy.created;
  r.revision = revision;
  if (r.id == 0) {
    MANTISSA_TRY(account_item_type().insert(s, r));
  } else {
    MANTISSA_TRY(account_item_type().update(s, r));
    MANTISSA_TRY(
      s.remove_where(std::string{login_method_type_name}, methods_of(r.id)));
  }
  for (auto& m : methods) {
    auto rec = to_record(m, r.id);
    MANTISSA_TRY(login_method_item_type().insert(s, rec));
  }
  return {};
}

} // namespace

// -- duplication into the user store
// -------------------------------------------

store::result<bool> write_account_copy(store::store& user_store,
                                       const account& acct) {
  auto checked = checked_copy(acct);
  if (!checked)
    return std::move(checked).error_value();
  const address& a = checked->first;
  const std::vector<login_method>& methods = checked->second;
  return user_store.transact([&]() -> store::result<bool> {
    auto copies = account_item_type().select(user_store);
    if (!copies)
      return std::move(copies).error_value();
    if (copies->size() > 1)
      return error{errc::internal,
                   "user store " + user_store.path().string() + " holds "
                     + std::to_string(copies->size()) + " account copies"};
    account_record r;
    if (!copies->empty()) {
      r = std::move(copies->front());
      address held{r.localpart, r.domain};
      if (held != a)
        return error{errc::invalid_value, "user store of " + to_string(held)
                                            + " cannot hold the account of "
                                            + to_string(a)};
      if (r.revision > acct.revision)
        return false;
    }
    MANTISSA_TRY(
      store_account(user_store, r, a, acct, acct.revision, methods));
    return true;
  });
}

store::result<account> read_account_copy(store::store& user_store) {
  auto copies = account_item_type().select(user_store);
  if (!copies)
    return std::move(copies).error_value();
  if (copies->empty())
    return error{errc::no_such_item, "user store " + user_store.path().string()
                                       + " holds no account copy"};
  if (copies->size() > 1)
    return error{errc::internal, "user store " + user_store.path().string()
                                   + " holds " + std::to_string(copies->size())
                                   + " account copies"};
  return load_account(user_store, copies->front());
}

store::result<std::pair<account, bool>>
adopt_account_copy(store::store& site, const account& copy) {
  auto checked = checked_copy(copy);
  if (!checked)
    return std::move(checked).error_value();
  const address& a = checked->first;
  std::vector<login_method>& methods = checked->second;
  std::sort(methods.begin(), methods.end(),
            [](const login_method& x, const login_method& y) {
              return std::tie(x.protocol, x.addr.domain, x.addr.localpart)
                     < std::tie(y.protocol, y.addr.domain, y.addr.localpart);
            });
  using out_type = std::pair<account, bool>;
  return site.transact([&]() -> store::result<out_type> {
    auto found = find_record(site, a);
    if (!found)
      return std::move(found).error_value();
    account_record r;
    if (*found) {
      r = std::move(**found);
      auto held = load_account(site, r);
      if (!held)
        return std::move(held).error_value();
      account want = *held;
      want.disabled = copy.disabled;
      want.password_hash = copy.password_hash;
      want.created = copy.created;
      want.login_methods = methods;
      if (want == *held)
        return out_type{std::move(*held), false};
    }
    // Every login address must be free, or this account's already.
    for (auto& m : methods) {
      auto taken = find_methods_at(site, m.addr);
      if (!taken)
        return std::move(taken).error_value();
      for (auto& t : *taken)
        if (!t.account || t.account->id != r.id || r.id == 0)
          return error{errc::already_exists,
                       to_string(m.addr) + " is a login address of another "
                                           "account"};
      if (m.addr != a) {
        auto other = find_record(site, m.addr);
        if (!other)
          return std::move(other).error_value();
        if (*other)
          return error{errc::already_exists,
                       to_string(m.addr) + " is another account's address"};
      }
    }
    auto revision = std::max(r.revision, copy.revision) + 1;
    MANTISSA_TRY(store_account(site, r, a, copy, revision, methods));
    auto now_held = load_account(site, r);
    if (!now_held)
      return std::move(now_held).error_value();
    return out_type{std::move(*now_held), true};
  });
}

} // namespace mantissa::actors
