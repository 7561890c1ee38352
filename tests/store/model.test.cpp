// Property tests: random items and random queries run through the store and
// through an independent in-memory model of the documented semantics
// (docs/query.md); random insert/update/remove sequences with reopening.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::temp_dir;

namespace {

// model.thing: i integer?, r real?, t text?, b boolean?, k integer (not
// null), ts timestamp?. `i` and `t` are indexed so that some queries use an
// index and others scan.
constexpr const char* type_name = "model.thing";
const std::vector<std::string> attr_names = {"i", "r", "t", "b", "k", "ts"};

type_decl thing_decl() {
  type_decl d;
  d.name = type_name;
  auto add
    = [&](const char* name, attribute_type t, bool nullable, bool indexed) {
        attribute_decl a;
        a.name = name;
        a.type = t;
        a.nullable = nullable;
        a.indexed = indexed;
        d.attributes.push_back(a);
      };
  add("i", attribute_type::integer, true, true);
  add("r", attribute_type::real, true, false);
  add("t", attribute_type::text, true, true);
  add("b", attribute_type::boolean, true, false);
  add("k", attribute_type::integer, false, false);
  add("ts", attribute_type::timestamp, true, false);
  d.compound_indexes = {{"k", "r"}};
  return d;
}

// -- random values
// -------------------------------------------------------------

class generator {
 public:
  explicit generator(std::uint32_t seed) : rng_(seed) {}

  int uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  bool chance(int percent) { return uniform(1, 100) <= percent; }
  template<class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(
      uniform(0, static_cast<int>(v.size()) - 1))];
  }

  /// A non-null value for attribute `attr` (index into attr_names).
  value some(std::size_t attr) {
    switch (attr) {
      case 0:
        if (chance(5))
          return value{chance(50) ? std::numeric_limits<std::int64_t>::min()
                                  : std::numeric_limits<std::int64_t>::max()};
        return value{std::int64_t{uniform(-4, 4)}};
      case 1:
        return value{pick(std::vector<double>{-1e300, -2.5, -1.0, -0.5, 0.0,
                                              0.5, 1.0, 1.5, 3.0, 1e300})};
      case 2: {
        static const std::vector<std::string> pieces = {"a",
                                                        "A",
                                                        "b",
                                                        "B",
                                                        "z",
                                                        "_",
                                                        "%",
                                                        "\\",
                                                        "\xc3\xa9" /* é */,
                                                        "\xc3\x89" /* É */,
                                                        " "};
        std::string s;
        auto n = uniform(0, 4);
        for (int k = 0; k < n; ++k)
          s += pick(pieces);
        return value{s};
      }
      case 3:
        return value{chance(50)};
      case 4:
        return value{std::int64_t{uniform(0, 6)}};
      default:
        return value{timestamp{pick(std::vector<std::int64_t>{
          -86400000000, -1, 0, 1, 1000, 1700000000000000})}};
    }
  }

  /// A value for attribute `attr`, null sometimes when it is nullable.
  value any(std::size_t attr) {
    if (attr != 4 && chance(18))
      return value{};
    return some(attr);
  }

  item random_item() {
    item it{0, type_name, {}};
    for (std::size_t a = 0; a < attr_names.size(); ++a)
      it.values.push_back(any(a));
    return it;
  }

  /// A LIKE pattern built from wildcards, escapes and letters of both cases.
  std::string pattern() {
    static const std::vector<std::string> pieces
      = {"a",   "A",   "b",    "B",   "%",        "%",        "_",
         "\\%", "\\_", "\\\\", "\\a", "\xc3\xa9", "\xc3\x89", " "};
    std::string s;
    auto n = uniform(0, 4);
    for (int k = 0; k < n; ++k)
      s += pick(pieces);
    if (chance(4))
      s += "\\"; // a lone escape at the end: matches nothing
    return s;
  }

  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
};

// -- the model
// -----------------------------------------------------------------

enum class tri { no, yes, unknown };

tri from_bool(bool b) {
  return b ? tri::yes : tri::no;
}

/// Orders two non-null values of the same attribute.
int compare_values(const value& a, const value& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (auto* x = std::get_if<std::int64_t>(&a))
    return sign(*x, std::get<std::int64_t>(b));
  if (auto* x = std::get_if<double>(&a))
    return sign(*x, std::get<double>(b));
  if (auto* x = std::get_if<std::string>(&a)) {
    // Byte-wise, as unsigned bytes.
    auto c = x->compare(std::get<std::string>(b));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (auto* x = std::get_if<bool>(&a))
    return sign(int{*x}, int{std::get<bool>(b)});
  if (auto* x = std::get_if<timestamp>(&a))
    return sign(x->micros, std::get<timestamp>(b).micros);
  FAIL("unexpected value kind in the model");
  return 0;
}

/// Decodes valid UTF-8 into code points.
std::vector<std::uint32_t> code_points(const std::string& s) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c < 0xE0 ? 2 : (c < 0xF0 ? 3 : 4));
    std::uint32_t cp = len == 1 ? c : (c & (0x7F >> len));
    for (std::size_t k = 1; k < len; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

struct pattern_piece {
  enum { any_run, any_one, literal } kind;
  std::uint32_t cp = 0;
};

bool same_letter(std::uint32_t p, std::uint32_t c) {
  if (p == c)
    return true;
  auto lower = [](std::uint32_t x) {
    return x >= 'A' && x <= 'Z' ? x + ('a' - 'A') : x;
  };
  return p < 0x80 && c < 0x80 && lower(p) == lower(c);
}

bool match_from(const std::vector<pattern_piece>& p, std::size_t pi,
                const std::vector<std::uint32_t>& t, std::size_t ti) {
  if (pi == p.size())
    return ti == t.size();
  switch (p[pi].kind) {
    case pattern_piece::any_run:
      for (std::size_t k = ti; k <= t.size(); ++k)
        if (match_from(p, pi + 1, t, k))
          return true;
      return false;
    case pattern_piece::any_one:
      return ti < t.size() && match_from(p, pi + 1, t, ti + 1);
    default:
      return ti < t.size() && same_letter(p[pi].cp, t[ti])
             && match_from(p, pi + 1, t, ti + 1);
  }
}

/// SQL LIKE with `\` as escape: `%` any run, `_` one character, ASCII
/// letters without regard to case; a pattern ending in a lone escape
/// matches nothing.
bool like_matches(const std::string& pattern, const std::string& text) {
  std::vector<pattern_piece> pieces;
  auto cps = code_points(pattern);
  for (std::size_t i = 0; i < cps.size(); ++i) {
    if (cps[i] == '\\') {
      if (i + 1 == cps.size())
        return false;
      pieces.push_back({pattern_piece::literal, cps[++i]});
    } else if (cps[i] == '%') {
      pieces.push_back({pattern_piece::any_run});
    } else if (cps[i] == '_') {
      pieces.push_back({pattern_piece::any_one});
    } else {
      pieces.push_back({pattern_piece::literal, cps[i]});
    }
  }
  return match_from(pieces, 0, code_points(text), 0);
}

/// The value of `attr` ("id" or an attribute) of `it`, converted as the
/// store converts operands (integers for reals).
value column_of(const item& it, const std::string& attr) {
  if (attr == "id")
    return value{it.id};
  auto i = std::find(attr_names.begin(), attr_names.end(), attr)
           - attr_names.begin();
  return it.values[static_cast<std::size_t>(i)];
}

value as_column_type(const std::string& attr, const value& v) {
  if (attr == "r")
    if (auto* i = std::get_if<std::int64_t>(&v))
      return value{static_cast<double>(*i)};
  return v;
}

tri eval(const condition& c, const item& it) {
  using k = condition::kind;
  switch (c.k) {
    case k::all:
      return tri::yes;
    case k::and_: {
      tri out = tri::yes;
      for (auto& ch : c.children) {
        auto r = eval(ch, it);
        if (r == tri::no)
          return tri::no;
        if (r == tri::unknown)
          out = tri::unknown;
      }
      return out;
    }
    case k::or_: {
      tri out = tri::no;
      for (auto& ch : c.children) {
        auto r = eval(ch, it);
        if (r == tri::yes)
          return tri::yes;
        if (r == tri::unknown)
          out = tri::unknown;
      }
      return out;
    }
    case k::not_:
      return from_bool(eval(c.children.front(), it) != tri::yes);
    default:
      break;
  }
  auto v = column_of(it, c.attr);
  switch (c.k) {
    case k::is_null:
      return from_bool(is_null(v));
    case k::not_null:
      return from_bool(!is_null(v));
    case k::in:
    case k::not_in: {
      bool negated = c.k == k::not_in;
      if (c.operands.empty())
        return negated ? from_bool(!is_null(v)) : tri::no;
      if (is_null(v))
        return tri::unknown;
      bool found = false;
      for (auto& o : c.operands)
        found = found || compare_values(v, as_column_type(c.attr, o)) == 0;
      return from_bool(found != negated);
    }
    case k::like:
      if (is_null(v))
        return tri::unknown;
      return from_bool(like_matches(std::get<std::string>(c.operand),
                                    std::get<std::string>(v)));
    case k::prefix: {
      if (is_null(v))
        return tri::unknown;
      auto& text = std::get<std::string>(v);
      auto& start = std::get<std::string>(c.operand);
      return from_bool(text.compare(0, start.size(), start) == 0
                       && text.size() >= start.size());
    }
    case k::compare: {
      if (is_null(v))
        return tri::unknown;
      auto r = compare_values(v, as_column_type(c.attr, c.operand));
      switch (c.op) {
        case compare_op::eq:
          return from_bool(r == 0);
        case compare_op::ne:
          return from_bool(r != 0);
        case compare_op::lt:
          return from_bool(r < 0);
        case compare_op::le:
          return from_bool(r <= 0);
        case compare_op::gt:
          return from_bool(r > 0);
        case compare_op::ge:
          return from_bool(r >= 0);
      }
      break;
    }
    default:
      break;
  }
  FAIL("condition kind not modelled");
  return tri::no;
}

/// Ids of the model's items matching `q`, in the query's order.
std::vector<item_id> model_select(const std::map<item_id, item>& items,
                                  const query& q) {
  std::vector<const item*> hits;
  for (auto& [id, it] : items)
    if (eval(q.where, it) == tri::yes)
      hits.push_back(&it);
  std::stable_sort(hits.begin(), hits.end(), [&](const item* a, const item* b) {
    for (auto& key : q.sort) {
      auto va = column_of(*a, key.attr);
      auto vb = column_of(*b, key.attr);
      int c;
      if (is_null(va) || is_null(vb))
        c = is_null(va) == is_null(vb) ? 0 : (is_null(va) ? -1 : 1);
      else
        c = compare_values(va, vb);
      if (key.descending)
        c = -c;
      if (c != 0)
        return c < 0;
    }
    return a->id < b->id;
  });
  std::vector<item_id> out;
  for (std::size_t n = static_cast<std::size_t>(q.offset); n < hits.size();
       ++n) {
    if (q.limit >= 0 && static_cast<std::int64_t>(out.size()) >= q.limit)
      break;
    out.push_back(hits[n]->id);
  }
  return out;
}

// -- random queries
// ------------------------------------------------------------

class query_maker {
 public:
  query_maker(generator& g, const std::map<item_id, item>& items)
    : g_(g), items_(items) {}

  condition random_condition(int depth) {
    if (depth < 4 && g_.chance(35)) {
      switch (g_.uniform(0, 2)) {
        case 0:
        case 1: {
          std::vector<condition> children;
          auto n = g_.uniform(0, 3);
          for (int k = 0; k < n; ++k)
            children.push_back(random_condition(depth + 1));
          return g_.chance(50) ? and_(std::move(children))
                               : or_(std::move(children));
        }
        default:
          return not_(random_condition(depth + 1));
      }
    }
    return random_leaf();
  }

  std::vector<sort_key> random_sort() {
    std::vector<sort_key> keys;
    auto n = g_.uniform(0, 3);
    for (int k = 0; k < n; ++k) {
      auto attr = g_.chance(10) ? std::string{"id"} : g_.pick(attr_names);
      keys.push_back({attr, g_.chance(50)});
    }
    return keys;
  }

 private:
  value operand_for(std::size_t a) {
    auto v = g_.some(a);
    if (a == 1 && g_.chance(20))
      return value{std::int64_t{g_.uniform(-3, 3)}}; // integer for a real
    return v;
  }

  value id_operand() {
    if (!items_.empty() && g_.chance(80)) {
      auto i = items_.begin();
      std::advance(i, g_.uniform(0, static_cast<int>(items_.size()) - 1));
      return value{i->first};
    }
    return value{std::int64_t{g_.uniform(-2, 5000)}};
  }

  condition random_leaf() {
    bool on_id = g_.chance(8);
    std::size_t a = static_cast<std::size_t>(g_.uniform(0, 5));
    std::string attr = on_id ? std::string{"id"} : attr_names[a];
    auto operand = [&] { return on_id ? id_operand() : operand_for(a); };
    int choice = g_.uniform(0, 9);
    if (!on_id && a == 2 && g_.chance(40))
      choice = 10 + g_.uniform(0, 1); // text operators
    switch (choice) {
      case 0:
      case 1:
      case 2: {
        static const std::vector<compare_op> ops
          = {compare_op::eq, compare_op::ne, compare_op::lt,
             compare_op::le, compare_op::gt, compare_op::ge};
        return cmp(attr, g_.pick(ops), operand());
      }
      case 3:
      case 4:
      case 5:
      case 6: {
        std::vector<value> list;
        auto n = g_.uniform(0, 4);
        for (int k = 0; k < n; ++k)
          list.push_back(operand());
        return choice < 5 ? in(attr, std::move(list))
                          : not_in(attr, std::move(list));
      }
      case 7:
      case 8:
        return is_null(attr);
      case 9:
        return not_null(attr);
      case 10:
        return like(attr, g_.pattern());
      default: {
        auto p = std::get<std::string>(g_.some(2));
        if (g_.chance(30) && !p.empty()) // the first character only
          p = p.substr(0, static_cast<unsigned char>(p[0]) < 0x80 ? 1 : 2);
        return prefix(attr, p);
      }
    }
  }

  generator& g_;
  const std::map<item_id, item>& items_;
};

std::string show(const query& q) {
  return to_json(q).dump();
}

std::vector<item_id> ids_of(const std::vector<item>& items) {
  std::vector<item_id> out;
  for (auto& it : items)
    out.push_back(it.id);
  return out;
}

/// Every item in the store, by id.
std::map<item_id, item> stored(store& s) {
  query q;
  q.type = type_name;
  auto all = s.select(q);
  REQUIRE(all);
  std::map<item_id, item> out;
  for (auto& it : *all)
    out.emplace(it.id, it);
  return out;
}

} // namespace

TEST_CASE("the LIKE model agrees with the documented examples",
          "[store][model]") {
  CHECK(like_matches("apple%", "Apple pie"));
  CHECK_FALSE(like_matches("\xc3\xa9", "\xc3\x89"));
  CHECK(like_matches("50\\%%", "50% off"));
  CHECK_FALSE(like_matches("50\\%%", "50 apples"));
  CHECK(like_matches("\\\\", "\\"));
  CHECK(like_matches("a_b", "a\xc3\xa9"
                            "b"));
  CHECK_FALSE(like_matches("a\\", "a"));
}

TEST_CASE("random queries agree with the model", "[store][model]") {
  auto seed = mantissa::test::test_seed("query model");
  INFO("seed " << seed << " (MANTISSA_SEED=" << seed << " replays it)");
  generator g{seed};
  temp_dir dir;
  type_registry reg;
  REQUIRE(reg.add(thing_decl()));
  auto opened = store::open(dir / "model.sqlite", reg);
  REQUIRE(opened);
  auto& s = **opened;

  std::map<item_id, item> model;
  REQUIRE(s.transact([&]() -> result<void> {
    for (int n = 0; n < 160; ++n) {
      auto it = g.random_item();
      MANTISSA_TRY(s.insert(it));
      model.emplace(it.id, it);
    }
    return {};
  }));
  REQUIRE(stored(s) == model);

  query_maker make{g, model};
  int mismatches = 0;
  int nonempty = 0;
  constexpr int queries = 2500;
  for (int n = 0; n < queries && mismatches < 5; ++n) {
    query q;
    q.type = type_name;
    q.where = make.random_condition(1);
    q.sort = make.random_sort();
    if (g.chance(30))
      q.limit = g.uniform(0, 25);
    if (g.chance(30))
      q.offset = g.uniform(0, 40);
    auto expected = model_select(model, q);
    auto got = s.select(q);
    if (!got) {
      ++mismatches;
      FAIL_CHECK("query " << show(q)
                          << " failed: " << got.error_value().message);
      continue;
    }
    if (ids_of(*got) != expected) {
      ++mismatches;
      FAIL_CHECK("query " << show(q) << " returned " << got->size()
                          << " items, the model " << expected.size());
      continue;
    }
    for (auto& it : *got)
      if (it != model.at(it.id)) {
        ++mismatches;
        FAIL_CHECK("item #" << it.id << " differs from the model");
      }
    // count ignores sort and paging.
    query all_of = q;
    all_of.limit = -1;
    all_of.offset = 0;
    all_of.sort.clear();
    auto total = static_cast<std::int64_t>(model_select(model, all_of).size());
    auto counted = s.count(type_name, q.where);
    REQUIRE(counted);
    if (*counted != total) {
      ++mismatches;
      FAIL_CHECK("count of " << show(q) << " is " << *counted << ", the model "
                             << total);
    }
    if (!expected.empty())
      ++nonempty;
  }
  CHECK(mismatches == 0);
  // The generator must produce queries that select something, or the
  // comparison proves little.
  CHECK(nonempty > queries / 4);
}

TEST_CASE("random writes with reopening agree with the model",
          "[store][model]") {
  auto seed = mantissa::test::test_seed("query model");
  INFO("seed " << seed << " (MANTISSA_SEED=" << seed << " replays it)");
  generator g{seed};
  temp_dir dir;
  type_registry reg;
  REQUIRE(reg.add(thing_decl()));
  auto path = dir / "writes.sqlite";
  auto open = [&] {
    auto r = store::open(path, reg);
    REQUIRE(r);
    return std::move(*r);
  };
  auto s = open();
  std::map<item_id, item> model;
  item_id highest_committed = 0;
  auto random_id = [&]() -> item_id {
    auto i = model.begin();
    std::advance(i, g.uniform(0, static_cast<int>(model.size()) - 1));
    return i->first;
  };

  // One write through the store and the model alike; `m` is the model the
  // write applies to (a copy inside a transaction).
  auto one_write = [&](std::map<item_id, item>& m) -> result<void> {
    int what = g.uniform(0, 99);
    if (what < 45 || m.empty()) {
      auto it = g.random_item();
      MANTISSA_TRY(s->insert(it));
      CHECK(it.id > highest_committed);
      CHECK(m.count(it.id) == 0);
      m.emplace(it.id, it);
    } else if (what < 70) {
      auto i = m.begin();
      std::advance(i, g.uniform(0, static_cast<int>(m.size()) - 1));
      auto it = g.random_item();
      it.id = i->first;
      MANTISSA_TRY(s->update(it));
      i->second = it;
    } else if (what < 92) {
      auto i = m.begin();
      std::advance(i, g.uniform(0, static_cast<int>(m.size()) - 1));
      MANTISSA_TRY(s->remove(type_name, i->first));
      m.erase(i);
    } else {
      // Writes to an id that does not exist fail and change nothing.
      item_id ghost = highest_committed + 100000;
      auto it = g.random_item();
      it.id = ghost;
      CHECK(s->update(it).code() == errc::no_such_item);
      CHECK(s->remove(type_name, ghost).code() == errc::no_such_item);
    }
    return {};
  };

  auto note_committed = [&] {
    for (auto& [id, it] : model)
      highest_committed = std::max(highest_committed, id);
  };

  for (int step = 1; step <= 600; ++step) {
    if (g.chance(10)) {
      // A few writes in one transaction that commits or rolls back.
      auto copy = model;
      bool keep = g.chance(50);
      auto r = s->transact([&]() -> result<void> {
        auto n = g.uniform(1, 5);
        for (int k = 0; k < n; ++k)
          MANTISSA_TRY(one_write(copy));
        if (!keep)
          return error{errc::internal, "rolled back on purpose"};
        return {};
      });
      if (r.has_value() != keep)
        FAIL_CHECK("transaction at step "
                   << step << ": "
                   << (r ? std::string{"committed"} : r.error_value().message));
      if (keep)
        model = std::move(copy);
    } else {
      auto r = one_write(model);
      if (!r)
        FAIL("write failed at step " << step << ": "
                                     << r.error_value().message);
    }
    note_committed();
    if (step % 40 == 0) {
      INFO("step " << step);
      REQUIRE(stored(*s) == model);
      CHECK(*s->count(type_name) == static_cast<std::int64_t>(model.size()));
    }
    if (step % 120 == 0) {
      s.reset();
      s = open();
      INFO("after reopening at step " << step);
      REQUIRE(stored(*s) == model);
      for (int k = 0; k < 10 && !model.empty(); ++k) {
        auto id = random_id();
        auto got = s->get(type_name, id);
        REQUIRE(got);
        CHECK(*got == model.at(id));
      }
    }
  }
  s.reset();
  s = open();
  CHECK(stored(*s) == model);
  CHECK(*s->integrity_check() == "ok");
}
