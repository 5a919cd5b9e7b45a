// A TaskStore in process memory: nothing survives the process. For tests (a core can be
// rebuilt over the same store to exercise recovery) and for benchmarks; the scheduler
// says so in its start-up log when it runs with --store=memory.
#ifndef TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_

#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/store/task_store.h"

namespace taskwire::scheduler {

class MemoryTaskStore final : public TaskStore {
 public:
  absl::Status Save(absl::Span<const TaskRecord> records) override;
  absl::StatusOr<std::vector<TaskRecord>> LoadUnfinished() override;
  absl::StatusOr<uint64_t> MaxSeq() override;
  std::string Describe() const override { return "memory (not durable: tasks die with the process)"; }

  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::node_hash_map<std::string, TaskRecord> records_ ABSL_GUARDED_BY(mu_);
  uint64_t max_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_
