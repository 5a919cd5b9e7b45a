#include "common/credentials.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/support/channel_arguments.h"

namespace taskwire {
namespace {

namespace tls = grpc::experimental;

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, " ", path, ": cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

// The first certificate of a PEM file; an error names the file and the flag.
absl::StatusOr<std::unique_ptr<X509, decltype(&X509_free)>> ReadCertificate(
    const std::string& path, absl::string_view flag) {
  absl::StatusOr<std::string> pem = ReadFile(path, flag);
  if (!pem.ok()) return pem.status();
  Bio bio = MemoryBio(*pem);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": no PEM certificate in it"));
  }
  return cert;
}

absl::Status CheckKeyPair(const std::string& cert_file, const std::string& key_file,
                          absl::string_view cert_flag, absl::string_view key_flag) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_flag, " and ", key_flag, " go together: give both or neither"));
  }
  auto cert = ReadCertificate(cert_file, cert_flag);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> pem = ReadFile(key_file, key_flag);
  if (!pem.ok()) return pem.status();
  Bio bio = MemoryBio(*pem);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_flag, " ", key_file, ": no PEM private key in it (an encrypted key "
                     "is not supported)"));
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(key_flag, " ", key_file,
                                                   " is not the key of the certificate in ",
                                                   cert_file));
  }
  return absl::OkStatus();
}

unsigned int RefreshSeconds(absl::Duration interval) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(interval)));
}

// Adds the bearer token to every call. It reads a token file again when its modification
// time changes, looked at no more often than the reload interval, so a rotated token
// reaches open channels. Runs on the calling thread (IsBlocking false): no thread hop.
class BearerToken final : public grpc::MetadataCredentialsPlugin {
 public:
  BearerToken(std::string token, std::string file, absl::Duration reload)
      : token_(std::move(token)), file_(std::move(file)), reload_(reload) {}

  absl::Status Load() {
    absl::MutexLock lock(&mu_);
    return LoadLocked(absl::Now());
  }

  bool IsBlocking() const override { return false; }

  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (!file_.empty() && now - checked_ >= reload_) {
      // A failed re-read keeps the last token: the file may be mid-rotation.
      (void)LoadLocked(now);
    }
    metadata->emplace("authorization", header_);
    return grpc::Status::OK;
  }

 private:
  absl::Status LoadLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    checked_ = now;
    std::string token = token_;
    if (!file_.empty()) {
      std::error_code ec;
      const auto mtime = std::filesystem::last_write_time(file_, ec);
      if (ec) return absl::NotFoundError(absl::StrCat("--token-file ", file_, ": ", ec.message()));
      if (!header_.empty() && mtime == mtime_) return absl::OkStatus();
      absl::StatusOr<std::string> text = ReadFile(file_, "--token-file");
      if (!text.ok()) return text.status();
      token = std::string(absl::StripAsciiWhitespace(*text));
      mtime_ = mtime;
    }
    if (token.empty()) return absl::InvalidArgumentError("the token is empty");
    header_ = absl::StrCat("Bearer ", token);
    return absl::OkStatus();
  }

  const std::string token_;
  const std::string file_;
  const absl::Duration reload_;
  absl::Mutex mu_;
  std::string header_ ABSL_GUARDED_BY(mu_);
  absl::Time checked_ ABSL_GUARDED_BY(mu_);
  std::filesystem::file_time_type mtime_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurity& security) {
  if (!security.tls()) {
    if (!security.key_file.empty() || !security.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-key and --tls-client-ca need --tls-cert: the server's own certificate");
    }
    return grpc::InsecureServerCredentials();
  }
  if (absl::Status s =
          CheckKeyPair(security.cert_file, security.key_file, "--tls-cert", "--tls-key");
      !s.ok()) {
    return s;
  }
  if (!security.client_ca_file.empty()) {
    if (auto ca = ReadCertificate(security.client_ca_file, "--tls-client-ca"); !ca.ok()) {
      return ca.status();
    }
  }
  auto provider = std::make_shared<tls::FileWatcherCertificateProvider>(
      security.key_file, security.cert_file, security.client_ca_file,
      RefreshSeconds(security.reload_interval));
  tls::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (security.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return tls::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelSecurity& security, grpc::ChannelArguments& args) {
  const bool token = !security.token.empty() || !security.token_file.empty();
  if (!security.uses_tls()) {
    if (token) {
      return absl::InvalidArgumentError(
          "a token needs TLS (--tls-ca, or --tls for the system's CAs): it would travel in "
          "plaintext");
    }
    if (!security.key_file.empty() || !security.server_name.empty()) {
      return absl::InvalidArgumentError("--tls-key and --tls-server-name need TLS (--tls-ca)");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (!security.cert_file.empty() || !security.key_file.empty()) {
    if (absl::Status s =
            CheckKeyPair(security.cert_file, security.key_file, "--tls-cert", "--tls-key");
        !s.ok()) {
      return s;
    }
  }
  if (!security.ca_file.empty()) {
    if (auto ca = ReadCertificate(security.ca_file, "--tls-ca"); !ca.ok()) return ca.status();
  }
  tls::TlsChannelCredentialsOptions options;
  if (!security.ca_file.empty() || !security.cert_file.empty()) {
    options.set_certificate_provider(std::make_shared<tls::FileWatcherCertificateProvider>(
        security.key_file, security.cert_file, security.ca_file,
        RefreshSeconds(security.reload_interval)));
    if (!security.ca_file.empty()) options.watch_root_certs();
    if (!security.cert_file.empty()) options.watch_identity_key_cert_pairs();
  }
  if (!security.server_name.empty()) args.SetSslTargetNameOverride(security.server_name);
  std::shared_ptr<grpc::ChannelCredentials> channel = tls::TlsCredentials(options);
  if (!token) return channel;
  auto plugin = std::make_unique<BearerToken>(security.token, security.token_file,
                                              security.reload_interval);
  if (absl::Status s = plugin->Load(); !s.ok()) return s;
  return grpc::CompositeChannelCredentials(
      channel, grpc::MetadataCredentialsFromPlugin(std::move(plugin)));
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), size));
}

}  // namespace taskwire
