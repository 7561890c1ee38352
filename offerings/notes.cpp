#include "offerings/notes.hpp"

#include "offerings/internal/args.hpp"
#include "offerings/internal/names.hpp"

namespace mantissa::offerings::notes {

namespace {

using nlohmann::json;
using store::errc;
using store::error;

/// Every notes handler needs the notebook powerup in its store.
store::result<void> need_notebook(store::store& s, std::string_view handler) {
  MANTISSA_TRY_LET(p, s.powerups_for(notebook_interface));
  if (p->empty())
    return error{errc::no_such_item,
                 std::string{handler}
                   + ": this store has no notebook "
                     "(add the 'notes' product to the user)"};
  return {};
}

/// A timestamp after `previous` and not before now, so that an edit always
/// moves a note to the front even when the clock has not advanced.
store::timestamp later_than(store::timestamp previous) {
  auto t = internal::now();
  if (t.micros <= previous.micros)
    t.micros = previous.micros + 1;
  return t;
}

store::result<json> create(store::store& s, const json& raw,
                           const actors::caller&) {
  MANTISSA_TRY(need_notebook(s, "notes.create"));
  MANTISSA_TRY_LET(args, internal::args_object("notes.create", raw));
  MANTISSA_TRY_LET(title, internal::opt_string("notes.create", *args, "title"));
  MANTISSA_TRY_LET(body, internal::opt_string("notes.create", *args, "body"));
  note n;
  n.title = title->value_or("");
  n.body = body->value_or("");
  MANTISSA_TRY(note_item_type().insert(s, n));
  return note_item_type().to_json(n);
}

store::result<json> edit(store::store& s, const json& raw,
                         const actors::caller&) {
  MANTISSA_TRY(need_notebook(s, "notes.edit"));
  MANTISSA_TRY_LET(args, internal::args_object("notes.edit", raw));
  MANTISSA_TRY_LET(id, internal::required_id("notes.edit", *args));
  MANTISSA_TRY_LET(title, internal::opt_string("notes.edit", *args, "title"));
  MANTISSA_TRY_LET(body, internal::opt_string("notes.edit", *args, "body"));
  MANTISSA_TRY_LET(n, note_item_type().get(s, *id));
  if (*title)
    n->title = **title;
  if (*body)
    n->body = **body;
  MANTISSA_TRY(note_item_type().update(s, *n));
  return note_item_type().to_json(*n);
}

store::result<json> list(store::store& s, const json& raw,
                         const actors::caller&) {
  MANTISSA_TRY(need_notebook(s, "notes.list"));
  MANTISSA_TRY_LET(args, internal::args_object("notes.list", raw));
  MANTISSA_TRY_LET(page, internal::page_args("notes.list", *args));
  store::query q;
  q.sort = {{"modified", true}};
  q.limit = page->limit;
  q.offset = page->offset;
  MANTISSA_TRY_LET(notes, note_item_type().select(s, q));
  MANTISSA_TRY_LET(total, s.count(note_item_type().name()));
  json out = json::array();
  for (auto& n : *notes)
    out.push_back(note_item_type().to_json(n));
  return json{{"notes", std::move(out)}, {"total", *total}};
}

/// One note: the one shared with the caller when run through a share
/// (interface `read`), else the owner's note `id`.
store::result<json> read(store::store& s, const json& raw,
                         const actors::caller&) {
  auto args = flat_route_args(raw);
  store::item_id id = 0;
  if (auto sh = args.find("shared"); sh != args.end()) {
    if ((*sh)["type"] != "notes.note")
      return error{errc::no_such_item, "notes.read: the share is no note"};
    id = (*sh)["id"].get<store::item_id>();
  } else {
    MANTISSA_TRY_LET(given, internal::required_id("notes.read", args));
    id = *given;
  }
  MANTISSA_TRY_LET(n, note_item_type().get(s, id));
  return note_item_type().to_json(*n);
}

store::result<json> remove(store::store& s, const json& raw,
                           const actors::caller&) {
  MANTISSA_TRY(need_notebook(s, "notes.delete"));
  MANTISSA_TRY_LET(args, internal::args_object("notes.delete", raw));
  MANTISSA_TRY_LET(id, internal::required_id("notes.delete", *args));
  MANTISSA_TRY(s.remove(note_item_type().name(), *id));
  return json{{"ok", true}, {"id", *id}};
}

/// `notes.copy` received: the sender's note {"title","body"} becomes a new
/// note of the receiving store (the store that shares an item to the
/// sender through the `messages` interface). Answers {"id": the new note}.
store::result<json> receive_copy(store::store& s,
                                 const actors::incoming_message& m) {
  constexpr std::string_view what = "notes.copy";
  MANTISSA_TRY_LET(args, internal::args_object(what, m.payload));
  MANTISSA_TRY_LET(title, internal::opt_string(what, *args, "title"));
  MANTISSA_TRY_LET(body, internal::opt_string(what, *args, "body"));
  note n;
  n.title = title->value_or("");
  n.body = body->value_or("");
  MANTISSA_TRY(note_item_type().insert(s, n));
  return json{{"id", n.id}};
}

/// The hooks of `notes.note`: whichever path writes a note (a handler,
/// the JSON API, the actor port, a fan-out, a message), `created` is the
/// time it was created and `modified` the time of its last write, later
/// than the one before.
store::item_hooks note_hooks() {
  static const auto at = [](const char* attr) {
    return static_cast<std::size_t>(note_item_type().decl().index_of(attr));
  };
  static const auto created = at("created"), modified = at("modified");
  store::item_hooks h;
  h.before_create = [](store::store&, store::item& next) -> store::result<void> {
    next.values[created] = next.values[modified] = internal::now();
    return {};
  };
  h.before_update = [](store::store&, const store::item& old,
                       store::item& next) -> store::result<void> {
    next.values[created] = old.values[created];
    next.values[modified]
      = later_than(std::get<store::timestamp>(old.values[modified]));
    return {};
  };
  return h;
}

/// A string attribute of an item's JSON, or "" when missing or not a string.
std::string text_of(const json& item, const char* key) {
  auto i = item.find(key);
  return i != item.end() && i->is_string() ? i->get<std::string>()
                                           : std::string{};
}

/// The websharing view of a note: its title as the heading, its body as
/// one paragraph that keeps its line breaks.
std::string note_view(const json& item) {
  std::string out = "<article class=\"note\"><h1>";
  out += html_escape(text_of(item, "title"));
  out += "</h1><p style=\"white-space:pre-wrap\">";
  out += html_escape(text_of(item, "body"));
  out += "</p></article>";
  return out;
}

} // namespace

const store::item_type<note>& note_item_type() {
  static const auto type
    = store::item_type<note>{"notes.note", 1}
        .attribute("title", &note::title,
                   {.indexed = true, .max_size = max_title_size})
        .attribute("body", &note::body)
        .attribute("created", &note::created)
        .attribute("modified", &note::modified, {.indexed = true});
  return type;
}

const store::item_type<notebook>& notebook_item_type() {
  static const auto type = store::item_type<notebook>{"notes.notebook", 1}
                             .attribute("name", &notebook::name)
                             .powerup(notebook_interface);
  return type;
}

offering make_offering() {
  offering o;
  o.name = "notes";
  o.description = "Notes: create, edit, list and delete your own notes";
  o.version = "1.0";
  o.register_types = [](store::type_registry& types) -> store::result<void> {
    MANTISSA_TRY(types.add(note_item_type().decl()));
    MANTISSA_TRY(types.add_hooks(note_item_type().name(), note_hooks()));
    MANTISSA_TRY(types.add(notebook_item_type().decl()));
    return {};
  };
  o.installable_powerups
    = {{"notebook", "A notebook: the user's notes", "notes.notebook", {}}};
  o.shares = {{"notes.note", {"read", "write", "delete"}}};
  o.handlers = {{"notes.create", create},
                {"notes.edit", edit},
                {"notes.list", list},
                {"notes.delete", remove},
                {"notes.read", read, "read"}};
  // A note shared with the caller (or with everyone), as JSON:
  // /apps/notes/shared/alice@example.com/SHARE_ID.
  o.routes = {{"GET", "/shared/{owner}/{share}", "notes.read",
               route_store::param, "owner", "{share}"}};
  // Only received here; a sender that wants the answer registers its own
  // consequence for the type (without one the answer is dropped).
  o.message_types = {{"notes.copy", {receive_copy, {}}}};
  o.products = {{"notes", {"notebook"}}};
  o.html_views = {{"notes.note", note_view}};
  return o;
}

} // namespace mantissa::offerings::notes
