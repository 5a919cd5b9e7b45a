// SchedulerCore's clock-driven work: ETA and backoff releases, queue-wait expiry, the
// scheduler's side of attempt timeouts, leases of recovered attempts, executors that went
// silent, and retention (finished tasks leave memory once stored; the store deletes them
// when their retention ends). Timers are lazy: each checks on firing that its task still
// needs it, so state changes never have to find and cancel them.
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/task_lifecycle.h"

namespace taskwire::scheduler {

void SchedulerCore::AddTimer(absl::Time at, Timer timer, Effects& fx) {
  timers_.emplace(at, std::move(timer));
  if (at < next_tick_) {
    next_tick_ = at;
    fx.wake_timer_at = std::min(fx.wake_timer_at, at);
  }
}

absl::Time SchedulerCore::Tick() {
  Effects fx;
  bool sweep = false;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    DropSilentExecutors(fx);
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto node = timers_.extract(timers_.begin());
      RunTimer(node.mapped(), now, fx);
    }
    Dispatch(fx);
    ReportQueueAges(now);
    if (sweep_due_ && !sweeping_) {
      sweep = sweeping_ = true;
      sweep_due_ = false;
      next_sweep_ = absl::InfiniteFuture();  // tasks finishing meanwhile may set it again
    }
    fx.wake_timer_at = absl::InfiniteFuture();  // the caller is the one to tell
    pending_.push_back(std::move(fx));
  }
  Deliver();
  if (sweep) SweepRetention();
  absl::MutexLock lock(&mu_);
  next_tick_ = timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first;
  // Effects held back by a failed commit are retried at commit_retry_at_.
  return commit_failures_ == 0 ? next_tick_
                               : std::max(clock_.Now(), std::min(next_tick_, commit_retry_at_));
}

void SchedulerCore::ScheduleSweep(absl::Time at, Effects& fx) {
  if (at >= next_sweep_) return;
  next_sweep_ = at;
  AddTimer(at, Timer{TimerKind::kSweep, {}}, fx);
}

void SchedulerCore::SweepRetention() {
  const absl::Time now = clock_.Now();
  absl::StatusOr<RetentionSweep> swept = store_.DeleteExpired(now, options_.retention_batch);
  Effects fx;
  absl::MutexLock lock(&mu_);
  sweeping_ = false;
  if (!swept.ok()) {
    spdlog::error("store: deleting finished tasks past their retention failed: {}; retrying",
                  swept.status().ToString());
    ScheduleSweep(now + absl::Seconds(5), fx);
  } else if (swept->deleted == options_.retention_batch) {
    ScheduleSweep(now, fx);  // more are due: the next batch at once
  } else {
    // At most one sweep a second: each ending retention need not cost a transaction.
    ScheduleSweep(std::max(swept->next_due, now + absl::Seconds(1)), fx);
  }
}

// A task leaves memory once it is finished and stored; the store answers for it from then
// on. A workflow's nodes stay while it runs (downstream nodes read their outputs), and go
// with it.
void SchedulerCore::EvictFinished(const StoreBatch& stored, std::vector<TaskRecord>& evicted,
                                  Effects& fx) {
  for (const TaskRecord& r : stored.tasks) {
    if (!IsFinishedStandalone(r)) continue;
    auto it = tasks_.find(r.id);
    if (it == tasks_.end() || !IsTerminal(it->second.state)) continue;
    if (std::vector<WaitCallback> woken = waiters_.Take(r.id); !woken.empty()) {
      const TaskView view = ViewOfTask(it->second);
      for (WaitCallback& callback : woken) fx.wakeups.emplace_back(std::move(callback), view);
    }
    EvictTask(r.id, evicted);
    if (options_.recent_results == 0) continue;
    // Kept a while longer as a recent result; the oldest one leaves the cache instead.
    metrics_.TasksInStateChanged(evicted.back().state, 1);
    recent_.insert_or_assign(r.id, std::move(evicted.back()));
    evicted.pop_back();
    recent_order_.push_back(r.id);
    if (recent_order_.size() > options_.recent_results) {
      auto oldest = recent_.find(recent_order_.front());
      metrics_.TasksInStateChanged(oldest->second.state, -1);
      evicted.push_back(std::move(oldest->second));
      recent_.erase(oldest);
      recent_order_.pop_front();
    }
  }
  for (const WorkflowRecord& r : stored.workflows) {
    if (r.state == WorkflowState::kRunning) continue;
    auto wf = workflows_.find(r.id);
    if (wf == workflows_.end() || wf->second.record.state == WorkflowState::kRunning ||
        wf->second.record.version != r.version) {
      continue;  // a later version is still to be stored
    }
    if (std::vector<WorkflowWaitCallback> woken = workflow_waiters_.Take(r.id); !woken.empty()) {
      const WorkflowView view = ViewOf(wf->second);
      for (WorkflowWaitCallback& callback : woken) {
        fx.workflow_wakeups.emplace_back(std::move(callback), view);
      }
    }
    for (const WorkflowNodeRecord& node : wf->second.record.nodes) {
      EvictTask(node.task_id, evicted);
    }
    if (const std::string& key = wf->second.record.idempotency_key; !key.empty()) {
      auto k = workflow_by_key_.find(key);
      if (k != workflow_by_key_.end() && k->second.workflow_id == r.id) workflow_by_key_.erase(k);
    }
    workflows_.erase(wf);
  }
}

void SchedulerCore::EvictTask(const std::string& id, std::vector<TaskRecord>& evicted) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return;
  const TaskRecord& task = it->second;
  metrics_.TasksInStateChanged(task.state, -1);
  by_seq_.erase(task.seq);
  if (!task.spec->idempotency_key.empty()) {
    auto key = by_idempotency_key_.find(task.spec->idempotency_key);
    if (key != by_idempotency_key_.end() && key->second == id) by_idempotency_key_.erase(key);
  }
  evicted.push_back(std::move(it->second));
  tasks_.erase(it);
}

void SchedulerCore::RunTimer(const Timer& timer, absl::Time now, Effects& fx) {
  if (timer.kind == TimerKind::kSweep) {
    if (next_sweep_ <= now) sweep_due_ = true;
    return;
  }
  auto it = tasks_.find(timer.id);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  switch (timer.kind) {
    case TimerKind::kRelease:
      if (task.state != TaskState::kScheduled || task.scheduled_for > now) return;
      if (task.expires_at <= now) {
        Expire(task, fx);
      } else {
        Enqueue(task, fx);
      }
      return;
    case TimerKind::kExpire:
      // Running or done: expiry only stops starts.
      if (task.expires_at > now || !RolesOf(task.state).waiting) return;
      Expire(task, fx);
      return;
    case TimerKind::kRunDeadline: {
      if (task.state != TaskState::kRunning || task.attempts.back().number != timer.attempt) {
        return;
      }
      // The executor did not answer by the timeout plus a lease: end the attempt here, and
      // tell the executor (if it is still connected) to stop it. Its slot stays taken
      // until it answers.
      TellExecutorToCancel(task.id, timer.attempt, fx);
      std::string error = absl::StrCat("no result within the timeout of ",
                                       absl::FormatDuration(task.spec->timeout), " plus ",
                                       absl::FormatDuration(options_.executor_timeout));
      FinishAttempt(task, AttemptOutcome::kTimedOut, error);
      RetryOrFail(task, std::move(error), /*retryable=*/true, fx);
      return;
    }
    case TimerKind::kLease: {
      auto orphan = orphaned_.find(task.id);
      if (orphan == orphaned_.end() || orphan->second != timer.attempt) return;
      orphaned_.erase(orphan);
      if (task.state != TaskState::kRunning || task.attempts.back().number != timer.attempt) {
        return;
      }
      LoseAttempt(task, "its executor did not reconnect within a lease of the scheduler's restart",
                  fx);
      return;
    }
    case TimerKind::kSweep:
      return;  // handled above
  }
}

void SchedulerCore::ReportQueueAges(absl::Time now) {
  if (now - last_age_report_ < absl::Seconds(1)) return;
  last_age_report_ = now;
  absl::flat_hash_map<std::string, absl::Time> oldest = ready_.OldestQueuedAt();
  // Queues that executors serve have a series from the start, at 0 while nothing waits.
  for (const auto& e : executors_.all()) {
    age_reported_queues_.insert(e->hello.queues.begin(), e->hello.queues.end());
  }
  for (const std::string& queue : age_reported_queues_) {
    if (!oldest.contains(queue)) metrics_.QueueOldestAge(queue, 0);  // keep the series
  }
  for (const auto& [queue, at] : oldest) {
    metrics_.QueueOldestAge(queue, absl::ToDoubleSeconds(now - at));
    age_reported_queues_.insert(queue);
  }
}

void SchedulerCore::DropSilentExecutors(Effects& fx) {
  const absl::Time deadline = clock_.Now() - options_.executor_timeout;
  std::vector<std::string> silent;
  for (const auto& e : executors_.all()) {
    if (e->last_seen < deadline) silent.push_back(e->hello.executor_id);
  }
  for (const std::string& id : silent) {
    fx.closes.emplace_back(executors_.Find(id)->channel,
                           absl::DeadlineExceededError(absl::StrCat(
                               "no message from the executor for ",
                               absl::FormatDuration(options_.executor_timeout))));
    RemoveExecutor(id, "stopped heartbeating", fx);
  }
}

}  // namespace taskwire::scheduler
