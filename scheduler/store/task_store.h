// Where the scheduler keeps tasks so that they outlive the process. The core holds every
// live task in memory and writes each change through this interface; on start-up it
// recovers from LoadUnfinished(). Implementations: MemoryTaskStore (tests, benchmarks) and,
// later, a durable SQLite store and a shared database.
//
// Contract for implementations:
//  - Save() returns only once the records are committed. Concurrent callers may be grouped
//    into one commit. Records arrive whole (upsert by id); a record whose `version` is not
//    newer than the stored one is ignored, so saves that race outside the core's lock
//    cannot roll a task back.
//  - Thread-safe.
#ifndef TASKWIRE_SCHEDULER_STORE_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_STORE_TASK_STORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

class TaskStore {
 public:
  virtual ~TaskStore() = default;

  // Durably upserts `records`. On error nothing of the batch may be visible.
  virtual absl::Status Save(absl::Span<const TaskRecord> records) = 0;

  // Every task not in a terminal state, in submission (seq) order.
  virtual absl::StatusOr<std::vector<TaskRecord>> LoadUnfinished() = 0;

  // The highest seq ever saved (0 for an empty store), so new ids never repeat.
  virtual absl::StatusOr<uint64_t> MaxSeq() = 0;

  // Human-readable kind for logs, e.g. "memory (not durable)".
  virtual std::string Describe() const = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_TASK_STORE_H_
