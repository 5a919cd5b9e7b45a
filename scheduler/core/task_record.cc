#include "scheduler/core/task_record.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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

// The unit separator cannot occur in an owner's name (access files allow printable names).
constexpr char kOwnerKeySeparator = '\x1f';

std::string OwnedKey(absl::string_view owner, absl::string_view key) {
  if (owner.empty() || key.empty()) return std::string(key);
  return absl::StrCat(owner, absl::string_view(&kOwnerKeySeparator, 1), key);
}

absl::string_view KeyAsSubmitted(absl::string_view owner, absl::string_view owned_key) {
  if (owner.empty() || owned_key.size() <= owner.size() ||
      !absl::StartsWith(owned_key, owner) || owned_key[owner.size()] != kOwnerKeySeparator) {
    return owned_key;
  }
  return owned_key.substr(owner.size() + 1);
}

}  // namespace taskwire::scheduler
