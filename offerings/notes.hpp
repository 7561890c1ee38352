#pragma once

#include <string>

#include "offerings/offering.hpp"
#include "store/typed.hpp"

/// The built-in `notes` offering: a user's own notes, the small "Google
/// Docs" of the project. Its handlers run in a user store that has the
/// `notebook` powerup (product `notes`); see docs/offerings.md.
namespace mantissa::offerings::notes {

/// One note (`notes.note`). `created` and `modified` are set by the
/// type's hooks on every write, whichever way a note is written (what a
/// writer gives is replaced); `modified` orders `notes.list` (newest
/// first).
struct note {
  store::item_id id = 0;
  std::string title;
  std::string body;
  store::timestamp created;
  store::timestamp modified;
};

/// The notebook powerup (`notes.notebook`), installed under the `notes`
/// interface; a store without one has no notes service.
struct notebook {
  store::item_id id = 0;
  std::string name = "notes";
};

/// Longest accepted note title, in bytes.
inline constexpr std::size_t max_title_size = 4096;
/// The interface the notebook is installed under.
inline constexpr const char* notebook_interface = "notes";

[[nodiscard]] const store::item_type<note>& note_item_type();
[[nodiscard]] const store::item_type<notebook>& notebook_item_type();

/// The offering: types `notes.note` and `notes.notebook`, installable
/// powerup `notebook`, product `notes`, handlers `notes.create`,
/// `notes.edit`, `notes.list`, `notes.delete`, share interfaces `read`,
/// `write`, `delete` on `notes.note`, the reliable-message type
/// `notes.copy` (a note {"title","body"} sent to a store becomes a new note
/// there; answer {"id"}), and an HTML view of `notes.note`
/// for websharing (title as `<h1>`, body as `<p>`, both escaped).
[[nodiscard]] offering make_offering();

} // namespace mantissa::offerings::notes
