// `mantissa cert`: the site's certificate authority and the certificates it
// issues for mutual TLS on the network port. These commands work on the
// files of DATA/tls (and of --out) alone: they take no lock and never open
// the site store, so they may run beside a node.

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/site_ca.hpp"
#include "cli/commands.hpp"
#include "cli/offline.hpp"

namespace mantissa::cli {

namespace {

/// The data directory's own name ("mantissa-site" for
/// ~/mantissa-site/), for a CA created without --site.
std::string default_site_name(const std::filesystem::path& data_dir) {
  std::error_code ec;
  auto dir = std::filesystem::absolute(data_dir, ec).lexically_normal();
  auto name = dir.filename().string();
  if (name.empty())
    name = dir.parent_path().filename().string();
  return name.empty() ? std::string{"mantissa"} : name;
}

// -- cert ca -------------------------------------------------------------------

void add_cert_ca_command(CLI::App* cert, int& exit_code) {
  struct ca_args : common_args {
    std::string site;
  };
  auto a = std::make_shared<ca_args>();
  auto* ca = add_data_command(
    cert, "ca", "Create the site's CA in DATA/tls unless it exists; show it",
    *a);
  ca->add_option("--site", a->site,
                 "The site's name in the CA's subject (default: the data "
                 "directory's name)");
  ca->callback([a, &exit_code] {
    auto data_dir = data_dir_of(a->data);
    auto tls = actors::site_tls_dir(data_dir);
    if (actors::site_ca_exists(tls)) {
      auto file = tls / "ca.pem";
      auto fp = actors::certificate_fingerprint(file);
      if (!ok_or_fail(fp, exit_code))
        return;
      std::cout << "the site CA is " << file.string() << " (SHA-256 " << *fp
                << ")\n";
      return;
    }
    auto site = a->site.empty() ? default_site_name(data_dir) : a->site;
    auto made = actors::make_site_ca(tls, site);
    if (!ok_or_fail(made, exit_code))
      return;
    std::cout << "created the site CA in " << tls.string() << " (SHA-256 "
              << made->fingerprint << ")\n";
  });
}

// -- cert issue ----------------------------------------------------------------

/// Says what was issued and how a node or a client uses it.
void print_issued(const actors::cert_request& req,
                  const actors::certificate_files& r) {
  auto cert_file = r.certificate.string();
  auto key_file = r.private_key.string();
  auto ca_file = r.ca_file.string();
  std::cout << "issued a " << (req.node ? "node" : "client")
            << " certificate for " << req.name << ": " << cert_file << ", "
            << key_file << " (SHA-256 " << r.fingerprint << ")\n";
  if (req.node)
    std::cout << "start it with --tls-cert " << cert_file << " --tls-key "
              << key_file << " --tls-ca " << ca_file
              << ", or copy the three files into its DATA/tls/\n";
  else
    std::cout << "a custom actor passes them to client::configure_tls(cfg, "
                 "{\""
              << cert_file << "\", \"" << key_file << "\", \"" << ca_file
              << "\"}, err); --connect commands take --tls-cert, "
                 "--tls-key and --tls-ca\n";
}

void add_cert_issue_command(CLI::App* cert, int& exit_code) {
  struct issue_args : common_args {
    actors::cert_request req;
    std::string out;
  };
  auto a = std::make_shared<issue_args>();
  auto* issue = add_data_command(
    cert, "issue", "Issue a certificate signed by the site's CA (DATA/tls)",
    *a);
  issue
    ->add_option("NAME", a->req.name,
                 "Its common name and file names: letters, digits, '.', "
                 "'_' and '-'")
    ->required();
  issue->add_flag("--node", a->req.node,
                  "For a node (serves and connects); default: for a client "
                  "(connects only)");
  issue
    ->add_option("--host", a->req.hosts,
                 "A DNS name or IP address for subjectAltName (repeatable)")
    ->allow_extra_args(false);
  issue->add_option("--days", a->req.days, "Validity in days")
    ->capture_default_str();
  issue->add_option("--out", a->out,
                    "Where to write NAME.pem, NAME.key and ca.pem "
                    "(default: DATA/tls)");
  issue->callback([a, &exit_code] {
    auto tls = actors::site_tls_dir(data_dir_of(a->data));
    if (!actors::site_ca_exists(tls)) {
      exit_code = fail("no site CA in " + tls.string()
                       + "; run mantissa init or mantissa cert ca first");
      return;
    }
    auto out = a->out.empty() ? tls : std::filesystem::path{a->out};
    auto r = actors::issue_certificate(tls, a->req, out);
    if (!ok_or_fail(r, exit_code))
      return;
    print_issued(a->req, *r);
  });
}

} // namespace

void add_cert_commands(CLI::App& app, int& exit_code) {
  auto* cert = app.add_subcommand(
    "cert",
    "The site's certificate authority (mutual TLS on the network port)");
  cert->require_subcommand(1);
  add_cert_ca_command(cert, exit_code);
  add_cert_issue_command(cert, exit_code);
}

} // namespace mantissa::cli
