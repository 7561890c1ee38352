#include "cli/offline.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include "actors/auth.hpp"
#include "actors/node.hpp"
#include "actors/site_config.hpp"
#include "offerings/setup.hpp"

namespace mantissa::cli {

std::filesystem::path data_dir_of(const std::string& data) {
  return data.empty() ? actors::default_data_dir()
                      : std::filesystem::path{data};
}

int fail(const std::string& what) {
  std::cerr << "mantissa: " << what << '\n';
  return 1;
}

std::unique_ptr<offline_site> open_site(const std::string& data, bool create,
                                        int& status) {
  auto o = std::make_unique<offline_site>();
  o->data_dir = data_dir_of(data);
  auto site_file = actors::site_path(o->data_dir);
  std::error_code ec;
  bool exists = std::filesystem::exists(site_file, ec);
  if (create && exists) {
    status = fail(o->data_dir.string() + " is already initialized (site store "
                  + site_file.string() + " exists); nothing changed");
    return nullptr;
  }
  if (!create && !exists) {
    status = fail("no site at " + o->data_dir.string()
                  + "; create one with 'mantissa init --data "
                  + o->data_dir.string() + " --domain DOMAIN'");
    return nullptr;
  }
  auto lock
    = actors::data_dir_lock::acquire(o->data_dir, "a mantissa admin command");
  if (!lock) {
    status = fail(lock.error_value().message
                  + "; stop the node first (offline commands need the data "
                    "directory to themselves)");
    return nullptr;
  }
  o->lock = std::move(*lock);
  if (auto r = actors::register_auth_types(o->types); !r) {
    status = fail(r.error_value().message);
    return nullptr;
  }
  if (auto r = actors::register_account_types(o->types); !r) {
    status = fail(r.error_value().message);
    return nullptr;
  }
  if (auto r = actors::register_site_config_types(o->types); !r) {
    status = fail(r.error_value().message);
    return nullptr;
  }
  if (auto r = offerings::register_site_types(o->types); !r) {
    status = fail(r.error_value().message);
    return nullptr;
  }
  store::store_options opts;
  opts.create = create;
  auto s = store::store::open(site_file, o->types, opts);
  if (!s) {
    status = fail(s.error_value().message);
    return nullptr;
  }
  o->site = std::move(*s);
  return o;
}

bool load_offerings(offline_site& o, int& status) {
  if (auto r = offerings::add_builtin_offerings(o.offerings); !r) {
    status = fail(r.error_value().message);
    return false;
  }
  auto plugins = actors::get_setting(*o.site, offerings::plugins_setting);
  if (plugins) {
    if (auto r = offerings::load_plugins(o.offerings, plugins->value); !r) {
      status = fail(r.error_value().message + " (named in the setting "
                    + std::string{offerings::plugins_setting} + ")");
      return false;
    }
  } else if (plugins.code() != store::errc::no_such_item) {
    status = fail(plugins.error_value().message);
    return false;
  }
  // Offerings may keep powerups in the site store (site requirements):
  // reopen it so that it opens knowing every offering's types.
  auto site_file = o.site->path();
  o.site.reset();
  if (auto r = o.offerings.register_types(o.types); !r) {
    status = fail(r.error_value().message);
    return false;
  }
  store::store_options opts;
  opts.create = false;
  auto s = store::store::open(site_file, o.types, opts);
  if (!s) {
    status = fail(s.error_value().message);
    return false;
  }
  o.site = std::move(*s);
  return true;
}

bool end_sessions_offline(offline_site& o, const actors::account& acct,
                          int& status) {
  auto ended = actors::end_stored_sessions(*o.site, actors::to_string(acct.addr));
  if (!ended) {
    status = fail("cannot end the sessions of " + actors::to_string(acct.addr)
                  + ": " + ended.error_value().message);
    return false;
  }
  if (*ended > 0)
    std::cout << "ended " << *ended << " stored session"
              << (*ended == 1 ? "" : "s") << " of "
              << actors::to_string(acct.addr) << '\n';
  return true;
}

bool sync_copy(offline_site& o, const actors::account& acct, int& status) {
  auto path = actors::store_path(o.data_dir, acct.addr);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  auto user = store::store::open(path, o.types);
  if (!user) {
    status = fail("cannot open the store of " + actors::to_string(acct.addr)
                  + ": " + user.error_value().message);
    return false;
  }
  if (auto r = actors::write_account_copy(**user, acct); !r) {
    status = fail("cannot update the store of " + actors::to_string(acct.addr)
                  + ": " + r.error_value().message);
    return false;
  }
  return true;
}

std::optional<std::string> read_password() {
  std::string pw;
  if (!std::getline(std::cin, pw))
    return std::nullopt;
  if (!pw.empty() && pw.back() == '\r')
    pw.pop_back();
  return pw;
}

void add_data_option(CLI::App* cmd, common_args& args) {
  cmd->add_option(
    "--data", args.data,
    "Data directory (default: $MANTISSA_DATA, else ./mantissa-data)");
}

CLI::App* add_data_command(CLI::App* parent, const std::string& name,
                           const std::string& help, common_args& args) {
  auto* cmd = parent->add_subcommand(name, help);
  add_data_option(cmd, args);
  return cmd;
}

void add_site_command(CLI::App* parent, const std::string& name,
                      const std::string& help, int& exit_code,
                      std::function<void(offline_site&, int&)> run) {
  auto args = std::make_shared<common_args>();
  auto* cmd = add_data_command(parent, name, help, *args);
  cmd->callback([args, run = std::move(run), &exit_code] {
    with_site(args->data, exit_code,
              [&](offline_site& o) { run(o, exit_code); });
  });
}

} // namespace mantissa::cli
