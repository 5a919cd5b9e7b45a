// SchedulerCore's workflows: a DAG of tasks submitted at once. Nodes wait in PENDING until
// every upstream node succeeded, then run with the upstream results in dependency order.
// A node that ends without success cancels everything downstream of it; the workflow ends
// when all its nodes have, and the node that decided a failed or cancelled end is named.
#include <algorithm>
#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/quote.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/scheduler_metrics.h"

namespace taskwire::scheduler {
namespace {

std::string UpstreamEndedReason(const std::string& node, TaskState state) {
  switch (state) {
    case TaskState::kCancelled: return absl::StrCat("upstream ", node, " was cancelled");
    case TaskState::kExpired: return absl::StrCat("upstream ", node, " expired");
    default: return absl::StrCat("upstream ", node, " failed");
  }
}

}  // namespace

absl::StatusOr<SubmittedWorkflow> SchedulerCore::SubmitWorkflow(WorkflowSpec spec) {
  absl::Notification answered;
  absl::StatusOr<SubmittedWorkflow> answer;
  SubmitWorkflowAsync(std::move(spec), [&](absl::StatusOr<SubmittedWorkflow> a) {
    answer = std::move(a);
    answered.Notify();
  });
  answered.WaitForNotification();
  return answer;
}

void SchedulerCore::SubmitWorkflowAsync(WorkflowSpec spec, WorkflowSubmitCallback done) {
  SubmittedWorkflow out;
  PendingSubmit submit;
  if (absl::Status s = PrepareWorkflowSubmit(spec, out, submit.batch); !s.ok()) {
    done(std::move(s));
    return;
  }
  if (out.existing) {
    done(std::move(out));
    return;
  }
  submit.finish = [this, out = std::move(out), done = std::move(done)](
                      StoreBatch& stored, const absl::Status& commit) {
    absl::Status s = FinishWorkflowSubmit(stored, commit);
    if (s.ok()) {
      done(out);
    } else {
      done(std::move(s));
    }
  };
  QueueSubmit(std::move(submit));
}

absl::Status SchedulerCore::PrepareWorkflowSubmit(WorkflowSpec& spec, SubmittedWorkflow& out,
                                                  StoreBatch& batch) {
  absl::StatusOr<std::vector<std::vector<uint32_t>>> upstream =
      ResolveWorkflowGraph(spec, options_.limits);
  if (!upstream.ok()) return upstream.status();
  if (spec.labels.size() > options_.limits.max_labels) {
    return absl::InvalidArgumentError(absl::StrCat("workflow.labels has ", spec.labels.size(),
                                                   " entries; the limit is ",
                                                   options_.limits.max_labels));
  }
  if (spec.idempotency_key.size() > options_.limits.max_idempotency_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("workflow.idempotency_key is ",
                                                   spec.idempotency_key.size(),
                                                   " bytes; the limit is ",
                                                   options_.limits.max_idempotency_key_bytes));
  }
  const std::string key = OwnedKey(spec.owner, spec.idempotency_key);
  const size_t n = spec.nodes.size();
  std::vector<const TaskSpec*> specs;
  specs.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    TaskSpec& task = spec.nodes[i].task;
    if (task.queue.empty()) task.queue = std::string(kDefaultQueue);
    task.owner = spec.owner;  // the nodes are the workflow owner's tasks
    const std::string field = absl::StrCat("workflow.nodes[", i, "].task");
    if (absl::Status s = ValidateTaskSpec(field, task, options_.limits); !s.ok()) return s;
    if (!task.idempotency_key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".idempotency_key: not supported on workflow nodes"));
    }
    specs.push_back(&task);
  }

  const absl::Time now = clock_.Now();
  uint64_t first_seq;
  {
    absl::MutexLock lock(&mu_);
    if (!key.empty()) {
      if (workflow_keys_in_commit_.contains(key)) return KeyInCommitError("workflow", key);
      if (auto it = workflow_by_key_.find(key); it != workflow_by_key_.end()) {
        out = it->second;
        out.existing = true;
        return absl::OkStatus();
      }
      // A finished workflow left memory once stored; its key is in the store.
      absl::StatusOr<std::optional<WorkflowRecord>> stored = store_.FindWorkflowByKey(key);
      if (!stored.ok()) {
        return absl::UnavailableError(absl::StrCat("looking up idempotency key ", Quote(key),
                                                   " in the store failed: ",
                                                   stored.status().message()));
      }
      if (stored->has_value()) {
        out.workflow_id = (*stored)->id;
        for (const WorkflowNodeRecord& node : (*stored)->nodes) out.task_ids.push_back(node.task_id);
        out.existing = true;
        return absl::OkStatus();
      }
    }
    if (absl::Status s = admission_.Reserve(specs); !s.ok()) return s;
    first_seq = next_seq_;
    next_seq_ += n + 1;
    out.workflow_id = NewTaskId(first_seq);
    for (uint32_t i = 0; i < n; ++i) out.task_ids.push_back(NewTaskId(first_seq + 1 + i));
    if (!key.empty()) {
      workflow_by_key_.emplace(key, out);
      workflow_keys_in_commit_.insert(key);
    }
  }
  WorkflowRecord wf;
  wf.seq = first_seq;
  wf.id = out.workflow_id;
  wf.version = 1;
  wf.created_at = now;
  wf.labels = std::move(spec.labels);
  wf.idempotency_key = key;
  wf.owner = spec.owner;
  batch.tasks.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    WorkflowNodeSpec& node = spec.nodes[i];
    TaskRecord task = NewTask(first_seq + 1 + i, std::move(node.task), now,
                              /*has_upstream=*/!(*upstream)[i].empty());
    task.workflow_id = wf.id;
    task.node_index = i;
    wf.nodes.push_back(WorkflowNodeRecord{std::move(node.name), task.id, (*upstream)[i]});
    batch.tasks.push_back(std::move(task));
  }
  batch.workflows.push_back(std::move(wf));
  return absl::OkStatus();
}

absl::Status SchedulerCore::FinishWorkflowSubmit(StoreBatch& batch, const absl::Status& commit) {
  WorkflowRecord& wf = batch.workflows.front();
  const std::string& key = wf.idempotency_key;
  absl::MutexLock lock(&mu_);
  if (!commit.ok()) {
    ReleaseSubmitted(batch.tasks);
    if (!key.empty()) {
      workflow_by_key_.erase(key);
      workflow_keys_in_commit_.erase(key);
    }
    return absl::UnavailableError(absl::StrCat("storing the workflow failed: ", commit.message()));
  }
  if (!key.empty()) workflow_keys_in_commit_.erase(key);
  const std::string id = wf.id;
  const absl::Time created_at = wf.created_at;
  std::string owner = wf.owner;
  const size_t n = batch.tasks.size();
  LiveWorkflow live;
  live.downstream = Downstream(wf.nodes);
  live.unfinished = n;
  live.record = std::move(wf);
  workflows_.emplace(id, std::move(live));
  metrics_.WorkflowSubmitted(n);
  Effects fx;
  AdoptSubmitted(batch.tasks, fx);
  if (events_.HasSubscribers()) {
    fx.events.workflows.push_back(WorkflowEvent{id, WorkflowState::kRunning, created_at, {}, {},
                                                std::move(owner)});
  }
  Dispatch(fx);
  pending_.push_back(std::move(fx));
  return absl::OkStatus();
}

std::vector<std::string> SchedulerCore::UpstreamResults(const TaskRecord& task) const {
  if (task.workflow_id.empty()) return {};
  auto wf = workflows_.find(task.workflow_id);
  if (wf == workflows_.end()) return {};
  const std::vector<WorkflowNodeRecord>& nodes = wf->second.record.nodes;
  std::vector<std::string> results;
  results.reserve(nodes[task.node_index].after.size());
  for (uint32_t u : nodes[task.node_index].after) {
    auto it = tasks_.find(nodes[u].task_id);
    results.push_back(it == tasks_.end() ? std::string() : it->second.output);
  }
  return results;
}

void SchedulerCore::NodeFinished(TaskRecord& task, Effects& fx) {
  auto it = workflows_.find(task.workflow_id);
  if (it == workflows_.end()) return;
  LiveWorkflow& wf = it->second;
  const std::vector<WorkflowNodeRecord>& nodes = wf.record.nodes;
  --wf.unfinished;
  if (task.state == TaskState::kSucceeded) {
    for (uint32_t d : wf.downstream[task.node_index]) {
      TaskRecord& next = tasks_.at(nodes[d].task_id);
      if (next.state != TaskState::kPending) continue;
      bool ready = true;
      for (uint32_t u : nodes[d].after) {
        ready = ready && tasks_.at(nodes[u].task_id).state == TaskState::kSucceeded;
      }
      if (ready) Release(next, next.spec->not_before, fx);
    }
  } else {
    const std::string& name = nodes[task.node_index].name;
    if (wf.record.decided_by.empty() && wf.record.error.empty()) {
      wf.record.decided_by = name;
      wf.record.error = absl::StrCat("node ", name, " ", TaskStateName(task.state), ": ",
                                     task.error);
      WorkflowChanged(wf, fx);
    }
    // Breadth-first over everything downstream, without recursion: a chain may be long.
    const std::string reason = UpstreamEndedReason(name, task.state);
    std::deque<uint32_t> todo(wf.downstream[task.node_index].begin(),
                              wf.downstream[task.node_index].end());
    while (!todo.empty()) {
      const uint32_t d = todo.front();
      todo.pop_front();
      TaskRecord& next = tasks_.at(nodes[d].task_id);
      if (IsTerminal(next.state)) continue;
      CancelLocked(next, reason, fx, /*notify_workflow=*/false);
      --wf.unfinished;
      todo.insert(todo.end(), wf.downstream[d].begin(), wf.downstream[d].end());
    }
  }
  if (wf.unfinished == 0) FinishWorkflow(wf, fx);
}

void SchedulerCore::FinishWorkflow(LiveWorkflow& wf, Effects& fx) {
  WorkflowRecord& r = wf.record;
  if (r.state != WorkflowState::kRunning) return;
  bool all_succeeded = true;
  for (const WorkflowNodeRecord& n : r.nodes) {
    all_succeeded = all_succeeded && tasks_.at(n.task_id).state == TaskState::kSucceeded;
  }
  if (all_succeeded) {
    r.state = WorkflowState::kSucceeded;
  } else if (r.decided_by.empty()) {
    r.state = WorkflowState::kCancelled;  // a client cancelled the whole workflow
  } else {
    auto decider = std::find_if(r.nodes.begin(), r.nodes.end(),
                                [&](const auto& n) { return n.name == r.decided_by; });
    r.state = tasks_.at(decider->task_id).state == TaskState::kCancelled
                  ? WorkflowState::kCancelled
                  : WorkflowState::kFailed;
  }
  r.finished_at = clock_.Now();
  // The workflow and its nodes go together: kept as long as the longest retention a node
  // asked for, else the scheduler's.
  absl::Duration retention = absl::ZeroDuration();
  for (const WorkflowNodeRecord& node : r.nodes) {
    retention = std::max(retention, absl::Duration(tasks_.at(node.task_id).spec->retention));
  }
  r.retain_until = r.finished_at + (retention > absl::ZeroDuration() ? retention
                                                                      : options_.retention);
  ScheduleSweep(r.retain_until, fx);
  metrics_.WorkflowFinished(r.state, absl::ToDoubleSeconds(r.finished_at - r.created_at));
  WorkflowChanged(wf, fx);
  if (std::vector<WorkflowWaitCallback> woken = workflow_waiters_.Take(r.id); !woken.empty()) {
    const WorkflowView view = ViewOf(wf);
    for (WorkflowWaitCallback& callback : woken) {
      fx.workflow_wakeups.emplace_back(std::move(callback), view);
    }
  }
}

void SchedulerCore::WorkflowChanged(LiveWorkflow& wf, Effects& fx) {
  ++wf.record.version;
  fx.saves.workflows.push_back(wf.record);
  if (events_.HasSubscribers()) {
    fx.events.workflows.push_back(WorkflowEvent{wf.record.id, wf.record.state, clock_.Now(),
                                                wf.record.decided_by, wf.record.error,
                                                wf.record.owner});
  }
}

WorkflowView SchedulerCore::ViewOf(const LiveWorkflow& wf) const {
  WorkflowView view{wf.record, {}};
  view.nodes.reserve(wf.record.nodes.size());
  view.waiting_reasons.reserve(wf.record.nodes.size());
  // Nodes of one lane wait for the same reason: look at the executors once per lane.
  absl::flat_hash_map<LaneKey, std::string> reasons;
  for (const WorkflowNodeRecord& node : wf.record.nodes) {
    auto it = tasks_.find(node.task_id);
    if (it == tasks_.end()) continue;
    const TaskRecord& task = it->second;
    view.nodes.push_back(task);
    std::string reason;
    if (task.state == TaskState::kQueued) {
      auto [lane, added] = reasons.try_emplace(LaneKey{task.spec->queue, task.spec->type});
      if (added) lane->second = WaitingReason(task);
      reason = lane->second;
    }
    view.waiting_reasons.push_back(std::move(reason));
  }
  return view;
}

void SchedulerCore::ReconcileWorkflow(LiveWorkflow& wf, Effects& fx) {
  const std::vector<WorkflowNodeRecord>& nodes = wf.record.nodes;
  wf.unfinished = 0;
  for (const WorkflowNodeRecord& node : nodes) {
    auto it = tasks_.find(node.task_id);
    if (it != tasks_.end() && !IsTerminal(it->second.state)) ++wf.unfinished;
  }
  if (wf.record.state != WorkflowState::kRunning) return;  // the store answers for it
  // Topological order, so that a cancel reaches every node behind it in one pass.
  std::vector<size_t> upstream_counts(nodes.size());
  for (uint32_t i = 0; i < nodes.size(); ++i) upstream_counts[i] = nodes[i].after.size();
  for (uint32_t i : TopologicalOrder(wf.downstream, std::move(upstream_counts))) {
    TaskRecord& task = tasks_.at(nodes[i].task_id);
    if (task.state != TaskState::kPending) continue;
    bool all_succeeded = true;
    for (uint32_t u : nodes[i].after) {
      const TaskRecord& up = tasks_.at(nodes[u].task_id);
      if (up.state == TaskState::kSucceeded) continue;
      all_succeeded = false;
      if (IsTerminal(up.state)) {
        CancelLocked(task, UpstreamEndedReason(nodes[u].name, up.state), fx,
                     /*notify_workflow=*/false);
        --wf.unfinished;
        break;
      }
    }
    if (all_succeeded) Release(task, task.spec->not_before, fx);
  }
  if (wf.unfinished == 0) FinishWorkflow(wf, fx);
}

namespace {

absl::Status WorkflowNotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("workflow ", Quote(id), " not found"));
}

}  // namespace

absl::StatusOr<WorkflowView> SchedulerCore::GetWorkflow(absl::string_view id) const {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = workflows_.find(id); it != workflows_.end()) return ViewOf(it->second);
  }
  absl::StatusOr<std::optional<WorkflowView>> stored = FindStoredWorkflow(id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return WorkflowNotFound(id);
  return std::move(**stored);
}

// Not in memory, so finished (or unknown): the store has it and its nodes.
absl::StatusOr<std::optional<WorkflowView>> SchedulerCore::FindStoredWorkflow(
    absl::string_view id) const {
  auto failed = [&](const absl::Status& s) {
    return absl::UnavailableError(absl::StrCat("reading workflow ", Quote(id),
                                               " from the store failed: ", s.message()));
  };
  absl::StatusOr<std::optional<WorkflowRecord>> record = store_.FindWorkflow(id);
  if (!record.ok()) return failed(record.status());
  if (!record->has_value()) return std::nullopt;
  WorkflowView view{std::move(**record), {}};
  view.nodes.reserve(view.record.nodes.size());
  for (const WorkflowNodeRecord& node : view.record.nodes) {
    absl::StatusOr<std::optional<TaskRecord>> task = store_.FindTask(node.task_id);
    if (!task.ok()) return failed(task.status());
    if (task->has_value()) view.nodes.push_back(std::move(**task));
  }
  return view;
}

absl::StatusOr<WorkflowState> SchedulerCore::CancelWorkflow(absl::string_view id) {
  Effects fx;
  std::optional<WorkflowState> result;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = workflows_.find(id); it != workflows_.end()) {
      LiveWorkflow& wf = it->second;
      if (wf.record.state == WorkflowState::kRunning) {
        if (wf.record.error.empty()) wf.record.error = "cancelled by a client";
        for (const WorkflowNodeRecord& node : wf.record.nodes) {
          TaskRecord& task = tasks_.at(node.task_id);
          if (IsTerminal(task.state)) continue;
          CancelLocked(task, "workflow cancelled by a client", fx, /*notify_workflow=*/false);
          --wf.unfinished;
        }
        FinishWorkflow(wf, fx);
      }
      result = wf.record.state;
      Dispatch(fx);
      pending_.push_back(std::move(fx));
    }
  }
  if (!result) {  // finished (or unknown): nothing to cancel
    absl::StatusOr<std::optional<WorkflowView>> stored = FindStoredWorkflow(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return WorkflowNotFound(id);
    return (*stored)->record.state;
  }
  Deliver();
  return *result;
}

absl::StatusOr<uint64_t> SchedulerCore::AddWorkflowWaiter(absl::string_view id,
                                                          WorkflowWaitCallback done) {
  {
    absl::MutexLock lock(&mu_);
    // A workflow that ended and is still here is not stored as ended yet (EvictFinished
    // takes it out once it is): its waiter hears then, so what it hears survives a crash.
    if (workflows_.contains(id)) return workflow_waiters_.Add(id, std::move(done));
  }
  absl::StatusOr<std::optional<WorkflowView>> stored = FindStoredWorkflow(id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return WorkflowNotFound(id);
  done(**stored);
  return 0;
}

bool SchedulerCore::RemoveWorkflowWaiter(absl::string_view id, uint64_t token) {
  absl::MutexLock lock(&mu_);
  return workflow_waiters_.Remove(id, token);
}

}  // namespace taskwire::scheduler
