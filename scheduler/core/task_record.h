// The scheduler's task model in plain C++ (no protobuf, no gRPC): what the core schedules,
// what the store keeps and what the service adapters turn into wire messages.
#ifndef TASKWIRE_SCHEDULER_CORE_TASK_RECORD_H_
#define TASKWIRE_SCHEDULER_CORE_TASK_RECORD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/core/packed_time.h"

namespace taskwire::scheduler {

enum class TaskState {
  kPending,
  kScheduled,
  kQueued,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
  kExpired,
};

// SUCCEEDED, FAILED, CANCELLED and EXPIRED: a task in one of these never changes again.
inline bool IsTerminal(TaskState s) {
  switch (s) {
    case TaskState::kPending:
    case TaskState::kScheduled:
    case TaskState::kQueued:
    case TaskState::kRunning:
      return false;
    case TaskState::kSucceeded:
    case TaskState::kFailed:
    case TaskState::kCancelled:
    case TaskState::kExpired:
      return true;
  }
  return true;  // not reached: every state is listed (the compiler checks)
}
absl::string_view TaskStateName(TaskState s);

enum class AttemptOutcome {
  kRunning,  // not finished yet
  kSucceeded,
  kFailed,
  kCancelled,
  kLost,      // the executor went away before it answered
  kTimedOut,
};

absl::string_view AttemptOutcomeName(AttemptOutcome o);

// Retries of failed and timed-out attempts. Zero fields take the scheduler's defaults;
// the core fills them in at submission, so a stored task keeps the policy it was given.
struct RetryPolicy {
  uint32_t max_attempts = 0;  // attempts in all; 1: no retry
  PackedDuration initial_backoff = absl::ZeroDuration();
  double multiplier = 0;
  PackedDuration max_backoff = absl::ZeroDuration();
  double jitter = 0;  // in [0, 1]
  bool operator==(const RetryPolicy&) const = default;
};

// What a client asked to run. Immutable once accepted, hence shared rather than copied.
struct TaskSpec {
  std::string type;
  std::string payload;
  std::string queue;
  int32_t priority = 0;
  PackedDuration timeout = absl::ZeroDuration();  // zero: no limit
  std::vector<std::pair<std::string, std::string>> labels;
  RetryPolicy retry;
  PackedTime not_before = absl::InfinitePast();  // ETA; InfinitePast: none
  PackedDuration countdown = absl::ZeroDuration();  // turned into not_before at submission
  PackedDuration expires_after = absl::ZeroDuration();  // zero: never expires
  std::string idempotency_key;  // empty: none; scoped to the owner (OwnedKey)
  PackedDuration retention = absl::ZeroDuration();  // zero: the scheduler's default
  // The name of the credential that submitted it (the service sets it); empty when the
  // scheduler runs without an access file. A submitter sees only what it owns.
  std::string owner = {};
};

struct AttemptRecord {
  uint32_t number = 0;
  std::string executor_id;
  PackedTime assigned_at;
  PackedTime finished_at = absl::InfinitePast();  // InfinitePast while running
  AttemptOutcome outcome = AttemptOutcome::kRunning;
  std::string error;
  std::optional<int32_t> exit_code;  // process tasks
  int32_t term_signal = 0;           // process tasks ended by a signal
  bool not_retryable = false;        // the handler said a retry cannot help
};

struct TaskRecord {
  std::string id;
  uint64_t seq = 0;      // submission order, also the listing order
  uint64_t version = 0;  // bumped on every change; lets a store drop stale writes
  std::shared_ptr<const TaskSpec> spec;
  TaskState state = TaskState::kQueued;
  PackedTime created_at;
  PackedTime queued_at;  // last time it entered QUEUED: start of the queue wait
  PackedTime finished_at = absl::InfinitePast();
  std::string output;
  std::string error;
  std::vector<AttemptRecord> attempts;
  // While SCHEDULED: when the task becomes QUEUED (ETA or the end of a retry's backoff).
  PackedTime scheduled_for = absl::InfinitePast();
  // No attempt starts at or after this time (queue-wait expiry); InfiniteFuture: none.
  PackedTime expires_at = absl::InfiniteFuture();
  // Once terminal: when retention deletes the task. Workflow nodes go with their workflow.
  PackedTime retain_until = absl::InfiniteFuture();
  // Workflow nodes only: the workflow and this node's index in it.
  std::string workflow_id;
  uint32_t node_index = 0;
};

// A task the core stops holding once it is stored: finished and not a workflow node (the
// nodes stay with their workflow while it runs, and are deleted with it).
inline bool IsFinishedStandalone(const TaskRecord& t) {
  return IsTerminal(t.state) && t.workflow_id.empty();
}

enum class WorkflowState { kRunning, kSucceeded, kFailed, kCancelled };
absl::string_view WorkflowStateName(WorkflowState s);

struct WorkflowNodeRecord {
  std::string name;
  std::string task_id;
  std::vector<uint32_t> after;  // indices of upstream nodes, in dependency order
};

// A DAG of tasks submitted together. Its nodes are TaskRecords; this holds the shape.
struct WorkflowRecord {
  std::string id;
  uint64_t seq = 0;
  uint64_t version = 0;
  WorkflowState state = WorkflowState::kRunning;
  absl::Time created_at;
  absl::Time finished_at = absl::InfinitePast();
  std::vector<WorkflowNodeRecord> nodes;
  std::string decided_by;  // the node that decided a failed or cancelled end
  std::string error;
  std::vector<std::pair<std::string, std::string>> labels;
  absl::Time retain_until = absl::InfiniteFuture();
  std::string idempotency_key;  // empty: none; scoped to the owner (OwnedKey)
  std::string owner = {};       // as TaskSpec::owner
};

// An idempotency key as the core keeps it: one owner's key cannot find another owner's
// task. Without an owner (no access file) it is the key as submitted.
std::string OwnedKey(absl::string_view owner, absl::string_view key);
// The key as its owner submitted it.
absl::string_view KeyAsSubmitted(absl::string_view owner, absl::string_view owned_key);

// What the core answers about a task and a workflow.
struct TaskView {
  TaskRecord record;
  std::string waiting_reason;  // set while QUEUED
  std::string node;            // the node's name, for a workflow node
};

struct WorkflowView {
  WorkflowRecord record;
  std::vector<TaskRecord> nodes;  // in node order
  // As TaskView::waiting_reason, one per node (empty when the workflow came from the store:
  // it has ended, so no node waits).
  std::vector<std::string> waiting_reasons = {};
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_TASK_RECORD_H_
