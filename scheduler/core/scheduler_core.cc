#include "scheduler/core/scheduler_core.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "scheduler/scheduler_metrics.h"
#include "common/logging.h"

namespace taskwire::scheduler {
namespace {

constexpr absl::string_view kPageTokenPrefix = "tw1:";

std::string EncodePageToken(uint64_t seq) {
  return absl::WebSafeBase64Escape(absl::StrCat(kPageTokenPrefix, seq));
}

absl::StatusOr<uint64_t> DecodePageToken(absl::string_view token) {
  std::string raw;
  uint64_t seq = 0;
  if (!absl::WebSafeBase64Unescape(token, &raw) || !absl::StartsWith(raw, kPageTokenPrefix) ||
      !absl::SimpleAtoi(absl::string_view(raw).substr(kPageTokenPrefix.size()), &seq)) {
    return absl::InvalidArgumentError(
        "page_token is not one this scheduler issued (pass next_page_token unchanged)");
  }
  return seq;
}

uint64_t RandomNonce() {
  std::random_device rd;
  return (uint64_t{rd()} << 32 | rd()) & 0xFFFFFF;  // 24 bits
}

}  // namespace

SchedulerCore::SchedulerCore(const Clock& clock, TaskStore& store, EventHub& events,
                             SchedulerMetrics* metrics, CoreOptions options)
    : clock_(clock),
      store_(store),
      events_(events),
      metrics_(metrics),
      options_(std::move(options)),
      id_nonce_(RandomNonce()) {}

// Ids are 13 characters of Crockford base32 (short enough for the string's inline buffer):
// 24 random bits per process start, then a 40-bit sequence.
std::string SchedulerCore::NewTaskId(uint64_t seq) const {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  uint64_t v = (id_nonce_ << 40) ^ seq;
  std::string id(13, '0');
  for (int i = 12; i >= 0; --i) {
    id[i] = kAlphabet[v & 31];
    v >>= 5;
  }
  return id;
}

SchedulerCore::Outbox& SchedulerCore::Effects::OutboxFor(
    const std::shared_ptr<ExecutorChannel>& channel) {
  for (Outbox& o : sends) {
    if (o.channel == channel) return o;
  }
  sends.push_back(Outbox{channel, {}, {}});
  return sends.back();
}

void SchedulerCore::Flush(Effects& fx) {
  if (!fx.saves.empty()) {
    if (absl::Status s = store_.Save(fx.saves); !s.ok()) {
      spdlog::error("store: saving {} task changes failed: {}", fx.saves.size(), s.ToString());
    }
  }
  events_.Publish(fx.events);
  for (auto& [callback, view] : fx.wakeups) callback(view);
  for (Outbox& out : fx.sends) {
    if (metrics_) metrics_->LinkMessage(/*inbound=*/false);
    out.channel->Send(std::move(out.assignments), std::move(out.cancels));
  }
  for (auto& [channel, status] : fx.closes) channel->Close(status);
}

// Effects are queued under mu_ in the order their changes were made, and delivered by one
// thread at a time in that order: a thread that finds another delivering leaves its
// effects to it. So watchers and executors see a task's changes in order, and a callback
// that calls back into the core does not deadlock.
void SchedulerCore::DeliverPending() {
  {
    absl::MutexLock lock(&mu_);
    if (flushing_) return;
    flushing_ = true;
  }
  for (;;) {
    std::deque<Effects> batch;
    {
      absl::MutexLock lock(&mu_);
      if (pending_.empty()) {
        flushing_ = false;
        return;
      }
      batch.swap(pending_);
    }
    for (Effects& fx : batch) Flush(fx);
  }
}

absl::Status SchedulerCore::Recover() {
  absl::StatusOr<std::vector<TaskRecord>> records = store_.LoadUnfinished();
  if (!records.ok()) return records.status();
  absl::StatusOr<uint64_t> max_seq = store_.MaxSeq();
  if (!max_seq.ok()) return max_seq.status();
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    next_seq_ = std::max(next_seq_, *max_seq + 1);
    for (TaskRecord& r : *records) {
      auto [it, inserted] = tasks_.try_emplace(r.id, std::move(r));
      if (!inserted) continue;
      TaskRecord& task = it->second;
      by_seq_.emplace(task.seq, &task);
      if (metrics_) metrics_->TaskSubmitted(task.spec->queue, task.spec->type);
      if (task.state == TaskState::kRunning) {
        LoseAttempt(task, "scheduler restarted", fx);
      } else {
        Enqueue(task, fx);
      }
    }
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  const size_t n = records->size();
  DeliverPending();
  spdlog::info("recovered {} unfinished tasks from {}", n, store_.Describe());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SchedulerCore::Submit(std::vector<TaskSpec> specs,
                                                               SubmitPath path) {
  if (specs.empty()) return absl::InvalidArgumentError("tasks is empty");
  if (specs.size() > options_.limits.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("tasks has ", specs.size(),
                                                   " entries; the limit is ",
                                                   options_.limits.max_batch_size));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].queue.empty()) specs[i].queue = std::string(kDefaultQueue);
    const std::string field = path == SubmitPath::kOne ? "task" : absl::StrCat("tasks[", i, "]");
    if (absl::Status s = ValidateTaskSpec(field, specs[i], options_.limits); !s.ok()) return s;
  }

  const absl::Time now = clock_.Now();
  uint64_t first_seq;
  {
    absl::MutexLock lock(&mu_);
    first_seq = next_seq_;
    next_seq_ += specs.size();
  }
  std::vector<TaskRecord> records(specs.size());
  std::vector<std::string> ids;
  ids.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    TaskRecord& r = records[i];
    r.seq = first_seq + i;
    r.id = NewTaskId(r.seq);
    r.version = 1;
    r.spec = std::make_shared<const TaskSpec>(std::move(specs[i]));
    r.state = TaskState::kQueued;
    r.created_at = now;
    r.queued_at = now;
    ids.push_back(r.id);
  }
  // Durable before visible: a task that failed to store is never run or listed.
  if (absl::Status s = store_.Save(records); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("storing the tasks failed: ", s.message()));
  }

  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    for (TaskRecord& r : records) {
      auto [it, inserted] = tasks_.try_emplace(r.id, std::move(r));
      TaskRecord& task = it->second;
      by_seq_.emplace(task.seq, &task);
      if (metrics_) metrics_->TaskSubmitted(task.spec->queue, task.spec->type);
      ready_.Push(&task);
      if (metrics_) metrics_->QueueDepthChanged(task.spec->queue, 1);
      if (events_.HasSubscribers()) {
        fx.events.push_back(TaskEvent{task.id, task.spec->type, task.spec->queue,
                                      TaskState::kQueued, 0, {}, now, {}});
      }
    }
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  DeliverPending();
  return ids;
}

// Records a change of `task`: new version, a store write and an event for watchers.
void SchedulerCore::Changed(TaskRecord& task, Effects& fx, std::string executor_id) {
  ++task.version;
  fx.saves.push_back(task);
  if (events_.HasSubscribers()) {
    const uint32_t attempt = task.attempts.empty() ? 0 : task.attempts.back().number;
    fx.events.push_back(TaskEvent{task.id, task.spec->type, task.spec->queue, task.state,
                                  attempt, std::move(executor_id), clock_.Now(), task.error});
  }
}

void SchedulerCore::Enqueue(TaskRecord& task, Effects& fx) {
  task.state = TaskState::kQueued;
  task.queued_at = clock_.Now();
  ready_.Push(&task);
  if (metrics_) metrics_->QueueDepthChanged(task.spec->queue, 1);
  Changed(task, fx);
}

void SchedulerCore::Dispatch(Effects& fx) {
  if (ready_.size() == 0 || executors_.empty()) return;
  // Round-robin, one task per executor per round, so that work spreads across executors.
  const size_t n = executors_.size();
  bool progress = true;
  while (progress && ready_.size() > 0) {
    progress = false;
    for (size_t i = 0; i < n; ++i) {
      Executor& e = *executors_[(dispatch_offset_ + i) % n];
      if (e.draining || e.free_slots() == 0) continue;
      TaskRecord* task = ready_.PopBest(e.lanes);
      if (task == nullptr) continue;
      if (metrics_) metrics_->QueueDepthChanged(task->spec->queue, -1);
      Assign(*task, e, fx);
      progress = true;
    }
  }
  dispatch_offset_ = (dispatch_offset_ + 1) % n;
}

void SchedulerCore::Assign(TaskRecord& task, Executor& executor, Effects& fx) {
  const absl::Time now = clock_.Now();
  const uint32_t number = task.attempts.empty() ? 1 : task.attempts.back().number + 1;
  AttemptRecord attempt;
  attempt.number = number;
  attempt.executor_id = executor.hello.executor_id;
  attempt.assigned_at = now;
  task.attempts.push_back(std::move(attempt));
  task.state = TaskState::kRunning;
  executor.outstanding.emplace(task.id, number);
  if (metrics_) {
    metrics_->TaskStarted(task.spec->queue, absl::ToDoubleSeconds(now - task.queued_at));
    metrics_->RunningChanged(1);
    metrics_->SlotsChanged(-1, 1);
  }
  fx.OutboxFor(executor.channel).assignments.push_back(AssignmentOut{task.id, number, task.spec});
  Changed(task, fx, executor.hello.executor_id);
}

void SchedulerCore::FinishAttempt(TaskRecord& task, AttemptOutcome outcome, std::string error) {
  if (task.attempts.empty() || task.attempts.back().outcome != AttemptOutcome::kRunning) return;
  AttemptRecord& a = task.attempts.back();
  a.outcome = outcome;
  a.error = std::move(error);
  a.finished_at = clock_.Now();
  if (outcome == AttemptOutcome::kLost && metrics_) metrics_->AttemptLost();
}

void SchedulerCore::Finish(TaskRecord& task, TaskState state, Effects& fx) {
  task.state = state;
  task.finished_at = clock_.Now();
  if (metrics_) metrics_->TaskFinished(task.spec->queue, task.spec->type, TaskStateName(state));
  Changed(task, fx, task.attempts.empty() ? std::string() : task.attempts.back().executor_id);
  if (auto it = waiters_.find(task.id); it != waiters_.end()) {
    const TaskView view{task, {}};
    for (auto& [token, callback] : it->second) fx.wakeups.emplace_back(std::move(callback), view);
    waiters_.erase(it);
  }
}

// The attempt's executor went away: the task runs again, unless that keeps happening.
void SchedulerCore::LoseAttempt(TaskRecord& task, absl::string_view reason, Effects& fx) {
  FinishAttempt(task, AttemptOutcome::kLost, std::string(reason));
  const auto lost = std::count_if(task.attempts.begin(), task.attempts.end(), [](const auto& a) {
    return a.outcome == AttemptOutcome::kLost;
  });
  if (static_cast<uint32_t>(lost) >= options_.max_lost_attempts) {
    task.error = absl::StrCat("lost ", lost, " times: its executor went away while running it");
    Finish(task, TaskState::kFailed, fx);
  } else {
    Enqueue(task, fx);
  }
}

absl::StatusOr<TaskView> SchedulerCore::GetTask(absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    return absl::NotFoundError(absl::StrCat("task '", id, "' not found"));
  }
  return TaskView{it->second, WaitingReason(it->second)};
}

std::string SchedulerCore::WaitingReason(const TaskRecord& task) const {
  if (task.state != TaskState::kQueued) return {};
  const LaneKey lane{task.spec->queue, task.spec->type};
  size_t serving = 0;
  size_t draining = 0;
  for (const auto& e : executors_) {
    if (std::find(e->lanes.begin(), e->lanes.end(), lane) == e->lanes.end()) continue;
    ++serving;
    if (e->draining) ++draining;
  }
  if (serving == 0) {
    return absl::StrCat("no connected executor serves task type '", task.spec->type,
                        "' on queue '", task.spec->queue, "'");
  }
  if (serving == draining) {
    return absl::StrCat("every executor serving '", task.spec->type, "' is draining");
  }
  return absl::StrCat("waiting for a free slot on one of ", serving - draining,
                      " executors serving '", task.spec->type, "'; ",
                      ready_.LaneSize(lane), " tasks queued in this lane");
}

absl::StatusOr<TaskState> SchedulerCore::CancelTask(absl::string_view id) {
  Effects fx;
  TaskState result;
  {
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) {
      return absl::NotFoundError(absl::StrCat("task '", id, "' not found"));
    }
    TaskRecord& task = it->second;
    if (IsTerminal(task.state)) return task.state;
    if (task.state == TaskState::kQueued) {
      ready_.Remove(task);
      if (metrics_) metrics_->QueueDepthChanged(task.spec->queue, -1);
    } else if (task.state == TaskState::kRunning) {
      // The attempt keeps its executor slot until the executor answers the Cancel.
      const AttemptRecord& a = task.attempts.back();
      for (auto& e : executors_) {
        if (e->hello.executor_id == a.executor_id && e->outstanding.contains(task.id)) {
          fx.OutboxFor(e->channel).cancels.push_back(AttemptRef{task.id, a.number});
        }
      }
      FinishAttempt(task, AttemptOutcome::kCancelled, "cancelled by a client");
      if (metrics_) metrics_->RunningChanged(-1);
    }
    task.error = "cancelled by a client";
    Finish(task, TaskState::kCancelled, fx);
    result = task.state;
    pending_.push_back(std::move(fx));
  }
  DeliverPending();
  return result;
}

absl::StatusOr<TaskPage> SchedulerCore::ListTasks(const TaskListQuery& query) const {
  int32_t page_size = query.page_size == 0 ? options_.default_page_size : query.page_size;
  if (page_size < 0 || page_size > options_.max_page_size) {
    return absl::InvalidArgumentError(absl::StrCat("page_size ", query.page_size,
                                                   " is outside [1, ", options_.max_page_size,
                                                   "]"));
  }
  uint64_t from = 0;
  if (!query.page_token.empty()) {
    absl::StatusOr<uint64_t> seq = DecodePageToken(query.page_token);
    if (!seq.ok()) return seq.status();
    from = *seq;
  }
  TaskPage page;
  absl::MutexLock lock(&mu_);
  size_t scanned = 0;
  for (auto it = by_seq_.lower_bound(from); it != by_seq_.end(); ++it) {
    if (page.tasks.size() == static_cast<size_t>(page_size) || scanned == options_.max_list_scan) {
      page.next_page_token = EncodePageToken(it->first);
      break;
    }
    ++scanned;
    const TaskRecord& t = *it->second;
    if (query.state && t.state != *query.state) continue;
    if (!query.queue.empty() && t.spec->queue != query.queue) continue;
    if (!query.type.empty() && t.spec->type != query.type) continue;
    page.tasks.push_back(t);
  }
  return page;
}

std::vector<ExecutorView> SchedulerCore::ListExecutors() const {
  absl::MutexLock lock(&mu_);
  std::vector<ExecutorView> out;
  for (const auto& e : executors_) {
    out.push_back(ExecutorView{e->hello, static_cast<uint32_t>(e->outstanding.size()),
                               e->draining, e->connected_at, e->last_seen});
  }
  return out;
}

absl::StatusOr<uint64_t> SchedulerCore::AddWaiter(absl::string_view id, WaitCallback done) {
  std::optional<TaskView> finished;
  {
    absl::MutexLock lock(&mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) {
      return absl::NotFoundError(absl::StrCat("task '", id, "' not found"));
    }
    if (!IsTerminal(it->second.state)) {
      const uint64_t token = next_waiter_++;
      waiters_[id].emplace(token, std::move(done));
      return token;
    }
    finished = TaskView{it->second, {}};
  }
  done(*finished);
  return 0;
}

bool SchedulerCore::RemoveWaiter(absl::string_view id, uint64_t token) {
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(id);
  if (it == waiters_.end() || it->second.erase(token) == 0) return false;
  if (it->second.empty()) waiters_.erase(it);
  return true;
}

absl::StatusOr<ExecutorSession> SchedulerCore::ConnectExecutor(
    ExecutorHello hello, std::shared_ptr<ExecutorChannel> channel) {
  if (hello.slots == 0) return absl::InvalidArgumentError("hello.slots must be at least 1");
  if (hello.task_types.empty()) {
    return absl::InvalidArgumentError("hello.task_types is empty: the executor serves nothing");
  }
  if (hello.queues.empty()) hello.queues.push_back(std::string(kDefaultQueue));
  for (const TaskTypeInfo& t : hello.task_types) {
    if (absl::Status s = ValidateName("hello.task_types.name", t.name,
                                      options_.limits.max_name_bytes);
        !s.ok()) {
      return s;
    }
  }
  for (const std::string& q : hello.queues) {
    if (absl::Status s = ValidateName("hello.queues", q, options_.limits.max_name_bytes);
        !s.ok()) {
      return s;
    }
  }

  Effects fx;
  ExecutorSession session;
  {
    absl::MutexLock lock(&mu_);
    if (hello.executor_id.empty()) {
      // A made-up id must not be one a connected executor chose: it would replace it below.
      for (uint64_t n = next_session_;; ++n) {
        hello.executor_id = absl::StrCat("executor-", n);
        if (std::none_of(executors_.begin(), executors_.end(), [&](const auto& e) {
              return e->hello.executor_id == hello.executor_id;
            })) {
          break;
        }
      }
    }
    for (const auto& e : executors_) {
      if (e->hello.executor_id == hello.executor_id) {
        fx.closes.emplace_back(e->channel,
                               absl::AbortedError("replaced by a newer connection"));
        RemoveExecutor(hello.executor_id, "replaced by a newer connection", fx);
        break;
      }
    }
    auto e = std::make_unique<Executor>();
    e->session_id = next_session_++;
    e->channel = std::move(channel);
    for (const std::string& q : hello.queues) {
      for (const TaskTypeInfo& t : hello.task_types) e->lanes.push_back(LaneKey{q, t.name});
    }
    e->connected_at = e->last_seen = clock_.Now();
    e->hello = std::move(hello);
    session = ExecutorSession{e->hello.executor_id, e->session_id};
    if (metrics_) {
      metrics_->ExecutorsConnectedChanged(1);
      metrics_->SlotsChanged(e->hello.slots, 0);
    }
    spdlog::info("executor {} connected from {}: {} slots, {} task types, queues [{}]",
                 session.executor_id, e->hello.peer, e->hello.slots, e->hello.task_types.size(),
                 absl::StrJoin(e->hello.queues, ","));
    executors_.push_back(std::move(e));
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  DeliverPending();
  return session;
}

SchedulerCore::Executor* SchedulerCore::FindSession(const ExecutorSession& session) {
  for (auto& e : executors_) {
    if (e->session_id == session.session_id) {
      e->last_seen = clock_.Now();
      return e.get();
    }
  }
  return nullptr;
}

void SchedulerCore::OnStarted(const ExecutorSession& session,
                              const std::vector<AttemptRef>& started) {
  absl::MutexLock lock(&mu_);
  FindSession(session);  // only liveness: RUNNING is set at assignment
}

void SchedulerCore::OnHeartbeat(const ExecutorSession& session) {
  absl::MutexLock lock(&mu_);
  FindSession(session);
}

void SchedulerCore::OnResults(const ExecutorSession& session, std::vector<AttemptResult> results) {
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    Executor* e = FindSession(session);
    if (e == nullptr) {  // a session already dropped: its attempts were requeued
      if (metrics_) {
        for (size_t i = 0; i < results.size(); ++i) metrics_->StaleResult();
      }
      return;
    }
    for (AttemptResult& r : results) ApplyResult(*e, r, fx);
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  DeliverPending();
}

void SchedulerCore::ApplyResult(Executor& executor, AttemptResult& result, Effects& fx) {
  auto slot = executor.outstanding.find(result.task_id);
  if (slot == executor.outstanding.end() || slot->second != result.attempt) {
    if (metrics_) metrics_->StaleResult();
    return;
  }
  executor.outstanding.erase(slot);
  if (metrics_) metrics_->SlotsChanged(1, -1);

  auto it = tasks_.find(result.task_id);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  if (task.state != TaskState::kRunning || task.attempts.back().number != result.attempt) {
    return;  // cancelled meanwhile: the answer only frees the slot
  }
  if (metrics_) {
    metrics_->RunningChanged(-1);
    metrics_->RunTime(task.spec->type, absl::ToDoubleSeconds(result.run_time));
  }
  task.attempts.back().exit_code = result.exit_code;
  task.attempts.back().term_signal = result.term_signal;
  switch (result.outcome) {
    case AttemptOutcome::kSucceeded:
      FinishAttempt(task, result.outcome, {});
      task.output = std::move(result.output);
      Finish(task, TaskState::kSucceeded, fx);
      break;
    case AttemptOutcome::kCancelled:
      // The executor gave up on its own (a drain past its grace period): not the task's
      // fault, so it runs again elsewhere.
      FinishAttempt(task, result.outcome, result.error.empty() ? "cancelled by the executor"
                                                               : result.error);
      Enqueue(task, fx);
      break;
    default:
      FinishAttempt(task, result.outcome, result.error);
      task.error = std::move(result.error);
      Finish(task, TaskState::kFailed, fx);
      break;
  }
}

void SchedulerCore::OnDrain(const ExecutorSession& session) {
  absl::MutexLock lock(&mu_);
  if (Executor* e = FindSession(session)) {
    e->draining = true;
    spdlog::info("executor {} is draining with {} attempts outstanding", e->hello.executor_id,
                 e->outstanding.size());
  }
}

void SchedulerCore::DisconnectExecutor(const ExecutorSession& session, absl::string_view reason) {
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    if (FindSession(session) == nullptr) return;
    RemoveExecutor(session.executor_id, reason, fx);
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  DeliverPending();
}

void SchedulerCore::CheckExecutorLiveness() {
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = clock_.Now() - options_.executor_timeout;
    std::vector<std::string> silent;
    for (const auto& e : executors_) {
      if (e->last_seen < deadline) silent.push_back(e->hello.executor_id);
    }
    for (const std::string& id : silent) {
      for (const auto& e : executors_) {
        if (e->hello.executor_id == id) {
          fx.closes.emplace_back(e->channel, absl::DeadlineExceededError(absl::StrCat(
                                                 "no message from the executor for ",
                                                 absl::FormatDuration(options_.executor_timeout))));
        }
      }
      RemoveExecutor(id, "stopped heartbeating", fx);
    }
    if (!silent.empty()) Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  DeliverPending();
}

void SchedulerCore::RemoveExecutor(const std::string& id, absl::string_view reason, Effects& fx) {
  auto pos = std::find_if(executors_.begin(), executors_.end(),
                          [&](const auto& e) { return e->hello.executor_id == id; });
  if (pos == executors_.end()) return;
  std::unique_ptr<Executor> e = std::move(*pos);
  executors_.erase(pos);
  if (metrics_) {
    metrics_->ExecutorsConnectedChanged(-1);
    metrics_->SlotsChanged(-static_cast<double>(e->free_slots()),
                           -static_cast<double>(e->outstanding.size()));
  }
  size_t requeued = 0;
  for (const auto& [task_id, attempt] : e->outstanding) {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) continue;
    TaskRecord& task = it->second;
    if (task.state != TaskState::kRunning || task.attempts.back().number != attempt) continue;
    if (metrics_) metrics_->RunningChanged(-1);
    LoseAttempt(task, absl::StrCat("executor ", id, " ", reason), fx);
    if (task.state == TaskState::kQueued) ++requeued;
  }
  spdlog::info("executor {} disconnected ({}); {} running tasks requeued", id, reason, requeued);
}

}  // namespace taskwire::scheduler
