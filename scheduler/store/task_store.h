// Where the scheduler keeps tasks and workflows so that they outlive the process. The core
// holds every retained task in memory and writes each change through this interface; on
// start-up it recovers from Load(). Implementations: SqliteTaskStore (the durable default),
// MemoryTaskStore (tests, benchmarks) and, later, a shared database.
//
// Contract for implementations:
//  - Commit() returns only once the batch is durable (with a durable store). Concurrent
//    callers may be grouped into one transaction. Records arrive whole (upsert by id); a
//    record whose `version` is not newer than the stored one is ignored, so commits that
//    race outside the core's lock cannot roll a task back.
//  - A batch is atomic: on error nothing of it is visible.
//  - Thread-safe.
#ifndef TASKWIRE_SCHEDULER_STORE_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_STORE_TASK_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

struct StoreBatch {
  std::vector<TaskRecord> tasks;          // upserts
  std::vector<WorkflowRecord> workflows;  // upserts
  std::vector<std::string> deleted_tasks;      // ids past their retention
  std::vector<std::string> deleted_workflows;  // ids past their retention

  bool empty() const {
    return tasks.empty() && workflows.empty() && deleted_tasks.empty() &&
           deleted_workflows.empty();
  }
};

struct StoredState {
  std::vector<TaskRecord> tasks;          // every retained task, in seq order
  std::vector<WorkflowRecord> workflows;  // every retained workflow, in seq order
  uint64_t max_seq = 0;  // the highest seq ever committed, deleted ones included
};

class TaskStore {
 public:
  virtual ~TaskStore() = default;

  virtual absl::Status Commit(const StoreBatch& batch) = 0;

  virtual absl::StatusOr<StoredState> Load() = 0;

  // Human-readable kind for logs, e.g. "memory (not durable)".
  virtual std::string Describe() const = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_TASK_STORE_H_
