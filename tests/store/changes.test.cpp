// Recording a store's changes and replaying them on a copy of its file
// (store/changes.hpp): what a store move ships after the bulk copy.

#include <catch2/catch.hpp>

#include <filesystem>

#include "store/changes.hpp"
#include "store/messaging.hpp"
#include "store/store.hpp"
#include "tests/support/result.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa::store;
using mantissa::test::ok;
using mantissa::test::temp_dir;

namespace {

type_decl note_decl() {
  attribute_decl title;
  title.name = "title";
  title.type = attribute_type::text;
  title.indexed = true;
  attribute_decl rank;
  rank.name = "rank";
  rank.type = attribute_type::integer;
  return {"notes.note", 1, {title, rank}};
}

item note(std::string title, std::int64_t rank) {
  return {0, "notes.note", {std::move(title), rank}};
}

/// A directory for the files and a registry with the note type.
struct fixture {
  temp_dir dir;
  type_registry reg;
  fixture() { REQUIRE(reg.add(note_decl())); }
};

} // namespace

TEST_CASE_METHOD(fixture,
                 "changes recorded on a store replay on a copy of its file, "
                 "exactly once",
                 "[store][changes]") {
  auto a_path = dir / "a.sqlite";
  std::vector<item_id> ids;
  {
    auto a = store::open(a_path, reg);
    REQUIRE(a);
    for (int i = 0; i < 5; ++i) {
      auto it = note("n" + std::to_string(i), i);
      auto id = (*a)->insert(it);
      REQUIRE(id);
      ids.push_back(*id);
    }
  }
  // The copy: the file as it was when the recording starts.
  auto b_path = dir / "b.sqlite";
  std::filesystem::copy_file(a_path, b_path);
  auto a = store::open(a_path, reg);
  REQUIRE(a);
  auto rec = change_recorder::start((*a)->connection());
  REQUIRE(rec);
  auto extra = note("later", 99);
  auto extra_id = (*a)->insert(extra);
  REQUIRE(extra_id);
  auto changed = (*a)->get("notes.note", ids[1]);
  REQUIRE(changed);
  changed->values[0] = std::string{"renamed"};
  REQUIRE((*a)->update(*changed));
  REQUIRE((*a)->remove("notes.note", ids[3]));
  auto changes = (*rec)->changeset();
  REQUIRE(changes);
  CHECK_FALSE(changes->empty());

  auto b = store::open(b_path, reg);
  REQUIRE(b);
  REQUIRE(apply_changeset((*b)->connection(), *changes));
  for (auto id : {ids[0], ids[1], ids[2], ids[4], *extra_id}) {
    auto x = (*a)->get("notes.note", id);
    auto y = (*b)->get("notes.note", id);
    REQUIRE(x);
    REQUIRE(y);
    CHECK(x->values == y->values);
  }
  CHECK((*b)->get("notes.note", ids[3]).code() == errc::no_such_item);
  auto renamed = (*b)->get("notes.note", ids[1]);
  REQUIRE(renamed);
  CHECK(std::get<std::string>(renamed->values[0]) == "renamed");

  // Twice is refused as a whole (the rows are there already), and so is a
  // store the changes were not recorded on.
  auto again = apply_changeset((*b)->connection(), *changes);
  REQUIRE_FALSE(again);
  CHECK(again.code() == errc::corrupt);
  auto other = store::open(dir / "c.sqlite", reg);
  REQUIRE(other);
  auto unrelated = apply_changeset((*other)->connection(), *changes);
  REQUIRE_FALSE(unrelated);
  CHECK(unrelated.code() == errc::corrupt);
  // Nothing changed: an empty changeset applies as a no-op.
  auto quiet = change_recorder::start((*b)->connection());
  REQUIRE(quiet);
  auto none = (*quiet)->changeset();
  REQUIRE(none);
  CHECK(none->empty());
  CHECK(apply_changeset((*other)->connection(), *none));
}

TEST_CASE_METHOD(fixture,
                 "messages queued while changes are recorded keep their "
                 "sequence on the copy",
                 "[store][changes]") {
  // A session does not record sqlite_sequence (it has no primary key), so
  // the copy's AUTOINCREMENT counter is caught up from the rows applied.
  auto a_path = dir / "a.sqlite";
  auto b_path = dir / "b.sqlite";
  std::int64_t first = 0;
  {
    auto a = store::open(a_path, reg);
    REQUIRE(a);
    auto q = queue_message(**a, "x@example.com", "inbox", "t", "{}",
                           timestamp{1});
    REQUIRE(q);
    first = *q;
  }
  std::filesystem::copy_file(a_path, b_path);
  auto a = store::open(a_path, reg);
  REQUIRE(a);
  auto rec = change_recorder::start((*a)->connection());
  REQUIRE(rec);
  std::int64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    auto q = queue_message(**a, "y@example.com", "inbox", "t", "{}",
                           timestamp{2});
    REQUIRE(q);
    last = *q;
  }
  CHECK(last == first + 3);
  auto changes = (*rec)->changeset();
  REQUIRE(changes);
  {
    auto b = store::open(b_path, reg);
    REQUIRE(b);
    CHECK(ok(last_queued(**b)) == first);
    REQUIRE(apply_changeset((*b)->connection(), *changes));
    CHECK(ok(last_queued(**b)) == last);
    CHECK(ok(unanswered_count(**b)) == 4);
    // The next message on the copy follows the last one on the original.
    auto q = queue_message(**b, "z@example.com", "inbox", "t", "{}",
                           timestamp{3});
    REQUIRE(q);
    CHECK(*q == last + 1);
  }
  // A file that never queued a message has no counter to catch up.
  auto c = store::open(dir / "c.sqlite", reg);
  REQUIRE(c);
  REQUIRE(catch_up_sequences((*c)->connection()));
  CHECK(ok(last_queued(**c)) == 0);
}
