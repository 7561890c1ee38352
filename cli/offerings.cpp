// Offline administration of offerings and products: `offering list|install`,
// `product create|list`, `user product add|remove`. Like the other admin
// commands they hold the data directory's lock, so never run beside a node.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "offerings/setup.hpp"
#include "offerings/site.hpp"

namespace mantissa::cli {

namespace {

/// Opens the site and loads every offering; errors are printed.
std::unique_ptr<offline_site> open_with_offerings(const std::string& data,
                                                  int& status) {
  auto o = open_site(data, false, status);
  if (!o || !load_offerings(*o, status))
    return nullptr;
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

} // namespace

void add_offering_commands(CLI::App& app, int& exit_code) {
  // -- offering
  // ----------------------------------------------------------------
  {
    auto* offering = app.add_subcommand("offering", "Installable applications");
    offering->require_subcommand(1);

    auto l = std::make_shared<common_args>();
    auto* list = offering->add_subcommand(
      "list", "List known offerings and whether they are installed");
    add_data_option(list, *l);
    list->callback([l, &exit_code] {
      int status = 0;
      auto o = open_with_offerings(l->data, status);
      if (!o) {
        exit_code = status;
        return;
      }
      auto all = offerings::list_offerings(*o->site, o->offerings);
      if (!all) {
        exit_code = fail(all.error_value().message);
        return;
      }
      for (auto& st : *all)
        std::cout << st.name << '\t' << st.version << '\t'
                  << (st.installed ? "installed" : "not-installed")
                  << (st.known ? "" : "\tunknown (plugin not loaded)") << '\t'
                  << st.description << '\n';
    });

    struct install_args : common_args {
      std::string name;
    };
    auto i = std::make_shared<install_args>();
    auto* install = offering->add_subcommand(
      "install", "Install an offering: its app store and its products");
    add_data_option(install, *i);
    install->add_option("NAME", i->name, "The offering, e.g. notes")
      ->required();
    install->callback([i, &exit_code] {
      int status = 0;
      auto o = open_with_offerings(i->data, status);
      if (!o) {
        exit_code = status;
        return;
      }
      auto rec = offerings::install_offering(*o->site, o->context(), i->name);
      if (!rec) {
        exit_code = fail(rec.error_value().message);
        return;
      }
      std::cout << "installed offering " << rec->name << ' ' << rec->version
                << " (app store "
                << "apps/" << rec->name << ".sqlite)\n";
      for (auto& p : o->offerings.find(rec->name)->products)
        std::cout << "created product " << p.name << '\n';
    });
  }

  // -- product
  // -----------------------------------------------------------------
  {
    auto* product = app.add_subcommand(
      "product", "Named sets of powerups users can be given");
    product->require_subcommand(1);

    struct create_args : common_args {
      std::string name;
      std::string powerups;
    };
    auto c = std::make_shared<create_args>();
    auto* create = product->add_subcommand("create", "Create a product");
    add_data_option(create, *c);
    create->add_option("NAME", c->name)->required();
    create
      ->add_option("--powerups", c->powerups,
                   "Comma-separated installable powerup names")
      ->required();
    create->callback([c, &exit_code] {
      int status = 0;
      auto o = open_with_offerings(c->data, status);
      if (!o) {
        exit_code = status;
        return;
      }
      auto names = split_names(c->powerups);
      for (auto& n : names)
        if (n.empty()) {
          exit_code = fail("--powerups: an empty powerup name in '"
                           + c->powerups + "'");
          return;
        }
      auto pr
        = offerings::create_product(*o->site, o->offerings, c->name, names);
      if (!pr) {
        exit_code = fail(pr.error_value().message);
        return;
      }
      std::cout << "created product " << pr->name << " ("
                << names_of(pr->powerups) << ")\n";
    });

    auto l = std::make_shared<common_args>();
    auto* list = product->add_subcommand("list", "List products");
    add_data_option(list, *l);
    list->callback([l, &exit_code] {
      with_site(l->data, exit_code, [&](offline_site& o) {
        auto all = offerings::list_products(*o.site);
        if (!all) {
          exit_code = fail(all.error_value().message);
          return;
        }
        for (auto& p : *all)
          std::cout << p.name << '\t' << names_of(p.powerups) << '\n';
      });
    });
  }

  // -- user product
  // ------------------------------------------------------------
  {
    auto* user = app.get_subcommand("user");
    auto* product
      = user->add_subcommand("product", "Add or remove a user's products");
    product->require_subcommand(1);
    struct product_args : common_args {
      std::string address;
      std::string name;
    };
    for (bool adding : {true, false}) {
      auto a = std::make_shared<product_args>();
      auto* cmd = product->add_subcommand(
        adding ? "add" : "remove",
        adding ? "Install a product's powerups into a user's store"
               : "Remove a product and the powerups nothing else needs");
      add_data_option(cmd, *a);
      cmd->add_option("ADDRESS", a->address, "user@domain")->required();
      cmd->add_option("PRODUCT", a->name)->required();
      cmd->callback([a, adding, &exit_code] {
        auto addr = actors::parse_address(a->address);
        if (!addr) {
          exit_code = fail(addr.error_value().message);
          return;
        }
        int status = 0;
        auto o = open_with_offerings(a->data, status);
        if (!o) {
          exit_code = status;
          return;
        }
        auto ctx = o->context();
        if (adding) {
          auto r
            = offerings::add_product_to_user(*o->site, ctx, *addr, a->name);
          if (!r) {
            exit_code = fail(r.error_value().message);
            return;
          }
          std::cout << "added product " << a->name << " to "
                    << actors::to_string(*addr) << '\n';
        } else {
          auto r = offerings::remove_product_from_user(*o->site, ctx, *addr,
                                                       a->name);
          if (!r) {
            exit_code = fail(r.error_value().message);
            return;
          }
          std::cout << "removed product " << a->name << " from "
                    << actors::to_string(*addr) << '\n';
        }
      });
    }
  }
}

} // namespace mantissa::cli
