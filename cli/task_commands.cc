// The commands on one task by id: get, wait, cancel.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/exit_code.h"
#include "cli/task_result.h"

namespace taskwire::cli {
namespace {

void AddIdArgument(CLI::App& app, std::string& id) {
  app.add_option("ID", id, "Task id (as printed by submit)")->required()->type_name("");
}

}  // namespace

Command AddGetCommand(CLI::App& root, Context& context) {
  auto id = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand("get", "Show a task: state, attempts, output, error");
  AddIdArgument(*app, *id);
  app->footer(
      absl::StrCat("Examples:\n"
                   "  taskwire get 7f3c2a\n"
                   "  taskwire get 7f3c2a --json | jq -r .output | base64 -d\n\n",
                   kExitCodesHelp));
  return {app, [id, &context] {
            absl::StatusOr<v1::Task> task = context.client().GetTask(*id);
            if (!task.ok()) return context.ServerError(task.status());
            return ReportTask(context, *task);
          }};
}

Command AddWaitCommand(CLI::App& root, Context& context) {
  struct WaitArgs {
    std::string id;
    absl::Duration timeout = absl::InfiniteDuration();
  };
  auto args = std::make_shared<WaitArgs>();
  CLI::App* app = root.add_subcommand("wait", "Wait for a task to finish, then show it");
  AddIdArgument(*app, args->id);
  AddDurationOption(*app, "--timeout", args->timeout,
                    "Give up after this long (exit code 4) (default: forever)",
                    /*allow_zero=*/true);
  app->footer(
      absl::StrCat("Examples:\n"
                   "  taskwire wait 7f3c2a\n"
                   "  taskwire wait 7f3c2a --timeout 30s || echo \"not done: $?\"\n\n",
                   kExitCodesHelp));
  return {app, [args, &context] {
            return WaitAndReport(context, args->id, args->timeout);
          }};
}

Command AddCancelCommand(CLI::App& root, Context& context) {
  auto id = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand("cancel", "Cancel a queued or running task");
  AddIdArgument(*app, *id);
  app->footer(
      absl::StrCat("Examples:\n"
                   "  taskwire cancel 7f3c2a\n\n"
                   "Prints the task's state after the cancel. A task that had already\n"
                   "finished keeps its state; that is not an error (exit code 0).\n\n",
                   kExitCodesHelp));
  return {app, [id, &context] {
            absl::StatusOr<v1::TaskState> state = context.client().CancelTask(*id);
            if (!state.ok()) return context.ServerError(state.status());
            context.out().CancelResult(*id, *state);
            return static_cast<int>(kExitOk);
          }};
}

}  // namespace taskwire::cli
