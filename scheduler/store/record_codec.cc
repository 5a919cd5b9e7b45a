#include "scheduler/store/record_codec.h"

#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "taskwire/store/v1/stored_records.pb.h"

namespace taskwire::scheduler {
namespace {

namespace pb = ::taskwire::store::v1;

constexpr int64_t kMinUs = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxUs = std::numeric_limits<int64_t>::max();

// --- enums: explicit both ways, so reordering a C++ enum never changes stored data.

pb::StoredTaskState ToStored(TaskState s) {
  switch (s) {
    case TaskState::kPending: return pb::STORED_TASK_STATE_PENDING;
    case TaskState::kScheduled: return pb::STORED_TASK_STATE_SCHEDULED;
    case TaskState::kQueued: return pb::STORED_TASK_STATE_QUEUED;
    case TaskState::kRunning: return pb::STORED_TASK_STATE_RUNNING;
    case TaskState::kSucceeded: return pb::STORED_TASK_STATE_SUCCEEDED;
    case TaskState::kFailed: return pb::STORED_TASK_STATE_FAILED;
    case TaskState::kCancelled: return pb::STORED_TASK_STATE_CANCELLED;
    case TaskState::kExpired: return pb::STORED_TASK_STATE_EXPIRED;
  }
  return pb::STORED_TASK_STATE_UNSPECIFIED;
}

std::optional<TaskState> FromStored(pb::StoredTaskState s) {
  switch (s) {
    case pb::STORED_TASK_STATE_PENDING: return TaskState::kPending;
    case pb::STORED_TASK_STATE_SCHEDULED: return TaskState::kScheduled;
    case pb::STORED_TASK_STATE_QUEUED: return TaskState::kQueued;
    case pb::STORED_TASK_STATE_RUNNING: return TaskState::kRunning;
    case pb::STORED_TASK_STATE_SUCCEEDED: return TaskState::kSucceeded;
    case pb::STORED_TASK_STATE_FAILED: return TaskState::kFailed;
    case pb::STORED_TASK_STATE_CANCELLED: return TaskState::kCancelled;
    case pb::STORED_TASK_STATE_EXPIRED: return TaskState::kExpired;
    default: return std::nullopt;
  }
}

pb::StoredAttemptOutcome ToStored(AttemptOutcome o) {
  switch (o) {
    case AttemptOutcome::kRunning: return pb::STORED_ATTEMPT_OUTCOME_RUNNING;
    case AttemptOutcome::kSucceeded: return pb::STORED_ATTEMPT_OUTCOME_SUCCEEDED;
    case AttemptOutcome::kFailed: return pb::STORED_ATTEMPT_OUTCOME_FAILED;
    case AttemptOutcome::kCancelled: return pb::STORED_ATTEMPT_OUTCOME_CANCELLED;
    case AttemptOutcome::kLost: return pb::STORED_ATTEMPT_OUTCOME_LOST;
    case AttemptOutcome::kTimedOut: return pb::STORED_ATTEMPT_OUTCOME_TIMED_OUT;
  }
  return pb::STORED_ATTEMPT_OUTCOME_UNSPECIFIED;
}

std::optional<AttemptOutcome> FromStored(pb::StoredAttemptOutcome o) {
  switch (o) {
    case pb::STORED_ATTEMPT_OUTCOME_RUNNING: return AttemptOutcome::kRunning;
    case pb::STORED_ATTEMPT_OUTCOME_SUCCEEDED: return AttemptOutcome::kSucceeded;
    case pb::STORED_ATTEMPT_OUTCOME_FAILED: return AttemptOutcome::kFailed;
    case pb::STORED_ATTEMPT_OUTCOME_CANCELLED: return AttemptOutcome::kCancelled;
    case pb::STORED_ATTEMPT_OUTCOME_LOST: return AttemptOutcome::kLost;
    case pb::STORED_ATTEMPT_OUTCOME_TIMED_OUT: return AttemptOutcome::kTimedOut;
    default: return std::nullopt;
  }
}

pb::StoredWorkflowState ToStored(WorkflowState s) {
  switch (s) {
    case WorkflowState::kRunning: return pb::STORED_WORKFLOW_STATE_RUNNING;
    case WorkflowState::kSucceeded: return pb::STORED_WORKFLOW_STATE_SUCCEEDED;
    case WorkflowState::kFailed: return pb::STORED_WORKFLOW_STATE_FAILED;
    case WorkflowState::kCancelled: return pb::STORED_WORKFLOW_STATE_CANCELLED;
  }
  return pb::STORED_WORKFLOW_STATE_UNSPECIFIED;
}

std::optional<WorkflowState> FromStored(pb::StoredWorkflowState s) {
  switch (s) {
    case pb::STORED_WORKFLOW_STATE_RUNNING: return WorkflowState::kRunning;
    case pb::STORED_WORKFLOW_STATE_SUCCEEDED: return WorkflowState::kSucceeded;
    case pb::STORED_WORKFLOW_STATE_FAILED: return WorkflowState::kFailed;
    case pb::STORED_WORKFLOW_STATE_CANCELLED: return WorkflowState::kCancelled;
    default: return std::nullopt;
  }
}

// --- labels, retry policy, spec, attempts

template <typename Repeated>
void EncodeLabels(const std::vector<std::pair<std::string, std::string>>& labels,
                  Repeated* out) {
  out->Reserve(static_cast<int>(labels.size()));
  for (const auto& [key, value] : labels) {
    pb::StoredLabel* l = out->Add();
    l->set_key(key);
    l->set_value(value);
  }
}

template <typename Repeated>
std::vector<std::pair<std::string, std::string>> DecodeLabels(const Repeated& labels) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(labels.size());
  for (const pb::StoredLabel& l : labels) out.emplace_back(l.key(), l.value());
  return out;
}

void EncodeSpec(const TaskSpec& spec, pb::StoredTaskSpec* out) {
  out->set_type(spec.type);
  out->set_payload(spec.payload);
  out->set_queue(spec.queue);
  out->set_priority(spec.priority);
  out->set_timeout_us(EncodeDuration(spec.timeout));
  EncodeLabels(spec.labels, out->mutable_labels());
  pb::StoredRetryPolicy* retry = out->mutable_retry();
  retry->set_max_attempts(spec.retry.max_attempts);
  retry->set_initial_backoff_us(EncodeDuration(spec.retry.initial_backoff));
  retry->set_multiplier(spec.retry.multiplier);
  retry->set_max_backoff_us(EncodeDuration(spec.retry.max_backoff));
  retry->set_jitter(spec.retry.jitter);
  out->set_not_before_us(EncodeTime(spec.not_before));
  out->set_countdown_us(EncodeDuration(spec.countdown));
  out->set_expires_after_us(EncodeDuration(spec.expires_after));
  out->set_idempotency_key(spec.idempotency_key);
  out->set_retention_us(EncodeDuration(spec.retention));
  out->set_owner(spec.owner);
}

std::shared_ptr<const TaskSpec> DecodeSpec(pb::StoredTaskSpec* in) {
  auto spec = std::make_shared<TaskSpec>();
  spec->type = std::move(*in->mutable_type());
  spec->payload = std::move(*in->mutable_payload());
  spec->queue = std::move(*in->mutable_queue());
  spec->priority = in->priority();
  spec->timeout = DecodeDuration(in->timeout_us());
  spec->labels = DecodeLabels(in->labels());
  const pb::StoredRetryPolicy& retry = in->retry();
  spec->retry.max_attempts = retry.max_attempts();
  spec->retry.initial_backoff = DecodeDuration(retry.initial_backoff_us());
  spec->retry.multiplier = retry.multiplier();
  spec->retry.max_backoff = DecodeDuration(retry.max_backoff_us());
  spec->retry.jitter = retry.jitter();
  spec->not_before = DecodeTime(in->not_before_us());
  spec->countdown = DecodeDuration(in->countdown_us());
  spec->expires_after = DecodeDuration(in->expires_after_us());
  spec->idempotency_key = std::move(*in->mutable_idempotency_key());
  spec->retention = DecodeDuration(in->retention_us());
  spec->owner = std::move(*in->mutable_owner());
  return spec;
}

void EncodeAttempt(const AttemptRecord& a, pb::StoredAttempt* out) {
  out->set_number(a.number);
  out->set_executor_id(a.executor_id);
  out->set_assigned_at_us(EncodeTime(a.assigned_at));
  out->set_finished_at_us(EncodeTime(a.finished_at));
  out->set_outcome(ToStored(a.outcome));
  out->set_error(a.error);
  out->set_has_exit_code(a.exit_code.has_value());
  out->set_exit_code(a.exit_code.value_or(0));
  out->set_term_signal(a.term_signal);
  out->set_not_retryable(a.not_retryable);
}

absl::StatusOr<AttemptRecord> DecodeAttempt(pb::StoredAttempt* in) {
  std::optional<AttemptOutcome> outcome = FromStored(in->outcome());
  if (!outcome) {
    return absl::DataLossError(absl::StrCat("attempt ", in->number(),
                                            " has an unknown outcome ", in->outcome()));
  }
  AttemptRecord a;
  a.number = in->number();
  a.executor_id = std::move(*in->mutable_executor_id());
  a.assigned_at = DecodeTime(in->assigned_at_us());
  a.finished_at = DecodeTime(in->finished_at_us());
  a.outcome = *outcome;
  a.error = std::move(*in->mutable_error());
  if (in->has_exit_code()) a.exit_code = in->exit_code();
  a.term_signal = in->term_signal();
  a.not_retryable = in->not_retryable();
  return a;
}

}  // namespace

int64_t EncodeTime(absl::Time t) {
  if (t == absl::InfinitePast()) return kMinUs;
  if (t == absl::InfiniteFuture()) return kMaxUs;
  return absl::ToUnixMicros(t);  // saturates; rounds toward the past
}

absl::Time DecodeTime(int64_t us) {
  if (us == kMinUs) return absl::InfinitePast();
  if (us == kMaxUs) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}

int64_t EncodeDuration(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return kMaxUs;
  if (d == -absl::InfiniteDuration()) return kMinUs;
  return absl::ToInt64Microseconds(d);
}

absl::Duration DecodeDuration(int64_t us) {
  if (us == kMaxUs) return absl::InfiniteDuration();
  if (us == kMinUs) return -absl::InfiniteDuration();
  return absl::Microseconds(us);
}

int32_t StoredTaskStateNumber(TaskState state) { return ToStored(state); }
int32_t StoredWorkflowStateNumber(WorkflowState state) { return ToStored(state); }

std::string EncodeTaskSpec(const TaskSpec& spec) {
  pb::StoredTaskSpec s;
  EncodeSpec(spec, &s);
  return s.SerializeAsString();
}

std::string EncodeTask(const TaskRecord& r) {
  pb::StoredTask t;
  t.set_id(r.id);
  t.set_seq(r.seq);
  t.set_version(r.version);
  t.set_state(ToStored(r.state));
  t.set_created_at_us(EncodeTime(r.created_at));
  t.set_queued_at_us(EncodeTime(r.queued_at));
  t.set_finished_at_us(EncodeTime(r.finished_at));
  t.set_output(r.output);
  t.set_error(r.error);
  t.mutable_attempts()->Reserve(static_cast<int>(r.attempts.size()));
  for (const AttemptRecord& a : r.attempts) EncodeAttempt(a, t.add_attempts());
  t.set_scheduled_for_us(EncodeTime(r.scheduled_for));
  t.set_expires_at_us(EncodeTime(r.expires_at));
  t.set_retain_until_us(EncodeTime(r.retain_until));
  t.set_workflow_id(r.workflow_id);
  t.set_node_index(r.node_index);
  return t.SerializeAsString();
}

absl::StatusOr<TaskRecord> DecodeTask(absl::string_view record, absl::string_view spec) {
  pb::StoredTask t;
  if (!t.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return absl::DataLossError("task record does not parse");
  }
  if (!t.has_spec()) {
    if (spec.empty()) return absl::DataLossError(absl::StrCat("task ", t.id(), " has no spec"));
    if (!t.mutable_spec()->ParseFromArray(spec.data(), static_cast<int>(spec.size()))) {
      return absl::DataLossError(absl::StrCat("the spec of task ", t.id(), " does not parse"));
    }
  }
  std::optional<TaskState> state = FromStored(t.state());
  if (!state) {
    return absl::DataLossError(
        absl::StrCat("task ", t.id(), " has an unknown state ", t.state()));
  }
  TaskRecord r;
  r.id = std::move(*t.mutable_id());
  r.seq = t.seq();
  r.version = t.version();
  r.spec = DecodeSpec(t.mutable_spec());
  r.state = *state;
  r.created_at = DecodeTime(t.created_at_us());
  r.queued_at = DecodeTime(t.queued_at_us());
  r.finished_at = DecodeTime(t.finished_at_us());
  r.output = std::move(*t.mutable_output());
  r.error = std::move(*t.mutable_error());
  r.attempts.reserve(t.attempts_size());
  for (pb::StoredAttempt& a : *t.mutable_attempts()) {
    absl::StatusOr<AttemptRecord> attempt = DecodeAttempt(&a);
    if (!attempt.ok()) {
      return absl::DataLossError(absl::StrCat("task ", r.id, ": ", attempt.status().message()));
    }
    r.attempts.push_back(std::move(*attempt));
  }
  r.scheduled_for = DecodeTime(t.scheduled_for_us());
  r.expires_at = DecodeTime(t.expires_at_us());
  r.retain_until = DecodeTime(t.retain_until_us());
  r.workflow_id = std::move(*t.mutable_workflow_id());
  r.node_index = t.node_index();
  return r;
}

std::string EncodeWorkflow(const WorkflowRecord& r) {
  pb::StoredWorkflow w;
  w.set_id(r.id);
  w.set_seq(r.seq);
  w.set_version(r.version);
  w.set_state(ToStored(r.state));
  w.set_created_at_us(EncodeTime(r.created_at));
  w.set_finished_at_us(EncodeTime(r.finished_at));
  w.mutable_nodes()->Reserve(static_cast<int>(r.nodes.size()));
  for (const WorkflowNodeRecord& n : r.nodes) {
    pb::StoredWorkflowNode* node = w.add_nodes();
    node->set_name(n.name);
    node->set_task_id(n.task_id);
    node->mutable_after()->Add(n.after.begin(), n.after.end());
  }
  w.set_decided_by(r.decided_by);
  w.set_error(r.error);
  EncodeLabels(r.labels, w.mutable_labels());
  w.set_retain_until_us(EncodeTime(r.retain_until));
  w.set_idempotency_key(r.idempotency_key);
  w.set_owner(r.owner);
  return w.SerializeAsString();
}

absl::StatusOr<WorkflowRecord> DecodeWorkflow(absl::string_view bytes) {
  pb::StoredWorkflow w;
  if (!w.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("workflow record does not parse");
  }
  std::optional<WorkflowState> state = FromStored(w.state());
  if (!state) {
    return absl::DataLossError(
        absl::StrCat("workflow ", w.id(), " has an unknown state ", w.state()));
  }
  WorkflowRecord r;
  r.id = std::move(*w.mutable_id());
  r.seq = w.seq();
  r.version = w.version();
  r.state = *state;
  r.created_at = DecodeTime(w.created_at_us());
  r.finished_at = DecodeTime(w.finished_at_us());
  r.nodes.reserve(w.nodes_size());
  for (pb::StoredWorkflowNode& n : *w.mutable_nodes()) {
    WorkflowNodeRecord node;
    node.name = std::move(*n.mutable_name());
    node.task_id = std::move(*n.mutable_task_id());
    node.after.assign(n.after().begin(), n.after().end());
    r.nodes.push_back(std::move(node));
  }
  r.decided_by = std::move(*w.mutable_decided_by());
  r.error = std::move(*w.mutable_error());
  r.labels = DecodeLabels(w.labels());
  r.retain_until = DecodeTime(w.retain_until_us());
  r.idempotency_key = std::move(*w.mutable_idempotency_key());
  r.owner = std::move(*w.mutable_owner());
  return r;
}

}  // namespace taskwire::scheduler
