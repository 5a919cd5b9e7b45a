// The TLS and token flags of taskwire's binaries, for main.cc files only (libraries take
// ServerSecurity and ChannelSecurity). The same names everywhere: docs/security.md.
#ifndef TASKWIRE_COMMON_CREDENTIAL_FLAGS_H_
#define TASKWIRE_COMMON_CREDENTIAL_FLAGS_H_

#include "CLI/CLI.hpp"
#include "common/credentials.h"

namespace taskwire {

// A server's own certificate and, optionally, the CA its clients' certificates must come from.
inline void AddServerTlsFlags(CLI::App& app, ServerSecurity& tls) {
  app.add_option("--tls-cert", tls.cert_file,
                 "serve gRPC over TLS with this PEM certificate chain (re-read when it changes)")
      ->envname("TASKWIRE_TLS_CERT");
  app.add_option("--tls-key", tls.key_file, "the PEM private key of --tls-cert")
      ->envname("TASKWIRE_TLS_KEY");
  app.add_option("--tls-client-ca", tls.client_ca_file,
                 "require a client certificate signed by this PEM CA (mTLS)")
      ->envname("TASKWIRE_TLS_CLIENT_CA");
}

// How a client reaches the scheduler: TLS and the bearer token.
inline void AddChannelSecurityFlags(CLI::App& app, ChannelSecurity& channel) {
  app.add_flag("--tls", channel.tls, "use TLS, trusting the system's CAs (implied by --tls-ca)")
      ->envname("TASKWIRE_TLS");
  app.add_option("--tls-ca", channel.ca_file,
                 "use TLS; the scheduler's certificate must chain to this PEM CA")
      ->envname("TASKWIRE_TLS_CA");
  app.add_option("--tls-cert", channel.cert_file, "client certificate (PEM) for mTLS")
      ->envname("TASKWIRE_TLS_CERT");
  app.add_option("--tls-key", channel.key_file, "the PEM private key of --tls-cert")
      ->envname("TASKWIRE_TLS_KEY");
  app.add_option("--tls-server-name", channel.server_name,
                 "name to check in the scheduler's certificate instead of the address's host")
      ->envname("TASKWIRE_TLS_SERVER_NAME");
  app.add_option("--token", channel.token,
                 "bearer token sent with every call (prefer --token-file or the environment: "
                 "a command line is visible to other users)")
      ->envname("TASKWIRE_TOKEN");
  app.add_option("--token-file", channel.token_file,
                 "file holding the bearer token, re-read when it changes")
      ->envname("TASKWIRE_TOKEN_FILE");
}

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_CREDENTIAL_FLAGS_H_
