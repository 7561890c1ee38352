#pragma once

// Item types the node tests declare again and again, and reading their
// integer values back.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <variant>
#include <vector>

#include "store/item.hpp"
#include "store/type.hpp"

namespace mantissa::test {

/// notes.note as the node tests declare it: an indexed text `title` and,
/// unless `with_n` is false, an integer `n`.
inline store::type_decl note_decl(bool with_n = true) {
  store::type_decl d{"notes.note", 1, {}};
  store::attribute_decl title{"title", store::attribute_type::text};
  title.indexed = true;
  d.attributes = {title};
  if (with_n)
    d.attributes.push_back({"n", store::attribute_type::integer});
  return d;
}

/// One integer attribute per name, in order.
inline std::vector<store::attribute_decl>
integers(std::initializer_list<const char*> names) {
  std::vector<store::attribute_decl> out;
  for (auto* n : names)
    out.push_back({n, store::attribute_type::integer});
  return out;
}

/// The integer value `i` of an item.
inline std::int64_t int_of(const store::item& it, std::size_t i) {
  return std::get<std::int64_t>(it.values.at(i));
}

} // namespace mantissa::test
