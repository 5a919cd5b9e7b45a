#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

absl::string_view TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending: return "pending";
    case TaskState::kScheduled: return "scheduled";
    case TaskState::kQueued: return "queued";
    case TaskState::kRunning: return "running";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kCancelled: return "cancelled";
    case TaskState::kExpired: return "expired";
  }
  return "unknown";
}

absl::string_view AttemptOutcomeName(AttemptOutcome o) {
  switch (o) {
    case AttemptOutcome::kRunning: return "running";
    case AttemptOutcome::kSucceeded: return "succeeded";
    case AttemptOutcome::kFailed: return "failed";
    case AttemptOutcome::kCancelled: return "cancelled";
    case AttemptOutcome::kLost: return "lost";
    case AttemptOutcome::kTimedOut: return "timed_out";
  }
  return "unknown";
}

absl::string_view WorkflowStateName(WorkflowState s) {
  switch (s) {
    case WorkflowState::kRunning: return "running";
    case WorkflowState::kSucceeded: return "succeeded";
    case WorkflowState::kFailed: return "failed";
    case WorkflowState::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace taskwire::scheduler
