// The human view of a workflow (`taskwire workflow get|wait`, `chain|group|chord --wait`):
// a header (id, state, which node decided it, times), then the nodes as a tree, then the
// results of the sink nodes.
//
// The tree: a node with exactly one upstream is drawn under it; a node with none, or with
// several (a chord's callback), starts a top-level branch and names its upstreams
// ("after a, b, c"). Nodes appear in submission order within a level. Indentation stops
// growing after kMaxDepth levels, so a chain of 100 stays readable.
#ifndef TASKWIRE_CLI_WORKFLOW_VIEW_H_
#define TASKWIRE_CLI_WORKFLOW_VIEW_H_

#include <string>

#include "taskwire/v1/workflow.pb.h"

namespace taskwire::cli {

// Ends with a newline.
std::string RenderWorkflow(const v1::Workflow& workflow);

// The node lines only (the NODE, STATE, TYPE, ATTEMPTS, TASK, DETAIL table).
std::string RenderWorkflowTree(const v1::Workflow& workflow);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_WORKFLOW_VIEW_H_
