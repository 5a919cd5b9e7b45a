#include "cli/context.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/format.h"
#include "cli/exit_code.h"

namespace taskwire::cli {
namespace {

std::string Explain(const absl::Status& status, const GlobalOptions& options) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return absl::StrCat("cannot reach the scheduler at ", options.server, ": ", status.message());
    case absl::StatusCode::kDeadlineExceeded:
      return absl::StrCat("the scheduler at ", options.server,
                          " did not answer in time (--rpc-timeout ",
                          FormatShortDuration(options.rpc_timeout), "): ", status.message());
    default:
      return std::string(status.message());
  }
}

}  // namespace

Context::Context(const GlobalOptions& options) : options_(options) {}

Context::~Context() = default;

absl::Status Context::Connect() {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      client::MakeChannel(options_.server, options_.security);
  if (!channel.ok()) return channel.status();
  channel_ = *std::move(channel);
  client_ = std::make_unique<client::Client>(channel_, options_.rpc_timeout);
  return absl::OkStatus();
}

client::Client& Context::client() { return *client_; }

const std::shared_ptr<grpc::Channel>& Context::channel() const { return channel_; }

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

bool Context::progress() const {
  return options_.progress == -1 ? isatty(STDERR_FILENO) == 1 : options_.progress == 1;
}

void Context::Progress(absl::string_view line) const { Warn(line); }

void Context::Warn(absl::string_view message) const {
  std::cerr << "taskwire: " << message << std::endl;
}

}  // namespace taskwire::cli
