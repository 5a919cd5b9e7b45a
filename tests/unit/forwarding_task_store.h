// A TaskStore over a MemoryTaskStore that forwards every call: tests derive from it and
// override the one call they want to watch or break (usually Commit).
#ifndef TASKWIRE_TESTS_UNIT_FORWARDING_TASK_STORE_H_
#define TASKWIRE_TESTS_UNIT_FORWARDING_TASK_STORE_H_

#include <string>

#include "scheduler/store/memory_task_store.h"

namespace taskwire::scheduler::testing {

class ForwardingTaskStore : public TaskStore {
 public:
  absl::Status Commit(const StoreBatch& batch) override { return inner_.Commit(batch); }
  absl::StatusOr<StoredState> Load() override { return inner_.Load(); }
  absl::StatusOr<std::optional<TaskRecord>> FindTask(absl::string_view id) override {
    return inner_.FindTask(id);
  }
  absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflow(absl::string_view id) override {
    return inner_.FindWorkflow(id);
  }
  absl::StatusOr<std::optional<std::string>> FindTaskIdByKey(absl::string_view key) override {
    return inner_.FindTaskIdByKey(key);
  }
  absl::StatusOr<std::optional<WorkflowRecord>> FindWorkflowByKey(
      absl::string_view key) override {
    return inner_.FindWorkflowByKey(key);
  }
  absl::StatusOr<std::vector<TaskRecord>> ListFinishedTasks(
      const FinishedTaskQuery& query) override {
    return inner_.ListFinishedTasks(query);
  }
  absl::StatusOr<RetentionSweep> DeleteExpired(absl::Time now, size_t limit) override {
    return inner_.DeleteExpired(now, limit);
  }
  std::string Describe() const override { return "forwarding memory"; }
  size_t size() const { return inner_.size(); }

 protected:
  MemoryTaskStore inner_;
};

}  // namespace taskwire::scheduler::testing

#endif  // TASKWIRE_TESTS_UNIT_FORWARDING_TASK_STORE_H_
