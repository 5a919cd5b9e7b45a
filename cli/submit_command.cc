// taskwire submit TYPE [options]: submits one task, optionally waits for it.
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/exit_code.h"
#include "cli/task_result.h"
#include "client/client.h"
#include "common/grpc_status.h"

namespace taskwire::cli {
namespace {

struct SubmitArgs {
  std::string type;
  std::string payload;
  std::string payload_file;
  std::string queue;
  int priority = 0;
  double timeout_seconds = 0;
  std::vector<std::string> labels;
  bool wait = false;
  double wait_timeout_seconds = std::numeric_limits<double>::infinity();
};

constexpr char kSubmitExamples[] =
    "Examples:\n"
    "  taskwire submit echo --payload 'hello'\n"
    "  taskwire submit sha256 --payload-file big.bin --queue cpu --priority 10\n"
    "  echo 1000000 | taskwire submit primes --payload-file - --timeout 2.5 --wait\n"
    "  taskwire submit sleep --payload 30000 --label team=infra --label run=42 \\\n"
    "      --wait --wait-timeout 60\n"
    "\n"
    "Prints the new task's id, or with --wait the finished task as `get` does.\n\n";

absl::StatusOr<v1::TaskSpec> BuildSpec(const SubmitArgs& args) {
  v1::TaskSpec spec = client::MakeTask(args.type, args.payload);
  if (!args.payload_file.empty()) {
    absl::StatusOr<std::string> payload = ReadPayloadFile(args.payload_file);
    if (!payload.ok()) return payload.status();
    spec.set_payload(*std::move(payload));
  }
  absl::StatusOr<google::protobuf::Map<std::string, std::string>> labels = ParseLabels(args.labels);
  if (!labels.ok()) return labels.status();
  *spec.mutable_labels() = *std::move(labels);
  spec.set_queue(args.queue);
  spec.set_priority(args.priority);
  if (args.timeout_seconds > 0) {
    ToProto(absl::Seconds(args.timeout_seconds), spec.mutable_timeout());
  }
  return spec;
}

int RunSubmit(Context& context, const SubmitArgs& args) {
  absl::StatusOr<v1::TaskSpec> spec = BuildSpec(args);
  if (!spec.ok()) return context.UsageError(spec.status().message());
  absl::StatusOr<std::string> id = context.client().Submit(*spec);
  if (!id.ok()) return context.ServerError(id.status());
  const bool wait =
      args.wait || args.wait_timeout_seconds != std::numeric_limits<double>::infinity();
  if (!wait) {
    context.out().TaskId(*id);
    return kExitOk;
  }
  return WaitAndReport(context, *id, SecondsToDuration(args.wait_timeout_seconds),
                       absl::StrCat(" (task '", *id, "' was submitted)"));
}

}  // namespace

Command AddSubmitCommand(CLI::App& root, Context& context) {
  auto args = std::make_shared<SubmitArgs>();
  CLI::App* app = root.add_subcommand("submit", "Submit a task");
  app->add_option("TYPE", args->type, "Task type (the handler name), e.g. echo")
      ->required()
      ->type_name("");
  CLI::Option* payload = app->add_option("--payload", args->payload, "Payload as a string");
  app->add_option("--payload-file", args->payload_file,
                  "Read the payload from a file ('-' = stdin)")
      ->excludes(payload);
  app->add_option("--queue", args->queue, "Queue (default: \"default\")");
  app->add_option("--priority", args->priority, "Higher runs first")
      ->check(CLI::Range(-100, 100))
      ->capture_default_str();
  app->add_option("--timeout", args->timeout_seconds,
                  "Run-time limit of one attempt (default: none)")
      ->transform(Seconds(/*allow_zero=*/true))
      ->type_name("SECONDS");
  app->add_option("--label", args->labels, "A label; repeat for more")
      ->transform(Label())
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app->add_flag("--wait", args->wait, "Wait for the task to finish and print it");
  app->add_option(
         "--wait-timeout", args->wait_timeout_seconds,
         "Give up waiting after this long (exit code 4); implies --wait (default: forever)")
      ->transform(Seconds(/*allow_zero=*/true))
      ->type_name("SECONDS");
  app->footer(absl::StrCat(kSubmitExamples, kExitCodesHelp));
  return {app, [args, &context] { return RunSubmit(context, *args); }};
}

}  // namespace taskwire::cli
