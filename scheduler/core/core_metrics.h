// What the core reports as tasks, workflows and executors move: a port like TaskStore, so
// the core links no metrics library. Every method does nothing by default; the scheduler's
// Prometheus implementation is scheduler/scheduler_metrics.h. Calls arrive under the
// core's lock, on the hot path: an implementation must be cheap and thread-safe.
#ifndef TASKWIRE_SCHEDULER_CORE_CORE_METRICS_H_
#define TASKWIRE_SCHEDULER_CORE_CORE_METRICS_H_

#include <cstddef>

#include "absl/strings/string_view.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

// Whose slots a slot gauge counts: one run mode's, or one shared window.
enum class SlotWindow { kShared, kThread, kProcess, kEventLoop };

class CoreMetrics {
 public:
  virtual ~CoreMetrics() = default;

  virtual void TaskSubmitted(absl::string_view queue, absl::string_view type) {}
  // A task ended in `state` (terminal), `end_to_end_seconds` after its submission.
  virtual void TaskFinished(absl::string_view queue, absl::string_view type, TaskState state,
                            double end_to_end_seconds) {}
  virtual void TaskRetried(absl::string_view queue, absl::string_view type) {}
  // An attempt was assigned after waiting `queue_wait_seconds` in QUEUED.
  virtual void TaskStarted(absl::string_view queue, absl::string_view type,
                           double queue_wait_seconds) {}
  virtual void RunTime(absl::string_view type, double seconds) {}
  virtual void QueueDepthChanged(absl::string_view queue, double delta) {}
  // Age of the oldest queued task per queue; 0 for a queue that has none now.
  virtual void QueueOldestAge(absl::string_view queue, double seconds) {}
  virtual void QueueExecutorsChanged(absl::string_view queue, double delta) {}
  virtual void RunningChanged(double delta) {}
  // Tasks held in `state` changed by `delta`: on entering and leaving it, on recovery and
  // when retention evicts a finished task.
  virtual void TasksInStateChanged(TaskState state, double delta) {}
  virtual void AttemptLost() {}
  virtual void StaleResult() {}
  virtual void WorkflowSubmitted(size_t nodes) {}
  virtual void WorkflowFinished(WorkflowState state, double seconds) {}
  virtual void ExecutorsConnectedChanged(double delta) {}
  // `window`: the run mode whose slots changed, or kShared for an executor that announced
  // one window for every mode (the label mode="thread|process|event-loop|shared").
  virtual void SlotsChanged(SlotWindow window, double free_delta, double used_delta) {}
  virtual void LinkMessage(bool inbound) {}
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_CORE_METRICS_H_
