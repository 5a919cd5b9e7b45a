#include "scheduler/core/workflow_graph.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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
      return absl::InvalidArgumentError(absl::StrCat("workflow.nodes[", i, "].name '", node.name,
                                                     "' is also the name of nodes[", it->second,
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
        return absl::InvalidArgumentError(absl::StrCat("workflow node '", node.name,
                                                       "' depends on '", name,
                                                       "', which is not a node of the workflow"));
      }
      if (it->second == i) {
        return absl::InvalidArgumentError(
            absl::StrCat("workflow node '", node.name, "' depends on itself"));
      }
      if (std::find(upstream[i].begin(), upstream[i].end(), it->second) != upstream[i].end()) {
        return absl::InvalidArgumentError(absl::StrCat("workflow node '", node.name,
                                                       "' lists '", name, "' twice in after"));
      }
      upstream[i].push_back(it->second);
      downstream[it->second].push_back(i);
    }
  }

  // Kahn's algorithm: whatever is never released sits on or behind a cycle.
  std::vector<uint32_t> waiting(n);
  std::vector<uint32_t> ready;
  for (uint32_t i = 0; i < n; ++i) {
    waiting[i] = upstream[i].size();
    if (waiting[i] == 0) ready.push_back(i);
  }
  size_t released = 0;
  while (!ready.empty()) {
    const uint32_t i = ready.back();
    ready.pop_back();
    ++released;
    for (uint32_t d : downstream[i]) {
      if (--waiting[d] == 0) ready.push_back(d);
    }
  }
  if (released != n) {
    std::vector<std::string> stuck;
    for (uint32_t i = 0; i < n && stuck.size() < 10; ++i) {
      if (waiting[i] > 0) stuck.push_back(spec.nodes[i].name);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("workflow has a cycle: ", n - released,
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

}  // namespace taskwire::scheduler
