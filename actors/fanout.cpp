#include "actors/fanout.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"

namespace mantissa::actors {

namespace {

using json = nlohmann::json;

store::error bad(std::string message) {
  return {store::errc::invalid_query, "fanout: " + std::move(message)};
}

const char* name_of(fanout_op op) {
  switch (op) {
    case fanout_op::count:
      return "count";
    case fanout_op::query:
      return "query";
    case fanout_op::run:
      return "run";
  }
  return "count";
}

const char* name_of(fanout_collate c) {
  switch (c) {
    case fanout_collate::concat:
      return "concat";
    case fanout_collate::count:
      return "count";
    case fanout_collate::sum:
      return "sum";
    case fanout_collate::top:
      return "top";
  }
  return "sum";
}

/// A non-negative integer member of `j`, or `fallback` when absent.
store::result<std::size_t> size_member(const json& j, const char* key,
                                       std::size_t fallback, std::size_t lo,
                                       std::size_t hi) {
  if (!j.contains(key))
    return fallback;
  auto& v = j[key];
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
    return bad(std::string{key} + " must be a non-negative integer");
  auto n = v.get<std::uint64_t>();
  if (n < lo || n > hi)
    return bad(std::string{key} + " must be between " + std::to_string(lo)
               + " and " + std::to_string(hi));
  return static_cast<std::size_t>(n);
}

store::result<std::string> string_member(const json& j, const char* key) {
  if (!j.contains(key))
    return std::string{};
  if (!j[key].is_string() || j[key].get<std::string>().empty())
    return bad(std::string{key} + " must be a non-empty string");
  return j[key].get<std::string>();
}

} // namespace

// -- the spec -----------------------------------------------------------------

std::string fanout_spec::to_json() const {
  json j{{"op", name_of(op)},
         {"collate", name_of(collate)},
         {"order", descending ? "desc" : "asc"},
         {"limit", limit},
         {"concurrency", concurrency}};
  switch (op) {
    case fanout_op::count:
      j["type"] = type;
      j["where"] = json::parse(where);
      break;
    case fanout_op::query:
      j["query"] = json::parse(query);
      break;
    case fanout_op::run:
      j["handler"] = handler;
      j["args"] = json::parse(args);
      break;
  }
  if (!field.empty())
    j["field"] = field;
  json stores = json::object();
  if (!domain.empty())
    stores["domain"] = domain;
  if (!addresses.empty())
    stores["addresses"] = addresses;
  if (!stores.empty())
    j["stores"] = std::move(stores);
  return j.dump();
}

namespace {

/// Rejects the members of `members` that `j` holds: op `for_op` does not
/// use them.
store::result<void> refuse_members(const json& j,
                                   std::initializer_list<const char*> members,
                                   const char* for_op) {
  for (auto* m : members)
    if (j.contains(m))
      return bad(std::string{m} + " is not used by op " + for_op);
  return {};
}

/// `op` and the members it uses (type and where, query, or handler and
/// args), with the op's default collation.
store::result<void> parse_op(const json& j, fanout_spec& s) {
  auto op = j.value("op", json("count"));
  if (op == "count")
    s.op = fanout_op::count;
  else if (op == "query")
    s.op = fanout_op::query;
  else if (op == "run")
    s.op = fanout_op::run;
  else
    return bad("op must be count, query or run");
  switch (s.op) {
    case fanout_op::count: {
      MANTISSA_TRY(refuse_members(j, {"query", "handler", "args"}, "count"));
      auto type = string_member(j, "type");
      if (!type)
        return std::move(type).error_value();
      if (type->empty())
        return bad("op count needs a type");
      s.type = *type;
      if (j.contains("where")) {
        if (!j["where"].is_object() && !j["where"].is_null())
          return bad("where must be an object (docs/query.md)");
        s.where = j["where"].is_null() ? "{}" : j["where"].dump();
      }
      s.collate = fanout_collate::sum;
      break;
    }
    case fanout_op::query: {
      MANTISSA_TRY(
        refuse_members(j, {"type", "where", "handler", "args"}, "query"));
      if (!j.contains("query") || !j["query"].is_object())
        return bad("op query needs a query object (docs/query.md)");
      s.query = j["query"].dump();
      s.collate = fanout_collate::concat;
      break;
    }
    case fanout_op::run: {
      MANTISSA_TRY(refuse_members(j, {"type", "where", "query"}, "run"));
      auto h = string_member(j, "handler");
      if (!h)
        return std::move(h).error_value();
      if (h->empty())
        return bad("op run needs a handler");
      s.handler = *h;
      if (j.contains("args")) {
        if (!j["args"].is_object())
          return bad("args must be an object");
        s.args = j["args"].dump();
      }
      s.collate = fanout_collate::concat;
      break;
    }
  }
  return {};
}

/// How the answers are collated: collate, field, order, limit, and the
/// concurrency on each node.
store::result<void> parse_collation(const json& j, fanout_spec& s) {
  if (j.contains("collate")) {
    auto c = j["collate"];
    if (c == "concat")
      s.collate = fanout_collate::concat;
    else if (c == "count")
      s.collate = fanout_collate::count;
    else if (c == "sum")
      s.collate = fanout_collate::sum;
    else if (c == "top")
      s.collate = fanout_collate::top;
    else
      return bad("collate must be concat, count, sum or top");
  }
  auto field = string_member(j, "field");
  if (!field)
    return std::move(field).error_value();
  s.field = *field;
  if (s.op != fanout_op::count && s.field.empty()
      && (s.collate == fanout_collate::sum || s.collate == fanout_collate::top))
    return bad(std::string{"collate "} + name_of(s.collate) + " needs a field");
  if (s.op == fanout_op::count && !s.field.empty())
    return bad("op count has no field (it collates the counts)");
  if (j.contains("order")) {
    if (j["order"] == "desc")
      s.descending = true;
    else if (j["order"] == "asc")
      s.descending = false;
    else
      return bad("order must be desc or asc");
  }
  auto limit = size_member(j, "limit", s.limit, 1, max_fanout_limit);
  if (!limit)
    return std::move(limit).error_value();
  s.limit = *limit;
  auto conc = size_member(j, "concurrency", s.concurrency, 1,
                          max_fanout_concurrency);
  if (!conc)
    return std::move(conc).error_value();
  s.concurrency = *conc;
  return {};
}

/// `stores`: the domain (lower case) and the addresses (canonical, sorted,
/// each once) the fan-out is limited to.
store::result<void> parse_stores(const json& st, fanout_spec& s) {
  if (!st.is_object())
    return bad("stores must be an object {domain?, addresses?}");
  for (auto& [key, value] : st.items())
    if (key != "domain" && key != "addresses")
      return bad("unknown member 'stores." + key + "'");
  auto d = string_member(st, "domain");
  if (!d)
    return std::move(d).error_value();
  s.domain = *d;
  std::transform(s.domain.begin(), s.domain.end(), s.domain.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!st.contains("addresses"))
    return {};
  if (!st["addresses"].is_array())
    return bad("stores.addresses must be an array of addresses");
  for (auto& a : st["addresses"]) {
    if (!a.is_string())
      return bad("stores.addresses must be an array of addresses");
    auto addr = parse_address(a.get<std::string>());
    if (!addr)
      return bad("stores.addresses: " + addr.error_value().message);
    s.addresses.push_back(to_string(*addr));
  }
  std::sort(s.addresses.begin(), s.addresses.end());
  s.addresses.erase(std::unique(s.addresses.begin(), s.addresses.end()),
                    s.addresses.end());
  return {};
}

} // namespace

store::result<fanout_spec> parse_fanout_spec(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return bad("the request must be a JSON object");
  static const std::set<std::string> known{
    "op",      "type",  "where", "query", "handler",     "args", "collate",
    "field",   "order", "limit", "stores", "concurrency"};
  for (auto& [key, value] : j.items())
    if (!known.count(key))
      return bad("unknown member '" + key + "'");
  fanout_spec s;
  MANTISSA_TRY(parse_op(j, s));
  MANTISSA_TRY(parse_collation(j, s));
  if (j.contains("stores"))
    MANTISSA_TRY(parse_stores(j["stores"], s));
  if (s.op == fanout_op::query && s.collate == fanout_collate::top) {
    // Every store sends only its best `limit` items.
    auto q = json::parse(s.query);
    if (!q.contains("sort"))
      q["sort"] = json::array({(s.descending ? "-" : "") + s.field});
    if (!q.contains("limit"))
      q["limit"] = s.limit;
    s.query = q.dump();
  }
  return s;
}

bool fanout_selects(const fanout_spec& spec, const std::string& address) {
  if (!spec.addresses.empty()
      && !std::binary_search(spec.addresses.begin(), spec.addresses.end(),
                             address))
    return false;
  if (spec.domain.empty())
    return true;
  auto at = address.rfind('@');
  return at != std::string::npos && address.compare(at + 1, std::string::npos,
                                                    spec.domain)
                                      == 0;
}

// -- the collator ---------------------------------------------------------------

struct fanout_collator::impl {
  fanout_spec spec;
  std::size_t stores = 0;
  std::size_t failed = 0;
  json failures = json::array();
  // sum and count
  bool floating = false;
  std::int64_t isum = 0;
  double dsum = 0;
  // concat and top
  json entries = json::array();
  bool truncated = false;

  void add_number(const json& v) {
    if (v.is_number_integer() && !floating) {
      isum += v.get<std::int64_t>();
      return;
    }
    if (!floating) {
      floating = true;
      dsum = static_cast<double>(isum);
    }
    dsum += v.get<double>();
  }

  json number() const {
    return floating ? json(dsum) : json(isum);
  }

  /// The sort key of an entry for top.
  const json& key_of(const json& e) const {
    static const json null;
    const json* holder = nullptr;
    if (spec.op == fanout_op::count)
      return e.contains("count") ? e["count"] : null;
    holder = spec.op == fanout_op::query ? &e : (e.contains("result") ? &e["result"] : nullptr);
    if (holder == nullptr || !holder->is_object() || !holder->contains(spec.field))
      return null;
    return (*holder)[spec.field];
  }

  void add_entry(json e) {
    if (spec.collate == fanout_collate::concat) {
      if (entries.size() < spec.limit)
        entries.push_back(std::move(e));
      else
        truncated = true;
      return;
    }
    // top: keep the best `limit`, trimming when twice as many are held.
    entries.push_back(std::move(e));
    if (entries.size() >= 2 * spec.limit)
      trim();
  }

  void trim() {
    auto better = [this](const json& a, const json& b) {
      auto& ka = key_of(a);
      auto& kb = key_of(b);
      // Entries without the key go last either way.
      if (ka.is_null() != kb.is_null())
        return kb.is_null();
      return spec.descending ? kb < ka : ka < kb;
    };
    std::stable_sort(entries.begin(), entries.end(), better);
    if (entries.size() > spec.limit)
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(spec.limit),
                    entries.end());
  }

  void fail(json f) {
    ++failed;
    if (failures.size() < max_fanout_failures)
      failures.push_back(std::move(f));
  }
};

fanout_collator::fanout_collator(const fanout_spec& spec)
  : impl_(std::make_unique<impl>()) {
  impl_->spec = spec;
}

fanout_collator::~fanout_collator() = default;

void fanout_collator::add_reply(const std::string& store,
                                const std::string& body) {
  auto& d = *impl_;
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    add_failure(store, "internal", "the store's reply is not JSON");
    return;
  }
  ++d.stores;
  switch (d.spec.op) {
    case fanout_op::count: {
      auto n = j.value("count", std::int64_t{0});
      switch (d.spec.collate) {
        case fanout_collate::sum:
          d.isum += n;
          break;
        case fanout_collate::count:
          d.isum += n > 0 ? 1 : 0;
          break;
        case fanout_collate::concat:
        case fanout_collate::top:
          if (n > 0)
            d.add_entry(json{{"store", store}, {"count", n}});
          break;
      }
      return;
    }
    case fanout_op::query: {
      if (!j.contains("items") || !j["items"].is_array()) {
        --d.stores;
        add_failure(store, "internal", "the store's reply has no items");
        return;
      }
      switch (d.spec.collate) {
        case fanout_collate::count:
          d.isum += j.value("total", static_cast<std::int64_t>(j["items"].size()));
          break;
        case fanout_collate::sum:
          for (auto& item : j["items"])
            if (item.contains(d.spec.field) && item[d.spec.field].is_number())
              d.add_number(item[d.spec.field]);
          break;
        case fanout_collate::concat:
        case fanout_collate::top:
          for (auto& item : j["items"]) {
            item["store"] = store;
            d.add_entry(std::move(item));
          }
          break;
      }
      return;
    }
    case fanout_op::run: {
      switch (d.spec.collate) {
        case fanout_collate::count:
          d.isum += 1;
          break;
        case fanout_collate::sum:
          if (j.is_object() && j.contains(d.spec.field)
              && j[d.spec.field].is_number())
            d.add_number(j[d.spec.field]);
          break;
        case fanout_collate::concat:
        case fanout_collate::top:
          d.add_entry(json{{"store", store}, {"result", std::move(j)}});
          break;
      }
      return;
    }
  }
}

void fanout_collator::add_failure(const std::string& store,
                                  const std::string& code,
                                  const std::string& message) {
  ++impl_->stores;
  impl_->fail(json{{"store", store}, {"code", code}, {"message", message}});
}

void fanout_collator::add_node_failure(const std::string& node,
                                       std::size_t stores,
                                       const std::string& code,
                                       const std::string& message) {
  auto& d = *impl_;
  d.stores += stores;
  // The node counts once in the list, and each of its stores as failed.
  d.fail(json{{"node", node}, {"stores", stores}, {"code", code},
              {"message", message}});
  if (stores > 1)
    d.failed += stores - 1;
}

store::result<void> fanout_collator::add_partial(const std::string& text) {
  auto& d = *impl_;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("stores") || !j.contains("value"))
    return bad("a node's partial result is malformed");
  d.stores += j["stores"].get<std::size_t>();
  d.failed += j.value("failed", std::size_t{0});
  if (j.contains("failures"))
    for (auto& f : j["failures"])
      if (d.failures.size() < max_fanout_failures)
        d.failures.push_back(f);
  auto& v = j["value"];
  switch (d.spec.collate) {
    case fanout_collate::sum:
    case fanout_collate::count:
      if (v.is_number())
        d.add_number(v);
      break;
    case fanout_collate::concat:
    case fanout_collate::top:
      if (v.is_array())
        for (auto& e : v)
          d.add_entry(e);
      if (j.value("truncated", false))
        d.truncated = true;
      break;
  }
  return {};
}

std::size_t fanout_collator::stores() const noexcept {
  return impl_->stores;
}

std::size_t fanout_collator::failed() const noexcept {
  return impl_->failed;
}

std::string fanout_collator::partial() const {
  auto& d = *impl_;
  if (d.spec.collate == fanout_collate::top)
    d.trim();
  json j{{"stores", d.stores}, {"failed", d.failed}, {"failures", d.failures}};
  if (d.spec.collate == fanout_collate::sum
      || d.spec.collate == fanout_collate::count)
    j["value"] = d.number();
  else
    j["value"] = d.entries;
  if (d.truncated)
    j["truncated"] = true;
  return j.dump();
}

std::string fanout_collator::result() const {
  auto& d = *impl_;
  if (d.spec.collate == fanout_collate::top)
    d.trim();
  json j{{"op", name_of(d.spec.op)},
         {"collate", name_of(d.spec.collate)},
         {"stores", d.stores},
         {"ok", d.stores - std::min(d.stores, d.failed)},
         {"failed", d.failed},
         {"failures", d.failures}};
  if (d.spec.collate == fanout_collate::sum
      || d.spec.collate == fanout_collate::count)
    j["result"] = d.number();
  else
    j["result"] = d.entries;
  if (d.spec.collate == fanout_collate::concat)
    j["truncated"] = d.truncated;
  return j.dump();
}

} // namespace mantissa::actors
