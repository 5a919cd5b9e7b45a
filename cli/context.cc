#include "cli/context.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/exit_code.h"

namespace taskwire::cli {
namespace {

std::string Explain(const absl::Status& status, const GlobalOptions& options) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return absl::StrCat("cannot reach the scheduler at ", options.server, ": ", status.message());
    case absl::StatusCode::kDeadlineExceeded:
      return absl::StrCat("the scheduler at ", options.server,
                          " did not answer in time (--rpc-timeout ", options.rpc_timeout_seconds,
                          "s): ", status.message());
    default:
      return std::string(status.message());
  }
}

}  // namespace

Context::Context(const GlobalOptions& options) : options_(options) {}

Context::~Context() = default;

absl::Status Context::Connect() {
  absl::StatusOr<std::unique_ptr<client::Client>> client = client::Client::Create(
      client::ClientOptions{
          .target = options_.server,
          .rpc_timeout = SecondsToDuration(options_.rpc_timeout_seconds),
      },
      options_.security);
  if (!client.ok()) return client.status();
  client_ = std::move(*client);
  return absl::OkStatus();
}

client::Client& Context::client() { return *client_; }

Output& Context::out() {
  if (out_ == nullptr) {
    out_ = options_.json ? MakeJsonOutput(std::cout) : MakeHumanOutput(std::cout);
  }
  return *out_;
}

int Context::ServerError(const absl::Status& status, absl::string_view note) const {
  std::cerr << "taskwire: " << absl::StatusCodeToString(status.code()) << ": "
            << Explain(status, options_) << note << std::endl;
  return kExitServerError;
}

int Context::UsageError(absl::string_view message) const {
  Warn(message);
  return kExitUsage;
}

void Context::Warn(absl::string_view message) const {
  std::cerr << "taskwire: " << message << std::endl;
}

}  // namespace taskwire::cli
