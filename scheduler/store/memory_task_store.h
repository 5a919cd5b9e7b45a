// A TaskStore in process memory: nothing survives the process. For tests (a core can be
// rebuilt over the same store to exercise recovery), benchmarks and --store=memory, which
// the scheduler names in its start-up log. Finished tasks are kept until their retention
// ends or, past `max_finished_tasks`, the oldest are dropped (and counted in evicted()).
// With `history_only`, unfinished tasks and workflows are not kept at all: the core holds
// the work in flight anyway, and with nothing surviving the process Load() has nothing to
// give back, so --store=memory keeps one copy of a queued task, not two.
#ifndef TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_
#define TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_

#include <deque>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/core/task_store.h"

namespace taskwire::scheduler {

class MemoryTaskStore final : public TaskStore {
 public:
  // max_finished_tasks 0: no limit. A finished workflow counts as its nodes.
  explicit MemoryTaskStore(size_t max_finished_tasks = 0, bool history_only = false)
      : max_finished_tasks_(max_finished_tasks), history_only_(history_only) {}

  absl::Status Commit(const StoreBatch& batch) override;
  absl::StatusOr<StoredState> Load() override;
  absl::StatusOr<std::optional<TaskRecord>> FindTask(absl::string_view id) override;
  absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflow(absl::string_view id) override;
  absl::StatusOr<std::optional<std::string>> FindTaskIdByKey(absl::string_view key) override;
  absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflowByKey(absl::string_view key) override;
  absl::StatusOr<std::vector<TaskRecord>> ListFinishedTasks(
      const FinishedTaskQuery& query) override;
  absl::StatusOr<RetentionSweep> DeleteExpired(absl::Time now, size_t limit) override;
  std::string Describe() const override;

  size_t size() const;      // tasks held
  uint64_t evicted() const;  // finished tasks dropped past max_finished_tasks

 private:
  // A finished standalone task or workflow, by id.
  struct FinishedRef {
    bool workflow = false;
    std::string id;
  };

  void UpsertTask(const TaskRecord& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpsertWorkflow(const WorkflowRecord& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveTask(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A workflow and, with `nodes`, every node task of it.
  void RemoveWorkflow(const std::string& id, bool nodes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if `ref` still names a finished record (entries of deleted ones are skipped).
  bool IsFinished(const FinishedRef& ref) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictPastLimit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_finished_tasks_;
  const bool history_only_;
  mutable absl::Mutex mu_;
  absl::node_hash_map<std::string, TaskRecord> tasks_ ABSL_GUARDED_BY(mu_);
  absl::node_hash_map<std::string, WorkflowRecord> workflows_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<uint64_t, std::string> task_by_seq_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> task_by_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> workflow_by_key_ ABSL_GUARDED_BY(mu_);
  // Finished records in the order they finished (for the limit) and by the end of their
  // retention; entries of records deleted another way stay until they are reached.
  std::deque<FinishedRef> finished_order_ ABSL_GUARDED_BY(mu_);
  absl::btree_multimap<absl::Time, FinishedRef> finished_until_ ABSL_GUARDED_BY(mu_);
  size_t finished_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t evicted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t max_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_MEMORY_TASK_STORE_H_
