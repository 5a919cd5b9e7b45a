#include "scheduler/core/task_lifecycle.h"

namespace taskwire::scheduler {

bool CanMove(TaskState from, TaskState to) {
  using S = TaskState;
  switch (from) {
    case S::kPending:
      return to == S::kScheduled || to == S::kQueued || to == S::kExpired ||
             to == S::kCancelled;
    case S::kScheduled:
      return to == S::kQueued || to == S::kExpired || to == S::kCancelled;
    case S::kQueued:
      return to == S::kRunning || to == S::kExpired || to == S::kCancelled;
    case S::kRunning:
      return to == S::kScheduled || to == S::kQueued || to == S::kSucceeded ||
             to == S::kFailed || to == S::kCancelled;
    case S::kSucceeded:
    case S::kFailed:
    case S::kCancelled:
    case S::kExpired:
      return false;
  }
  return false;
}

StateRoles RolesOf(TaskState state) {
  switch (state) {
    case TaskState::kPending:
    case TaskState::kScheduled:
      return {.waiting = true};
    case TaskState::kQueued:
      return {.waiting = true, .ready = true};
    case TaskState::kRunning:
      return {.running = true};
    case TaskState::kSucceeded:
    case TaskState::kFailed:
    case TaskState::kCancelled:
    case TaskState::kExpired:
      return {};
  }
  return {};
}

}  // namespace taskwire::scheduler
