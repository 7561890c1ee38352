#pragma once

#include <string>

namespace CLI {
class App;
}

namespace mantissa::cli {

/// Adds `mantissa start` to `app`. When the command runs, its exit status
/// is stored in `exit_code`.
void add_start_command(CLI::App& app, int& exit_code);

/// Parses "HOST:PORT" (IPv4 or a name; `[v6]:port` too). Returns false with
/// a message when malformed.
bool parse_endpoint(const std::string& text, std::string& host,
                    unsigned short& port, std::string& err);

} // namespace mantissa::cli
