// A task's state change as watchers see it, and the filter they choose events by.
#ifndef TASKWIRE_SCHEDULER_CORE_TASK_EVENT_H_
#define TASKWIRE_SCHEDULER_CORE_TASK_EVENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

struct TaskEvent {
  std::string task_id;
  std::string type;
  std::string queue;
  TaskState state = TaskState::kQueued;
  uint32_t attempt = 0;
  std::string executor_id;
  absl::Time time;
  std::string error;
  std::string workflow_id;  // workflow nodes only
  std::string node;
  std::string owner = {};
};

struct WorkflowEvent {
  std::string workflow_id;
  WorkflowState state = WorkflowState::kRunning;
  absl::Time time;
  std::string decided_by;
  std::string error;
  std::string owner = {};
};

// What one delivery carries: task and workflow changes, each in the order they happened.
struct EventBatch {
  std::vector<TaskEvent> tasks;
  std::vector<WorkflowEvent> workflows;
  bool empty() const { return tasks.empty() && workflows.empty(); }
};

struct EventFilter {
  std::vector<TaskState> states;  // empty: any
  std::string queue;              // empty: any
  std::string type;               // empty: any
  std::string owner = {};         // empty: any

  bool Matches(const TaskEvent& e) const;
  // Workflow events carry no queue, type or task state: only a watch that filters on none
  // of them gets them (of its owner's workflows, if it filters on the owner).
  bool Matches(const WorkflowEvent& e) const;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_TASK_EVENT_H_
