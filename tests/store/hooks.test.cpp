// Item hooks (store/registry.hpp `item_hooks`): they run inside the store's
// writes (insert, update, remove, remove_where, cascades), may change the
// values written, refuse a write so that nothing of it stays, write other
// items (whose hooks fire too, up to `max_hook_depth`), and upgrades do not
// fire them.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "store/store.hpp"
#include "store/typed.hpp"
#include "tests/support/decls.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::int_of;
using mantissa::test::temp_dir;

namespace {

constexpr std::size_t title = 0, created = 1, modified = 2;

/// hk.task {title, created, modified}; hk.log {what}; hk.sub refers to a
/// task and is deleted with it (cascade).
void declare(type_registry& reg, int task_version = 1) {
  type_decl task{"hk.task", task_version, {}};
  task.attributes = {{"title", attribute_type::text},
                     {"created", attribute_type::integer},
                     {"modified", attribute_type::integer}};
  REQUIRE(reg.add(task));
  type_decl log{"hk.log", 1, {}};
  log.attributes = {{"what", attribute_type::text}};
  REQUIRE(reg.add(log));
  type_decl sub{"hk.sub", 1, {}};
  attribute_decl up{"task", attribute_type::reference};
  up.target_type = "hk.task";
  up.on_delete = delete_policy::cascade;
  sub.attributes = {up};
  REQUIRE(reg.add(sub));
}

item task(std::string t) {
  return {0, "hk.task", {std::move(t), std::int64_t{0}, std::int64_t{0}}};
}

/// Writes one hk.log item saying `what`.
result<void> write_log(store& s, std::string what) {
  item it{0, "hk.log", {std::move(what)}};
  auto id = s.insert(it);
  if (!id)
    return std::move(id).error_value();
  return {};
}

/// The hk.log items, oldest first.
std::vector<std::string> logged(store& s) {
  query q;
  q.type = "hk.log";
  auto items = s.select(q);
  REQUIRE(items);
  std::vector<std::string> out;
  for (auto& it : *items)
    out.push_back(std::get<std::string>(it.values[0]));
  return out;
}

std::int64_t count(store& s, const char* type) {
  auto n = s.count(type);
  REQUIRE(n);
  return *n;
}

/// Hooks keeping `created` and `modified` as a clock `tick` says, and
/// logging every write of hk.task by title.
item_hooks stamping(std::int64_t& tick) {
  item_hooks h;
  h.before_create = [&tick](store&, item& next) -> result<void> {
    next.values[created] = next.values[modified] = ++tick;
    return {};
  };
  h.before_update = [&tick](store&, const item& old, item& next)
    -> result<void> {
    next.values[created] = old.values[created];
    next.values[modified] = ++tick;
    return {};
  };
  auto name = [](const item& it) { return std::get<std::string>(it.values[title]); };
  h.after_create = [name](store& s, const item& it) {
    return write_log(s, "created " + name(it) + " #" + std::to_string(it.id));
  };
  h.after_update = [name](store& s, const item& old, const item& next) {
    return write_log(s, "updated " + name(old) + " -> " + name(next));
  };
  h.before_delete = [name](store& s, const item& old) {
    return write_log(s, "deleting " + name(old));
  };
  h.after_delete = [name](store& s, const item& old) {
    return write_log(s, "deleted " + name(old));
  };
  return h;
}

} // namespace

TEST_CASE("hooks set values on insert and update and see every write",
          "[store][hooks]") {
  temp_dir dir;
  type_registry reg;
  declare(reg);
  std::int64_t tick = 100;
  REQUIRE(reg.add_hooks("hk.task", stamping(tick)));
  auto s = store::open(dir / "s.sqlite", reg);
  REQUIRE(s);

  auto a = task("a");
  REQUIRE((*s)->insert(a));
  // The caller's item holds what was written.
  CHECK(int_of(a, created) == 101);
  CHECK(int_of(a, modified) == 101);
  auto stored = (*s)->get("hk.task", a.id);
  REQUIRE(stored);
  CHECK(*stored == a);

  // An update cannot move `created`; `modified` moves on.
  a.values[title] = std::string{"a2"};
  a.values[created] = std::int64_t{5};
  REQUIRE((*s)->update(a));
  CHECK(int_of(a, created) == 101);
  CHECK(int_of(a, modified) == 102);
  // A const item is written the same way, the caller's copy untouched.
  const item same = a;
  REQUIRE((*s)->update(same));
  CHECK(int_of(*(*s)->get("hk.task", a.id), modified) == 103);

  auto b = task("b");
  REQUIRE((*s)->insert(b));
  item sub{0, "hk.sub", {reference{b.id}}};
  REQUIRE((*s)->insert(sub));
  // remove, and remove_where with a cascade into a type without hooks.
  REQUIRE((*s)->remove("hk.task", a.id));
  auto removed = (*s)->remove_where("hk.task", {});
  REQUIRE(removed);
  CHECK(*removed == 1);
  CHECK(count(**s, "hk.sub") == 0);
  CHECK(logged(**s)
        == std::vector<std::string>{
          "created a #" + std::to_string(a.id), "updated a -> a2",
          "updated a2 -> a2", "created b #" + std::to_string(b.id),
          "deleting a2", "deleted a2", "deleting b", "deleted b"});
}

TEST_CASE("a refusing hook leaves nothing of the write", "[store][hooks]") {
  temp_dir dir;
  type_registry reg;
  declare(reg);
  item_hooks h;
  // Writes a log item first, then refuses an empty title: the log item
  // must go with the refused write.
  h.before_create = [](store& s, item& next) -> result<void> {
    MANTISSA_TRY(write_log(s, "trying"));
    if (std::get<std::string>(next.values[title]).empty())
      return {errc::invalid_value, "hk.task: a title is required"};
    return {};
  };
  h.before_update = [](store&, const item&, item& next) -> result<void> {
    next.values[created] = std::string{"not a number"};
    return {};
  };
  h.before_delete = [](store& s, const item&) -> result<void> {
    MANTISSA_TRY(write_log(s, "deleting"));
    return {errc::disallowed, "hk.task: tasks are kept"};
  };
  REQUIRE(reg.add_hooks("hk.task", h));
  auto s = store::open(dir / "s.sqlite", reg);
  REQUIRE(s);
  auto& st = **s;

  auto empty = task("");
  auto r = st.insert(empty);
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::invalid_value);
  CHECK(r.error_value().message == "hk.task: a title is required");
  CHECK(empty.id == 0);
  CHECK(count(st, "hk.task") == 0);
  CHECK(count(st, "hk.log") == 0);

  // Inside a transaction only the refused write is undone.
  REQUIRE(st.begin());
  auto kept = task("kept");
  REQUIRE(st.insert(kept));
  CHECK_FALSE(st.insert(empty));
  REQUIRE(st.commit());
  CHECK(count(st, "hk.task") == 1);
  CHECK(logged(st) == std::vector<std::string>{"trying"});

  // A value a hook sets is checked like the caller's.
  auto changed = kept;
  changed.values[title] = std::string{"changed"};
  auto u = st.update(changed);
  REQUIRE_FALSE(u);
  CHECK(u.code() == errc::invalid_value);
  CHECK(u.error_value().message.find("created") != std::string::npos);
  CHECK(*st.get("hk.task", kept.id) == kept);

  // A refused delete keeps the item and what would have cascaded.
  item sub{0, "hk.sub", {reference{kept.id}}};
  REQUIRE(st.insert(sub));
  auto d = st.remove("hk.task", kept.id);
  REQUIRE_FALSE(d);
  CHECK(d.code() == errc::disallowed);
  CHECK(count(st, "hk.task") == 1);
  CHECK(count(st, "hk.sub") == 1);
  CHECK(logged(st) == std::vector<std::string>{"trying"});
  // Cascaded from another type's delete, the refusal holds too.
  CHECK_FALSE(st.remove_where("hk.task", {}));
  CHECK(count(st, "hk.task") == 1);
}

TEST_CASE("hooks that write items fire those items' hooks, to a depth limit",
          "[store][hooks]") {
  temp_dir dir;
  type_registry reg;
  declare(reg);
  // Every hk.log item written logs another one while its text is shorter
  // than `limit` characters: "x", "xx", ...
  std::size_t limit = 3;
  item_hooks chain;
  chain.after_create = [&limit](store& s, const item& it) -> result<void> {
    auto what = std::get<std::string>(it.values[0]);
    if (what.size() < limit)
      return write_log(s, what + "x");
    return {};
  };
  REQUIRE(reg.add_hooks("hk.log", chain));
  auto s = store::open(dir / "s.sqlite", reg);
  REQUIRE(s);
  auto& st = **s;

  REQUIRE(write_log(st, "x"));
  CHECK(logged(st) == std::vector<std::string>{"x", "xx", "xxx"});

  // Without an end the nesting stops at max_hook_depth with a clear
  // error, and nothing of the write stays.
  limit = 1000;
  auto r = write_log(st, "y");
  REQUIRE_FALSE(r);
  CHECK(r.code() == errc::internal);
  CHECK(r.error_value().message.find("nested more than 8 deep")
        != std::string::npos);
  CHECK(count(st, "hk.log") == 3);
  // The depth is back at 0: hooks nesting max_hook_depth deep work (the
  // item written at depth k is k + 1 long; the longest one's hooks run
  // at depth max_hook_depth).
  limit = max_hook_depth;
  REQUIRE(write_log(st, "z"));
  CHECK(count(st, "hk.log") == 3 + max_hook_depth);
}

TEST_CASE("hooks are declared for known types, and upgrades do not fire them",
          "[store][hooks]") {
  temp_dir dir;
  item_id id = 0;
  {
    type_registry reg;
    declare(reg);
    CHECK(reg.add_hooks("hk.nothing", {}).code() == errc::no_such_type);
    CHECK(reg.hooks("hk.nothing").empty());
    auto s = store::open(dir / "s.sqlite", reg);
    REQUIRE(s);
    auto a = task("old");
    REQUIRE((*s)->insert(a));
    id = a.id;
  }
  // Version 2 of hk.task with hooks: the version-1 item is upgraded on
  // read without a hook running; a write after it runs them.
  type_registry reg;
  type_decl v1{"hk.task", 1, {}};
  v1.attributes = {{"title", attribute_type::text},
                   {"created", attribute_type::integer},
                   {"modified", attribute_type::integer}};
  REQUIRE(reg.add_legacy(v1));
  declare(reg, 2);
  REQUIRE(reg.add_copy_upgrader("hk.task", 1, 2));
  std::int64_t tick = 0;
  REQUIRE(reg.add_hooks("hk.task", stamping(tick)));
  CHECK(reg.hooks("hk.task").size() == 1);
  auto s = store::open(dir / "s.sqlite", reg);
  REQUIRE(s);
  auto old = (*s)->get("hk.task", id);
  REQUIRE(old);
  CHECK(int_of(*old, modified) == 0);
  CHECK(logged(**s).empty());
  REQUIRE((*s)->update(*old));
  CHECK(int_of(*old, modified) == 1);
  CHECK(logged(**s) == std::vector<std::string>{"updated old -> old"});
}

TEST_CASE("a nullify policy updates the referring items through their hooks",
          "[store][hooks]") {
  temp_dir dir;
  type_registry reg;
  declare(reg);
  type_decl pin{"hk.pin", 1, {}};
  attribute_decl to{"task", attribute_type::reference};
  to.target_type = "hk.task";  // on delete: nullify
  pin.attributes = {to, {"updates", attribute_type::integer}};
  REQUIRE(reg.add(pin));
  item_hooks h;
  // Counts updates; a pin updated once already refuses the next one.
  h.before_update = [](store&, const item& old, item& next) -> result<void> {
    if (int_of(old, 1) >= 1)
      return {errc::disallowed, "hk.pin: updated once already"};
    next.values[1] = int_of(old, 1) + 1;
    return {};
  };
  REQUIRE(reg.add_hooks("hk.pin", h));
  auto s = store::open(dir / "s.sqlite", reg);
  REQUIRE(s);
  auto& st = **s;
  auto a = task("a"), b = task("b");
  REQUIRE(st.insert(a));
  REQUIRE(st.insert(b));
  item on_a{0, "hk.pin", {reference{a.id}, std::int64_t{0}}};
  item loose{0, "hk.pin", {value{}, std::int64_t{0}}};
  item on_b{0, "hk.pin", {reference{b.id}, std::int64_t{1}}};
  for (auto* p : {&on_a, &loose, &on_b})
    REQUIRE(st.insert(*p));

  REQUIRE(st.remove("hk.task", a.id));
  auto after = st.get("hk.pin", on_a.id);
  REQUIRE(after);
  CHECK(is_null(after->values[0]));
  CHECK(int_of(*after, 1) == 1);
  CHECK(*st.get("hk.pin", loose.id) == loose);

  // The hook refuses to nullify the pin on b: b stays, and so does the pin.
  auto r = st.remove("hk.task", b.id);
  REQUIRE_FALSE(r);
  CHECK(r.error_value().message == "hk.pin: updated once already");
  CHECK(st.get("hk.task", b.id));
  CHECK(*st.get("hk.pin", on_b.id) == on_b);
}

namespace {

/// hk.task as a struct, with a member that is not an attribute.
struct stamped {
  item_id id = 0;
  std::string title;
  std::int64_t created = 0;
  std::int64_t modified = 0;
  std::string scratch = "not stored";
};

} // namespace

TEST_CASE("item_type<T> hands back what the hooks wrote", "[store][hooks]") {
  temp_dir dir;
  type_registry reg;
  declare(reg);
  std::int64_t tick = 0;
  REQUIRE(reg.add_hooks("hk.task", stamping(tick)));
  const auto type = item_type<stamped>{"hk.task", 1}
                      .attribute("title", &stamped::title)
                      .attribute("created", &stamped::created)
                      .attribute("modified", &stamped::modified);
  auto s = store::open(dir / "s.sqlite", reg);
  REQUIRE(s);
  stamped obj{.title = "typed", .scratch = "mine"};
  REQUIRE(type.insert(**s, obj));
  CHECK(obj.id != 0);
  CHECK(obj.created == 1);
  CHECK(obj.modified == 1);
  CHECK(obj.scratch == "mine");
  obj.created = 50;
  REQUIRE(type.update(**s, obj));
  CHECK(obj.created == 1);
  CHECK(obj.modified == 2);
  const stamped same = obj;
  REQUIRE(type.update(**s, same));
  auto stored = type.get(**s, obj.id);
  REQUIRE(stored);
  CHECK(stored->modified == 3);
}
