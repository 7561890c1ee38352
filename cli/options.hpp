#pragma once

#include <initializer_list>
#include <string>

namespace CLI {
class App;
}

namespace mantissa::cli {

/// An option that takes one text value: its name, where the value goes,
/// and its help line.
struct text_option {
  const char* name;
  std::string* value;
  const char* help;
};

/// Adds `options` to `cmd`, in this order (as `add_option` would, one by
/// one).
void add_text_options(CLI::App* cmd,
                      std::initializer_list<text_option> options);

} // namespace mantissa::cli
