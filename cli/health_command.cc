// taskwire health: grpc.health.v1 Check against the scheduler, or an executor's health port,
// so that a container image needs no other probe tool:
//   taskwire --server 127.0.0.1:7070 health                   (the scheduler)
//   taskwire --server 127.0.0.1:7071 health --service ready   (an executor)
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/exit_code.h"
#include "common/grpc_status.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace taskwire::cli {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

int RunHealth(Context& context, const std::string& service) {
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::ClientContext call;
  call.set_deadline(absl::ToChronoTime(absl::Now() + context.options().rpc_timeout));
  const absl::Status status = ToAbslStatus(
      grpc::health::v1::Health::NewStub(context.channel())->Check(&call, request, &response));
  if (absl::IsNotFound(status)) {  // how Check says it knows no such service
    context.out().Health(service, HealthCheckResponse::ServingStatus_Name(
                                      HealthCheckResponse::SERVICE_UNKNOWN));
    return kExitTaskNotSucceeded;
  }
  if (!status.ok()) return context.ServerError(status);
  context.out().Health(service, HealthCheckResponse::ServingStatus_Name(response.status()));
  return response.status() == HealthCheckResponse::SERVING ? kExitOk : kExitTaskNotSucceeded;
}

}  // namespace

Command AddHealthCommand(CLI::App& root, Context& context) {
  auto service = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand(
      "health", "Ask a scheduler or executor whether it serves (grpc.health.v1 Check)");
  app->add_option("--service", *service,
                  "Service to ask about (default: \"\", the server as a whole; an executor's "
                  "health port also serves \"ready\")")
      ->type_name("NAME");
  app->footer(
      "Examples:\n"
      "  taskwire --server 127.0.0.1:7070 health\n"
      "  taskwire --server 127.0.0.1:7071 health --service ready\n"
      "\n"
      "Prints the status (SERVING, NOT_SERVING, SERVICE_UNKNOWN). Uses the TLS and token\n"
      "options like every command. Exit codes: 0 serving; 1 not serving, or the service\n"
      "is unknown; 3 the server could not be reached or answered another error.\n\n");
  return {app, [service, &context] { return RunHealth(context, *service); }};
}

}  // namespace taskwire::cli
