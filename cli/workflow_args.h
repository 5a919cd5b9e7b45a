// Turns the words of `taskwire chain|group|chord` into a WorkflowSpec, with the client
// library's shapes (client/workflow.h). Apart from the commands so that unit tests can
// check the DAG each command line makes.
#ifndef TASKWIRE_CLI_WORKFLOW_ARGS_H_
#define TASKWIRE_CLI_WORKFLOW_ARGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/task_args.h"
#include "taskwire/v1/workflow.pb.h"

namespace taskwire::cli {

enum class WorkflowShape { kChain, kGroup, kChord };

// chain: every word in order; group: all at once; chord: all words but the last as a
// group, the last as its callback (at least two words). `options` apply to every node;
// its labels also label the workflow.
absl::StatusOr<v1::WorkflowSpec> BuildWorkflowFromWords(WorkflowShape shape,
                                                       const std::vector<std::string>& words,
                                                       const TaskOptionArgs& options);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_WORKFLOW_ARGS_H_
