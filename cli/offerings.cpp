// Administration of offerings and products: `offering list|install|
// uninstall`, `product create|list`, `user product add|remove`. Offline
// they hold the data directory's lock, so never run beside a node; with
// --connect the running node does them (offerings/online.hpp).

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cluster.hpp"
#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "offerings/setup.hpp"
#include "offerings/site.hpp"

namespace mantissa::cli {

namespace {

/// Opens the site and loads every offering; errors are printed and their
/// exit status stored in `exit_code` (untouched on success).
std::unique_ptr<offline_site> open_with_offerings(const std::string& data,
                                                  int& exit_code) {
  int status = 0;
  auto o = open_site(data, false, status);
  if (!o || !load_offerings(*o, status)) {
    exit_code = status;
    return nullptr;
  }
  return o;
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    auto comma = list.find(',', pos);
    auto part = list.substr(pos, comma == std::string::npos ? std::string::npos
                                                            : comma - pos);
    auto b = part.find_first_not_of(" \t");
    auto e = part.find_last_not_of(" \t");
    out.push_back(b == std::string::npos ? std::string{}
                                         : part.substr(b, e - b + 1));
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return out;
}

std::string names_of(const nlohmann::json& list) {
  std::string out;
  if (list.is_array())
    for (auto& n : list)
      if (n.is_string())
        out += (out.empty() ? "" : ",") + n.get<std::string>();
  return out;
}

// -- offering ------------------------------------------------------------------

void add_offering_list_command(CLI::App* offering, int& exit_code) {
  auto l = std::make_shared<common_args>();
  auto* list = add_data_command(
    offering, "list", "List known offerings and whether they are installed",
    *l);
  list->callback([l, &exit_code] {
    auto o = open_with_offerings(l->data, exit_code);
    if (!o)
      return;
    auto all = offerings::list_offerings(*o->site, o->offerings);
    if (!ok_or_fail(all, exit_code))
      return;
    for (auto& st : *all)
      std::cout << st.name << '\t' << st.version << '\t'
                << (st.installed ? "installed" : "not-installed")
                << (st.known ? "" : "\tunknown (plugin not loaded)") << '\t'
                << st.description << '\n';
  });
}

void print_installed(const std::string& name, const std::string& version,
                     const std::vector<std::string>& products) {
  std::cout << "installed offering " << name << ' ' << version
            << " (app store apps/" << name << ".sqlite)\n";
  for (auto& p : products)
    std::cout << "created product " << p << '\n';
}

void add_offering_install_command(CLI::App* offering, int& exit_code) {
  struct install_args : common_args, online_args {
    std::string name;
  };
  auto i = std::make_shared<install_args>();
  auto* install = add_data_command(
    offering, "install", "Install an offering: its app store and its products",
    *i);
  install->add_option("NAME", i->name, "The offering, e.g. notes")->required();
  add_online_options(install, *i);
  install->callback([i, &exit_code] {
    if (!i->connect.empty()) {
      nlohmann::json out;
      if (through_node(i->data, *i, "install", {{"name", i->name}}, out,
                       exit_code))
        print_installed(out.value("name", i->name),
                        out.value("version", std::string{}),
                        out.value("products", std::vector<std::string>{}));
      return;
    }
    auto o = open_with_offerings(i->data, exit_code);
    if (!o)
      return;
    auto rec = offerings::install_offering(*o->site, o->context(), i->name);
    if (!ok_or_fail(rec, exit_code))
      return;
    std::vector<std::string> products;
    for (auto& p : o->offerings.find(rec->name)->products)
      products.push_back(p.name);
    print_installed(rec->name, rec->version, products);
  });
}

void add_offering_uninstall_command(CLI::App* offering, int& exit_code) {
  struct uninstall_args : common_args, online_args {
    std::string name;
  };
  auto u = std::make_shared<uninstall_args>();
  auto* cmd = add_data_command(
    offering, "uninstall",
    "Uninstall an offering and its products (refused while a user has one)",
    *u);
  cmd->add_option("NAME", u->name, "The offering, e.g. notes")->required();
  add_online_options(cmd, *u);
  cmd->callback([u, &exit_code] {
    offerings::uninstalled_offering done;
    if (!u->connect.empty()) {
      nlohmann::json out;
      if (!through_node(u->data, *u, "uninstall", {{"name", u->name}}, out,
                        exit_code))
        return;
      done.name = out.value("name", u->name);
      done.products = out.value("products", std::vector<std::string>{});
    } else {
      auto o = open_with_offerings(u->data, exit_code);
      if (!o)
        return;
      auto r = offerings::uninstall_offering(*o->site, o->offerings, u->name);
      if (!ok_or_fail(r, exit_code))
        return;
      done = std::move(*r);
    }
    std::cout << "uninstalled offering " << done.name
              << " (its app store and account are kept)\n";
    for (auto& p : done.products)
      std::cout << "removed product " << p << '\n';
  });
}

// -- product -------------------------------------------------------------------

void add_product_create_command(CLI::App* product, int& exit_code) {
  struct create_args : common_args, online_args {
    std::string name;
    std::string powerups;
  };
  auto c = std::make_shared<create_args>();
  auto* create = add_data_command(product, "create", "Create a product", *c);
  create->add_option("NAME", c->name)->required();
  create
    ->add_option("--powerups", c->powerups,
                 "Comma-separated installable powerup names")
    ->required();
  add_online_options(create, *c);
  create->callback([c, &exit_code] {
    auto names = split_names(c->powerups);
    for (auto& n : names)
      if (n.empty()) {
        exit_code = fail("--powerups: an empty powerup name in '"
                         + c->powerups + "'");
        return;
      }
    if (!c->connect.empty()) {
      nlohmann::json out;
      if (through_node(c->data, *c, "create_product",
                       {{"name", c->name}, {"powerups", names}}, out,
                       exit_code))
        std::cout << "created product " << out.value("name", c->name) << " ("
                  << names_of(out.value("powerups", nlohmann::json{}))
                  << ")\n";
      return;
    }
    auto o = open_with_offerings(c->data, exit_code);
    if (!o)
      return;
    auto pr = offerings::create_product(*o->site, o->offerings, c->name, names);
    if (!ok_or_fail(pr, exit_code))
      return;
    std::cout << "created product " << pr->name << " ("
              << names_of(pr->powerups) << ")\n";
  });
}

void add_product_list_command(CLI::App* product, int& exit_code) {
  add_site_command(product, "list", "List products", exit_code,
                   [](offline_site& o, int& status) {
                     auto all = offerings::list_products(*o.site);
                     if (ok_or_fail(all, status))
                       for (auto& p : *all)
                         std::cout << p.name << '\t' << names_of(p.powerups)
                                   << '\n';
                   });
}

// -- user product --------------------------------------------------------------

/// `user product add` (`adding`) or `user product remove`.
void add_user_product_command(CLI::App* product, bool adding, int& exit_code) {
  struct product_args : common_args, online_args {
    std::string address;
    std::string name;
  };
  auto a = std::make_shared<product_args>();
  auto* cmd = add_data_command(
    product, adding ? "add" : "remove",
    adding ? "Install a product's powerups into a user's store"
           : "Remove a product and the powerups nothing else needs",
    *a);
  cmd->add_option("ADDRESS", a->address, "user@domain")->required();
  cmd->add_option("PRODUCT", a->name)->required();
  add_online_options(cmd, *a);
  cmd->callback([a, adding, &exit_code] {
    auto addr = actors::parse_address(a->address);
    if (!ok_or_fail(addr, exit_code))
      return;
    if (!a->connect.empty()) {
      nlohmann::json out;
      if (through_node(a->data, *a, adding ? "give" : "take",
                       {{"address", a->address}, {"product", a->name}}, out,
                       exit_code))
        std::cout << (adding ? "added product " : "removed product ")
                  << a->name << (adding ? " to " : " from ")
                  << out.value("address", a->address) << '\n';
      return;
    }
    auto o = open_with_offerings(a->data, exit_code);
    if (!o)
      return;
    auto ctx = o->context();
    if (adding) {
      auto r = offerings::add_product_to_user(*o->site, ctx, *addr, a->name);
      if (!ok_or_fail(r, exit_code))
        return;
      std::cout << "added product " << a->name << " to "
                << actors::to_string(*addr) << '\n';
    } else {
      auto r
        = offerings::remove_product_from_user(*o->site, ctx, *addr, a->name);
      if (!ok_or_fail(r, exit_code))
        return;
      std::cout << "removed product " << a->name << " from "
                << actors::to_string(*addr) << '\n';
    }
  });
}

} // namespace

void add_offering_commands(CLI::App& app, int& exit_code) {
  auto* offering = app.add_subcommand("offering", "Installable applications");
  offering->require_subcommand(1);
  add_offering_list_command(offering, exit_code);
  add_offering_install_command(offering, exit_code);
  add_offering_uninstall_command(offering, exit_code);

  auto* product = app.add_subcommand(
    "product", "Named sets of powerups users can be given");
  product->require_subcommand(1);
  add_product_create_command(product, exit_code);
  add_product_list_command(product, exit_code);

  auto* user_product = app.get_subcommand("user")->add_subcommand(
    "product", "Add or remove a user's products");
  user_product->require_subcommand(1);
  for (bool adding : {true, false})
    add_user_product_command(user_product, adding, exit_code);
}

} // namespace mantissa::cli
