#include "cli/workflow_args.h"

#include "client/workflow.h"

namespace taskwire::cli {

absl::StatusOr<v1::WorkflowSpec> BuildWorkflowFromWords(WorkflowShape shape,
                                                       const std::vector<std::string>& words,
                                                       const TaskOptionArgs& options) {
  if (words.empty()) return absl::InvalidArgumentError("name at least one task");
  if (shape == WorkflowShape::kChord && words.size() < 2) {
    return absl::InvalidArgumentError(
        "a chord needs at least one group task and a callback: chord A B -- CALLBACK");
  }
  std::vector<client::Canvas> tasks;
  for (const std::string& word : words) {
    absl::StatusOr<v1::TaskSpec> spec = ParseTaskWord(word);
    if (!spec.ok()) return spec.status();
    if (absl::Status s = ApplyTaskOptions(options, *spec); !s.ok()) return s;
    tasks.push_back(client::Canvas::Task(*std::move(spec)));
  }
  client::Canvas canvas = client::Canvas::Task("");
  switch (shape) {
    case WorkflowShape::kChain:
      canvas = client::Chain(std::move(tasks));
      break;
    case WorkflowShape::kGroup:
      canvas = client::Group(std::move(tasks));
      break;
    case WorkflowShape::kChord: {
      client::Canvas callback = tasks.back();
      tasks.pop_back();
      canvas = client::Chord(client::Group(std::move(tasks)), std::move(callback));
      break;
    }
  }
  absl::StatusOr<v1::WorkflowSpec> spec = canvas.Build();
  if (!spec.ok()) return spec.status();
  if (!spec->nodes().empty()) *spec->mutable_labels() = spec->nodes(0).task().labels();
  // The key names the workflow; its nodes take none of their own.
  spec->set_idempotency_key(options.idempotency_key);
  for (v1::WorkflowNode& node : *spec->mutable_nodes()) {
    node.mutable_task()->clear_idempotency_key();
  }
  return spec;
}

}  // namespace taskwire::cli
