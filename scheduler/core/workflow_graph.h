// A workflow as a client describes it (nodes with names and dependency names), checked
// and resolved into indices: unique names, known dependencies, no self-edges, no cycles,
// within the limits. Pure functions, no state.
#ifndef TASKWIRE_SCHEDULER_CORE_WORKFLOW_GRAPH_H_
#define TASKWIRE_SCHEDULER_CORE_WORKFLOW_GRAPH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/core/task_record.h"
#include "scheduler/core/task_validation.h"

namespace taskwire::scheduler {

struct WorkflowNodeSpec {
  std::string name;
  TaskSpec task;
  std::vector<std::string> after;  // names of upstream nodes, in the order results arrive
};

struct WorkflowSpec {
  std::vector<WorkflowNodeSpec> nodes;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string idempotency_key;  // empty: none
  std::string owner = {};       // as TaskSpec::owner; given to every node
};

// For each node, the indices of its upstream nodes in its `after` order. Errors are
// INVALID_ARGUMENT naming the node and the problem (the node's task spec is checked by
// the caller).
absl::StatusOr<std::vector<std::vector<uint32_t>>> ResolveWorkflowGraph(
    const WorkflowSpec& spec, const TaskLimits& limits);

// For each node, the indices of the nodes that depend on it.
std::vector<std::vector<uint32_t>> Downstream(const std::vector<WorkflowNodeRecord>& nodes);

// Nodes in an order where each comes after all its upstream nodes (Kahn's algorithm), given
// each node's downstream nodes and (`waiting`) its number of upstream ones. Nodes on or behind a cycle
// are left out, so a shorter result means a cycle.
std::vector<uint32_t> TopologicalOrder(const std::vector<std::vector<uint32_t>>& downstream,
                                       std::vector<size_t> waiting);

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_WORKFLOW_GRAPH_H_
