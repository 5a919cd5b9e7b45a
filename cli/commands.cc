#include "cli/commands.h"

namespace taskwire::cli {

std::vector<Command> AddAllCommands(CLI::App& root, Context& context) {
  return {
      AddSubmitCommand(root, context),    AddGetCommand(root, context),
      AddWaitCommand(root, context),      AddCancelCommand(root, context),
      AddListCommand(root, context),      AddWatchCommand(root, context),
      AddExecutorsCommand(root, context),
  };
}

}  // namespace taskwire::cli
