#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "actors/accounts.hpp"
#include "actors/data_dir.hpp"
#include "offerings/offering.hpp"
#include "offerings/site.hpp"
#include "store/registry.hpp"
#include "store/store.hpp"

namespace CLI {
class App;
}

/// What the offline administration commands share: the site store of a
/// data directory opened by this process alone (holding the data
/// directory's lock, so never beside a running node), and small helpers
/// for arguments and errors.
namespace mantissa::cli {

/// The site store of a data directory, opened by this process alone.
/// Members are destroyed in reverse order: stores close before the lock
/// is released.
struct offline_site {
  std::filesystem::path data_dir;
  std::unique_ptr<actors::data_dir_lock> lock;
  /// Types of the site store and of user and app stores opened beside it:
  /// accounts, site configuration, offering records; `load_offerings`
  /// adds the offerings' types.
  store::type_registry types;
  /// Filled by `load_offerings`.
  offerings::offering_registry offerings;
  std::unique_ptr<store::store> site;

  /// What the offering operations need (valid after `load_offerings`).
  [[nodiscard]] offerings::site_context context() const {
    return {data_dir, &offerings, &types};
  }
};

/// `data`, or the default data directory when empty.
std::filesystem::path data_dir_of(const std::string& data);

/// Prints "mantissa: <what>" to stderr; returns exit status 1.
int fail(const std::string& what);

/// True when `r` holds a value; otherwise prints its error (as `fail`)
/// and stores exit status 1 in `exit_code`.
template<class Result>
[[nodiscard]] bool ok_or_fail(const Result& r, int& exit_code) {
  if (r)
    return true;
  exit_code = fail(r.error_value().message);
  return false;
}

/// Opens the site store; `create` for `init` only. Errors are printed and
/// their exit status stored in `status`.
std::unique_ptr<offline_site> open_site(const std::string& data, bool create,
                                        int& status);

/// Opens the site of `data` (which must exist) and runs `f(offline_site&)`
/// on it; when it cannot be opened, the error is printed and its exit
/// status stored in `exit_code`. `f` reports its own failures through
/// `exit_code`.
template<class F>
void with_site(const std::string& data, int& exit_code, F&& f) {
  int status = 0;
  if (auto o = open_site(data, false, status))
    f(*o);
  else
    exit_code = status;
}

/// Adds the built-in offerings and the plugins named in the site setting
/// `offerings.plugins`, and registers their types. Errors are printed.
bool load_offerings(offline_site& o, int& status);

/// Writes the account's copy into its user store, creating the file.
bool sync_copy(offline_site& o, const actors::account& acct, int& status);

/// Deletes the stored sessions of `acct` from the site store (a disabled
/// account, a new password). Prints how many ended; false (and `status`
/// set) on error.
bool end_sessions_offline(offline_site& o, const actors::account& acct,
                          int& status);

/// Reads a password from standard input (one line, without the newline).
std::optional<std::string> read_password();

struct common_args {
  std::string data;
};

/// Adds `--data` to a command.
void add_data_option(CLI::App* cmd, common_args& args);

/// Adds the subcommand `name` of `parent` with `--data` into `args`.
CLI::App* add_data_command(CLI::App* parent, const std::string& name,
                           const std::string& help, common_args& args);

/// Adds the subcommand `name` of `parent` that takes only `--data`: it
/// opens the site (as `with_site`) and runs `run(site, exit_code)`.
void add_site_command(CLI::App* parent, const std::string& name,
                      const std::string& help, int& exit_code,
                      std::function<void(offline_site&, int&)> run);

} // namespace mantissa::cli
