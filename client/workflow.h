// Workflow shapes for the C++ client, the way Celery's canvas reads: a task, Chain, Group
// and Chord, nestable, turned into the one `v1::WorkflowSpec` that SubmitWorkflow takes.
//
//   using namespace taskwire::client;
//   Canvas flow = Chain({Canvas::Task("echo", "hello"), Canvas::Task("echo"),
//                        Canvas::Task("sha256")});
//   Canvas fan = Chord(Group({Canvas::Task("sha256", "a"), Canvas::Task("sha256", "b")}),
//                      Canvas::Task("collect").Named("all"));
//   absl::StatusOr<v1::WorkflowSpec> spec = Chain({flow, fan}).Build();
//
// What each shape means (docs/workflows.md):
//   Chain(a, b, c)   b starts after a's last tasks (its sinks) and receives their results in
//                    order; c after b's.
//   Group(a, b, c)   independent; the group's sinks are a's, b's then c's, in that order.
//   Chord(g, cb)     Chain({g, cb}): cb receives g's results in group order.
// Nodes are named "<type>-<n>" (n = the node's 1-based position) unless named with Named();
// automatic names skip names given explicitly. Build() fails with INVALID_ARGUMENT on an
// empty chain or group, a duplicate name, or Named() on a shape that is not a task.
//
// A Canvas is a value: cheap to copy for small shapes, safe to share between threads.
#ifndef TASKWIRE_CLIENT_WORKFLOW_H_
#define TASKWIRE_CLIENT_WORKFLOW_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taskwire/v1/workflow.pb.h"

namespace taskwire::client {

class Canvas {
 public:
  // One task. Set retries, countdown and the rest on the spec (task_options.h).
  static Canvas Task(v1::TaskSpec spec);
  static Canvas Task(std::string type, std::string payload = {});

  // The node's name in the workflow (tasks only).
  Canvas Named(std::string name) const;

  absl::StatusOr<v1::WorkflowSpec> Build() const;

 private:
  friend Canvas Chain(std::vector<Canvas> parts);
  friend Canvas Group(std::vector<Canvas> parts);
  enum class Kind { kTask, kChain, kGroup };
  struct Shape;
  class Builder;

  explicit Canvas(std::shared_ptr<const Shape> shape) : shape_(std::move(shape)) {}

  std::shared_ptr<const Shape> shape_;
};

Canvas Chain(std::vector<Canvas> parts);
Canvas Group(std::vector<Canvas> parts);
Canvas Chord(Canvas group, Canvas callback);

}  // namespace taskwire::client

#endif  // TASKWIRE_CLIENT_WORKFLOW_H_
