#include "scheduler/core/workflow_graph.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/quote.h"

namespace taskwire::scheduler {

absl::StatusOr<std::vector<std::vector<uint32_t>>> ResolveWorkflowGraph(
    const WorkflowSpec& spec, const TaskLimits& limits) {
  const size_t n = spec.nodes.size();
  if (n == 0) return absl::InvalidArgumentError("workflow.nodes is empty");
  if (n > limits.max_workflow_nodes) {
    return absl::InvalidArgumentError(absl::StrCat("workflow has ", n, " nodes; the limit is ",
                                                   limits.max_workflow_nodes,
                                                   " (--max-workflow-nodes)"));
  }
  absl::flat_hash_map<std::string, uint32_t> index;
  index.reserve(n);
  size_t edges = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const WorkflowNodeSpec& node = spec.nodes[i];
    if (absl::Status s = ValidateName(absl::StrCat("workflow.nodes[", i, "].name"), node.name,
                                      limits.max_name_bytes);
        !s.ok()) {
      return s;
    }
    auto [it, inserted] = index.emplace(node.name, i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("workflow.nodes[", i, "].name ", Quote(node.name),
                                                     " is also the name of nodes[", it->second,
                                                     "]; names must be unique"));
    }
    edges += node.after.size();
  }
  if (edges > limits.max_workflow_edges) {
    return absl::InvalidArgumentError(absl::StrCat("workflow has ", edges,
                                                   " edges; the limit is ",
                                                   limits.max_workflow_edges,
                                                   " (--max-workflow-edges)"));
  }

  std::vector<std::vector<uint32_t>> upstream(n);
  std::vector<std::vector<uint32_t>> downstream(n);
  for (uint32_t i = 0; i < n; ++i) {
    const WorkflowNodeSpec& node = spec.nodes[i];
    for (const std::string& name : node.after) {
      auto it = index.find(name);
      if (it == index.end()) {
        return absl::InvalidArgumentError(absl::StrCat("workflow node ", Quote(node.name),
                                                       " depends on ", Quote(name),
                                                       ", which is not a node of the workflow"));
      }
      if (it->second == i) {
        return absl::InvalidArgumentError(
            absl::StrCat("workflow node ", Quote(node.name), " depends on itself"));
      }
      if (std::find(upstream[i].begin(), upstream[i].end(), it->second) != upstream[i].end()) {
        return absl::InvalidArgumentError(absl::StrCat("workflow node ", Quote(node.name),
                                                       " lists ", Quote(name), " twice in after"));
      }
      upstream[i].push_back(it->second);
      downstream[it->second].push_back(i);
    }
  }

  std::vector<size_t> counts(n);
  for (uint32_t i = 0; i < n; ++i) counts[i] = upstream[i].size();
  const std::vector<uint32_t> order = TopologicalOrder(downstream, std::move(counts));
  if (order.size() != n) {
    std::vector<bool> ordered(n, false);
    for (uint32_t i : order) ordered[i] = true;
    std::vector<std::string> stuck;
    for (uint32_t i = 0; i < n && stuck.size() < 10; ++i) {
      if (!ordered[i]) stuck.push_back(spec.nodes[i].name);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("workflow has a cycle: ", n - order.size(),
                     " nodes can never start, among them ", absl::StrJoin(stuck, ", ")));
  }
  return upstream;
}

std::vector<std::vector<uint32_t>> Downstream(const std::vector<WorkflowNodeRecord>& nodes) {
  std::vector<std::vector<uint32_t>> out(nodes.size());
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    for (uint32_t u : nodes[i].after) out[u].push_back(i);
  }
  return out;
}

std::vector<uint32_t> TopologicalOrder(const std::vector<std::vector<uint32_t>>& downstream,
                                       std::vector<size_t> waiting) {
  // waiting[i]: upstreams of node i not yet placed; a node is placed when it reaches 0.
  std::vector<uint32_t> order;
  order.reserve(waiting.size());
  for (uint32_t i = 0; i < waiting.size(); ++i) {
    if (waiting[i] == 0) order.push_back(i);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    for (uint32_t d : downstream[order[k]]) {
      if (--waiting[d] == 0) order.push_back(d);
    }
  }
  return order;
}

}  // namespace taskwire::scheduler
