// The site's CA on real files: what it writes (modes, extensions), the
// certificates it issues checked with OpenSSL's own verification, refusals
// that leave every file as it was, and the port's TLS contexts built from
// what was issued.

#include <catch2/catch.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "wire/port/tls.hpp"
#include "actors/site_ca.hpp"
#include "tests/support/temp_dir.hpp"

using namespace mantissa;
namespace fs = std::filesystem;

namespace {

struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct store_free {
  void operator()(X509_STORE* s) const noexcept { X509_STORE_free(s); }
};
struct store_ctx_free {
  void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::string slurp(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

x509_ptr load_cert(const fs::path& p) {
  auto pem = slurp(p);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{
    BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free};
  x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
  REQUIRE(cert);
  return cert;
}

pkey_ptr load_key(const fs::path& p) {
  auto pem = slurp(p);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{
    BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free};
  pkey_ptr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
  REQUIRE(key);
  return key;
}

/// X509_verify_cert of `cert` against `ca` alone, for `purpose` (0: any);
/// the verification error code (X509_V_OK when it passed).
int verify(X509* cert, X509* ca, int purpose = 0) {
  std::unique_ptr<X509_STORE, store_free> store{X509_STORE_new()};
  REQUIRE(X509_STORE_add_cert(store.get(), ca) == 1);
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> ctx{X509_STORE_CTX_new()};
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) == 1);
  if (purpose != 0)
    REQUIRE(X509_STORE_CTX_set_purpose(ctx.get(), purpose) == 1);
  if (X509_verify_cert(ctx.get()) == 1)
    return X509_V_OK;
  auto err = X509_STORE_CTX_get_error(ctx.get());
  return err == X509_V_OK ? -1 : err;
}

std::string common_name(X509* cert) {
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                            sizeof cn);
  return cn;
}

bool critical(X509* cert, int nid) {
  auto idx = X509_get_ext_by_NID(cert, nid, -1);
  REQUIRE(idx >= 0);
  return X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

int serial_bits(X509* cert) {
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn{
    ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr), &BN_free};
  REQUIRE(bn);
  return BN_num_bits(bn.get());
}

/// Files and their contents under `dir`, to show that nothing changed.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec))
    out[e.path().string()] = e.is_regular_file() ? slurp(e.path()) : "<dir>";
  return out;
}

struct ca_fixture {
  test::temp_dir dir;
  fs::path ca_dir = dir / "data/tls";

  ca_fixture() {
    auto ca = actors::make_site_ca(ca_dir, "example.com");
    REQUIRE(ca);
  }

  actors::certificate_files issue(const std::string& name, bool node,
                                  const fs::path& out,
                                  std::vector<std::string> hosts = {}) {
    actors::cert_request req;
    req.name = name;
    req.node = node;
    req.hosts = std::move(hosts);
    auto r = actors::issue_certificate(ca_dir, req, out);
    INFO((r ? std::string{} : r.error_value().message));
    REQUIRE(r);
    return *r;
  }
};

} // namespace

TEST_CASE("the site CA is a self-signed P-256 CA in private files",
          "[site_ca]") {
  test::temp_dir dir;
  auto tls = actors::site_tls_dir(dir / "data");
  CHECK(tls == dir / "data/tls");
  CHECK_FALSE(actors::site_ca_exists(tls));
  auto before = std::time(nullptr);
  auto r = actors::make_site_ca(tls, "example.com");
  INFO((r ? std::string{} : r.error_value().message));
  REQUIRE(r);
  CHECK(r->certificate == tls / "ca.pem");
  CHECK(r->private_key == tls / "ca.key");
  CHECK(r->ca_file == r->certificate);
  CHECK(actors::site_ca_exists(tls));
  CHECK(mode_of(tls) == 0700);
  CHECK(mode_of(tls / "ca.key") == 0600);
  // No temporary files are left beside them.
  CHECK(std::distance(fs::directory_iterator{tls}, fs::directory_iterator{})
        == 2);

  auto ca = load_cert(tls / "ca.pem");
  auto key = load_key(tls / "ca.key");
  CHECK(X509_check_private_key(ca.get(), key.get()) == 1);
  CHECK(common_name(ca.get()) == "Mantissa site CA (example.com)");
  CHECK(X509_NAME_cmp(X509_get_subject_name(ca.get()),
                      X509_get_issuer_name(ca.get()))
        == 0);
  CHECK(X509_check_ca(ca.get()) == 1);
  CHECK(critical(ca.get(), NID_basic_constraints));
  CHECK(critical(ca.get(), NID_key_usage));
  CHECK(X509_get_key_usage(ca.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(X509_get0_subject_key_id(ca.get()) != nullptr);
  CHECK(X509_get_signature_nid(ca.get()) == NID_ecdsa_with_SHA256);
  CHECK(EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_EC);
  char curve[64] = {0};
  size_t len = 0;
  REQUIRE(EVP_PKEY_get_group_name(key.get(), curve, sizeof curve, &len) == 1);
  CHECK(std::string{curve} == "prime256v1");
  CHECK(serial_bits(ca.get()) > 64);
  CHECK(verify(ca.get(), ca.get()) == X509_V_OK);
  // Valid for ten years from about now.
  int days = 0;
  int secs = 0;
  REQUIRE(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(ca.get()))
          == 1);
  CHECK(days >= 3649);
  CHECK(days <= 3650);
  CHECK(X509_cmp_time(X509_get0_notBefore(ca.get()), &before) < 0);

  auto fp = actors::certificate_fingerprint(tls / "ca.pem");
  REQUIRE(fp);
  CHECK(*fp == r->fingerprint);
  CHECK(fp->size() == 32 * 3 - 1);
  CHECK((*fp)[2] == ':');
}

TEST_CASE("a second site CA is refused and nothing changes", "[site_ca]") {
  test::temp_dir dir;
  auto tls = dir / "tls";
  REQUIRE(actors::make_site_ca(tls, "example.com"));
  auto before = snapshot(tls);
  auto again = actors::make_site_ca(tls, "example.com");
  REQUIRE_FALSE(again);
  CHECK(again.code() == store::errc::already_exists);
  CHECK(snapshot(tls) == before);

  // Half a CA (only its key) is refused too.
  auto half = dir / "half";
  fs::create_directories(half);
  fs::copy_file(tls / "ca.key", half / "ca.key");
  CHECK_FALSE(actors::site_ca_exists(half));
  auto r = actors::make_site_ca(half, "example.com");
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::already_exists);
  CHECK_FALSE(fs::exists(half / "ca.pem"));

  auto bad = actors::make_site_ca(dir / "other", "");
  CHECK(bad.code() == store::errc::invalid_value);
  CHECK_FALSE(fs::exists(dir / "other"));
}

TEST_CASE_METHOD(ca_fixture,
                 "a node certificate verifies against the CA for both sides",
                 "[site_ca]") {
  auto out = dir / "issued";
  auto before = std::time(nullptr);
  auto files = issue("n1", true, out,
                     {"node1.example.com", "10.0.0.5", "::1", "[fe80::1]"});
  CHECK(files.certificate == out / "n1.pem");
  CHECK(files.private_key == out / "n1.key");
  CHECK(files.ca_file == out / "ca.pem");
  CHECK(mode_of(out) == 0700);
  CHECK(mode_of(out / "n1.key") == 0600);
  CHECK(std::distance(fs::directory_iterator{out}, fs::directory_iterator{})
        == 3);
  // The certificate alone, and the CA's certificate copied as it is.
  auto pem = slurp(out / "n1.pem");
  CHECK(pem.find("-----BEGIN CERTIFICATE-----") == 0);
  CHECK(pem.find("-----BEGIN", 1) == std::string::npos);
  CHECK(slurp(out / "ca.pem") == slurp(ca_dir / "ca.pem"));

  auto ca = load_cert(ca_dir / "ca.pem");
  auto cert = load_cert(out / "n1.pem");
  auto key = load_key(out / "n1.key");
  CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
  CHECK(common_name(cert.get()) == "n1");
  CHECK(verify(cert.get(), ca.get()) == X509_V_OK);
  CHECK(verify(cert.get(), ca.get(), X509_PURPOSE_SSL_SERVER) == X509_V_OK);
  CHECK(verify(cert.get(), ca.get(), X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  CHECK(X509_get_extended_key_usage(cert.get())
        == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK(critical(cert.get(), NID_basic_constraints));
  CHECK(critical(cert.get(), NID_key_usage));
  CHECK((X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE) != 0);
  CHECK((X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) == 0);
  CHECK(X509_get_signature_nid(cert.get()) == NID_ecdsa_with_SHA256);
  CHECK(serial_bits(cert.get()) > 64);
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(cert.get()),
                         X509_get0_serialNumber(ca.get()))
        != 0);
  auto* akid = X509_get0_authority_key_id(cert.get());
  REQUIRE(akid != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca.get())) == 0);
  // Valid since an hour ago.
  time_t hour_ago = before - 3500;
  CHECK(X509_cmp_time(X509_get0_notBefore(cert.get()), &hour_ago) < 0);

  // subjectAltName: names as DNS, literals as IP.
  CHECK(X509_check_host(cert.get(), "node1.example.com", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert.get(), "node2.example.com", 0, 0, nullptr) != 1);
  CHECK(X509_check_ip_asc(cert.get(), "10.0.0.5", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "fe80::1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "10.0.0.6", 0) != 1);
  CHECK(X509_check_host(cert.get(), "10.0.0.5", 0, 0, nullptr) != 1);

  auto fp = actors::certificate_fingerprint(out / "n1.pem");
  REQUIRE(fp);
  CHECK(*fp == files.fingerprint);
}

TEST_CASE_METHOD(ca_fixture, "a client certificate is for the client side only",
                 "[site_ca]") {
  // Issued into the CA's own directory: its ca.pem is left as it is.
  auto ca_pem = slurp(ca_dir / "ca.pem");
  auto files = issue("alice-tool", false, ca_dir);
  CHECK(files.ca_file == ca_dir / "ca.pem");
  CHECK(slurp(ca_dir / "ca.pem") == ca_pem);
  CHECK(mode_of(ca_dir / "alice-tool.key") == 0600);

  auto ca = load_cert(ca_dir / "ca.pem");
  auto cert = load_cert(files.certificate);
  CHECK(common_name(cert.get()) == "alice-tool");
  CHECK(verify(cert.get(), ca.get()) == X509_V_OK);
  CHECK(verify(cert.get(), ca.get(), X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
  CHECK(verify(cert.get(), ca.get(), X509_PURPOSE_SSL_SERVER)
        == X509_V_ERR_INVALID_PURPOSE);
  CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_CLIENT);
  // Without hosts there is no subjectAltName.
  CHECK(X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1) < 0);

  // A certificate from another site's CA does not verify against this one.
  test::temp_dir other;
  REQUIRE(actors::make_site_ca(other / "tls", "other.org"));
  actors::cert_request req;
  req.name = "intruder";
  req.node = true;
  REQUIRE(actors::issue_certificate(other / "tls", req, other / "out"));
  auto foreign = load_cert(other / "out/intruder.pem");
  CHECK(verify(foreign.get(), ca.get()) != X509_V_OK);
}

TEST_CASE_METHOD(ca_fixture,
                 "issuing refuses to overwrite and leaves everything as it was",
                 "[site_ca]") {
  auto out = dir / "out";
  issue("n2", true, out);
  auto before = snapshot(out);
  actors::cert_request req;
  req.name = "n2";
  auto r = actors::issue_certificate(ca_dir, req, out);
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::already_exists);
  CHECK(r.error_value().message.find("n2.pem") != std::string::npos);
  CHECK(snapshot(out) == before);

  // A key alone is enough to refuse; no certificate appears beside it.
  fs::copy_file(out / "n2.key", out / "n3.key");
  before = snapshot(out);
  req.name = "n3";
  r = actors::issue_certificate(ca_dir, req, out);
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::already_exists);
  CHECK(snapshot(out) == before);
}

TEST_CASE_METHOD(ca_fixture, "bad names and hosts are refused", "[site_ca]") {
  auto out = dir / "out";
  for (const std::string& name : std::vector<std::string>{
         "", ".hidden", "a/b", "../up", "with space", "ca", "CA", "tab\tname",
         std::string(65, 'x'), "n\xc3\xa9"}) {
    actors::cert_request req;
    req.name = name;
    auto r = actors::issue_certificate(ca_dir, req, out);
    INFO(name);
    REQUIRE_FALSE(r);
    CHECK(r.code() == store::errc::invalid_name);
  }
  for (const std::string& host : std::vector<std::string>{
         "bad host", "[example.com]", "a..b", "x,IP:1.2.3.4", ""}) {
    actors::cert_request req;
    req.name = "n1";
    req.hosts = {"ok.example.com", host};
    auto r = actors::issue_certificate(ca_dir, req, out);
    INFO(host);
    REQUIRE_FALSE(r);
    CHECK(r.code() == store::errc::invalid_value);
  }
  actors::cert_request req;
  req.name = "n1";
  req.days = 0;
  CHECK(actors::issue_certificate(ca_dir, req, out).code()
        == store::errc::invalid_value);
  CHECK_FALSE(fs::exists(out));
  // The longest name, with every kind of character allowed.
  issue("Node_1.a-" + std::string(55, 'z'), true, out);
}

TEST_CASE_METHOD(ca_fixture, "a different ca.pem where the files go is refused",
                 "[site_ca]") {
  test::temp_dir other;
  REQUIRE(actors::make_site_ca(other / "tls", "other.org"));
  auto out = dir / "out";
  fs::create_directories(out);
  fs::copy_file(other / "tls/ca.pem", out / "ca.pem");
  auto before = snapshot(out);
  actors::cert_request req;
  req.name = "n1";
  auto r = actors::issue_certificate(ca_dir, req, out);
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::already_exists);
  CHECK(r.error_value().message.find("ca.pem") != std::string::npos);
  CHECK(snapshot(out) == before);

  // A copy of the right one is fine and stays as it is.
  fs::remove(out / "ca.pem");
  fs::copy_file(ca_dir / "ca.pem", out / "ca.pem");
  issue("n1", false, out);
  CHECK(slurp(out / "ca.pem") == slurp(ca_dir / "ca.pem"));
}

TEST_CASE("issuing without a site CA fails and writes nothing", "[site_ca]") {
  test::temp_dir dir;
  actors::cert_request req;
  req.name = "n1";
  auto r = actors::issue_certificate(dir / "tls", req, dir / "out");
  REQUIRE_FALSE(r);
  CHECK(r.code() == store::errc::no_such_item);
  CHECK(r.error_value().message.find("no site CA") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out"));
}

TEST_CASE_METHOD(ca_fixture,
                 "the port's TLS contexts take node certificates on both "
                 "sides and client certificates as clients only",
                 "[site_ca]") {
  using actors::port::make_tls_context;
  using actors::port::tls_side;
  auto node = issue("n1", true, dir / "n1", {"127.0.0.1"});
  auto client = issue("tool", false, dir / "tool");
  auto files_of = [](const actors::certificate_files& f) {
    actors::network_tls tls;
    tls.certificate = f.certificate;
    tls.private_key = f.private_key;
    tls.ca_file = f.ca_file;
    return tls;
  };
  std::string err;
  CHECK(make_tls_context(files_of(node), tls_side::server, err));
  INFO(err);
  CHECK(make_tls_context(files_of(node), tls_side::client, err));
  CHECK(make_tls_context(files_of(client), tls_side::client, err));
  err.clear();
  CHECK_FALSE(make_tls_context(files_of(client), tls_side::server, err));
  CHECK(err.find("not a node's") != std::string::npos);

  // A key that is not the certificate's is refused.
  auto mixed = files_of(node);
  mixed.private_key = client.private_key;
  CHECK_FALSE(make_tls_context(mixed, tls_side::client, err));
}
