// The core's port to where tasks and workflows outlive the process. The core holds in
// memory only the work in flight (unfinished tasks, running workflows and their nodes);
// finished work lives in the store alone, and the core reads it back from there (GetTask,
// WaitTask and ListTasks of a finished task, idempotency keys, retention). On start-up it
// recovers what is in flight from Load(). Implementations: SqliteTaskStore (the durable
// default) and MemoryTaskStore (tests, benchmarks, --store=memory).
//
// Contract for implementations:
//  - Commit() returns only once the batch is durable (with a durable store). Concurrent
//    callers may be grouped into one transaction. Records arrive whole (upsert by id); a
//    record whose `version` is not newer than the stored one is ignored, so commits that
//    race outside the core's lock cannot roll a task back.
//  - A batch is atomic: on error nothing of it is visible.
//  - Reads see every commit that returned before they began.
//  - Thread-safe.
#ifndef TASKWIRE_SCHEDULER_CORE_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_CORE_TASK_STORE_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

struct StoreBatch {
  std::vector<TaskRecord> tasks;          // upserts
  std::vector<WorkflowRecord> workflows;  // upserts
  std::vector<std::string> deleted_tasks;      // ids to remove
  std::vector<std::string> deleted_workflows;  // ids to remove (their nodes stay)

  bool empty() const {
    return tasks.empty() && workflows.empty() && deleted_tasks.empty() &&
           deleted_workflows.empty();
  }
};

struct StoredState {
  // Every task that is not finished, and every node of a running workflow; in seq order.
  std::vector<TaskRecord> tasks;
  std::vector<WorkflowRecord> workflows;  // every running workflow, in seq order
  uint64_t max_seq = 0;  // the highest seq ever committed, deleted ones included
};

// A page of finished tasks (SUCCEEDED, FAILED, CANCELLED, EXPIRED) in seq order.
struct FinishedTaskQuery {
  uint64_t from_seq = 0;                                     // inclusive
  uint64_t to_seq = std::numeric_limits<uint64_t>::max();    // exclusive
  std::optional<TaskState> state;  // a finished state; none: all of them
  std::string queue;               // empty: any
  std::string type;                // empty: any
  std::string owner = {};          // empty: any
  size_t limit = 100;
  bool newest_first = false;       // the highest seqs of the range first
};

struct RetentionSweep {
  size_t deleted = 0;  // tasks and workflows deleted (a workflow's nodes not counted)
  // When the next stored record's retention ends; InfiniteFuture: none is retained.
  absl::Time next_due = absl::InfiniteFuture();
};

class TaskStore {
 public:
  virtual ~TaskStore() = default;

  virtual absl::Status Commit(const StoreBatch& batch) = 0;

  // What the core holds in memory after a restart (see StoredState).
  virtual absl::StatusOr<StoredState> Load() = 0;

  // Reads by id or idempotency key; nullopt when there is no such record.
  virtual absl::StatusOr<std::optional<TaskRecord>> FindTask(absl::string_view id) = 0;
  virtual absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflow(absl::string_view id) = 0;
  virtual absl::StatusOr<std::optional<std::string>> FindTaskIdByKey(absl::string_view key) = 0;
  virtual absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflowByKey(
      absl::string_view key) = 0;
  virtual absl::StatusOr<std::vector<TaskRecord>> ListFinishedTasks(
      const FinishedTaskQuery& query) = 0;

  // Deletes at most `limit` tasks and workflows whose retain_until is at or before `now`;
  // a workflow goes with all its nodes.
  virtual absl::StatusOr<RetentionSweep> DeleteExpired(absl::Time now, size_t limit) = 0;

  // Human-readable kind for logs, e.g. "memory (not durable)".
  virtual std::string Describe() const = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_TASK_STORE_H_
