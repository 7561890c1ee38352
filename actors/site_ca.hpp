#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "store/error.hpp"

/// The site's certificate authority: a key pair kept in the data directory
/// (`DATA/tls/ca.pem`, `DATA/tls/ca.key`) that signs the certificates of the
/// site's nodes and clients for mutual TLS on the network port
/// (`network_tls`, docs/cluster.md). Plain functions on files: they hold no
/// lock and never touch the site store, so they may run beside a node.
///
/// Every file is written to a temporary file in its directory and then put
/// in place by a rename that never replaces, so a reader sees a whole file
/// or none, and an existing file is never overwritten. Private keys are
/// created with mode 0600 (from the first byte on) and are not encrypted:
/// the directory holding them (created with mode 0700) is what protects
/// them.
namespace mantissa::actors {

/// The directory of a data directory's TLS files: `data_dir/tls`.
[[nodiscard]] std::filesystem::path
site_tls_dir(const std::filesystem::path& data_dir);

/// Where a site CA, or a certificate issued by one, was written.
struct certificate_files {
  std::filesystem::path certificate; ///< PEM certificate
  std::filesystem::path private_key; ///< PEM private key (PKCS#8, mode 0600)
  std::filesystem::path ca_file;     ///< the CA's certificate
  std::string fingerprint;           ///< SHA-256 of `certificate`, hex:hex
};

/// Creates the site CA in `dir`: `dir/ca.pem` (self-signed, valid for
/// `days`, subject "Mantissa site CA (<site_name>)") and `dir/ca.key` (an
/// EC P-256 key), creating `dir` with mode 0700 when missing. Fails with
/// `already_exists`, changing nothing, when either file exists;
/// `invalid_value` for an empty `site_name` or `days` outside 1..36500;
/// `io_error` when a file cannot be written. In `certificate_files`,
/// `ca_file` is `certificate`. The files are durable when it returns.
[[nodiscard]] store::result<certificate_files>
make_site_ca(const std::filesystem::path& dir, const std::string& site_name,
             int days = 3650);

/// True when `dir` holds a site CA (both `ca.pem` and `ca.key`).
[[nodiscard]] bool site_ca_exists(const std::filesystem::path& dir);

/// What to issue a certificate for.
struct cert_request {
  /// Its subject's common name and its files' names: 1 to 64 characters
  /// of `[A-Za-z0-9._-]`, not starting with '.', and not "ca".
  std::string name;
  /// A node's certificate (extended key usage serverAuth and clientAuth)
  /// rather than a client's (clientAuth only): only a node's is accepted
  /// on the serving side of the network port.
  bool node = false;
  /// Host names and IP addresses for subjectAltName (IP literals as IP
  /// entries, `[v6]` too; the rest as DNS names). May be empty.
  std::vector<std::string> hosts;
  int days = 825; ///< validity, 1..36500
};

/// Issues a certificate signed by the site CA in `ca_dir` and writes
/// `out_dir/<name>.pem` (the certificate alone), `out_dir/<name>.key`
/// (a fresh EC P-256 key, mode 0600) and `out_dir/ca.pem` (a copy of the
/// CA's certificate, unless the same one is there already), creating
/// `out_dir` with mode 0700 when missing. On any failure nothing is left
/// behind. Errors:
/// - `invalid_name`: `req.name` is malformed;
/// - `invalid_value`: a host is malformed, or `days` is out of range;
/// - `no_such_item`: `ca_dir` holds no site CA;
/// - `corrupt`: the CA's files cannot be read as a CA certificate and
///   its unencrypted key;
/// - `already_exists`: `<name>.pem` or `<name>.key` exists in `out_dir`,
///   or its `ca.pem` holds a different certificate;
/// - `io_error`: a file cannot be read or written.
/// The files are durable when it returns.
[[nodiscard]] store::result<certificate_files>
issue_certificate(const std::filesystem::path& ca_dir, const cert_request& req,
                  const std::filesystem::path& out_dir);

/// The SHA-256 fingerprint of the (first) certificate in the PEM file
/// `pem`, as upper-case hex pairs separated by colons ("AB:01:…").
/// `io_error` when the file cannot be read, `corrupt` when it holds no
/// certificate.
[[nodiscard]] store::result<std::string>
certificate_fingerprint(const std::filesystem::path& pem);

} // namespace mantissa::actors
