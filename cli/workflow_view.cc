#include "cli/workflow_view.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "cli/format.h"
#include "cli/table.h"
#include "client/client.h"
#include "common/grpc_status.h"

namespace taskwire::cli {
namespace {

constexpr int kMaxDepth = 10;
constexpr size_t kMaxDetail = 100;
constexpr size_t kMaxResultBytes = 1024;

// The first line of `text`, cut to `max` bytes (on a UTF-8 boundary).
std::string FirstLine(const std::string& text, size_t max) {
  std::string line = text.substr(0, text.find('\n'));
  const bool more = line.size() < text.size();
  if (line.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line = absl::StrCat(line.substr(0, cut), "...");
  } else if (more) {
    absl::StrAppend(&line, " ...");
  }
  return line;
}

std::string Detail(const v1::WorkflowNodeStatus& node) {
  const v1::Task& task = node.task();
  std::vector<std::string> parts;
  if (node.after_size() > 1) parts.push_back(absl::StrCat("after ", absl::StrJoin(node.after(), ", ")));
  if (task.state() == v1::TASK_STATE_SCHEDULED && task.has_scheduled_for()) {
    parts.push_back(absl::StrCat("runs at ", FormatTime(task.scheduled_for())));
  }
  if (!task.error().empty()) {
    parts.push_back(FirstLine(task.error(), kMaxDetail));
  } else if (task.attempts_size() > 1) {
    // Retried, then succeeded (or still going): say why the last retry happened.
    for (int i = task.attempts_size() - 2; i >= 0; --i) {
      const v1::Attempt& a = task.attempts(i);
      if (!a.error().empty()) {
        parts.push_back(absl::StrCat("#", a.number(), " ", std::string(OutcomeName(a.outcome())), ": ",
                                     FirstLine(a.error(), kMaxDetail)));
        break;
      }
    }
  }
  if (!task.waiting_reason().empty()) parts.push_back(FirstLine(task.waiting_reason(), kMaxDetail));
  return absl::StrJoin(parts, "; ");
}

class TreeBuilder {
 public:
  explicit TreeBuilder(const v1::Workflow& workflow)
      : workflow_(workflow), table_({"NODE", "STATE", "TYPE", "ATTEMPTS", "TASK", "DETAIL"}) {
    absl::flat_hash_map<std::string, int> index;
    for (int i = 0; i < workflow.nodes_size(); ++i) index[workflow.nodes(i).name()] = i;
    children_.resize(workflow.nodes_size());
    for (int i = 0; i < workflow.nodes_size(); ++i) {
      const v1::WorkflowNodeStatus& node = workflow.nodes(i);
      auto parent = node.after_size() == 1 ? index.find(node.after(0)) : index.end();
      if (parent != index.end() && parent->second != i) {
        children_[parent->second].push_back(i);
      } else {
        roots_.push_back(i);
      }
    }
  }

  std::string Render() {
    visited_.assign(workflow_.nodes_size(), false);
    for (size_t r = 0; r < roots_.size(); ++r) Add(roots_[r], "", r + 1 == roots_.size(), 0);
    // A cycle of single-upstream nodes (a scheduler would refuse it) has no root: show it too.
    for (int i = 0; i < workflow_.nodes_size(); ++i) {
      if (!visited_[i]) Add(i, "", true, 0);
    }
    std::ostringstream out;
    table_.Print(out);
    return out.str();
  }

 private:
  void Add(int i, const std::string& prefix, bool last, int depth) {
    if (visited_[i]) return;
    visited_[i] = true;
    const v1::WorkflowNodeStatus& node = workflow_.nodes(i);
    const v1::Task& task = node.task();
    const std::string branch = depth == 0 ? "" : (last ? "`- " : "+- ");
    table_.AddRow({absl::StrCat(prefix, branch, node.name()),
                   std::string(client::StateName(task.state())), task.spec().type(),
                   absl::StrCat(task.attempts_size()), task.id().empty() ? "-" : task.id(),
                   Detail(node)});
    std::string child_prefix = prefix;
    if (depth > 0 && depth < kMaxDepth) absl::StrAppend(&child_prefix, last ? "   " : "|  ");
    const std::vector<int>& kids = children_[i];
    for (size_t k = 0; k < kids.size(); ++k) {
      // Past kMaxDepth the branch keeps its column: a long chain reads as a list.
      Add(kids[k], child_prefix, k + 1 == kids.size(), std::min(depth + 1, kMaxDepth));
    }
  }

  const v1::Workflow& workflow_;
  Table table_;
  std::vector<std::vector<int>> children_;
  std::vector<int> roots_;
  std::vector<bool> visited_;
};

void Field(std::ostream& out, const std::string& label, const std::string& value) {
  out << label << ":" << std::string(label.size() < 10 ? 10 - label.size() : 1, ' ') << value
      << '\n';
}

}  // namespace

std::string RenderWorkflowTree(const v1::Workflow& workflow) {
  return TreeBuilder(workflow).Render();
}

std::string RenderWorkflow(const v1::Workflow& workflow) {
  std::ostringstream out;
  Field(out, "workflow", workflow.id());
  std::string state(client::WorkflowStateName(workflow.state()));
  if (!workflow.decided_by().empty()) absl::StrAppend(&state, " (decided by ", workflow.decided_by(), ")");
  Field(out, "state", state);
  if (!workflow.error().empty()) Field(out, "error", workflow.error());
  if (!workflow.labels().empty()) {
    const std::map<std::string, std::string> sorted(workflow.labels().begin(), workflow.labels().end());
    Field(out, "labels", absl::StrJoin(sorted, ", ", absl::PairFormatter("=")));
  }
  Field(out, "created", FormatTime(workflow.created_at()));
  if (workflow.has_finished_at()) {
    Field(out, "finished", FormatTime(workflow.finished_at()));
    Field(out, "duration", FormatShortDuration(FromProto(workflow.finished_at()) -
                                               FromProto(workflow.created_at())));
  }
  std::map<std::string, int> counts;
  for (const v1::WorkflowNodeStatus& node : workflow.nodes()) {
    ++counts[std::string(client::StateName(node.task().state()))];
  }
  Field(out, "nodes", absl::StrCat(workflow.nodes_size(), " (",
                                   absl::StrJoin(counts, ", ",
                                                 [](std::string* o, const auto& kv) {
                                                   absl::StrAppend(o, kv.second, " ", kv.first);
                                                 }),
                                   ")"));
  out << RenderWorkflowTree(workflow);
  if (!workflow.results().empty()) {
    out << "results:\n";
    for (const v1::WorkflowResult& r : workflow.results()) {
      const std::string text = RenderBytes(r.output(), kMaxResultBytes);
      if (text.find('\n') == std::string::npos) {
        out << "  " << r.node() << ": " << text << '\n';
      } else {
        out << "  " << r.node() << ":\n    " << absl::StrReplaceAll(text, {{"\n", "\n    "}}) << '\n';
      }
    }
  }
  return out.str();
}

}  // namespace taskwire::cli
