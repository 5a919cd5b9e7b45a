// The subcommands of the taskwire command. Each Add*Command function declares one
// subcommand (its options and help) on the root app and returns how to run it once the
// command line has been parsed; running returns the process exit code (exit_code.h).
#ifndef TASKWIRE_CLI_COMMANDS_H_
#define TASKWIRE_CLI_COMMANDS_H_

#include <functional>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/context.h"

namespace taskwire::cli {

struct Command {
  CLI::App* app;             // owned by the root app
  std::function<int()> run;  // valid as long as the root app and the context
};

Command AddSubmitCommand(CLI::App& root, Context& context);     // submit_command.cc
Command AddGetCommand(CLI::App& root, Context& context);        // task_commands.cc
Command AddWaitCommand(CLI::App& root, Context& context);       // task_commands.cc
Command AddCancelCommand(CLI::App& root, Context& context);     // task_commands.cc
Command AddListCommand(CLI::App& root, Context& context);       // list_command.cc
Command AddWatchCommand(CLI::App& root, Context& context);      // watch_command.cc
Command AddExecutorsCommand(CLI::App& root, Context& context);  // executors_command.cc
Command AddChainCommand(CLI::App& root, Context& context);      // workflow_commands.cc
Command AddGroupCommand(CLI::App& root, Context& context);      // workflow_commands.cc
Command AddChordCommand(CLI::App& root, Context& context);      // workflow_commands.cc
Command AddWorkflowCommand(CLI::App& root, Context& context);   // workflow_commands.cc
Command AddHealthCommand(CLI::App& root, Context& context);     // health_command.cc

// All of them, in the order the help lists them.
std::vector<Command> AddAllCommands(CLI::App& root, Context& context);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_COMMANDS_H_
