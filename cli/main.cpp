// The `mantissa` command: runs nodes and administers data directories.

#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cluster.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Mantissa: an application server where every user's data is "
               "their own SQLite store, owned by one actor.",
               "mantissa"};
  app.set_version_flag("--version", std::string{"mantissa "} + MANTISSA_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  mantissa::cli::add_start_command(app, exit_code);
  mantissa::cli::add_admin_commands(app, exit_code);
  mantissa::cli::add_cert_commands(app, exit_code);
  mantissa::cli::add_offering_commands(app, exit_code);
  mantissa::cli::add_signup_commands(app, exit_code);
  mantissa::cli::add_cluster_commands(app, exit_code);
  mantissa::cli::add_move_commands(app, exit_code);
  mantissa::cli::add_fanout_command(app, exit_code);
  mantissa::cli::add_backup_commands(app, exit_code);
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
      known = known || sub->get_name() == argv[1];
    if (!known) {
      std::cerr << "mantissa: unknown command '" << argv[1]
                << "'; run 'mantissa --help' for the list\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
