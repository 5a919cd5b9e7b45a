#include "scheduler/service/proto_convert.h"

#include "common/grpc_status.h"

namespace taskwire::scheduler {

TaskSpec FromProto(v1::TaskSpec&& spec) {
  TaskSpec out;
  out.type = std::move(*spec.mutable_type());
  out.payload = std::move(*spec.mutable_payload());
  out.queue = std::move(*spec.mutable_queue());
  out.priority = spec.priority();
  out.timeout = taskwire::FromProto(spec.timeout());
  for (auto& [key, value] : *spec.mutable_labels()) out.labels.emplace_back(key, value);
  std::sort(out.labels.begin(), out.labels.end());  // map order is unspecified
  return out;
}

v1::TaskState ToProto(TaskState state) {
  switch (state) {
    case TaskState::kPending: return v1::TASK_STATE_PENDING;
    case TaskState::kScheduled: return v1::TASK_STATE_SCHEDULED;
    case TaskState::kQueued: return v1::TASK_STATE_QUEUED;
    case TaskState::kRunning: return v1::TASK_STATE_RUNNING;
    case TaskState::kSucceeded: return v1::TASK_STATE_SUCCEEDED;
    case TaskState::kFailed: return v1::TASK_STATE_FAILED;
    case TaskState::kCancelled: return v1::TASK_STATE_CANCELLED;
    case TaskState::kExpired: return v1::TASK_STATE_EXPIRED;
  }
  return v1::TASK_STATE_UNSPECIFIED;
}

std::optional<TaskState> FromProto(v1::TaskState state) {
  switch (state) {
    case v1::TASK_STATE_PENDING: return TaskState::kPending;
    case v1::TASK_STATE_SCHEDULED: return TaskState::kScheduled;
    case v1::TASK_STATE_QUEUED: return TaskState::kQueued;
    case v1::TASK_STATE_RUNNING: return TaskState::kRunning;
    case v1::TASK_STATE_SUCCEEDED: return TaskState::kSucceeded;
    case v1::TASK_STATE_FAILED: return TaskState::kFailed;
    case v1::TASK_STATE_CANCELLED: return TaskState::kCancelled;
    case v1::TASK_STATE_EXPIRED: return TaskState::kExpired;
    default: return std::nullopt;
  }
}

v1::AttemptOutcome ToProto(AttemptOutcome outcome) {
  switch (outcome) {
    case AttemptOutcome::kRunning: return v1::ATTEMPT_OUTCOME_UNSPECIFIED;
    case AttemptOutcome::kSucceeded: return v1::ATTEMPT_OUTCOME_SUCCEEDED;
    case AttemptOutcome::kFailed: return v1::ATTEMPT_OUTCOME_FAILED;
    case AttemptOutcome::kCancelled: return v1::ATTEMPT_OUTCOME_CANCELLED;
    case AttemptOutcome::kLost: return v1::ATTEMPT_OUTCOME_LOST;
    case AttemptOutcome::kTimedOut: return v1::ATTEMPT_OUTCOME_TIMED_OUT;
  }
  return v1::ATTEMPT_OUTCOME_UNSPECIFIED;
}

AttemptOutcome FromProto(v1::AttemptOutcome outcome) {
  switch (outcome) {
    case v1::ATTEMPT_OUTCOME_SUCCEEDED: return AttemptOutcome::kSucceeded;
    case v1::ATTEMPT_OUTCOME_CANCELLED: return AttemptOutcome::kCancelled;
    case v1::ATTEMPT_OUTCOME_TIMED_OUT: return AttemptOutcome::kTimedOut;
    default: return AttemptOutcome::kFailed;  // an executor that says nothing useful failed
  }
}

void ToProto(const TaskRecord& record, bool with_data, v1::Task* out) {
  out->set_id(record.id);
  v1::TaskSpec* spec = out->mutable_spec();
  spec->set_type(record.spec->type);
  if (with_data) spec->set_payload(record.spec->payload);
  spec->set_queue(record.spec->queue);
  spec->set_priority(record.spec->priority);
  if (record.spec->timeout > absl::ZeroDuration()) {
    taskwire::ToProto(record.spec->timeout, spec->mutable_timeout());
  }
  for (const auto& [key, value] : record.spec->labels) (*spec->mutable_labels())[key] = value;
  out->set_state(ToProto(record.state));
  taskwire::ToProto(record.created_at, out->mutable_created_at());
  if (record.finished_at != absl::InfinitePast()) {
    taskwire::ToProto(record.finished_at, out->mutable_finished_at());
  }
  if (with_data) out->set_output(record.output);
  out->set_error(record.error);
  for (const AttemptRecord& a : record.attempts) {
    v1::Attempt* attempt = out->add_attempts();
    attempt->set_number(a.number);
    attempt->set_executor_id(a.executor_id);
    taskwire::ToProto(a.assigned_at, attempt->mutable_assigned_at());
    if (a.finished_at != absl::InfinitePast()) {
      taskwire::ToProto(a.finished_at, attempt->mutable_finished_at());
    }
    attempt->set_outcome(ToProto(a.outcome));
    attempt->set_error(a.error);
    if (a.exit_code || a.term_signal != 0) {
      attempt->mutable_process()->set_exit_code(a.exit_code.value_or(0));
      attempt->mutable_process()->set_term_signal(a.term_signal);
    }
  }
}

void ToProto(const TaskEvent& event, v1::TaskEvent* out) {
  out->set_task_id(event.task_id);
  out->set_type(event.type);
  out->set_queue(event.queue);
  out->set_state(ToProto(event.state));
  out->set_attempt(event.attempt);
  out->set_executor_id(event.executor_id);
  taskwire::ToProto(event.time, out->mutable_time());
  out->set_error(event.error);
}

void ToProto(const ExecutorView& view, v1::ExecutorInfo* out) {
  out->set_id(view.hello.executor_id);
  out->set_peer(view.hello.peer);
  out->set_version(view.hello.version);
  for (const TaskTypeInfo& t : view.hello.task_types) {
    v1::TaskTypeInfo* info = out->add_task_types();
    info->set_name(t.name);
    info->set_mode(t.mode == RunMode::kProcess ? v1::RUN_MODE_PROCESS : v1::RUN_MODE_THREAD);
  }
  for (const std::string& q : view.hello.queues) out->add_queues(q);
  out->set_slots(view.hello.slots);
  out->set_slots_used(view.slots_used);
  out->set_draining(view.draining);
  taskwire::ToProto(view.connected_at, out->mutable_connected_at());
  taskwire::ToProto(view.last_seen, out->mutable_last_seen());
}

void ToProto(const AssignmentOut& assignment, v1::Assignment* out) {
  out->set_task_id(assignment.task_id);
  out->set_attempt(assignment.attempt);
  out->set_type(assignment.spec->type);
  out->set_payload(assignment.spec->payload);
  if (assignment.spec->timeout > absl::ZeroDuration()) {
    taskwire::ToProto(assignment.spec->timeout, out->mutable_timeout());
  }
}

ExecutorHello FromProto(const v1::Hello& hello, std::string peer) {
  ExecutorHello out;
  out.executor_id = hello.executor_id();
  out.peer = std::move(peer);
  out.version = hello.version();
  for (const v1::TaskTypeInfo& t : hello.task_types()) {
    out.task_types.push_back(TaskTypeInfo{
        t.name(), t.mode() == v1::RUN_MODE_PROCESS ? RunMode::kProcess : RunMode::kThread});
  }
  out.queues.assign(hello.queues().begin(), hello.queues().end());
  out.slots = hello.slots();
  return out;
}

}  // namespace taskwire::scheduler
