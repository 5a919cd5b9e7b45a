// taskwire: the command-line client of the taskwire scheduler. This file owns the command
// line: global options, parsing, dispatch to a subcommand (commands.h) and the exit code.
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/exit_code.h"
#include "common/credential_flags.h"
#include "common/version.h"

namespace taskwire::cli {
namespace {

constexpr char kRootFooter[] =
    "Examples:\n"
    "  taskwire submit echo --payload hello --wait\n"
    "  taskwire --server scheduler:7070 list --state failed\n"
    "  TASKWIRE_SERVER=scheduler:7070 taskwire watch --json\n"
    "  taskwire executors\n"
    "  taskwire chain echo:hello echo sha256 --wait\n"
    "  taskwire chord --wait echo:a echo:b -- collect\n"
    "  taskwire workflow get ID\n"
    "\n"
    "Run 'taskwire COMMAND --help' for a command's options. Global options may also\n"
    "follow the command: taskwire get ID --json.\n"
    "Every DURATION is seconds (1.5) or has units: 300ms, 10s, 1m30s, 1h.\n\n";

void AddGlobalOptions(CLI::App& app, GlobalOptions& options) {
  app.add_option("--server", options.server,
                 "Scheduler address (host:port or a gRPC target); several schedulers sharing "
                 "one store: host:port,host:port,... or dns:///name:port (follows the leader)")
      ->envname("TASKWIRE_SERVER")
      ->capture_default_str();
  app.add_flag("--json", options.json,
               "Machine output: one JSON object per line, proto field names");
  AddDurationOption(app, "--rpc-timeout", options.rpc_timeout, "Deadline of each call",
                    /*allow_zero=*/false)
      ->default_str("10s");
  // --progress counts 1, --no-progress -1; TASKWIRE_PROGRESS=1 or 0 the same as a flag.
  app.add_flag_function(
         "--progress,!--no-progress",
         [&options](int64_t count) { options.progress = count > 0 ? 1 : 0; },
         "Print state changes on stderr while waiting (default: when stderr is a terminal)")
      ->envname("TASKWIRE_PROGRESS");
  AddChannelSecurityFlags(app, options.security);
  app.set_version_flag("--version", absl::StrCat("taskwire ", kVersion),
                       "Print the version and exit");
}

// CLI11's message, as "taskwire: ..." plus where to find the usage.
std::string FailureMessage(const CLI::App* app, const CLI::Error& error) {
  std::string command = "taskwire";
  for (const CLI::App* sub : app->get_subcommands()) {
    absl::StrAppend(&command, " ", sub->get_name());
  }
  return absl::StrCat("taskwire: ", error.what(), "\nRun '", command, " --help' for usage.\n");
}

int Main(int argc, char** argv) {
  CLI::App app(
      "taskwire: submit, inspect, wait for, cancel and watch tasks and workflows of a taskwire "
      "scheduler",
      "taskwire");
  GlobalOptions options;
  AddGlobalOptions(app, options);
  app.fallthrough();  // global options after the subcommand too
  app.require_subcommand(0, 1);  // none is reported below, after unknown words are
  app.failure_message(FailureMessage);
  app.footer(absl::StrCat(kRootFooter, kExitCodesHelp));
  Context context(options);
  const std::vector<Command> commands = AddAllCommands(app, context);
  // CLI11 would hand the words after `--` to the root app, which has no positionals: keep
  // them for the workflow commands (taskwire chord A B -- CALLBACK).
  std::vector<char*> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (std::string_view(args[i]) != "--") continue;
    options.dashes = true;
    options.after_dashes.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
    args.resize(i);
    break;
  }
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? kExitOk : kExitUsage;
  }
  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    const std::string name = command.app->get_name();
    if (options.dashes && name != "chain" && name != "group" && name != "chord") {
      return context.UsageError(absl::StrCat("'--' is for chain, group and chord only\nRun 'taskwire ",
                                             name, " --help' for usage."));
    }
    if (absl::Status s = context.Connect(); !s.ok()) return context.UsageError(s.message());
    return command.run();
  }
  return context.UsageError("a command is required\nRun 'taskwire --help' for usage.");
}

}  // namespace
}  // namespace taskwire::cli

int main(int argc, char** argv) {
  try {
    return taskwire::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "taskwire: INTERNAL: " << e.what() << std::endl;
    return taskwire::cli::kExitServerError;
  }
}
