// taskwire executors: the executors connected to the scheduler and their slots.
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/exit_code.h"

namespace taskwire::cli {

Command AddExecutorsCommand(CLI::App& root, Context& context) {
  CLI::App* app = root.add_subcommand("executors", "List the connected executors and their slots");
  app->footer(
      absl::StrCat("Examples:\n"
                   "  taskwire executors\n"
                   "  taskwire executors --json | jq '.slots - .slots_used'\n\n"
                   "TYPES marks the types run as subprocesses with \"(process)\".\n\n",
                   kExitCodesHelp));
  return {app, [&context] {
            auto executors = context.client().ListExecutors();
            if (!executors.ok()) return context.ServerError(executors.status());
            context.out().Executors(*executors);
            return static_cast<int>(kExitOk);
          }};
}

}  // namespace taskwire::cli
