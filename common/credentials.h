// The one place that makes gRPC credentials: for servers (TLS, optionally requiring client
// certificates) and for channels (TLS, a client certificate, a bearer token). Every
// listener and every channel of taskwire goes through here; with nothing configured both
// are plaintext, as on a developer's machine. Certificate files are watched: a rotated
// file takes effect on the next handshake, and open connections stay up.
#ifndef TASKWIRE_COMMON_CREDENTIALS_H_
#define TASKWIRE_COMMON_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class ChannelArguments;
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace taskwire {

// How often watched files (certificates, keys, token files) are looked at again.
inline constexpr absl::Duration kDefaultReloadInterval = absl::Seconds(10);

struct ServerSecurity {
  std::string cert_file;       // PEM certificate chain; TLS when set
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // set: a client must present a certificate from this CA
  absl::Duration reload_interval = kDefaultReloadInterval;

  bool tls() const { return !cert_file.empty(); }
};

// Checks that the files exist, parse and match (a clear error at start-up rather than
// failed handshakes later), then builds the credentials.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurity& security);

struct ChannelSecurity {
  bool tls = false;          // on when any file below is set; alone: the system's CAs
  std::string ca_file;       // PEM CA bundle that the server's certificate must chain to
  std::string cert_file;     // a client certificate (mTLS) ...
  std::string key_file;      // ... and its key
  std::string server_name;   // checked in the server's certificate instead of the host
  std::string token;         // sent as "authorization: Bearer <token>" on every call
  std::string token_file;    // a file holding the token, re-read when it changes
  absl::Duration reload_interval = kDefaultReloadInterval;

  bool uses_tls() const { return tls || !ca_file.empty() || !cert_file.empty(); }
};

// Credentials for a channel, and the channel arguments they need (the server-name
// override). A token needs TLS: gRPC never sends one in plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelSecurity& security, grpc::ChannelArguments& args);

// Lowercase hex SHA-256, as access files store tokens.
std::string Sha256Hex(absl::string_view data);

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_CREDENTIALS_H_
