// Item hooks (docs/store.md, "Item hooks") behind the JSON API's item
// routes, with a real node and server: an offering's hooks change what is
// written and answered, write other items (which the store actor must not
// then serve stale from its cache), and refuse a write so that nothing of
// it stays.

#include "tests/protocols/http/api_fixture.hpp"

using namespace mantissa;
using namespace api_test;
using nlohmann::json;
using store::result;

namespace {

std::string title_text(const store::item& entry) {
  return std::get<std::string>(entry.values[0]);
}

/// The audit item of entry `id`.
result<store::item> audit_of(store::store& s, store::item_id id) {
  store::query q;
  q.type = "hooked.audit";
  q.where = store::cmp("entry", store::compare_op::eq, store::value{id});
  MANTISSA_TRY_LET(found, s.select(q));
  if (found->size() != 1)
    return store::error{store::errc::internal, "entry without its audit"};
  return found->front();
}

/// Sets the audit item of `entry` to say `what` and the entry's title.
result<void> audit(store::store& s, const store::item& entry,
                   const std::string& what) {
  MANTISSA_TRY_LET(a, audit_of(s, entry.id));
  a->values[1] = what + " " + title_text(entry);
  return s.update(*a);
}

/// Creating an entry writes an audit item first, then refuses a blank
/// title (the audit item must go with the refused write); revisions are
/// numbered; the entry's audit item says what happened last; deleting an
/// entry deletes its audit item.
store::item_hooks entry_hooks() {
  store::item_hooks h;
  h.before_create = [](store::store& s, store::item& next) -> result<void> {
    store::item a{0, "hooked.audit", {std::int64_t{0}, std::string{}}};
    MANTISSA_TRY(s.insert(a));
    if (title_text(next).empty())
      return {store::errc::invalid_value, "hooked.entry: the title is blank"};
    next.values[1] = std::int64_t{1};
    return {};
  };
  h.after_create = [](store::store& s, const store::item& entry) -> result<void> {
    store::query q;
    q.type = "hooked.audit";
    q.where = store::cmp("entry", store::compare_op::eq,
                         store::value{std::int64_t{0}});
    MANTISSA_TRY_LET(fresh, s.select(q));
    fresh->front().values[0] = entry.id;
    MANTISSA_TRY(s.update(fresh->front()));
    return audit(s, entry, "created");
  };
  h.before_update = [](store::store&, const store::item& old,
                       store::item& next) -> result<void> {
    next.values[1] = std::get<std::int64_t>(old.values[1]) + 1;
    return {};
  };
  h.after_update = [](store::store& s, const store::item&,
                      const store::item& next) {
    return audit(s, next, "updated");
  };
  h.before_delete = [](store::store& s, const store::item& old) -> result<void> {
    MANTISSA_TRY_LET(a, audit_of(s, old.id));
    return s.remove("hooked.audit", a->id);
  };
  return h;
}

result<void> register_hooked(store::type_registry& types) {
  MANTISSA_TRY(types.add({"hooked.entry",
                          1,
                          {{"title", store::attribute_type::text},
                           {"revision", store::attribute_type::integer}}}));
  MANTISSA_TRY(types.add({"hooked.audit",
                          1,
                          {{"entry", store::attribute_type::integer},
                           {"what", store::attribute_type::text}}}));
  return types.add_hooks("hooked.entry", entry_hooks());
}

struct hooks_fixture : api_fixture {
  offerings::offering_registry known;
  std::string token;

  hooks_fixture() {
    REQUIRE(offerings::add_builtin_offerings(known));
    REQUIRE(known.add({.name = "hooked",
                       .description = "An offering with item hooks, for tests",
                       .version = "1",
                       .register_types = register_hooked}));
    start({}, &known);
    token = login(alice, "alice password");
  }

  json ask(const std::string& method, const std::string& target,
           const json& body, int status) {
    auto r = call(method, target, body.is_null() ? "" : body.dump(),
                  bearer(token));
    INFO(method << " " << target << ": " << r.body);
    REQUIRE(r.status == status);
    return body_of(r);
  }
};

} // namespace

TEST_CASE_METHOD(hooks_fixture,
                 "hooks behind the item routes set values, write other "
                 "items and refuse writes",
                 "[http][api][hooks]") {
  auto entries = items_path(alice, "hooked.entry");
  auto audits = items_path(alice, "hooked.audit");
  auto made = ask("POST", entries, {{"title", "first"}, {"revision", 9}}, 201);
  CHECK(made["revision"] == 1);
  auto entry = entries + "/" + std::to_string(made["id"].get<std::int64_t>());

  auto listed = ask("GET", audits, nullptr, 200);
  REQUIRE(listed["items"].size() == 1);
  CHECK(listed["items"][0]["what"] == "created first");
  CHECK(listed["items"][0]["entry"] == made["id"]);
  auto audit_item
    = audits + "/" + std::to_string(listed["items"][0]["id"].get<std::int64_t>());
  // Read once, so that the store actor keeps it in its cache.
  CHECK(ask("GET", audit_item, nullptr, 200)["what"] == "created first");

  auto changed = ask("PATCH", entry, {{"title", "second"}}, 200);
  CHECK(changed["revision"] == 2);
  CHECK(ask("GET", entry, nullptr, 200) == changed);
  // The hook rewrote the audit item: the update is what is read now.
  CHECK(ask("GET", audit_item, nullptr, 200)["what"] == "updated second");

  // A refused create is a 400 with the hook's error; neither the entry nor
  // the audit item the hook wrote before refusing stays.
  auto refused = ask("POST", entries, {{"title", ""}}, 400);
  CHECK(refused["error"]["code"] == "invalid_value");
  CHECK(refused["error"]["message"] == "hooked.entry: the title is blank");
  CHECK(ask("GET", entries, nullptr, 200)["total"] == 1);
  CHECK(ask("GET", audits, nullptr, 200)["total"] == 1);

  // Deleting the entry deletes its audit item through the hook.
  CHECK(ask("DELETE", entry, nullptr, 200) == json{{"ok", true}});
  CHECK(ask("GET", audits, nullptr, 200)["total"] == 0);
  CHECK(ask("GET", audit_item, nullptr, 404)["error"]["code"] == "no_such_item");
}
