#include "cli/commands.h"

namespace taskwire::cli {

std::vector<Command> AddAllCommands(CLI::App& root, Context& context) {
  return {
      AddSubmitCommand(root, context),    AddGetCommand(root, context),
      AddWaitCommand(root, context),      AddCancelCommand(root, context),
      AddListCommand(root, context),      AddWatchCommand(root, context),
      AddExecutorsCommand(root, context), AddChainCommand(root, context),
      AddGroupCommand(root, context),     AddChordCommand(root, context),
      AddWorkflowCommand(root, context),  AddHealthCommand(root, context),
  };
}

}  // namespace taskwire::cli
