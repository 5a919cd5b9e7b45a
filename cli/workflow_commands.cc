// Workflow commands: chain, group and chord build a workflow from TYPE[:PAYLOAD] words and
// submit it; `workflow get|wait|cancel ID` inspect, wait for and cancel one.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/exit_code.h"
#include "cli/format.h"
#include "cli/progress.h"
#include "cli/task_args.h"
#include "cli/workflow_args.h"
#include "client/client.h"

namespace taskwire::cli {
namespace {

struct WorkflowArgs {
  std::vector<std::string> words;
  TaskOptionArgs options;
  bool wait = false;
  absl::Duration wait_timeout = absl::InfiniteDuration();
};

// Prints `workflow`, waited for up to `timeout`; 4 (with a warning) if it has not ended.
int ReportWaitedWorkflow(Context& context, const v1::Workflow& workflow, absl::Duration timeout) {
  context.out().Workflow(workflow);
  if (client::IsTerminal(workflow.state())) return ExitCodeForWorkflow(workflow.state());
  context.Warn(absl::StrCat("timed out after ", FormatShortDuration(timeout),
                            " waiting for workflow '", workflow.id(), "' (still ",
                            std::string(client::WorkflowStateName(workflow.state())), ")"));
  return kExitWaitTimedOut;
}

// As WaitForTask (task_result.h), for a workflow.
absl::StatusOr<v1::Workflow> WaitForWorkflow(Context& context, const std::string& id,
                                             absl::Duration timeout,
                                             const v1::Workflow* seen = nullptr) {
  if (!context.progress()) {
    if (seen != nullptr && client::IsTerminal(seen->state())) return *seen;
    return context.client().WaitWorkflow(id, timeout);
  }
  WorkflowProgress progress;
  const absl::Time end = absl::Now() + std::max(timeout, absl::ZeroDuration());
  while (true) {
    absl::StatusOr<v1::Workflow> workflow =
        seen != nullptr
            ? *seen
            : context.client().WaitWorkflow(id, std::min(end - absl::Now(), kProgressInterval));
    seen = nullptr;
    if (!workflow.ok()) return workflow;
    if (std::optional<std::string> line = progress.Update(*workflow)) context.Progress(*line);
    if (client::IsTerminal(workflow->state()) || absl::Now() >= end) return workflow;
  }
}

int WaitAndReportWorkflow(Context& context, const std::string& id, absl::Duration timeout) {
  absl::StatusOr<v1::Workflow> workflow = WaitForWorkflow(context, id, timeout);
  if (!workflow.ok()) return context.ServerError(workflow.status());
  return ReportWaitedWorkflow(context, *workflow, timeout);
}

int RunShape(Context& context, WorkflowShape shape, const WorkflowArgs& args) {
  std::vector<std::string> words = args.words;
  const std::vector<std::string>& after = context.options().after_dashes;
  words.insert(words.end(), after.begin(), after.end());
  absl::StatusOr<v1::WorkflowSpec> spec = BuildWorkflowFromWords(shape, words, args.options);
  if (!spec.ok()) return context.UsageError(spec.status().message());
  const bool wait = args.wait || args.wait_timeout != absl::InfiniteDuration();
  const absl::Duration timeout = args.wait_timeout;
  const absl::Time end = absl::Now() + timeout;
  // With --wait, one call submits and waits; with progress, that wait is the first of many
  // short ones.
  const absl::Duration first_wait =
      context.progress() ? std::min(timeout, kProgressInterval) : timeout;
  absl::StatusOr<v1::SubmitWorkflowResponse> response =
      wait ? context.client().SubmitWorkflowAndWait(*spec, first_wait)
           : context.client().SubmitWorkflow(*spec);
  if (!response.ok()) return context.ServerError(response.status());
  if (wait && context.progress()) {
    absl::StatusOr<v1::Workflow> workflow =
        WaitForWorkflow(context, response->workflow_id(), end - absl::Now(), &response->workflow());
    if (!workflow.ok()) {
      return context.ServerError(workflow.status(), absl::StrCat(" (workflow '",
                                                                 response->workflow_id(),
                                                                 "' was submitted)"));
    }
    *response->mutable_workflow() = *std::move(workflow);
  }
  if (response->existing()) {
    context.Warn(absl::StrCat("idempotency key '", spec->idempotency_key(),
                              "' matched workflow '", response->workflow_id(),
                              "'; nothing new was submitted"));
  }
  if (!wait) {
    context.out().WorkflowSubmitted(*response);
    return kExitOk;
  }
  return ReportWaitedWorkflow(context, response->workflow(), timeout);
}

Command AddShapeCommand(CLI::App& root, Context& context, WorkflowShape shape, const char* name,
                        const char* description, const char* examples) {
  auto args = std::make_shared<WorkflowArgs>();
  CLI::App* app = root.add_subcommand(name, description);
  // Not required here: words after `--` come from main.cc (GlobalOptions::after_dashes).
  app->add_option("TASKS", args->words,
                  shape == WorkflowShape::kChord
                      ? "The group's tasks, then the callback, as TYPE or TYPE:PAYLOAD"
                      : "Tasks as TYPE or TYPE:PAYLOAD")
      ->type_name("");
  AddTaskOptions(*app, args->options, /*subject=*/"workflow");
  app->add_flag("--wait", args->wait, "Wait for the workflow to end and print it");
  AddDurationOption(*app, "--wait-timeout", args->wait_timeout,
                    "Give up waiting after this long (exit code 4); implies --wait",
                    /*allow_zero=*/true);
  app->footer(absl::StrCat(examples,
                           "Each task is TYPE or TYPE:PAYLOAD (split at the first ':'). The task\n"
                           "options (--queue, --retries, ...) apply to every node. Prints the\n"
                           "workflow id, or with --wait the finished workflow as `workflow get`\n"
                           "does. See docs/workflows.md.\n\n",
                           kExitCodesHelp));
  return {app, [args, shape, &context] { return RunShape(context, shape, *args); }};
}

}  // namespace

Command AddChainCommand(CLI::App& root, Context& context) {
  return AddShapeCommand(
      root, context, WorkflowShape::kChain, "chain",
      "Submit a chain: each task gets the previous one's result",
      "Examples:\n"
      "  taskwire chain echo:hello echo sha256 --wait     # sha256(\"hello\")\n"
      "  taskwire chain primes:1000000 echo --retries 2\n\n");
}

Command AddGroupCommand(CLI::App& root, Context& context) {
  return AddShapeCommand(root, context, WorkflowShape::kGroup, "group",
                         "Submit a group: independent tasks, results in order",
                         "Examples:\n"
                         "  taskwire group sha256:a sha256:b sha256:c --wait\n\n");
}

Command AddChordCommand(CLI::App& root, Context& context) {
  return AddShapeCommand(
      root, context, WorkflowShape::kChord, "chord",
      "Submit a chord: a group, then a callback that gets all its results",
      "Examples:\n"
      "  taskwire chord --wait echo:a echo:b echo:c -- collect   # [\"a\",\"b\",\"c\"]\n"
      "  taskwire chord sha256:x sha256:y collect\n\n"
      "The last task is the callback; the others form the group. `--` before the\n"
      "callback is optional and reads well; it ends the options, so put options\n"
      "before it: a word after it that starts with '-' is refused (exit code 2).\n\n");
}

Command AddWorkflowCommand(CLI::App& root, Context& context) {
  struct Args {
    std::string id;
    absl::Duration timeout = absl::InfiniteDuration();
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand("workflow", "Show, wait for or cancel a workflow");
  app->require_subcommand(1, 1);
  app->footer(absl::StrCat("Examples:\n"
                           "  taskwire workflow get 9b1d0e\n"
                           "  taskwire workflow wait 9b1d0e --timeout 1m\n"
                           "  taskwire workflow cancel 9b1d0e\n"
                           "  taskwire workflow get 9b1d0e --json | jq .state\n\n",
                           kExitCodesHelp));
  auto add_id = [&args](CLI::App* sub) {
    sub->add_option("ID", args->id, "Workflow id (as printed by chain, group, chord)")
        ->required()
        ->type_name("");
  };
  CLI::App* get = app->add_subcommand("get", "Show a workflow: state, node tree, results");
  add_id(get);
  CLI::App* wait = app->add_subcommand("wait", "Wait for a workflow to end, then show it");
  add_id(wait);
  AddDurationOption(*wait, "--timeout", args->timeout,
                    "Give up after this long (exit code 4) (default: forever)",
                    /*allow_zero=*/true);
  CLI::App* cancel = app->add_subcommand("cancel", "Cancel every unfinished node of a workflow");
  add_id(cancel);
  return {app, [args, get, wait, cancel, &context]() -> int {
            if (get->parsed()) {
              absl::StatusOr<v1::Workflow> workflow = context.client().GetWorkflow(args->id);
              if (!workflow.ok()) return context.ServerError(workflow.status());
              context.out().Workflow(*workflow);
              return ExitCodeForWorkflow(workflow->state());
            }
            if (wait->parsed()) {
              return WaitAndReportWorkflow(context, args->id, args->timeout);
            }
            if (cancel->parsed()) {
              absl::StatusOr<v1::WorkflowState> state = context.client().CancelWorkflow(args->id);
              if (!state.ok()) return context.ServerError(state.status());
              context.out().WorkflowCancelResult(args->id, *state);
              return static_cast<int>(kExitOk);
            }
            return context.UsageError("workflow: a subcommand (get, wait, cancel) is required");
          }};
}

}  // namespace taskwire::cli
