// The core's view of one executor's stream: where assignments and cancels go. The gRPC
// link implements it; unit tests use a fake that records what was sent.
#ifndef TASKWIRE_SCHEDULER_CORE_EXECUTOR_CHANNEL_H_
#define TASKWIRE_SCHEDULER_CORE_EXECUTOR_CHANNEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

// One attempt of one task: the attempt number fences everything said about it.
struct AttemptRef {
  std::string task_id;
  uint32_t attempt = 0;
  bool operator==(const AttemptRef&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const AttemptRef& r) {
    return H::combine(std::move(h), r.task_id, r.attempt);
  }
};

struct AssignmentOut {
  std::string task_id;
  uint32_t attempt = 0;
  std::shared_ptr<const TaskSpec> spec;
  std::vector<std::string> upstream_results;  // workflow nodes: in dependency order
};

// Called by the core without its lock held; must not block (queue and return).
class ExecutorChannel {
 public:
  virtual ~ExecutorChannel() = default;
  virtual void Send(std::vector<AssignmentOut> assignments, std::vector<AttemptRef> cancels) = 0;
  // Ends the stream, e.g. when the executor stopped heartbeating or a newer connection
  // with the same id replaced it.
  virtual void Close(absl::Status reason) = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_EXECUTOR_CHANNEL_H_
