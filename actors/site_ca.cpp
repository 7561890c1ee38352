#include "actors/site_ca.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace mantissa::actors {

namespace {

namespace fs = std::filesystem;
using store::errc;
using store::error;

constexpr const char* ca_certificate_name = "ca.pem";
constexpr const char* ca_key_name = "ca.key";
constexpr int max_days = 36500;

// -- OpenSSL ownership --------------------------------------------------------

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct extension_free {
  void operator()(X509_EXTENSION* e) const noexcept { X509_EXTENSION_free(e); }
};
struct general_names_free {
  void operator()(GENERAL_NAMES* n) const noexcept { GENERAL_NAMES_free(n); }
};
struct general_name_free {
  void operator()(GENERAL_NAME* n) const noexcept { GENERAL_NAME_free(n); }
};
struct bignum_free {
  void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
struct asn1_integer_free {
  void operator()(ASN1_INTEGER* i) const noexcept { ASN1_INTEGER_free(i); }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, extension_free>;
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, general_names_free>;
using general_name_ptr = std::unique_ptr<GENERAL_NAME, general_name_free>;

/// OpenSSL's pending errors as one line (and clears them).
std::string openssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? std::string{"unknown OpenSSL error"} : out;
}

error crypto_error(const std::string& what) {
  return error{errc::internal, what + ": " + openssl_errors()};
}

/// Overwrites a string holding key material when it goes out of scope.
struct wipe_on_exit {
  std::string& secret;
  ~wipe_on_exit() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

/// Refuses encrypted keys instead of prompting on the terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

// -- files --------------------------------------------------------------------

std::string errno_text() {
  return std::strerror(errno);
}

store::result<std::string> read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return error{errc::io_error,
                 "cannot read " + path.string() + ": " + errno_text()};
  std::string data{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  if (in.bad())
    return error{errc::io_error, "cannot read " + path.string()};
  return data;
}

bool present(const fs::path& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found && !ec;
}

store::result<void> sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return error{errc::io_error,
                 "cannot open " + dir.string() + ": " + errno_text()};
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return error{errc::io_error,
                 "cannot sync " + dir.string() + ": " + errno_text()};
  return {};
}

/// Makes `dir` (mode 0700) and its missing parents; `created` tells
/// whether `dir` itself was made by this call.
store::result<void> ensure_dir(const fs::path& dir, bool& created) {
  created = false;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    return {};
  if (present(dir))
    return error{errc::io_error, dir.string() + " is not a directory"};
  auto parent = dir.parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec)
      return error{errc::io_error,
                   "cannot create " + parent.string() + ": " + ec.message()};
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST && fs::is_directory(dir, ec))
      return {};
    return error{errc::io_error,
                 "cannot create " + dir.string() + ": " + errno_text()};
  }
  created = true;
  // The umask may only have narrowed it; make it exactly 0700.
  if (::chmod(dir.c_str(), 0700) != 0)
    return error{errc::io_error, "cannot set the mode of " + dir.string() + ": "
                                   + errno_text()};
  return sync_dir(parent.empty() ? fs::path{"."} : parent);
}

/// Puts `from` in place at `to` unless `to` exists (EEXIST then).
int rename_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                  RENAME_NOREPLACE)
      == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  // A file system without RENAME_NOREPLACE: a hard link never replaces.
  if (::link(from.c_str(), to.c_str()) != 0)
    return -1;
  ::unlink(from.c_str());
  return 0;
}

/// New files for one directory, put in place together: each is written
/// in full to a temporary file first (created with mode 0600, then given
/// its mode), and `commit` renames them into place in the order added,
/// never replacing a file. When the object dies, temporary files are
/// removed, and so are the files of a commit that did not complete.
class new_files {
 public:
  explicit new_files(fs::path dir) : dir_(std::move(dir)) {}
  new_files(const new_files&) = delete;
  new_files& operator=(const new_files&) = delete;

  ~new_files() {
    for (auto& f : files_)
      ::unlink(f.temp.c_str());
    if (!committed_)
      for (auto& p : published_)
        ::unlink(p.c_str());
  }

  /// Writes `bytes` to a temporary file for `dir/name`.
  store::result<void> add(const std::string& name, const std::string& bytes,
                          mode_t mode) {
    auto target = dir_ / name;
    std::string tmpl = (dir_ / ("." + name + ".XXXXXX")).string();
    int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0)
      return error{errc::io_error, "cannot create a temporary file in "
                                     + dir_.string() + ": " + errno_text()};
    files_.push_back({tmpl, target});
    const char* p = bytes.data();
    std::size_t left = bytes.size();
    bool ok = ::fchmod(fd, mode) == 0;
    while (ok && left > 0) {
      auto n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      ok = n > 0;
      if (ok) {
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    }
    ok = ok && ::fsync(fd) == 0;
    int saved = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
      errno = saved;
      return error{errc::io_error,
                   "cannot write " + target.string() + ": " + errno_text()};
    }
    return {};
  }

  /// Puts every file in place; fails with `already_exists` when one of
  /// them exists (then none is left in place).
  store::result<void> commit() {
    for (auto& f : files_) {
      if (rename_no_replace(f.temp, f.target) != 0) {
        if (errno == EEXIST)
          return error{errc::already_exists,
                       f.target.string() + " exists; nothing changed"};
        return error{errc::io_error, "cannot create " + f.target.string() + ": "
                                       + errno_text()};
      }
      published_.push_back(f.target);
    }
    files_.clear();
    MANTISSA_TRY(sync_dir(dir_));
    committed_ = true;
    return {};
  }

 private:
  struct staged {
    fs::path temp;
    fs::path target;
  };
  fs::path dir_;
  std::vector<staged> files_;
  std::vector<fs::path> published_;
  bool committed_ = false;
};

/// Removes a directory made by `ensure_dir` when what was to go into it
/// failed (only while it is empty).
struct remove_if_empty {
  const fs::path& dir;
  bool armed;
  ~remove_if_empty() {
    if (armed)
      ::rmdir(dir.c_str());
  }
};

// -- certificates -------------------------------------------------------------

store::result<x509_ptr> parse_certificate(const std::string& pem,
                                          const fs::path& from) {
  bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio)
    return crypto_error("cannot read " + from.string());
  x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
  if (!cert) {
    ERR_clear_error();
    return error{errc::corrupt, from.string() + " holds no PEM certificate"};
  }
  return cert;
}

store::result<pkey_ptr> parse_private_key(const std::string& pem,
                                          const fs::path& from) {
  bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio)
    return crypto_error("cannot read " + from.string());
  pkey_ptr key{
    PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)};
  if (!key) {
    ERR_clear_error();
    return error{errc::corrupt,
                 from.string() + " holds no unencrypted PEM private key"};
  }
  return key;
}

store::result<std::string> certificate_pem(X509* cert) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return crypto_error("cannot encode a certificate");
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio.get(), &data);
  return std::string{data, static_cast<std::size_t>(n)};
}

store::result<std::string> private_key_pem(EVP_PKEY* key) {
  bio_ptr bio{BIO_new(BIO_s_secmem())};
  if (!bio
      || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                  nullptr)
           != 1)
    return crypto_error("cannot encode a private key");
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio.get(), &data);
  return std::string{data, static_cast<std::size_t>(n)};
}

std::string fingerprint_of(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    ERR_clear_error();
    return {};
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0)
      out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xf];
  }
  return out;
}

store::result<pkey_ptr> make_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    return crypto_error("cannot make an EC P-256 key");
  return key;
}

/// A random positive 128-bit serial number.
store::result<void> set_random_serial(X509* cert) {
  unsigned char bytes[16];
  std::unique_ptr<BIGNUM, bignum_free> bn;
  do {
    if (RAND_bytes(bytes, sizeof bytes) != 1)
      return crypto_error("cannot make a serial number");
    bn.reset(BN_bin2bn(bytes, sizeof bytes, nullptr));
    if (!bn)
      return crypto_error("cannot make a serial number");
  } while (BN_is_zero(bn.get()));
  std::unique_ptr<ASN1_INTEGER, asn1_integer_free> serial{
    BN_to_ASN1_INTEGER(bn.get(), nullptr)};
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1)
    return crypto_error("cannot set a serial number");
  return {};
}

/// A version 3 certificate for `key` with subject CN `common_name`, valid
/// from an hour ago (for clocks a little behind) for `days`, issued by
/// `issuer` (itself when null), without extensions yet.
store::result<x509_ptr> new_certificate(const std::string& common_name,
                                        EVP_PKEY* key, X509* issuer, int days) {
  x509_ptr cert{X509_new()};
  if (!cert)
    return crypto_error("cannot make a certificate");
  auto* x = cert.get();
  MANTISSA_TRY(set_random_serial(x));
  auto* subject = X509_get_subject_name(x);
  if (X509_set_version(x, X509_VERSION_3) != 1
      || X509_NAME_add_entry_by_NID(
           subject, NID_commonName, MBSTRING_UTF8,
           reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
           0)
           != 1
      || X509_set_issuer_name(
           x, issuer != nullptr ? X509_get_subject_name(issuer) : subject)
           != 1
      || X509_gmtime_adj(X509_getm_notBefore(x), -3600) == nullptr
      || X509_time_adj_ex(X509_getm_notAfter(x), days, 0, nullptr) == nullptr
      || X509_set_pubkey(x, key) != 1)
    return crypto_error("cannot make a certificate for '" + common_name + "'");
  return cert;
}

/// Adds the extension `nid` written as in OpenSSL's configuration files.
store::result<void> add_extension(X509* cert, X509* issuer, int nid,
                                  const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr,
                 nullptr, 0);
  extension_ptr ext{X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value)};
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return crypto_error(std::string{"cannot add the extension "}
                        + OBJ_nid2sn(nid) + " = " + value);
  return {};
}

store::result<void> sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0)
    return crypto_error("cannot sign a certificate");
  return {};
}

bool valid_days(int days) {
  return days >= 1 && days <= max_days;
}

/// A DNS name: dot-separated labels of letters, digits, '-' and '_' (the
/// first may be "*").
bool valid_dns_name(const std::string& host) {
  if (host.empty() || host.size() > 253)
    return false;
  std::size_t start = 0;
  while (true) {
    auto end = host.find('.', start);
    auto label = host.substr(start, end == std::string::npos ? std::string::npos
                                                             : end - start);
    if (label.empty() || label.size() > 63)
      return false;
    if (label == "*") {
      if (start != 0 || end == std::string::npos)
        return false;
    } else {
      for (char c : label) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
          return false;
      }
    }
    if (end == std::string::npos)
      return true;
    start = end + 1;
  }
}

/// The subjectAltName entries for `hosts`; null when there are none.
store::result<general_names_ptr>
alt_names(const std::vector<std::string>& hosts) {
  if (hosts.empty())
    return general_names_ptr{};
  general_names_ptr names{sk_GENERAL_NAME_new_null()};
  if (!names)
    return crypto_error("cannot make subjectAltName");
  for (auto& given : hosts) {
    auto host = given;
    bool bracketed
      = host.size() > 2 && host.front() == '[' && host.back() == ']';
    if (bracketed)
      host = host.substr(1, host.size() - 2);
    unsigned char addr[16];
    int len = 0;
    if (::inet_pton(AF_INET, host.c_str(), addr) == 1)
      len = 4;
    else if (::inet_pton(AF_INET6, host.c_str(), addr) == 1)
      len = 16;
    if (len == 0 && (bracketed || !valid_dns_name(host)))
      return error{errc::invalid_value,
                   "host '" + given
                     + "' is neither an IP address nor a DNS name"};
    general_name_ptr name{GENERAL_NAME_new()};
    if (!name)
      return crypto_error("cannot make subjectAltName");
    if (len > 0) {
      auto* ip = ASN1_OCTET_STRING_new();
      if (ip == nullptr || ASN1_OCTET_STRING_set(ip, addr, len) != 1) {
        ASN1_OCTET_STRING_free(ip);
        return crypto_error("cannot make subjectAltName");
      }
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip);
    } else {
      auto* dns = ASN1_IA5STRING_new();
      if (dns == nullptr
          || ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size()))
               != 1) {
        ASN1_IA5STRING_free(dns);
        return crypto_error("cannot make subjectAltName");
      }
      GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns);
    }
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0)
      return crypto_error("cannot make subjectAltName");
    (void)name.release(); // owned by `names` now
  }
  return names;
}

store::result<void> check_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '.';
  for (char c : name)
    ok = ok
         && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
             || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
  if (!ok)
    return error{errc::invalid_name,
                 "certificate name '" + name
                   + "' is not 1 to 64 characters of letters, digits, '.', "
                     "'_' and '-' not starting with '.'"};
  if (name.size() == 2 && (name[0] == 'c' || name[0] == 'C')
      && (name[1] == 'a' || name[1] == 'A'))
    return error{errc::invalid_name,
                 "certificate name '" + name + "' is reserved for the CA"};
  return {};
}

/// The CA's common name, cut to X.509's 64 characters at a character
/// boundary when the site's name is long.
std::string ca_common_name(const std::string& site_name) {
  static constexpr std::string_view prefix = "Mantissa site CA (";
  static constexpr std::size_t room = 64 - prefix.size() - 1;
  std::string site = site_name;
  if (site.size() > room) {
    std::size_t cut = room - 3;
    while (cut > 0 && (static_cast<unsigned char>(site[cut]) & 0xc0) == 0x80)
      --cut;
    site = site.substr(0, cut) + "...";
  }
  return std::string{prefix} + site + ")";
}

struct loaded_ca {
  x509_ptr certificate;
  pkey_ptr key;
};

store::result<loaded_ca> load_ca(const fs::path& dir) {
  if (!site_ca_exists(dir))
    return error{errc::no_such_item, "no site CA in " + dir.string() + " ("
                                       + ca_certificate_name + " and "
                                       + ca_key_name + ")"};
  auto cert_file = dir / ca_certificate_name;
  auto key_file = dir / ca_key_name;
  auto cert_pem = read_file(cert_file);
  if (!cert_pem)
    return std::move(cert_pem).error_value();
  auto key_pem = read_file(key_file);
  if (!key_pem)
    return std::move(key_pem).error_value();
  wipe_on_exit wipe{*key_pem};
  auto cert = parse_certificate(*cert_pem, cert_file);
  if (!cert)
    return std::move(cert).error_value();
  auto key = parse_private_key(*key_pem, key_file);
  if (!key)
    return std::move(key).error_value();
  if (X509_check_ca(cert->get()) == 0)
    return error{errc::corrupt,
                 cert_file.string() + " is not a CA certificate"};
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return error{errc::corrupt, key_file.string() + " is not the key of "
                                  + cert_file.string()};
  }
  return loaded_ca{std::move(*cert), std::move(*key)};
}

} // namespace

fs::path site_tls_dir(const fs::path& data_dir) {
  return data_dir / "tls";
}

bool site_ca_exists(const fs::path& dir) {
  return present(dir / ca_certificate_name) && present(dir / ca_key_name);
}

store::result<certificate_files>
make_site_ca(const fs::path& dir, const std::string& site_name, int days) {
  if (site_name.empty())
    return error{errc::invalid_value, "the site CA needs the site's name"};
  if (!valid_days(days))
    return error{errc::invalid_value, "a CA's validity must be 1 to "
                                        + std::to_string(max_days)
                                        + " days, not " + std::to_string(days)};
  certificate_files out;
  out.certificate = dir / ca_certificate_name;
  out.private_key = dir / ca_key_name;
  out.ca_file = out.certificate;
  for (auto& f : {out.certificate, out.private_key})
    if (present(f))
      return error{errc::already_exists,
                   f.string() + " exists; the site CA is not replaced"};
  ERR_clear_error();
  auto key = make_key();
  if (!key)
    return std::move(key).error_value();
  auto cert
    = new_certificate(ca_common_name(site_name), key->get(), nullptr, days);
  if (!cert)
    return std::move(cert).error_value();
  auto* x = cert->get();
  MANTISSA_TRY(
    add_extension(x, nullptr, NID_basic_constraints, "critical,CA:TRUE"));
  MANTISSA_TRY(
    add_extension(x, nullptr, NID_key_usage, "critical,keyCertSign,cRLSign"));
  MANTISSA_TRY(add_extension(x, nullptr, NID_subject_key_identifier, "hash"));
  MANTISSA_TRY(sign(x, key->get()));
  auto cert_pem = certificate_pem(x);
  if (!cert_pem)
    return std::move(cert_pem).error_value();
  auto key_pem = private_key_pem(key->get());
  if (!key_pem)
    return std::move(key_pem).error_value();
  wipe_on_exit wipe{*key_pem};

  bool created = false;
  MANTISSA_TRY(ensure_dir(dir, created));
  remove_if_empty cleanup{dir, created};
  {
    // The key first: whoever sees ca.pem sees its key too.
    new_files files{dir};
    MANTISSA_TRY(files.add(ca_key_name, *key_pem, 0600));
    MANTISSA_TRY(files.add(ca_certificate_name, *cert_pem, 0644));
    MANTISSA_TRY(files.commit());
  }
  cleanup.armed = false;
  out.fingerprint = fingerprint_of(x);
  return out;
}

store::result<certificate_files> issue_certificate(const fs::path& ca_dir,
                                                   const cert_request& req,
                                                   const fs::path& out_dir) {
  MANTISSA_TRY(check_name(req.name));
  if (!valid_days(req.days))
    return error{errc::invalid_value, "a certificate's validity must be 1 to "
                                        + std::to_string(max_days)
                                        + " days, not "
                                        + std::to_string(req.days)};
  ERR_clear_error();
  auto names = alt_names(req.hosts);
  if (!names)
    return std::move(names).error_value();
  auto ca = load_ca(ca_dir);
  if (!ca)
    return std::move(ca).error_value();

  certificate_files out;
  out.certificate = out_dir / (req.name + ".pem");
  out.private_key = out_dir / (req.name + ".key");
  out.ca_file = out_dir / ca_certificate_name;
  for (auto& f : {out.certificate, out.private_key})
    if (present(f))
      return error{errc::already_exists,
                   f.string() + " exists; nothing changed"};
  bool copy_ca = true;
  if (present(out.ca_file)) {
    auto pem = read_file(out.ca_file);
    if (!pem)
      return std::move(pem).error_value();
    auto there = parse_certificate(*pem, out.ca_file);
    if (!there || X509_cmp(there->get(), ca->certificate.get()) != 0)
      return error{errc::already_exists,
                   out.ca_file.string()
                     + " holds a certificate other than the site CA of "
                     + ca_dir.string() + "; nothing changed"};
    copy_ca = false;
  }

  auto key = make_key();
  if (!key)
    return std::move(key).error_value();
  auto* issuer = ca->certificate.get();
  auto cert = new_certificate(req.name, key->get(), issuer, req.days);
  if (!cert)
    return std::move(cert).error_value();
  auto* x = cert->get();
  MANTISSA_TRY(
    add_extension(x, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  MANTISSA_TRY(
    add_extension(x, issuer, NID_key_usage, "critical,digitalSignature"));
  MANTISSA_TRY(
    add_extension(x, issuer, NID_ext_key_usage,
                  req.node ? "serverAuth,clientAuth" : "clientAuth"));
  MANTISSA_TRY(add_extension(x, issuer, NID_subject_key_identifier, "hash"));
  MANTISSA_TRY(
    add_extension(x, issuer, NID_authority_key_identifier, "keyid:always"));
  if (*names
      && X509_add1_ext_i2d(x, NID_subject_alt_name, names->get(), 0,
                           X509V3_ADD_DEFAULT)
           != 1)
    return crypto_error("cannot add subjectAltName");
  MANTISSA_TRY(sign(x, ca->key.get()));
  auto cert_pem = certificate_pem(x);
  if (!cert_pem)
    return std::move(cert_pem).error_value();
  auto key_pem = private_key_pem(key->get());
  if (!key_pem)
    return std::move(key_pem).error_value();
  wipe_on_exit wipe{*key_pem};
  std::string ca_pem;
  if (copy_ca) {
    auto pem = certificate_pem(issuer);
    if (!pem)
      return std::move(pem).error_value();
    ca_pem = std::move(*pem);
  }

  bool created = false;
  MANTISSA_TRY(ensure_dir(out_dir, created));
  remove_if_empty cleanup{out_dir, created};
  {
    new_files files{out_dir};
    MANTISSA_TRY(
      files.add(out.private_key.filename().string(), *key_pem, 0600));
    MANTISSA_TRY(
      files.add(out.certificate.filename().string(), *cert_pem, 0644));
    if (copy_ca)
      MANTISSA_TRY(files.add(ca_certificate_name, ca_pem, 0644));
    MANTISSA_TRY(files.commit());
  }
  cleanup.armed = false;
  out.fingerprint = fingerprint_of(x);
  return out;
}

store::result<std::string> certificate_fingerprint(const fs::path& pem) {
  auto data = read_file(pem);
  if (!data)
    return std::move(data).error_value();
  auto cert = parse_certificate(*data, pem);
  if (!cert)
    return std::move(cert).error_value();
  auto fp = fingerprint_of(cert->get());
  if (fp.empty())
    return error{errc::internal, "cannot hash " + pem.string()};
  return fp;
}

} // namespace mantissa::actors
