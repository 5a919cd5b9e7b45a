// A task's life in one table: which state changes are legal, and what each state counts
// toward besides itself. The core makes every change through one method that checks the
// move here and applies the difference in counts (waiting tasks for admission, the ready
// lanes and the queue-depth gauge, running tasks), so no transition keeps a gauge by hand.
//
//   PENDING ──upstreams done──▶ SCHEDULED or QUEUED
//   SCHEDULED ──ETA or backoff over──▶ QUEUED
//   QUEUED ──assigned──▶ RUNNING
//   RUNNING ──succeeded──▶ SUCCEEDED     ──failed for good──▶ FAILED
//           ──retry──▶ SCHEDULED or QUEUED   ──lost or handed back──▶ QUEUED
//   PENDING, SCHEDULED, QUEUED ──▶ EXPIRED (no attempt starts after expires_at)
//   any state above ──▶ CANCELLED
//   SUCCEEDED, FAILED, CANCELLED, EXPIRED: never change again.
#ifndef TASKWIRE_SCHEDULER_CORE_TASK_LIFECYCLE_H_
#define TASKWIRE_SCHEDULER_CORE_TASK_LIFECYCLE_H_

#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

// Whether a task in `from` may move to `to`.
bool CanMove(TaskState from, TaskState to);

// What a task in a state counts toward.
struct StateRoles {
  bool waiting = false;  // against the admission limits: PENDING, SCHEDULED, QUEUED
  bool ready = false;    // in a ready lane, and in the queue-depth gauge: QUEUED
  bool running = false;  // an attempt in flight: RUNNING
};
StateRoles RolesOf(TaskState state);

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_TASK_LIFECYCLE_H_
