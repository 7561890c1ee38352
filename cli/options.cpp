#include "cli/options.hpp"

#include <CLI/CLI.hpp>

namespace mantissa::cli {

void add_text_options(CLI::App* cmd,
                      std::initializer_list<text_option> options) {
  for (auto& o : options)
    cmd->add_option(o.name, *o.value, o.help);
}

} // namespace mantissa::cli
