// Offline administration: `init`, `user`, `config` and `port` work on the
// data directory's files directly, holding the data directory's lock so
// that they never run beside a node (which holds the same lock).

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/auth.hpp"
#include "actors/data_dir.hpp"
#include "actors/node.hpp"
#include "actors/site_ca.hpp"
#include "actors/site_config.hpp"
#include "cli/cluster.hpp"
#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "cli/options.hpp"
#include "offerings/setup.hpp"
#include "offerings/site.hpp"
#include "store/sharing.hpp"
#include "store/store.hpp"

namespace mantissa::cli {

namespace {

// -- init ----------------------------------------------------------------------

void add_init_command(CLI::App& app, int& exit_code) {
  struct init_args : common_args {
    std::string domain;
  };
  auto args = std::make_shared<init_args>();
  auto* cmd = add_data_command(&app, "init",
                               "Create a site in a data directory", *args);
  cmd
    ->add_option("--domain", args->domain,
                 "The site's mail and web domain, e.g. example.com")
    ->required();
  cmd->callback([args, &exit_code] {
    auto domain = actors::parse_address("postmaster@" + args->domain);
    if (!domain) {
      exit_code = fail("--domain: " + domain.error_value().message);
      return;
    }
    int status = 0;
    auto o = open_site(args->data, true, status);
    if (!o) {
      exit_code = status;
      return;
    }
    auto r = actors::set_setting(*o->site, "site.domain", domain->domain);
    if (!ok_or_fail(r, exit_code))
      return;
    std::cout << "initialized " << o->data_dir.string() << " for domain "
              << domain->domain << '\n';
    // The CA that signs the certificates of the site's nodes and clients
    // (`mantissa cert`); one made earlier by `cert ca` is kept.
    auto tls = actors::site_tls_dir(o->data_dir);
    if (!actors::site_ca_exists(tls)) {
      auto ca = actors::make_site_ca(tls, domain->domain);
      if (!ca) {
        exit_code = fail("cannot create the site CA: "
                         + ca.error_value().message
                         + " (the site itself is initialized; run "
                           "'mantissa cert ca' when this is fixed)");
        return;
      }
      std::cout << "created the site CA in " << tls.string() << '\n';
    }
  });
}

// -- user add ------------------------------------------------------------------

struct user_add_args : common_args {
  std::string address;
  bool password_stdin = false;
  bool no_password = false;
  std::vector<std::string> products;
  std::string connect;
  std::string node;
  std::string key;
  actors::network_tls tls;
};

/// `user add --connect`: the running node adds the account (a cluster
/// places its store) and gives it its products, which are checked first.
void add_user_through_node(const user_add_args& a,
                           const std::optional<std::string>& password,
                           int& exit_code) {
  nlohmann::json out;
  nlohmann::json args{{"username", a.address},
                      {"node", a.node},
                      {"products", a.products}};
  if (password)
    args["password"] = *password;
  else
    args["artificial"] = true;
  online_args o{a.connect, a.key, a.tls};
  if (!through_node(a.data, o, "add_user", args, out, exit_code))
    return;
  auto address = out.value("address", a.address);
  auto node = out.value("node", std::string{});
  std::cout << "added " << address << (password ? "" : " (no password)")
            << (node.empty() ? "" : " on node " + node) << '\n';
  for (auto& p : out.value("products", std::vector<std::string>{}))
    std::cout << "added product " << p << " to " << address << '\n';
}

/// `user add` offline: the account, its store, then its products (each
/// product is checked before the account exists, so an unknown one
/// creates nothing).
void add_user_offline(offline_site& o, const user_add_args& a,
                      const actors::address& addr,
                      std::optional<std::string> password, int& exit_code) {
  if (!a.products.empty()) {
    if (addr.is_offering()) {
      exit_code = fail("products are for users; '" + addr.localpart
                       + "' has no domain");
      return;
    }
    if (!load_offerings(o, exit_code))
      return;
    for (auto& name : a.products)
      if (auto pr = offerings::find_product(*o.site, name); !pr) {
        exit_code = fail(pr.error_value().message
                         + "; nothing changed (see 'mantissa product list')");
        return;
      }
  }
  auto acct = actors::add_account(*o.site, addr, std::move(password));
  if (!ok_or_fail(acct, exit_code) || !sync_copy(o, *acct, exit_code))
    return;
  std::cout << "added " << actors::to_string(acct->addr)
            << (acct->password_hash.empty() ? " (no password)" : "") << '\n';
  auto ctx = o.context();
  for (auto& name : a.products) {
    auto r = offerings::add_product_to_user(*o.site, ctx, acct->addr, name);
    if (!r) {
      exit_code = fail("cannot add product '" + name + "' to "
                       + actors::to_string(acct->addr) + ": "
                       + r.error_value().message);
      return;
    }
    std::cout << "added product " << name << " to "
              << actors::to_string(acct->addr) << '\n';
  }
}

void add_user_add_command(CLI::App* user, int& exit_code) {
  auto a = std::make_shared<user_add_args>();
  auto* add
    = add_data_command(user, "add", "Create an account and its store", *a);
  add->add_option("ADDRESS", a->address, "user@domain")->required();
  auto* pw = add->add_flag("--password-stdin", a->password_stdin,
                           "Read the password from standard input");
  add
    ->add_flag("--no-password", a->no_password,
               "An artificial account: owns a store, cannot log in")
    ->excludes(pw);
  add
    ->add_option("--product", a->products,
                 "Install this product into the new store (repeatable)")
    ->allow_extra_args(false);
  add_text_options(add, {{"--connect", &a->connect,
                          "Add the account through the running node at "
                          "HOST:PORT (its --listen), in a cluster or not"},
                         {"--node", &a->node,
                          "With --connect: the node for the account's store "
                          "(default: the one with the fewest stores)"},
                         {"--key", &a->key,
                          "With --connect: the key file (default: "
                          "DATA/cluster.key, else DATA/node.key)"}});
  add_tls_options(add, a->tls);
  add->callback([a, &exit_code] {
    auto addr = actors::parse_address(a->address);
    if (!ok_or_fail(addr, exit_code))
      return;
    std::optional<std::string> password;
    if (a->password_stdin) {
      password = read_password();
      if (!password || password->empty()) {
        exit_code = fail("no password on standard input");
        return;
      }
    } else if (!a->no_password) {
      exit_code = fail("give --password-stdin, or --no-password for an "
                       "account that cannot log in");
      return;
    }
    if (!a->connect.empty()) {
      add_user_through_node(*a, password, exit_code);
      return;
    }
    if (!a->node.empty()) {
      exit_code = fail("--node needs --connect");
      return;
    }
    with_site(a->data, exit_code, [&](offline_site& o) {
      add_user_offline(o, *a, *addr, std::move(password), exit_code);
    });
  });
}

// -- user list, disable, enable, passwd, admin ---------------------------------

void add_user_list_command(CLI::App* user, int& exit_code) {
  add_site_command(
    user, "list", "List accounts", exit_code,
    [](offline_site& o, int& status) {
      auto all = actors::list_accounts(*o.site);
      auto members = store::members_of(*o.site, "group:admin");
      if (!all || !members) {
        status = fail(!all ? all.error_value().message
                           : members.error_value().message);
        return;
      }
      std::set<std::string> admins(members->begin(), members->end());
      for (auto& acct : *all) {
        std::cout << actors::to_string(acct.addr);
        if (acct.disabled)
          std::cout << "\tdisabled";
        if (acct.password_hash.empty())
          std::cout << "\tno-password";
        if (admins.count(actors::primary_role(actors::to_string(acct.addr))))
          std::cout << "\tadmin";
        std::cout << '\n';
      }
    });
}

struct target_args : common_args {
  std::string address;
  bool password_stdin = false;
};

/// Adds a `user` subcommand that takes ADDRESS and --data.
std::shared_ptr<target_args> add_target_command(CLI::App* user,
                                                const char* name,
                                                const char* help,
                                                CLI::App*& cmd) {
  auto args = std::make_shared<target_args>();
  cmd = add_data_command(user, name, help, *args);
  cmd->add_option("ADDRESS", args->address, "user@domain")->required();
  return args;
}

void add_user_disable_enable_commands(CLI::App* user, int& exit_code) {
  CLI::App* disable = nullptr;
  CLI::App* enable = nullptr;
  auto d = add_target_command(user, "disable", "Disable an account", disable);
  auto e
    = add_target_command(user, "enable", "Enable a disabled account", enable);
  for (auto [cmd, args, disabled] :
       {std::tuple{disable, d, true}, std::tuple{enable, e, false}}) {
    cmd->callback([args = args, disabled = disabled, &exit_code] {
      auto addr = actors::parse_address(args->address);
      if (!ok_or_fail(addr, exit_code))
        return;
      with_site(args->data, exit_code, [&](offline_site& o) {
        auto acct = actors::set_disabled(*o.site, *addr, disabled);
        if (!ok_or_fail(acct, exit_code) || !sync_copy(o, *acct, exit_code))
          return;
        // The account's stored sessions end: a restart does not bring
        // them back.
        if (disabled && !end_sessions_offline(o, *acct, exit_code))
          return;
        std::cout << (disabled ? "disabled " : "enabled ")
                  << actors::to_string(acct->addr) << '\n';
      });
    });
  }
}

void add_user_passwd_command(CLI::App* user, int& exit_code) {
  CLI::App* passwd = nullptr;
  auto p
    = add_target_command(user, "passwd", "Set an account's password", passwd);
  passwd
    ->add_flag("--password-stdin", p->password_stdin,
               "Read the password from standard input")
    ->required();
  passwd->callback([p, &exit_code] {
    auto addr = actors::parse_address(p->address);
    if (!ok_or_fail(addr, exit_code))
      return;
    auto password = read_password();
    if (!password || password->empty()) {
      exit_code = fail("no password on standard input");
      return;
    }
    with_site(p->data, exit_code, [&](offline_site& o) {
      auto acct = actors::set_password(*o.site, *addr, std::move(password));
      if (!ok_or_fail(acct, exit_code) || !sync_copy(o, *acct, exit_code)
          || !end_sessions_offline(o, *acct, exit_code))
        return;
      std::cout << "password changed for " << actors::to_string(acct->addr)
                << '\n';
    });
  });
}

void add_user_admin_command(CLI::App* user, int& exit_code) {
  struct admin_args : common_args {
    std::string address;
    bool revoke = false;
  };
  auto ad = std::make_shared<admin_args>();
  auto* admin = add_data_command(
    user, "admin", "Make an account a site administrator (group:admin)", *ad);
  admin->add_option("ADDRESS", ad->address, "user@domain")->required();
  admin->add_flag("--revoke", ad->revoke, "Take the role away instead");
  admin->callback([ad, &exit_code] {
    auto addr = actors::parse_address(ad->address);
    if (!ok_or_fail(addr, exit_code))
      return;
    with_site(ad->data, exit_code, [&](offline_site& o) {
      if (auto acct = actors::find_account(*o.site, *addr);
          !ok_or_fail(acct, exit_code))
        return;
      auto role = actors::primary_role(actors::to_string(*addr));
      if (ad->revoke) {
        auto r = store::remove_member(*o.site, role, "group:admin");
        if (!ok_or_fail(r, exit_code))
          return;
        std::cout << (*r ? "revoked admin from " : "was not an admin: ")
                  << actors::to_string(*addr) << '\n';
        return;
      }
      if (auto r = store::add_member(*o.site, role, "group:admin");
          !ok_or_fail(r, exit_code))
        return;
      std::cout << "made " << actors::to_string(*addr) << " an admin\n";
    });
  });
}

void add_user_commands(CLI::App& app, int& exit_code) {
  auto* user = app.add_subcommand("user", "Manage accounts");
  user->require_subcommand(1);
  add_user_add_command(user, exit_code);
  add_user_list_command(user, exit_code);
  add_user_disable_enable_commands(user, exit_code);
  add_user_passwd_command(user, exit_code);
  add_user_admin_command(user, exit_code);
}

// -- config --------------------------------------------------------------------

struct kv_args : common_args {
  std::string key;
  std::string value;
  bool secret = false;
  bool value_stdin = false;
};

void add_config_get_command(CLI::App* config, int& exit_code) {
  auto g = std::make_shared<kv_args>();
  auto* get = add_data_command(config, "get", "Show one setting", *g);
  get->add_option("KEY", g->key)->required();
  get->callback([g, &exit_code] {
    with_site(g->data, exit_code, [&](offline_site& o) {
      auto s = actors::get_setting(*o.site, g->key);
      if (!ok_or_fail(s, exit_code))
        return;
      std::cout << actors::masked(*s) << '\n';
    });
  });
}

void add_config_set_command(CLI::App* config, int& exit_code) {
  auto s = std::make_shared<kv_args>();
  auto* set = add_data_command(config, "set", "Create or change a setting", *s);
  set->add_option("KEY", s->key)->required();
  set->add_option("VALUE", s->value,
                  "The value (or use --value-stdin for secrets)");
  set->add_flag("--secret", s->secret, "Never show the value in full");
  set->add_flag("--value-stdin", s->value_stdin,
                "Read the value from standard input");
  set->callback([s, &exit_code] {
    std::string value = s->value;
    if (s->value_stdin) {
      auto v = read_password();
      if (!v) {
        exit_code = fail("no value on standard input");
        return;
      }
      value = *v;
    }
    with_site(s->data, exit_code, [&](offline_site& o) {
      auto r = actors::set_setting(*o.site, s->key, value, s->secret);
      if (!ok_or_fail(r, exit_code))
        return;
      std::cout << r->key << " = " << actors::masked(*r) << '\n';
    });
  });
}

void add_config_commands(CLI::App& app, int& exit_code) {
  auto* config = app.add_subcommand("config", "Site settings and secrets");
  config->require_subcommand(1);
  add_config_get_command(config, exit_code);
  add_config_set_command(config, exit_code);
  add_site_command(config, "list", "List settings", exit_code,
                   [](offline_site& o, int& status) {
                     auto all = actors::list_settings(*o.site);
                     if (ok_or_fail(all, status))
                       for (auto& setting : *all)
                         std::cout << setting.key << " = "
                                   << actors::masked(setting) << '\n';
                   });
}

// -- port ----------------------------------------------------------------------

struct port_args : common_args {
  std::string kind;
  std::string endpoint;
};

/// `port add` (`adding`) or `port remove`.
void add_port_change_command(CLI::App* port, bool adding, int& exit_code) {
  auto a = std::make_shared<port_args>();
  auto* cmd
    = add_data_command(port, adding ? "add" : "remove",
                       adding ? "Add a listener" : "Remove a listener", *a);
  cmd->add_option("KIND", a->kind, "http, smtp or listen")->required();
  cmd->add_option("HOST:PORT", a->endpoint)->required();
  cmd->callback([a, adding, &exit_code] {
    std::string host, err;
    unsigned short p = 0;
    if (!parse_endpoint(a->endpoint, host, p, err)) {
      exit_code = fail(err);
      return;
    }
    with_site(a->data, exit_code, [&](offline_site& o) {
      if (adding) {
        actors::service svc;
        svc.kind = a->kind;
        svc.host = host;
        svc.port = p;
        auto r = actors::add_service(*o.site, svc);
        if (!ok_or_fail(r, exit_code))
          return;
        std::cout << "added " << r->kind << ' ' << r->host << ':' << r->port
                  << '\n';
      } else {
        auto r = actors::remove_service(*o.site, a->kind, host, p);
        if (!ok_or_fail(r, exit_code))
          return;
        std::cout << "removed " << a->kind << ' ' << host << ':' << p << '\n';
      }
    });
  });
}

void add_port_commands(CLI::App& app, int& exit_code) {
  auto* port = app.add_subcommand(
    "port", "Listeners the node starts (http, smtp, listen)");
  port->require_subcommand(1);
  add_site_command(port, "list", "List configured listeners", exit_code,
                   [](offline_site& o, int& status) {
                     auto all = actors::list_services(*o.site);
                     if (ok_or_fail(all, status))
                       for (auto& svc : *all)
                         std::cout << svc.kind << '\t' << svc.host << ':'
                                   << svc.port
                                   << (svc.enabled ? "" : "\tdisabled")
                                   << '\n';
                   });
  for (bool adding : {true, false})
    add_port_change_command(port, adding, exit_code);
}

} // namespace

void add_admin_commands(CLI::App& app, int& exit_code) {
  add_init_command(app, exit_code);
  add_user_commands(app, exit_code);
  add_config_commands(app, exit_code);
  add_port_commands(app, exit_code);
}

} // namespace mantissa::cli

namespace mantissa::cli {

namespace {

std::string random_password() {
  static constexpr char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
  std::string out;
  std::random_device rd;
  for (int i = 0; i < 16; ++i)
    out += alphabet[rd() % (sizeof(alphabet) - 1)];
  return out;
}

} // namespace

bool prepare_site(const std::filesystem::path& data_dir, bool demo,
                  site_setup& out, std::string& err) {
  int status = 0;
  auto site_file = actors::site_path(data_dir);
  std::error_code ec;
  bool first_run = !std::filesystem::exists(site_file, ec);
  auto o = open_site(data_dir.string(), first_run, status);
  if (!o) {
    err = "cannot open the site store";
    return false;
  }
  auto creds = data_dir / "demo-login.txt";
  if (first_run && demo) {
    if (auto r = actors::set_setting(*o->site, "site.domain", "example.com");
        !r) {
      err = r.error_value().message;
      return false;
    }
    auto addr = actors::parse_address("demo@example.com");
    auto password = random_password();
    auto acct = actors::add_account(*o->site, *addr, password);
    if (!acct) {
      err = acct.error_value().message;
      return false;
    }
    if (!sync_copy(*o, *acct, status)) {
      err = "cannot create the demo account's store";
      return false;
    }
    std::ofstream f{creds, std::ios::trunc};
    f << "demo@example.com " << password << '\n';
    f.close();
    std::filesystem::permissions(creds,
                                 std::filesystem::perms::owner_read
                                   | std::filesystem::perms::owner_write,
                                 ec);
    out.created = true;
  }
  if (std::ifstream f{creds}; f) {
    std::string user, password;
    if (f >> user >> password)
      out.demo_login = user + " / " + password;
  }
  if (auto plugins = actors::get_setting(*o->site, offerings::plugins_setting))
    out.plugins = plugins->value;
  if (auto domain = actors::get_setting(*o->site, "site.domain"))
    out.domain = domain->value;
  if (auto settings = actors::list_settings(*o->site))
    for (auto& st : *settings)
      if (st.key.rfind("smtp.", 0) == 0 || st.key.rfind("http.", 0) == 0
          || st.key.rfind("cluster.", 0) == 0
          || st.key.rfind("backup.", 0) == 0 || st.key.rfind("port.", 0) == 0
          || st.key.rfind("auth.", 0) == 0)
        out.settings[st.key] = st.value;
  auto services = actors::list_services(*o->site);
  if (!services) {
    err = services.error_value().message;
    return false;
  }
  for (auto& svc : *services) {
    if (!svc.enabled)
      continue;
    auto endpoint = svc.host + ":" + std::to_string(svc.port);
    if (svc.host.find(':') != std::string::npos)
      endpoint = "[" + svc.host + "]:" + std::to_string(svc.port);
    if (svc.kind == "http" && out.http.empty())
      out.http = endpoint;
    else if (svc.kind == "listen" && out.listen.empty())
      out.listen = endpoint;
    else if (svc.kind == "smtp" && out.smtp.empty())
      out.smtp = endpoint;
  }
  return true;
}

} // namespace mantissa::cli
