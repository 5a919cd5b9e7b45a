// A TaskStore in process memory: nothing survives the process. For tests (a core can be
// rebuilt over the same store to exercise recovery); the scheduler says so in its start-up
// log when it runs with --store=memory.
#ifndef TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_

#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/store/task_store.h"

namespace taskwire::scheduler {

class MemoryTaskStore final : public TaskStore {
 public:
  absl::Status Commit(const StoreBatch& batch) override;
  absl::StatusOr<StoredState> Load() override;
  std::string Describe() const override { return "memory (not durable: tasks die with the process)"; }

  size_t size() const;  // tasks held

 private:
  mutable absl::Mutex mu_;
  absl::node_hash_map<std::string, TaskRecord> tasks_ ABSL_GUARDED_BY(mu_);
  absl::node_hash_map<std::string, WorkflowRecord> workflows_ ABSL_GUARDED_BY(mu_);
  uint64_t max_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_
