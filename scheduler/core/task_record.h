// The scheduler's task model in plain C++ (no protobuf, no gRPC): what the core schedules,
// what the store keeps and what the service adapters turn into wire messages.
#ifndef TASKWIRE_SCHEDULER_CORE_TASK_RECORD_H_
#define TASKWIRE_SCHEDULER_CORE_TASK_RECORD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/time/time.h"

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

inline bool IsTerminal(TaskState s) { return s >= TaskState::kSucceeded; }
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

// What a client asked to run. Immutable once accepted, hence shared rather than copied.
struct TaskSpec {
  std::string type;
  std::string payload;
  std::string queue;
  int32_t priority = 0;
  absl::Duration timeout = absl::ZeroDuration();  // zero: no limit
  std::vector<std::pair<std::string, std::string>> labels;
};

struct AttemptRecord {
  uint32_t number = 0;
  std::string executor_id;
  absl::Time assigned_at;
  absl::Time finished_at = absl::InfinitePast();  // InfinitePast while running
  AttemptOutcome outcome = AttemptOutcome::kRunning;
  std::string error;
  std::optional<int32_t> exit_code;  // process tasks
  int32_t term_signal = 0;           // process tasks ended by a signal
};

struct TaskRecord {
  std::string id;
  uint64_t seq = 0;      // submission order, also the listing order
  uint64_t version = 0;  // bumped on every change; lets a store drop stale writes
  std::shared_ptr<const TaskSpec> spec;
  TaskState state = TaskState::kQueued;
  absl::Time created_at;
  absl::Time queued_at;  // last time it entered QUEUED: start of the queue wait
  absl::Time finished_at = absl::InfinitePast();
  std::string output;
  std::string error;
  std::vector<AttemptRecord> attempts;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_TASK_RECORD_H_
