// Offline administration of signup (docs/accounts.md, "Signup"):
// `signup open|close|list|ticket`. Like the other admin commands they hold
// the data directory's lock, so never run beside a node; a running node
// takes the same operations over `POST /api/admin/signups`.

#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/offline.hpp"
#include "offerings/signup.hpp"
#include "wire/protocol.hpp"

namespace mantissa::cli {

namespace {

void print_signup(const offerings::signup_record& s) {
  std::cout << s.id << '\t' << s.kind << '\t' << s.product << '\t' << s.domain
            << '\t' << (s.closed ? "closed" : "open")
            << (s.inviters.empty() ? "" : "\tinviters " + s.inviters) << '\n';
}

void add_open_command(CLI::App* signup, int& exit_code) {
  auto a = std::make_shared<offerings::signup_spec>();
  auto data = std::make_shared<common_args>();
  auto* cmd = add_data_command(signup, "open", "Open a signup", *data);
  cmd->add_option("KIND", a->kind, "free (anyone) or ticket (invitations)")
    ->required();
  cmd->add_option("--product", a->product, "The product new accounts get")
    ->required();
  cmd->add_option("--domain", a->domain,
                  "The domain of new accounts (default: site.domain)");
  cmd->add_option("--inviters", a->inviters,
                  "A group (group:NAME) whose members may make tickets");
  cmd->callback([a, data, &exit_code] {
    with_site(data->data, exit_code, [&](offline_site& o) {
      auto spec = *a;
      spec.opened_by = actors::system_role;
      auto rec = offerings::open_signup(*o.site, std::move(spec));
      if (!ok_or_fail(rec, exit_code))
        return;
      std::cout << "opened signup ";
      print_signup(*rec);
    });
  });
}

void add_close_command(CLI::App* signup, int& exit_code) {
  struct close_args : common_args {
    std::int64_t id = 0;
  };
  auto a = std::make_shared<close_args>();
  auto* cmd = add_data_command(signup, "close", "Close a signup", *a);
  cmd->add_option("ID", a->id)->required();
  cmd->callback([a, &exit_code] {
    with_site(a->data, exit_code, [&](offline_site& o) {
      auto rec = offerings::close_signup(*o.site, a->id);
      if (!ok_or_fail(rec, exit_code))
        return;
      std::cout << "closed signup " << rec->id << '\n';
    });
  });
}

void add_ticket_command(CLI::App* signup, int& exit_code) {
  struct ticket_args : common_args {
    std::int64_t id = 0;
    std::int64_t expires_in = offerings::default_ticket_seconds;
  };
  auto a = std::make_shared<ticket_args>();
  auto* cmd = add_data_command(signup, "ticket",
                               "Make an invitation for a ticket signup", *a);
  cmd->add_option("ID", a->id, "The signup")->required();
  cmd->add_option("--expires-in", a->expires_in,
                  "Seconds until it expires (default: 7 days)");
  cmd->callback([a, &exit_code] {
    with_site(a->data, exit_code, [&](offline_site& o) {
      auto t = offerings::create_ticket(*o.site, a->id, actors::system_role,
                                        a->expires_in);
      if (!ok_or_fail(t, exit_code))
        return;
      std::cout << "/signup?ticket=" << t->secret << '\n';
    });
  });
}

} // namespace

void add_signup_commands(CLI::App& app, int& exit_code) {
  auto* signup
    = app.add_subcommand("signup", "Let people make their own accounts");
  signup->require_subcommand(1);
  add_open_command(signup, exit_code);
  add_close_command(signup, exit_code);
  add_site_command(signup, "list", "List signups", exit_code,
                   [](offline_site& o, int& status) {
                     auto all = offerings::list_signups(*o.site);
                     if (ok_or_fail(all, status))
                       for (auto& s : *all)
                         print_signup(s);
                   });
  add_ticket_command(signup, exit_code);
}

} // namespace mantissa::cli
