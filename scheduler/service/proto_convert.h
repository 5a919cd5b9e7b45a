// Translations between the wire messages (taskwire.v1) and the core's plain C++ types.
#ifndef TASKWIRE_SCHEDULER_SERVICE_PROTO_CONVERT_H_
#define TASKWIRE_SCHEDULER_SERVICE_PROTO_CONVERT_H_

#include <optional>

#include "absl/status/statusor.h"

#include "scheduler/core/scheduler_core.h"
#include "taskwire/v1/executor_link.pb.h"
#include "taskwire/v1/scheduler.pb.h"
#include "taskwire/v1/task.pb.h"

namespace taskwire::scheduler {

TaskSpec FromProto(v1::TaskSpec&& spec);
WorkflowSpec FromProto(v1::WorkflowSpec&& spec);
v1::WorkflowState ToProto(WorkflowState state);
// Every node with its task (outputs included) and, once succeeded, the sinks' results.
void ToProto(const WorkflowView& view, v1::Workflow* out);
void ToProto(const WorkflowEvent& event, v1::WorkflowEvent* out);
v1::TaskState ToProto(TaskState state);
// nullopt for TASK_STATE_UNSPECIFIED.
std::optional<TaskState> FromProto(v1::TaskState state);
v1::AttemptOutcome ToProto(AttemptOutcome outcome);
AttemptOutcome FromProto(v1::AttemptOutcome outcome);

// `with_data` false leaves out the payload and the output (for listings).
void ToProto(const TaskRecord& record, bool with_data, v1::Task* out);
// A task with everything: data, waiting reason, node name.
void ToProto(const TaskView& view, v1::Task* out);
void ToProto(const TaskEvent& event, v1::TaskEvent* out);
void ToProto(const ExecutorView& view, v1::ExecutorInfo* out);
void ToProto(const AssignmentOut& assignment, v1::Assignment* out);
// INVALID_ARGUMENT for a run mode this scheduler does not know.
absl::StatusOr<ExecutorHello> FromProto(const v1::Hello& hello, std::string peer);
v1::RunMode ToProto(RunMode mode);
absl::StatusOr<RunMode> FromProto(v1::RunMode mode);

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SERVICE_PROTO_CONVERT_H_
