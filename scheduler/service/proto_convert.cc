#include "scheduler/service/proto_convert.h"

#include "absl/strings/str_cat.h"
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
  if (spec.has_retry()) {
    const v1::RetryPolicy& r = spec.retry();
    out.retry.max_attempts = r.max_attempts();
    out.retry.initial_backoff = taskwire::FromProto(r.initial_backoff());
    out.retry.multiplier = r.multiplier();
    out.retry.max_backoff = taskwire::FromProto(r.max_backoff());
    out.retry.jitter = r.jitter();
  }
  if (spec.has_not_before()) out.not_before = taskwire::FromProto(spec.not_before());
  out.countdown = taskwire::FromProto(spec.countdown());
  out.expires_after = taskwire::FromProto(spec.expires_after());
  out.idempotency_key = std::move(*spec.mutable_idempotency_key());
  out.retention = taskwire::FromProto(spec.retention());
  return out;
}

WorkflowSpec FromProto(v1::WorkflowSpec&& spec) {
  WorkflowSpec out;
  out.nodes.reserve(spec.nodes_size());
  for (v1::WorkflowNode& node : *spec.mutable_nodes()) {
    out.nodes.push_back(WorkflowNodeSpec{std::move(*node.mutable_name()),
                                         FromProto(std::move(*node.mutable_task())),
                                         {node.after().begin(), node.after().end()}});
  }
  for (auto& [key, value] : *spec.mutable_labels()) out.labels.emplace_back(key, value);
  std::sort(out.labels.begin(), out.labels.end());
  out.idempotency_key = std::move(*spec.mutable_idempotency_key());
  return out;
}

v1::WorkflowState ToProto(WorkflowState state) {
  switch (state) {
    case WorkflowState::kRunning: return v1::WORKFLOW_STATE_RUNNING;
    case WorkflowState::kSucceeded: return v1::WORKFLOW_STATE_SUCCEEDED;
    case WorkflowState::kFailed: return v1::WORKFLOW_STATE_FAILED;
    case WorkflowState::kCancelled: return v1::WORKFLOW_STATE_CANCELLED;
  }
  return v1::WORKFLOW_STATE_UNSPECIFIED;
}

void ToProto(const WorkflowView& view, v1::Workflow* out) {
  const WorkflowRecord& r = view.record;
  out->set_id(r.id);
  out->set_state(ToProto(r.state));
  taskwire::ToProto(r.created_at, out->mutable_created_at());
  if (r.finished_at != absl::InfinitePast()) {
    taskwire::ToProto(r.finished_at, out->mutable_finished_at());
  }
  out->set_decided_by(r.decided_by);
  out->set_error(r.error);
  for (const auto& [key, value] : r.labels) (*out->mutable_labels())[key] = value;
  out->set_owner(r.owner);
  std::vector<bool> has_downstream(r.nodes.size(), false);
  for (const WorkflowNodeRecord& node : r.nodes) {
    for (uint32_t u : node.after) has_downstream[u] = true;
  }
  for (size_t i = 0; i < r.nodes.size() && i < view.nodes.size(); ++i) {
    v1::WorkflowNodeStatus* status = out->add_nodes();
    status->set_name(r.nodes[i].name);
    for (uint32_t u : r.nodes[i].after) status->add_after(r.nodes[u].name);
    ToProto(view.nodes[i], /*with_data=*/true, status->mutable_task());
    status->mutable_task()->set_node(r.nodes[i].name);
    if (i < view.waiting_reasons.size()) {
      status->mutable_task()->set_waiting_reason(view.waiting_reasons[i]);
    }
    if (r.state == WorkflowState::kSucceeded && !has_downstream[i]) {
      v1::WorkflowResult* result = out->add_results();
      result->set_node(r.nodes[i].name);
      result->set_output(view.nodes[i].output);
    }
  }
}

void ToProto(const WorkflowEvent& event, v1::WorkflowEvent* out) {
  out->set_workflow_id(event.workflow_id);
  out->set_state(ToProto(event.state));
  taskwire::ToProto(event.time, out->mutable_time());
  out->set_decided_by(event.decided_by);
  out->set_error(event.error);
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
  const RetryPolicy& retry = record.spec->retry;
  if (retry != RetryPolicy{}) {
    v1::RetryPolicy* r = spec->mutable_retry();
    r->set_max_attempts(retry.max_attempts);
    taskwire::ToProto(retry.initial_backoff, r->mutable_initial_backoff());
    r->set_multiplier(retry.multiplier);
    taskwire::ToProto(retry.max_backoff, r->mutable_max_backoff());
    r->set_jitter(retry.jitter);
  }
  if (record.spec->not_before != absl::InfinitePast()) {
    taskwire::ToProto(record.spec->not_before, spec->mutable_not_before());
  }
  if (record.spec->expires_after > absl::ZeroDuration()) {
    taskwire::ToProto(record.spec->expires_after, spec->mutable_expires_after());
  }
  spec->set_idempotency_key(
      std::string(KeyAsSubmitted(record.spec->owner, record.spec->idempotency_key)));
  out->set_owner(record.spec->owner);
  if (record.spec->retention > absl::ZeroDuration()) {
    taskwire::ToProto(record.spec->retention, spec->mutable_retention());
  }
  if (record.state == TaskState::kScheduled) {
    taskwire::ToProto(record.scheduled_for, out->mutable_scheduled_for());
  }
  out->set_workflow_id(record.workflow_id);
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
    attempt->set_not_retryable(a.not_retryable);
    if (a.exit_code || a.term_signal != 0) {
      attempt->mutable_process()->set_exit_code(a.exit_code.value_or(0));
      attempt->mutable_process()->set_term_signal(a.term_signal);
    }
  }
}

void ToProto(const TaskView& view, v1::Task* out) {
  ToProto(view.record, /*with_data=*/true, out);
  out->set_waiting_reason(view.waiting_reason);
  out->set_node(view.node);
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
  out->set_workflow_id(event.workflow_id);
  out->set_node(event.node);
}

void ToProto(const ExecutorView& view, v1::ExecutorInfo* out) {
  out->set_id(view.hello.executor_id);
  out->set_peer(view.hello.peer);
  out->set_version(view.hello.version);
  for (const TaskTypeInfo& t : view.hello.task_types) {
    v1::TaskTypeInfo* info = out->add_task_types();
    info->set_name(t.name);
    info->set_mode(ToProto(t.mode));
  }
  for (size_t i = 0; i < view.hello.mode_slots.size(); ++i) {
    v1::ModeSlots* slots = out->add_mode_slots();
    slots->set_mode(ToProto(view.hello.mode_slots[i].mode));
    slots->set_slots(view.hello.mode_slots[i].slots);
    if (i < view.mode_slots_used.size()) slots->set_used(view.mode_slots_used[i]);
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
  for (const std::string& result : assignment.upstream_results) out->add_upstream_results(result);
}

v1::RunMode ToProto(RunMode mode) {
  switch (mode) {
    case RunMode::kThread: return v1::RUN_MODE_THREAD;
    case RunMode::kProcess: return v1::RUN_MODE_PROCESS;
    case RunMode::kEventLoop: return v1::RUN_MODE_EVENT_LOOP;
  }
  return v1::RUN_MODE_UNSPECIFIED;
}

absl::StatusOr<RunMode> FromProto(v1::RunMode mode) {
  switch (mode) {
    case v1::RUN_MODE_UNSPECIFIED:  // executors before run modes: threads
    case v1::RUN_MODE_THREAD: return RunMode::kThread;
    case v1::RUN_MODE_PROCESS: return RunMode::kProcess;
    case v1::RUN_MODE_EVENT_LOOP: return RunMode::kEventLoop;
    default: break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown run mode ", static_cast<int>(mode),
                   " (this scheduler knows thread, process and event loop): upgrade the "
                   "scheduler, or run this task type in a mode it knows"));
}

absl::StatusOr<ExecutorHello> FromProto(const v1::Hello& hello, std::string peer) {
  ExecutorHello out;
  out.executor_id = hello.executor_id();
  out.peer = std::move(peer);
  out.version = hello.version();
  for (const v1::TaskTypeInfo& t : hello.task_types()) {
    absl::StatusOr<RunMode> mode = FromProto(t.mode());
    if (!mode.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("task type '", t.name(), "': ", mode.status().message()));
    }
    out.task_types.push_back(TaskTypeInfo{t.name(), *mode});
  }
  for (const v1::ModeSlots& m : hello.mode_slots()) {
    absl::StatusOr<RunMode> mode = FromProto(m.mode());
    if (!mode.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("hello.mode_slots: ", mode.status().message()));
    }
    out.mode_slots.push_back(ModeSlots{*mode, m.slots()});
  }
  out.queues.assign(hello.queues().begin(), hello.queues().end());
  out.slots = hello.slots();
  out.incarnation = hello.incarnation();
  for (const v1::AttemptRef& ref : hello.running()) {
    out.running.push_back(AttemptRef{ref.task_id(), ref.attempt()});
  }
  for (const v1::AttemptRef& ref : hello.unreported()) {
    out.unreported.push_back(AttemptRef{ref.task_id(), ref.attempt()});
  }
  return out;
}

}  // namespace taskwire::scheduler
