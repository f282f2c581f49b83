#include "cli/credentials.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "cli/net_args.hpp"
#include "dairector/file_read.hpp"

namespace dairector::cli {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t pem_bytes_max = 64 * 1024;  // one certificate or key is a few hundred bytes
constexpr long validity_days = 3650;
constexpr int serial_bits = 127;                    // random, positive, under RFC 5280's 20 octets
constexpr const char* side_files[] = {"ca.pem", "cert.pem", "key.pem"};

template <class T, void (*F)(T*)>
struct freer {
  void operator()(T* p) const { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, freer<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, freer<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, freer<BIO, BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, freer<BIGNUM, BN_free>>;

// OpenSSL's reason for the last failure, for a sentence.
std::string ssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown reason";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

error refused(const std::string& what) { return make_error(errc::refused, what); }

// --- making ----------------------------------------------------------------

pkey_ptr new_key() {
  char curve[] = "P-256";
  return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  const bool added = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return added;
}

// A certificate for `key` named `cn`, signed by `issuer_key` (and issued by
// `issuer`; null: self-signed). `usage` is the extendedKeyUsage of a leaf;
// null makes the CA.
x509_ptr new_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, const char* usage) {
  x509_ptr cert(X509_new());
  bn_ptr serial(BN_new());
  if (!cert || !serial || X509_set_version(cert.get(), 2) != 1 ||
      BN_rand(serial.get(), serial_bits, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(validity_days), 0, nullptr) ||
      X509_set_pubkey(cert.get(), key) != 1)
    return nullptr;
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0) !=
      1)
    return nullptr;
  X509* signer = issuer ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1) return nullptr;
  const bool ca = usage == nullptr;
  const bool extended =
      add_ext(cert.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
      add_ext(cert.get(), signer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
      add_ext(cert.get(), signer, NID_subject_key_identifier, "hash") &&
      (ca || (add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid:always") &&
              add_ext(cert.get(), signer, NID_ext_key_usage, usage)));
  if (!extended || X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) return nullptr;
  return cert;
}

result<std::string> pem_of(X509* cert, EVP_PKEY* key) {
  bio_ptr out(BIO_new(BIO_s_mem()));
  const bool written = out && (cert ? PEM_write_bio_X509(out.get(), cert)
                                    : PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr));
  if (!written) return refused("cannot encode a credential: " + ssl_reason());
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// A new file only (O_EXCL: never through a link planted in its place),
// readable by its owner only, on disk before the folder is renamed into place.
std::optional<error> write_new(const fs::path& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return refused("cannot create " + path.string() + ": " + std::strerror(errno));
  const bool written =
      ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return refused("cannot write " + path.string() + ": " + std::strerror(errno));
  return std::nullopt;
}

std::optional<error> write_side(const fs::path& folder, const std::string& ca, X509* cert, EVP_PKEY* key) {
  if (::mkdir(folder.c_str(), 0700) != 0) return refused("cannot create " + folder.string() + ": " + std::strerror(errno));
  auto cert_pem = pem_of(cert, nullptr);
  if (!cert_pem) return cert_pem.err();
  auto key_pem = pem_of(nullptr, key);
  if (!key_pem) return key_pem.err();
  if (auto err = write_new(folder / "ca.pem", ca)) return err;
  if (auto err = write_new(folder / "cert.pem", *cert_pem)) return err;
  return write_new(folder / "key.pem", *key_pem);
}

// Everything is made in a fresh sibling folder and renamed into place, so
// `dir` is complete or absent: a crash half-way leaves only a hidden
// `.credentials-*` folder nobody reads.
std::optional<error> make_credentials(const fs::path& dir) {
  std::error_code ec;
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  if (!fs::exists(parent, ec)) {
    fs::create_directories(parent, ec);
    if (!ec) fs::permissions(parent, fs::perms::owner_all, ec);
    if (ec) return refused("cannot create the folder " + parent.string() + " for the credentials: " + ec.message());
  }
  std::string tmpl = (parent / ("." + dir.filename().string() + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) return refused("cannot create a folder in " + parent.string() + ": " + std::strerror(errno));
  const fs::path tmp = tmpl;
  auto made = [&]() -> std::optional<error> {
    pkey_ptr ca_key = new_key(), server_key = new_key(), worker_key = new_key();
    if (!ca_key || !server_key || !worker_key) return refused("cannot make an EC P-256 key: " + ssl_reason());
    x509_ptr ca = new_cert(ca_key.get(), "dairector CA", nullptr, ca_key.get(), nullptr);
    x509_ptr server = ca ? new_cert(server_key.get(), "dairector server", ca.get(), ca_key.get(), "serverAuth") : nullptr;
    x509_ptr worker = ca ? new_cert(worker_key.get(), "dairector worker", ca.get(), ca_key.get(), "clientAuth") : nullptr;
    if (!server || !worker) return refused("cannot make a certificate: " + ssl_reason());
    auto ca_pem = pem_of(ca.get(), nullptr);
    if (!ca_pem) return ca_pem.err();
    if (auto err = write_side(tmp / "server", *ca_pem, server.get(), server_key.get())) return err;
    return write_side(tmp / "worker", *ca_pem, worker.get(), worker_key.get());
  }();
  const bool moved = !made && ::rename(tmp.c_str(), dir.c_str()) == 0;
  // Another `serve` that made them first (EEXIST, ENOTEMPTY) wins: its are read.
  if (!made && !moved && errno != EEXIST && errno != ENOTEMPTY)
    made = refused("cannot move the new credentials to " + dir.string() + ": " + std::strerror(errno));
  if (!moved) fs::remove_all(tmp, ec);
  return made;
}

// --- reading ---------------------------------------------------------------

result<std::string> read_pem(const fs::path& path) {
  return read_file(path.string(), pem_bytes_max, "the credential file", errc::refused);
}

x509_ptr parse_cert(const std::string& pem) {
  bio_ptr in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return x509_ptr(in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr);
}

// CAF's TLS session loads the three files again for every connection, and
// an uncaught exception on its network thread ends the process when one
// cannot be loaded (measured: `serve` aborted at the next worker connection
// once its credentials folder was deleted). It gets private in-memory copies
// of the bytes checked here instead, open for the life of the process, which
// no later change to the folder can touch.
result<std::string> pinned(const std::string& text, const std::string& path) {
  const int fd = ::memfd_create("dairector-credential", MFD_CLOEXEC);
  if (fd < 0) return refused("cannot keep a copy of " + path + ": " + std::strerror(errno));
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ::close(fd);
    return refused("cannot keep a copy of " + path + ": " + std::strerror(errno));
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

// The files say what they are: a certificate, the key of that certificate,
// a CA certificate (and, for `signed_by_ca`, the certificate is the CA's).
// Returns the pinned copies.
result<tls_files> checked(tls_files files, bool signed_by_ca) {
  auto ca_pem = read_pem(files.ca);
  if (!ca_pem) return ca_pem.err();
  auto cert_pem = read_pem(files.cert);
  if (!cert_pem) return cert_pem.err();
  auto key_pem = read_pem(files.key);
  if (!key_pem) return key_pem.err();
  x509_ptr ca = parse_cert(*ca_pem), cert = parse_cert(*cert_pem);
  if (!ca) return refused(files.ca + " holds no PEM certificate");
  if (!cert) return refused(files.cert + " holds no PEM certificate");
  bio_ptr in(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  pkey_ptr key(in ? PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!key) return refused(files.key + " holds no unencrypted PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return refused(files.key + " is not the key of the certificate " + files.cert);
  }
  if (signed_by_ca && X509_verify(cert.get(), X509_get0_pubkey(ca.get())) != 1) {
    ERR_clear_error();
    return refused(files.cert + " is not signed by " + files.ca);
  }
  auto ca_copy = pinned(*ca_pem, files.ca);
  if (!ca_copy) return ca_copy.err();
  auto cert_copy = pinned(*cert_pem, files.cert);
  if (!cert_copy) return cert_copy.err();
  auto key_copy = pinned(*key_pem, files.key);
  if (!key_copy) return key_copy.err();
  return tls_files{*ca_copy, *cert_copy, *key_copy};
}

// One side's folder: complete, its key readable by its owner only.
result<tls_files> read_side(const fs::path& folder, const std::string& fix) {
  for (const char* name : side_files) {
    struct stat sb{};
    if (::stat((folder / name).c_str(), &sb) != 0)
      return refused("the credentials folder " + folder.string() + " is incomplete: " + name + " is missing (" +
                     fix + ")");
  }
  const std::string key = (folder / "key.pem").string();
  struct stat sb{};
  ::stat(key.c_str(), &sb);
  if (sb.st_mode & 077)
    return refused("the key file " + key + " is readable by group or others; `chmod 600 " + key + "`");
  return checked(tls_files{(folder / "ca.pem").string(), (folder / "cert.pem").string(), key}, true);
}

}  // namespace

std::string default_credentials_dir(const std::string& token_file) {
  const std::string token = token_file.empty() ? default_token_file() : token_file;
  if (token.empty()) return {};
  return (fs::path(token).parent_path() / "credentials").string();
}

result<tls_files> server_credentials(const std::string& dir) {
  if (dir.empty()) return refused("--credentials is required: there is no default token file to put them beside");
  struct stat sb{};
  if (::lstat(dir.c_str(), &sb) != 0) {
    if (errno != ENOENT) return refused("cannot read the credentials folder " + dir + ": " + std::strerror(errno));
    if (auto err = make_credentials(dir)) return *err;
  }
  return read_side(fs::path(dir) / "server",
                   "delete " + dir + " to let serve make new credentials; copied worker credentials then stop working");
}

result<tls_files> worker_credentials(const std::string& dir) {
  if (dir.empty()) return refused("--credentials is required: there is no default token file to look beside");
  struct stat sb{};
  if (::stat(dir.c_str(), &sb) != 0)
    return refused("no worker credentials at " + dir + " (" + std::strerror(errno) +
                   "): copy the server's credentials/worker folder here, or pass --credentials DIR");
  return read_side(dir, "copy the server's credentials/worker folder again");
}

result<tls_files> own_credentials(tls_files files) {
  for (const auto* f : {&files.cert, &files.key, &files.ca})
    if (::access(f->c_str(), R_OK) != 0) return refused("cannot read TLS file " + *f);
  return checked(std::move(files), false);
}

}  // namespace dairector::cli
