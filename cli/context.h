// What every command needs besides its own arguments: the global options, a client made
// on first use (after the command line is parsed, so --help never dials), the output form
// chosen by --json, and one way to report errors on stderr.
#ifndef TASKWIRE_CLI_CONTEXT_H_
#define TASKWIRE_CLI_CONTEXT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cli/output.h"
#include "client/client.h"

namespace taskwire::cli {

struct GlobalOptions {
  std::string server = "127.0.0.1:7070";
  ChannelSecurity security;
  bool json = false;
  double rpc_timeout_seconds = 10;
  // The words after a `--` on the command line, which main.cc keeps from CLI11 (its root
  // app would take them): chain, group and chord add them to their tasks.
  bool dashes = false;
  std::vector<std::string> after_dashes;
};

class Context {
 public:
  // `options` must outlive the context; it is read on first use of client() and out().
  explicit Context(const GlobalOptions& options);
  ~Context();

  // Makes the client (TLS files and the token are read here); main calls it before a
  // command runs, so a bad --tls-ca is a usage error, not a failed call.
  absl::Status Connect();
  client::Client& client();  // after Connect
  Output& out();
  const GlobalOptions& options() const { return options_; }

  // Prints "taskwire: CODE: message[ note]" to stderr, with a hint when the scheduler
  // could not be reached or did not answer. Returns kExitServerError.
  int ServerError(const absl::Status& status, absl::string_view note = {}) const;
  // Prints "taskwire: message" to stderr. Returns kExitUsage.
  int UsageError(absl::string_view message) const;
  // Prints "taskwire: message" to stderr.
  void Warn(absl::string_view message) const;

 private:
  const GlobalOptions& options_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<Output> out_;
};

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_CONTEXT_H_
