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
#include "absl/time/time.h"
#include "cli/output.h"
#include "client/client.h"

namespace taskwire::cli {

struct GlobalOptions {
  std::string server = "127.0.0.1:7070";
  ChannelSecurity security;
  bool json = false;
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Progress lines on stderr while waiting: 1 (--progress), 0 (--no-progress), -1: when
  // stderr is a terminal.
  int progress = -1;
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
  // The client's channel, for other services of the same server (grpc.health.v1).
  const std::shared_ptr<grpc::Channel>& channel() const;  // after Connect
  Output& out();
  const GlobalOptions& options() const { return options_; }

  // Prints "taskwire: CODE: message[ note]" to stderr, with a hint when the scheduler
  // could not be reached or did not answer. Returns kExitServerError.
  int ServerError(const absl::Status& status, absl::string_view note = {}) const;
  // Prints "taskwire: message" to stderr. Returns kExitUsage.
  int UsageError(absl::string_view message) const;
  // Prints "taskwire: message" to stderr.
  void Warn(absl::string_view message) const;
  // Whether waits print progress (GlobalOptions::progress), and printing one line of it.
  bool progress() const;
  void Progress(absl::string_view line) const;

 private:
  const GlobalOptions& options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<Output> out_;
};

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_CONTEXT_H_
