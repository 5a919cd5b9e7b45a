// taskwire submit TYPE [options]: submits one task, optionally waits for it.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/exit_code.h"
#include "cli/progress.h"
#include "cli/task_args.h"
#include "cli/task_result.h"
#include "client/client.h"
#include "common/grpc_status.h"

namespace taskwire::cli {
namespace {

struct SubmitArgs {
  std::string type;
  std::string payload;
  std::string payload_file;
  TaskOptionArgs options;
  bool wait = false;
  absl::Duration wait_timeout = absl::InfiniteDuration();
};

constexpr char kSubmitExamples[] =
    "Examples:\n"
    "  taskwire submit echo --payload 'hello'\n"
    "  taskwire submit sha256 --payload-file big.bin --queue cpu --priority 10\n"
    "  echo 1000000 | taskwire submit primes --payload-file - --timeout 2.5 --wait\n"
    "  taskwire submit sleep --payload 30000 --label team=infra --label run=42 \\\n"
    "      --wait --wait-timeout 1m\n"
    "  taskwire submit http.get --payload https://example.com --retries 3 --backoff 1s\n"
    "  taskwire submit echo --payload later --countdown 10s --expires 1m\n"
    "  taskwire submit echo --payload once --idempotency-key order-42 --retention 1h\n"
    "\n"
    "Durations (--timeout, --backoff, --countdown, ...): seconds (1.5) or units: 300ms,\n"
    "10s, 1m30s, 1h. --eta takes an RFC 3339 time\n"
    "(2026-01-02T15:04:05Z). Prints the new task's id, or with --wait the finished task\n"
    "as `get` does. When the idempotency key matched an earlier task, that task's id is\n"
    "printed and stderr says so.\n\n";

absl::StatusOr<v1::TaskSpec> BuildSpec(const SubmitArgs& args) {
  v1::TaskSpec spec = client::MakeTask(args.type, args.payload);
  if (!args.payload_file.empty()) {
    absl::StatusOr<std::string> payload = ReadPayloadFile(args.payload_file);
    if (!payload.ok()) return payload.status();
    spec.set_payload(*std::move(payload));
  }
  if (absl::Status s = ApplyTaskOptions(args.options, spec); !s.ok()) return s;
  return spec;
}

int RunSubmit(Context& context, const SubmitArgs& args) {
  absl::StatusOr<v1::TaskSpec> spec = BuildSpec(args);
  if (!spec.ok()) return context.UsageError(spec.status().message());
  const bool wait = args.wait || args.wait_timeout != absl::InfiniteDuration();
  const absl::Duration timeout = args.wait_timeout;
  const absl::Time end = absl::Now() + timeout;
  // With --wait, one call submits and waits; with progress, that wait is the first of many
  // short ones.
  const absl::Duration first_wait =
      context.progress() ? std::min(timeout, kProgressInterval) : timeout;
  absl::StatusOr<v1::SubmitResponse> response =
      wait ? context.client().SubmitAndWait(*spec, first_wait) : context.client().SubmitTask(*spec);
  if (!response.ok()) return context.ServerError(response.status());
  if (wait && context.progress()) {
    absl::StatusOr<v1::Task> task =
        WaitForTask(context, response->task_id(), end - absl::Now(), &response->task());
    if (!task.ok()) {
      return context.ServerError(
          task.status(), absl::StrCat(" (task '", response->task_id(), "' was submitted)"));
    }
    *response->mutable_task() = *std::move(task);
  }
  if (response->existing()) {
    context.Warn(absl::StrCat("idempotency key '", spec->idempotency_key(), "' matched task '",
                              response->task_id(), "'; nothing new was submitted"));
  }
  if (!wait) {
    context.out().Submitted(*response);
    return kExitOk;
  }
  return ReportWaitedTask(context, response->task(), timeout);
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
  AddTaskOptions(*app, args->options, /*subject=*/"task");
  app->add_flag("--wait", args->wait, "Wait for the task to finish and print it");
  AddDurationOption(
      *app, "--wait-timeout", args->wait_timeout,
      "Give up waiting after this long (exit code 4); implies --wait (default: forever)",
      /*allow_zero=*/true);
  app->footer(absl::StrCat(kSubmitExamples, kExitCodesHelp));
  return {app, [args, &context] { return RunSubmit(context, *args); }};
}

}  // namespace taskwire::cli
