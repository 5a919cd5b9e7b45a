#include "scheduler/core/scheduler_core.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <random>
#include <string_view>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "common/quote.h"
#include "scheduler/core/retry_policy.h"
#include "scheduler/core/task_lifecycle.h"

namespace taskwire::scheduler {
namespace {

constexpr absl::string_view kPageTokenPrefix = "tw1:";          // oldest first: from this seq
constexpr absl::string_view kNewestPageTokenPrefix = "tw1-below:";  // newest first: below it

absl::string_view ModeName(RunMode mode) {
  switch (mode) {
    case RunMode::kThread: return "thread";
    case RunMode::kProcess: return "process";
    case RunMode::kEventLoop: return "event-loop";
  }
  return "unknown";
}

// An executor's slots: one window (`slots`), or one per run mode that its types use, each
// at least 1, whose sum becomes `slots`.
absl::Status CheckModeSlots(ExecutorHello& hello) {
  if (hello.mode_slots.empty()) {
    if (hello.slots == 0) return absl::InvalidArgumentError("hello.slots must be at least 1");
    return absl::OkStatus();
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < hello.mode_slots.size(); ++i) {
    const ModeSlots& m = hello.mode_slots[i];
    if (m.slots == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hello.mode_slots: the ", ModeName(m.mode), " mode has 0 slots; give it at least 1"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (hello.mode_slots[j].mode == m.mode) {
        return absl::InvalidArgumentError(
            absl::StrCat("hello.mode_slots names the ", ModeName(m.mode), " mode twice"));
      }
    }
    sum += m.slots;
  }
  for (const TaskTypeInfo& t : hello.task_types) {
    if (std::none_of(hello.mode_slots.begin(), hello.mode_slots.end(),
                     [&](const ModeSlots& m) { return m.mode == t.mode; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("task type '", t.name, "' runs in the ", ModeName(t.mode),
                       " mode, which hello.mode_slots gives no slots"));
    }
  }
  hello.slots = static_cast<uint32_t>(std::min<uint64_t>(sum, UINT32_MAX));
  return absl::OkStatus();
}

// Why a stored running workflow cannot be run as it is; empty if it can. The core indexes
// nodes and tasks through each other without checks, so a recovered workflow must hold
// together: each node's task loaded and naming that node, each task that names the
// workflow one of its nodes, edges within the workflow, the deciding node one of its own.
std::string WorkflowDefect(const WorkflowRecord& wf, const std::vector<const TaskRecord*>& claimed,
                           const absl::node_hash_map<std::string, TaskRecord>& tasks) {
  const size_t n = wf.nodes.size();
  for (uint32_t i = 0; i < n; ++i) {
    const WorkflowNodeRecord& node = wf.nodes[i];
    auto it = tasks.find(node.task_id);
    if (it == tasks.end()) {
      return absl::StrCat("the task ", Quote(node.task_id), " of node ", i, " is missing");
    }
    if (it->second.workflow_id != wf.id || it->second.node_index != i) {
      return absl::StrCat("the task ", Quote(node.task_id), " of node ", i,
                          " does not name that node");
    }
    for (uint32_t u : node.after) {
      if (u >= n || u == i) return absl::StrCat("node ", i, " depends on node ", u);
    }
  }
  for (const TaskRecord* t : claimed) {
    if (t->node_index >= n || wf.nodes[t->node_index].task_id != t->id) {
      return absl::StrCat("task ", Quote(t->id), " names node ", t->node_index,
                          ", which is not its own");
    }
  }
  if (!wf.decided_by.empty() &&
      std::none_of(wf.nodes.begin(), wf.nodes.end(),
                   [&](const WorkflowNodeRecord& node) { return node.name == wf.decided_by; })) {
    return absl::StrCat("it was decided by ", Quote(wf.decided_by), ", which is not a node");
  }
  return {};
}

// A page token carries its listing's order, so a token of one order passed with the other
// is refused rather than read as a different position.
std::string EncodePageToken(uint64_t seq, bool newest_first) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(newest_first ? kNewestPageTokenPrefix : kPageTokenPrefix, seq));
}

absl::StatusOr<uint64_t> DecodePageToken(absl::string_view token, bool newest_first) {
  const absl::string_view prefix = newest_first ? kNewestPageTokenPrefix : kPageTokenPrefix;
  const absl::string_view other = newest_first ? kPageTokenPrefix : kNewestPageTokenPrefix;
  std::string raw;
  uint64_t seq = 0;
  if (absl::WebSafeBase64Unescape(token, &raw) && absl::StartsWith(raw, other)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token belongs to a listing ", newest_first ? "oldest" : "newest",
        " first: pass the same newest_first as for the page that returned it"));
  }
  if (!absl::StartsWith(raw, prefix) ||
      !absl::SimpleAtoi(absl::string_view(raw).substr(prefix.size()), &seq)) {
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
                             CoreMetrics* metrics, CoreOptions options)
    : clock_(clock),
      store_(store),
      events_(events),
      metrics_(metrics != nullptr ? *metrics : no_metrics_),
      options_(std::move(options)),
      id_nonce_(RandomNonce()),
      admission_(options_.max_waiting_tasks, options_.max_waiting_per_queue),
      executors_(metrics_) {}

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

void SchedulerCore::Flush(Effects& fx) {
  events_.Publish(fx.events);
  for (auto& [callback, view] : fx.wakeups) callback(view);
  for (auto& [callback, view] : fx.workflow_wakeups) callback(view);
  for (Outbox& out : fx.sends) {
    metrics_.LinkMessage(/*inbound=*/false);
    out.channel->Send(std::move(out.assignments), std::move(out.cancels));
  }
  for (auto& [channel, status] : fx.closes) channel->Close(status);
  if (fx.wake_timer_at != absl::InfiniteFuture() && timer_listener_) {
    timer_listener_(fx.wake_timer_at);
  }
}

SchedulerCore::~SchedulerCore() { StopDeliveryThread(); }

void SchedulerCore::StartDeliveryThread() {
  absl::MutexLock lock(&delivery_mu_);
  if (delivery_threaded_) return;
  delivery_threaded_ = true;
  delivery_stopping_ = false;
  delivery_thread_ = std::thread([this] { DeliveryLoop(); });
  submit_thread_ = std::thread([this] { SubmitLoop(); });
}

void SchedulerCore::StopDeliveryThread() {
  {
    absl::MutexLock lock(&delivery_mu_);
    if (!delivery_threaded_) return;
    delivery_stopping_ = true;
  }
  submit_thread_.join();  // answers every submit queued, then the delivery thread ends
  delivery_thread_.join();
  {
    absl::MutexLock lock(&delivery_mu_);
    delivery_threaded_ = false;
  }
  DeliverPending();  // whatever was queued after the thread's last round
}

void SchedulerCore::Deliver() {
  {
    absl::MutexLock lock(&delivery_mu_);
    if (delivery_threaded_ && !delivery_stopping_) {
      delivery_wanted_ = true;
      return;  // the thread wakes when delivery_mu_ is released
    }
  }
  DeliverPending();
}

void SchedulerCore::DeliveryLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&delivery_mu_);
      delivery_mu_.Await(absl::Condition(this, &SchedulerCore::DeliveryWakeUp));
      if (!delivery_wanted_) return;  // stopping, and nothing asked for
      delivery_wanted_ = false;
    }
    DeliverPending();
  }
}

// Effects are queued under mu_ in the order their changes were made, and delivered by one
// thread at a time in that order: a thread that finds another delivering leaves its
// effects to it. So watchers and executors see a task's changes in order, and a callback
// that calls back into the core does not deadlock.
void SchedulerCore::DeliverPending() {
  {
    absl::MutexLock lock(&mu_);
    if (flushing_ || clock_.Now() < commit_retry_at_) return;
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
    // Everything the batch changed goes to the store in one commit, before anyone hears
    // of it: a client that saw a result never sees it undone by a restart.
    StoreBatch saves = MergeSaves(batch);
    if (!saves.empty()) {
      if (absl::Status s = store_.Commit(saves); !s.ok()) {
        HoldBack(std::move(batch), std::move(saves), s);
        return;
      }
    }
    std::vector<TaskRecord> evicted;  // freed after the lock is released
    Effects stored_ends;              // waiters of the ends just stored
    {
      absl::MutexLock lock(&mu_);
      if (commit_failures_ > 0) {
        spdlog::info("store: commits succeed again after {} failures", commit_failures_);
      }
      commit_failures_ = 0;
      EvictFinished(saves, evicted, stored_ends);
    }
    for (Effects& fx : batch) Flush(fx);
    Flush(stored_ends);
  }
}

// New tasks are committed by the submit thread (or the submitting thread, without
// StartDeliveryThread), beside the delivery rounds: the store groups concurrent commits,
// and the two threads share the work of a busy scheduler's two kinds of commit.
void SchedulerCore::SubmitLoop() {
  for (;;) {
    std::vector<PendingSubmit> submits;
    {
      absl::MutexLock lock(&delivery_mu_);
      auto wanted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(delivery_mu_) {
        return !submits_.empty() || delivery_stopping_;
      };
      delivery_mu_.Await(absl::Condition(&wanted));
      if (submits_.empty()) return;  // stopping, and every submit answered
      submits.swap(submits_);
    }
    CommitSubmits(submits);
  }
}

void SchedulerCore::QueueSubmit(PendingSubmit submit) {
  {
    absl::MutexLock lock(&delivery_mu_);
    if (delivery_threaded_ && !delivery_stopping_) {
      submits_.push_back(std::move(submit));
      return;  // the submit thread wakes when delivery_mu_ is released
    }
  }
  std::vector<PendingSubmit> one;
  one.push_back(std::move(submit));
  CommitSubmits(one);
}

void SchedulerCore::CommitSubmits(std::vector<PendingSubmit>& submits) {
  StoreBatch batch;
  std::vector<std::pair<size_t, size_t>> sizes;  // each submit's tasks and workflows
  for (PendingSubmit& submit : submits) {
    sizes.emplace_back(submit.batch.tasks.size(), submit.batch.workflows.size());
    Append(batch, submit.batch);
  }
  const absl::Status committed = store_.Commit(batch);
  // The records go back to their submits, in the order Append took them.
  auto give_back = [](auto& from, size_t& next, size_t n, auto& to) {
    to.reserve(n);
    for (size_t i = 0; i < n; ++i) to.push_back(std::move(from[next++]));
  };
  size_t task = 0;
  size_t workflow = 0;
  for (size_t i = 0; i < submits.size(); ++i) {
    give_back(batch.tasks, task, sizes[i].first, submits[i].batch.tasks);
    give_back(batch.workflows, workflow, sizes[i].second, submits[i].batch.workflows);
  }
  for (PendingSubmit& submit : submits) submit.finish(submit.batch, committed);
  Deliver();
}

// A commit failed (a full disk, an I/O error): nothing of the batch is published. It goes
// back to the front of the queue, with everything after it, and Tick() tries again after
// a backoff; until then no client, watcher or executor hears of the changes.
void SchedulerCore::HoldBack(std::deque<Effects> batch, StoreBatch saves,
                             const absl::Status& error) {
  batch.front().saves = std::move(saves);  // Append emptied the others
  absl::Time retry_at;
  {
    absl::MutexLock lock(&mu_);
    if (commit_failures_ == 0 || commit_failures_ % 20 == 0) {
      spdlog::error("store: committing {} task changes failed ({} failures in a row): {}; "
                    "holding them back and retrying",
                    batch.front().saves.tasks.size(), commit_failures_ + 1, error.ToString());
    }
    const absl::Duration backoff =
        std::min(absl::Milliseconds(50) * (1 << std::min<uint32_t>(commit_failures_, 5)),
                 absl::Seconds(1));
    ++commit_failures_;
    retry_at = commit_retry_at_ = clock_.Now() + backoff;
    for (Effects& fx : pending_) batch.push_back(std::move(fx));
    pending_.swap(batch);
    flushing_ = false;
  }
  if (timer_listener_) timer_listener_(retry_at);
}

void SchedulerCore::SetTimerListener(std::function<void(absl::Time)> listener) {
  timer_listener_ = std::move(listener);
}

absl::Status SchedulerCore::Recover() {
  absl::StatusOr<StoredState> stored = store_.Load();
  if (!stored.ok()) return stored.status();
  const size_t n_tasks = stored->tasks.size();
  const size_t n_workflows = stored->workflows.size();
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    next_seq_ = std::max(next_seq_, stored->max_seq + 1);
    // What finished before the restart is in the store alone; its retention starts now.
    ScheduleSweep(clock_.Now(), fx);
    tasks_.reserve(tasks_.size() + stored->tasks.size());
    for (TaskRecord& r : stored->tasks) Adopt(std::move(r), fx, /*counted=*/false);
    // The node tasks that name each workflow, to check the workflow against them (a pass
    // over every task, so only when there are workflows).
    absl::flat_hash_map<absl::string_view, std::vector<const TaskRecord*>> claimed;
    if (!stored->workflows.empty()) {
      for (const auto& [id, task] : tasks_) {
        if (!task.workflow_id.empty()) claimed[task.workflow_id].push_back(&task);
      }
    }
    const std::vector<const TaskRecord*> none;
    for (WorkflowRecord& r : stored->workflows) {
      auto named = claimed.find(r.id);
      if (std::string defect =
              WorkflowDefect(r, named == claimed.end() ? none : named->second, tasks_);
          !defect.empty()) {
        // Its node tasks stay, as tasks of no running workflow.
        spdlog::error("store: skipping workflow {}: {}", r.id, defect);
        continue;
      }
      if (!r.idempotency_key.empty()) {
        SubmittedWorkflow ids{r.id, {}, false};
        for (const WorkflowNodeRecord& node : r.nodes) ids.task_ids.push_back(node.task_id);
        workflow_by_key_.insert_or_assign(r.idempotency_key, std::move(ids));
      }
      LiveWorkflow wf;
      wf.downstream = Downstream(r.nodes);
      wf.record = std::move(r);
      const std::string id = wf.record.id;
      workflows_.emplace(id, std::move(wf));
    }
    for (auto& [id, wf] : workflows_) ReconcileWorkflow(wf, fx);
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  Deliver();
  spdlog::info("recovered {} tasks and {} workflows in flight from {}", n_tasks, n_workflows,
               store_.Describe());
  return absl::OkStatus();
}

TaskRecord SchedulerCore::NewTask(uint64_t seq, TaskSpec spec, absl::Time now,
                                  bool has_upstream) const {
  TaskRecord r;
  r.seq = seq;
  r.id = NewTaskId(seq);
  r.version = 1;
  spec.retry = WithDefaults(spec.retry, options_.default_retry);
  if (spec.countdown > absl::ZeroDuration()) {
    spec.not_before = now + spec.countdown;
    spec.countdown = absl::ZeroDuration();
  }
  if (spec.expires_after > absl::ZeroDuration()) r.expires_at = now + spec.expires_after;
  r.created_at = now;
  if (has_upstream) {
    r.state = TaskState::kPending;
  } else if (spec.not_before > now) {
    r.state = TaskState::kScheduled;
    r.scheduled_for = spec.not_before;
  } else {
    r.state = TaskState::kQueued;
    r.queued_at = now;
  }
  r.spec = std::make_shared<const TaskSpec>(std::move(spec));
  return r;
}

void SchedulerCore::Adopt(TaskRecord&& record, Effects& fx, bool counted) {
  // Stored records come from disk: one that breaks the record's rules is reported and
  // repaired or skipped, never trusted.
  if (record.id.empty() || record.spec == nullptr) {
    spdlog::error("store: skipping a task record without an id or spec (seq {})", record.seq);
    return;
  }
  if (record.state == TaskState::kRunning && record.attempts.empty()) {
    spdlog::error("store: task {} is RUNNING with no attempt; queuing it again", record.id);
    record.state = TaskState::kQueued;
    record.queued_at = clock_.Now();
  }
  const std::string id = record.id;
  auto [it, inserted] = tasks_.try_emplace(id, std::move(record));
  if (!inserted) return;
  TaskRecord& task = it->second;
  by_seq_.emplace(task.seq, &task);
  if (!task.spec->idempotency_key.empty()) by_idempotency_key_[task.spec->idempotency_key] = id;
  metrics_.TasksInStateChanged(task.state, 1);
  const StateRoles roles = RolesOf(task.state);
  if (roles.waiting && !counted) admission_.Count(task.spec->queue, +1);
  if (roles.ready) {
    ready_.Push(&task);
    metrics_.QueueDepthChanged(task.spec->queue, 1);
  }
  if (roles.running) metrics_.RunningChanged(1);
  if (roles.waiting && task.expires_at != absl::InfiniteFuture()) {
    AddTimer(task.expires_at, Timer{TimerKind::kExpire, id}, fx);
  }
  switch (task.state) {
    case TaskState::kScheduled:
      AddTimer(task.scheduled_for, Timer{TimerKind::kRelease, id}, fx);
      break;
    case TaskState::kRunning: {
      // Recovered: the attempt's executor may reconnect and claim it within one lease.
      const uint32_t attempt = task.attempts.back().number;
      orphaned_[id] = attempt;
      AddTimer(clock_.Now() + options_.executor_timeout, Timer{TimerKind::kLease, id, attempt},
               fx);
      break;
    }
    default:
      break;
  }
}

absl::Status SchedulerCore::KeyInCommitError(absl::string_view what, absl::string_view key) {
  return absl::UnavailableError(absl::StrCat("a submit of a ", what, " with idempotency key ",
                                             Quote(key), " is still being stored; retry"));
}

absl::StatusOr<std::vector<std::string>> SchedulerCore::Submit(std::vector<TaskSpec> specs,
                                                               SubmitPath path,
                                                               std::vector<bool>* existing) {
  absl::Notification answered;
  absl::StatusOr<Submitted> answer;
  SubmitAsync(std::move(specs), path, [&](absl::StatusOr<Submitted> a) {
    answer = std::move(a);
    answered.Notify();
  });
  answered.WaitForNotification();
  if (!answer.ok()) return answer.status();
  if (existing != nullptr) *existing = std::move(answer->existing);
  return std::move(answer->ids);
}

void SchedulerCore::SubmitAsync(std::vector<TaskSpec> specs, SubmitPath path,
                                SubmitCallback done) {
  Submitted answer;
  PendingSubmit submit;
  std::vector<std::string> claimed;
  if (absl::Status s = PrepareSubmit(specs, path, answer, submit.batch.tasks, claimed); !s.ok()) {
    done(std::move(s));
    return;
  }
  if (submit.batch.tasks.empty()) {  // every key was known: nothing to store
    done(std::move(answer));
    return;
  }
  submit.finish = [this, claimed = std::move(claimed), answer = std::move(answer),
                   done = std::move(done)](StoreBatch& stored, const absl::Status& commit) {
    absl::Status s = FinishSubmit(stored.tasks, claimed, commit);
    if (s.ok()) {
      done(answer);
    } else {
      done(std::move(s));
    }
  };
  QueueSubmit(std::move(submit));
}

absl::Status SchedulerCore::PrepareSubmit(std::vector<TaskSpec>& specs, SubmitPath path,
                                          Submitted& answer, std::vector<TaskRecord>& tasks,
                                          std::vector<std::string>& claimed) {
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
    specs[i].idempotency_key = OwnedKey(specs[i].owner, specs[i].idempotency_key);
  }

  const absl::Time now = clock_.Now();
  std::vector<std::string>& ids = answer.ids;
  ids.resize(specs.size());
  std::vector<uint64_t> seqs(specs.size());
  std::vector<bool>& found = answer.existing;
  found.assign(specs.size(), false);
  std::vector<size_t> fresh;  // indices of specs that become new tasks
  std::vector<const TaskSpec*> fresh_specs;
  // A key repeated within the batch: the later spec gets the earlier one's task.
  absl::flat_hash_map<absl::string_view, size_t> batch_keys;
  std::vector<std::pair<size_t, size_t>> repeats;
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < specs.size(); ++i) {
      const std::string& key = specs[i].idempotency_key;
      if (!key.empty()) {
        if (task_keys_in_commit_.contains(key)) return KeyInCommitError("task", key);
        absl::StatusOr<std::optional<std::string>> holder = TaskWithKey(key);
        if (!holder.ok()) return holder.status();
        if (holder->has_value()) {
          ids[i] = std::move(**holder);
          found[i] = true;
          continue;
        }
        if (auto [it, first] = batch_keys.try_emplace(key, i); !first) {
          repeats.emplace_back(i, it->second);
          found[i] = true;
          continue;
        }
      }
      fresh.push_back(i);
      fresh_specs.push_back(&specs[i]);
    }
    if (!fresh.empty()) {
      if (absl::Status s = admission_.Reserve(fresh_specs); !s.ok()) return s;
      for (size_t i : fresh) {
        seqs[i] = next_seq_++;
        ids[i] = NewTaskId(seqs[i]);
        // Claimed now, so that a concurrent submit with the same key gets this id.
        const std::string& key = specs[i].idempotency_key;
        if (!key.empty()) {
          by_idempotency_key_[key] = ids[i];
          task_keys_in_commit_.insert(key);
          claimed.push_back(key);
        }
      }
      for (auto [i, first] : repeats) ids[i] = ids[first];
    }
  }
  tasks.reserve(fresh.size());
  for (size_t i : fresh) {
    tasks.push_back(NewTask(seqs[i], std::move(specs[i]), now, /*has_upstream=*/false));
  }
  return absl::OkStatus();
}

absl::Status SchedulerCore::FinishSubmit(std::vector<TaskRecord>& tasks,
                                         const std::vector<std::string>& claimed,
                                         const absl::Status& commit) {
  absl::MutexLock lock(&mu_);
  if (!commit.ok()) {
    ReleaseSubmitted(tasks);
    for (const std::string& key : claimed) {
      by_idempotency_key_.erase(key);
      task_keys_in_commit_.erase(key);
    }
    return absl::UnavailableError(absl::StrCat("storing the tasks failed: ", commit.message()));
  }
  Effects fx;
  for (const std::string& key : claimed) task_keys_in_commit_.erase(key);
  AdoptSubmitted(tasks, fx);
  Dispatch(fx);
  pending_.push_back(std::move(fx));
  return absl::OkStatus();
}

void SchedulerCore::ReleaseSubmitted(const std::vector<TaskRecord>& tasks) {
  std::vector<const TaskSpec*> specs;
  specs.reserve(tasks.size());
  for (const TaskRecord& r : tasks) specs.push_back(r.spec.get());
  admission_.Release(specs);
}

void SchedulerCore::AdoptSubmitted(std::vector<TaskRecord>& tasks, Effects& fx) {
  for (TaskRecord& r : tasks) {
    const std::string id = r.id;
    metrics_.TaskSubmitted(r.spec->queue, r.spec->type);
    Adopt(std::move(r), fx, /*counted=*/true);
    if (events_.HasSubscribers()) fx.events.tasks.push_back(EventOf(tasks_.at(id), {}));
  }
  // The store works again: what a failed commit held back goes out with these tasks.
  commit_retry_at_ = absl::InfinitePast();
}

TaskEvent SchedulerCore::EventOf(const TaskRecord& task, std::string executor_id) const {
  TaskEvent e{task.id, task.spec->type, task.spec->queue, task.state,
              task.attempts.empty() ? 0 : task.attempts.back().number,
              std::move(executor_id), clock_.Now(), task.error, {}, {}, task.spec->owner};
  if (!task.workflow_id.empty()) {
    e.workflow_id = task.workflow_id;
    if (auto it = workflows_.find(task.workflow_id); it != workflows_.end()) {
      e.node = it->second.record.nodes[task.node_index].name;
    }
  }
  return e;
}

// Records a change of `task`: new version, a store write and an event for watchers.
void SchedulerCore::Changed(TaskRecord& task, Effects& fx, std::string executor_id) {
  ++task.version;
  fx.saves.tasks.push_back(task);
  if (events_.HasSubscribers()) fx.events.tasks.push_back(EventOf(task, std::move(executor_id)));
}

void SchedulerCore::SetState(TaskRecord& task, TaskState state) {
  if (!CanMove(task.state, state)) {
    spdlog::error("bug: task {} moved from {} to {}, which its lifecycle does not allow",
                  task.id, TaskStateName(task.state), TaskStateName(state));
    assert(false);
  }
  const StateRoles was = RolesOf(task.state);
  const StateRoles is = RolesOf(state);
  const std::string& queue = task.spec->queue;
  metrics_.TasksInStateChanged(task.state, -1);
  metrics_.TasksInStateChanged(state, 1);
  task.state = state;
  if (was.waiting != is.waiting) admission_.Count(queue, is.waiting ? +1 : -1);
  if (was.ready != is.ready) {
    if (is.ready) {
      ready_.Push(&task);
    } else {
      ready_.Remove(task);
    }
    metrics_.QueueDepthChanged(queue, is.ready ? 1 : -1);
  }
  if (was.running != is.running) metrics_.RunningChanged(is.running ? 1 : -1);
}

void SchedulerCore::Enqueue(TaskRecord& task, Effects& fx) {
  task.queued_at = clock_.Now();
  task.scheduled_for = absl::InfinitePast();
  SetState(task, TaskState::kQueued);
  Changed(task, fx);
}

void SchedulerCore::Release(TaskRecord& task, absl::Time at, Effects& fx) {
  if (at <= clock_.Now()) {
    Enqueue(task, fx);
    return;
  }
  SetState(task, TaskState::kScheduled);
  task.scheduled_for = at;
  // The timer fires at the stored time, which has whole nanoseconds (a jittered backoff
  // has finer ones): so the task is due exactly when its record says.
  AddTimer(task.scheduled_for, Timer{TimerKind::kRelease, task.id}, fx);
  Changed(task, fx);
}

void SchedulerCore::Expire(TaskRecord& task, Effects& fx) {
  task.error = absl::StrCat("not started within ", absl::FormatDuration(task.spec->expires_after),
                            " of its submission (expires_after)");
  Finish(task, TaskState::kExpired, fx);
}

void SchedulerCore::Dispatch(Effects& fx) {
  if (ready_.size() == 0 || executors_.empty()) return;
  const absl::Time now = clock_.Now();
  // Round-robin, one task per executor and credit window per round, so that work spreads
  // across executors.
  const size_t n = executors_.size();
  bool progress = true;
  while (progress && ready_.size() > 0) {
    progress = false;
    for (size_t i = 0; i < n; ++i) {
      ConnectedExecutor& e = executors_.InTurn(i);
      if (e.draining) continue;
      for (const SlotPool& pool : e.pools) {
        if (pool.free() == 0) continue;
        TaskRecord* task = ready_.Best(pool.lanes);
        if (task == nullptr) continue;
        progress = true;  // the task leaves its lane as it leaves QUEUED
        if (task->expires_at <= now) {
          Expire(*task, fx);
          continue;
        }
        Assign(*task, e, fx);
      }
    }
  }
  executors_.NextTurn();
}

void SchedulerCore::Assign(TaskRecord& task, ConnectedExecutor& executor, Effects& fx) {
  const absl::Time now = clock_.Now();
  const uint32_t number = task.attempts.empty() ? 1 : task.attempts.back().number + 1;
  AttemptRecord attempt;
  attempt.number = number;
  attempt.executor_id = executor.hello.executor_id;
  attempt.assigned_at = now;
  task.attempts.push_back(std::move(attempt));
  SetState(task, TaskState::kRunning);
  executors_.Take(executor, AttemptRef{task.id, number}, task.spec->type);
  metrics_.TaskStarted(task.spec->queue, task.spec->type,
                        absl::ToDoubleSeconds(now - task.queued_at));
  if (task.spec->timeout > absl::ZeroDuration()) {
    // The executor stops the attempt at its timeout; if no answer comes within one more
    // lease, the scheduler ends the attempt itself.
    AddTimer(now + task.spec->timeout + options_.executor_timeout,
             Timer{TimerKind::kRunDeadline, task.id, number}, fx);
  }
  fx.OutboxFor(executor.channel)
      .assignments.push_back(AssignmentOut{task.id, number, task.spec, UpstreamResults(task)});
  Changed(task, fx, executor.hello.executor_id);
}

void SchedulerCore::FinishAttempt(TaskRecord& task, AttemptOutcome outcome, std::string error) {
  if (task.attempts.empty() || task.attempts.back().outcome != AttemptOutcome::kRunning) return;
  AttemptRecord& a = task.attempts.back();
  a.outcome = outcome;
  a.error = std::move(error);
  a.finished_at = clock_.Now();
  if (outcome == AttemptOutcome::kLost) metrics_.AttemptLost();
}

void SchedulerCore::Finish(TaskRecord& task, TaskState state, Effects& fx, bool notify_workflow) {
  SetState(task, state);
  const absl::Time now = clock_.Now();
  task.finished_at = now;
  task.scheduled_for = absl::InfinitePast();
  const absl::Duration own_retention = task.spec->retention;
  const absl::Duration retention =
      own_retention > absl::ZeroDuration() ? own_retention : options_.retention;
  task.retain_until = now + retention;
  if (task.workflow_id.empty()) ScheduleSweep(now + retention, fx);
  metrics_.TaskFinished(task.spec->queue, task.spec->type, state,
                        absl::ToDoubleSeconds(now - task.created_at));
  Changed(task, fx, task.attempts.empty() ? std::string() : task.attempts.back().executor_id);
  if (std::vector<WaitCallback> woken = waiters_.Take(task.id); !woken.empty()) {
    const TaskView view = ViewOfTask(task);
    for (WaitCallback& callback : woken) fx.wakeups.emplace_back(std::move(callback), view);
  }
  if (notify_workflow && !task.workflow_id.empty()) NodeFinished(task, fx);
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

void SchedulerCore::RetryOrFail(TaskRecord& task, std::string error, bool retryable,
                                Effects& fx) {
  const RetryPolicy& policy = task.spec->retry;
  const auto failed = static_cast<uint32_t>(
      std::count_if(task.attempts.begin(), task.attempts.end(), [](const auto& a) {
        return a.outcome == AttemptOutcome::kFailed || a.outcome == AttemptOutcome::kTimedOut;
      }));
  if (!retryable || failed >= policy.max_attempts) {
    if (!retryable) {
      task.error = absl::StrCat(error, " (not retryable)");
    } else if (failed > 1) {
      task.error = absl::StrCat(error, " (failed ", failed, " attempts)");
    } else {
      task.error = std::move(error);
    }
    Finish(task, TaskState::kFailed, fx);
    return;
  }
  metrics_.TaskRetried(task.spec->queue, task.spec->type);
  const absl::Duration wait = BackoffFor(policy, failed, absl::Uniform(rng_, 0.0, 1.0));
  Release(task, clock_.Now() + wait, fx);
}

namespace {

absl::Status TaskNotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("task ", Quote(id), " not found"));
}

}  // namespace

absl::StatusOr<TaskView> SchedulerCore::GetTask(absl::string_view id) const {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = tasks_.find(id); it != tasks_.end()) return ViewOfTask(it->second);
    if (const TaskRecord* recent = FindRecent(id)) return TaskView{*recent, {}, {}};
  }
  absl::StatusOr<std::optional<TaskView>> stored = FindStoredTask(id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return TaskNotFound(id);
  return std::move(**stored);
}

// Not in memory, so finished (or unknown): the store has its last version.
absl::StatusOr<std::optional<TaskView>> SchedulerCore::FindStoredTask(absl::string_view id) const {
  absl::StatusOr<std::optional<TaskRecord>> record = store_.FindTask(id);
  if (!record.ok()) {
    return absl::UnavailableError(
        absl::StrCat("reading task ", Quote(id), " from the store failed: ",
                     record.status().message()));
  }
  if (!record->has_value()) return std::nullopt;
  TaskView view{std::move(**record), {}, {}};
  if (!view.record.workflow_id.empty()) {
    absl::StatusOr<std::optional<WorkflowRecord>> wf = store_.FindWorkflow(view.record.workflow_id);
    if (wf.ok() && wf->has_value() && view.record.node_index < (*wf)->nodes.size()) {
      view.node = (*wf)->nodes[view.record.node_index].name;
    }
  }
  return view;
}

const TaskRecord* SchedulerCore::FindRecent(absl::string_view id) const {
  auto it = recent_.find(id);
  // Past its retention the store may have deleted it: not found, as the store would say.
  if (it == recent_.end() || it->second.retain_until <= clock_.Now()) return nullptr;
  return &it->second;
}

absl::StatusOr<std::optional<std::string>> SchedulerCore::TaskWithKey(const std::string& key) {
  if (auto it = by_idempotency_key_.find(key); it != by_idempotency_key_.end()) {
    return it->second;
  }
  // A task leaves memory only once stored, and is stored before its key leaves
  // task_keys_in_commit_: so a key held by any task is in one of the two places.
  absl::StatusOr<std::optional<std::string>> stored = store_.FindTaskIdByKey(key);
  if (!stored.ok()) {
    return absl::UnavailableError(absl::StrCat("looking up idempotency key ", Quote(key),
                                               " in the store failed: ",
                                               stored.status().message()));
  }
  return stored;
}

size_t SchedulerCore::tasks_in_memory() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

TaskView SchedulerCore::ViewOfTask(const TaskRecord& task) const {
  TaskView view{task, WaitingReason(task), {}};
  if (!task.workflow_id.empty()) {
    if (auto wf = workflows_.find(task.workflow_id); wf != workflows_.end()) {
      view.node = wf->second.record.nodes[task.node_index].name;
    }
  }
  return view;
}

std::string SchedulerCore::WaitingReason(const TaskRecord& task) const {
  if (task.state != TaskState::kQueued) return {};
  const LaneKey lane{task.spec->queue, task.spec->type};
  size_t serving = 0;
  size_t draining = 0;
  for (const auto& e : executors_.all()) {
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
  const size_t open = serving - draining;
  const size_t queued = ready_.LaneSize(lane);
  return absl::StrCat("waiting for a free slot on ",
                      open == 1 ? "the one executor" : absl::StrCat("one of ", open, " executors"),
                      " serving '", task.spec->type, "'; ", queued,
                      queued == 1 ? " task" : " tasks", " queued in this lane");
}

absl::StatusOr<TaskState> SchedulerCore::CancelTask(absl::string_view id) {
  Effects fx;
  std::optional<TaskState> result;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = tasks_.find(id); it != tasks_.end()) {
      TaskRecord& task = it->second;
      if (!IsTerminal(task.state)) CancelLocked(task, "cancelled by a client", fx);
      result = task.state;
      Dispatch(fx);
      pending_.push_back(std::move(fx));
    } else if (const TaskRecord* recent = FindRecent(id)) {
      return recent->state;
    }
  }
  if (!result) {  // finished (or unknown): nothing to cancel
    absl::StatusOr<std::optional<TaskView>> stored = FindStoredTask(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return TaskNotFound(id);
    return (*stored)->record.state;
  }
  Deliver();
  return *result;
}

void SchedulerCore::TellExecutorToCancel(const std::string& task_id, uint32_t attempt,
                                         Effects& fx) {
  for (const auto& e : executors_.all()) {
    if (e->outstanding.contains(AttemptRef{task_id, attempt})) {
      fx.OutboxFor(e->channel).cancels.push_back(AttemptRef{task_id, attempt});
    }
  }
}

void SchedulerCore::CancelLocked(TaskRecord& task, std::string reason, Effects& fx,
                                 bool notify_workflow) {
  if (task.state == TaskState::kRunning) {
    // The attempt keeps its executor slot until the executor answers the Cancel.
    TellExecutorToCancel(task.id, task.attempts.back().number, fx);
    orphaned_.erase(task.id);
    FinishAttempt(task, AttemptOutcome::kCancelled, reason);
  }
  task.error = std::move(reason);
  Finish(task, TaskState::kCancelled, fx, notify_workflow);
}

absl::StatusOr<TaskPage> SchedulerCore::ListTasks(const TaskListQuery& query) const {
  int32_t page_size = query.page_size == 0 ? options_.default_page_size : query.page_size;
  if (page_size < 0 || page_size > options_.max_page_size) {
    return absl::InvalidArgumentError(absl::StrCat("page_size ", query.page_size,
                                                   " is outside [1, ", options_.max_page_size,
                                                   "]"));
  }
  const bool newest = query.newest_first;
  std::optional<uint64_t> token;
  if (!query.page_token.empty()) {
    absl::StatusOr<uint64_t> seq = DecodePageToken(query.page_token, newest);
    if (!seq.ok()) return seq.status();
    token = *seq;
  }
  // One call looks at the seqs [begin, end), at most max_list_scan of them: from the token
  // up (oldest first), or from below the token down (newest first). In that range, the
  // tasks in memory and the finished ones in the store; a task in both (finished, not yet
  // evicted) is listed once.
  const size_t wanted = static_cast<size_t>(page_size) + 1;  // one more: is there a next page?
  const uint64_t scan = options_.max_list_scan;
  auto matches = [&](const TaskRecord& t) {
    return (!query.state || t.state == *query.state) &&
           (query.queue.empty() || t.spec->queue == query.queue) &&
           (query.type.empty() || t.spec->type == query.type) &&
           (query.owner.empty() || t.spec->owner == query.owner);
  };
  std::vector<TaskRecord> live;
  uint64_t begin, end, next_seq;
  {
    absl::MutexLock lock(&mu_);
    next_seq = next_seq_;
    if (newest) {
      end = token.value_or(next_seq);
      begin = end - std::min(scan, end);
      for (auto it = std::make_reverse_iterator(by_seq_.lower_bound(end));
           it != by_seq_.rend() && it->first >= begin && live.size() < wanted; ++it) {
        if (matches(*it->second)) live.push_back(*it->second);
      }
    } else {
      begin = token.value_or(0);
      end = begin + std::min<uint64_t>(scan, std::numeric_limits<uint64_t>::max() - begin);
      for (auto it = by_seq_.lower_bound(begin);
           it != by_seq_.end() && it->first < end && live.size() < wanted; ++it) {
        if (matches(*it->second)) live.push_back(*it->second);
      }
    }
  }
  std::vector<TaskRecord> finished;
  if (!query.state || IsTerminal(*query.state)) {
    absl::StatusOr<std::vector<TaskRecord>> stored = store_.ListFinishedTasks(FinishedTaskQuery{
        begin, end, query.state, query.queue, query.type, query.owner, wanted, newest});
    if (!stored.ok()) {
      return absl::UnavailableError(
          absl::StrCat("listing finished tasks from the store failed: ", stored.status().message()));
    }
    finished = std::move(*stored);
  }
  // Merges the two lists, each in the listing's order.
  auto before = [newest](uint64_t x, uint64_t y) { return newest ? x > y : x < y; };
  TaskPage page;
  page.tasks.reserve(std::min(wanted, live.size() + finished.size()));
  size_t a = 0;
  size_t b = 0;
  while (page.tasks.size() < wanted && (a < live.size() || b < finished.size())) {
    if (b == finished.size() || (a < live.size() && !before(finished[b].seq, live[a].seq))) {
      if (b < finished.size() && live[a].seq == finished[b].seq) ++b;  // memory wins
      page.tasks.push_back(std::move(live[a++]));
    } else {
      page.tasks.push_back(std::move(finished[b++]));
    }
  }
  if (page.tasks.size() == wanted) {
    // The extra task starts the next page: from it (oldest first), or below it plus one.
    const uint64_t seq = page.tasks.back().seq;
    page.next_page_token = EncodePageToken(newest ? seq + 1 : seq, newest);
    page.tasks.pop_back();
  } else if (newest ? begin > 0 : end < next_seq) {
    page.next_page_token = EncodePageToken(newest ? begin : end, newest);
  }
  return page;
}

std::vector<ExecutorView> SchedulerCore::ListExecutors() const {
  absl::MutexLock lock(&mu_);
  std::vector<ExecutorView> out;
  for (const auto& e : executors_.all()) {
    ExecutorView view{e->hello, static_cast<uint32_t>(e->outstanding.size()),
                      e->draining, e->connected_at, e->last_seen, {}};
    if (!e->hello.mode_slots.empty()) {
      for (const SlotPool& pool : e->pools) view.mode_slots_used.push_back(pool.used);
    }
    out.push_back(std::move(view));
  }
  return out;
}

absl::StatusOr<uint64_t> SchedulerCore::AddWaiter(absl::string_view id, WaitCallback done) {
  std::optional<TaskView> finished;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = tasks_.find(id); it != tasks_.end()) {
      // A standalone task that ended and is still here is not stored yet (EvictFinished
      // takes it out once it is): its waiter hears when it is, so a result it hears
      // survives a crash.
      if (!IsTerminal(it->second.state) || IsFinishedStandalone(it->second)) {
        return waiters_.Add(id, std::move(done));
      }
      finished = ViewOfTask(it->second);
    } else if (const TaskRecord* recent = FindRecent(id)) {
      finished = TaskView{*recent, {}, {}};
    }
  }
  if (!finished) {
    absl::StatusOr<std::optional<TaskView>> stored = FindStoredTask(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return TaskNotFound(id);
    finished = std::move(*stored);
  }
  done(*finished);
  return 0;
}

bool SchedulerCore::RemoveWaiter(absl::string_view id, uint64_t token) {
  absl::MutexLock lock(&mu_);
  return waiters_.Remove(id, token);
}

absl::StatusOr<ExecutorSession> SchedulerCore::ConnectExecutor(
    ExecutorHello hello, std::shared_ptr<ExecutorChannel> channel) {
  if (hello.task_types.empty()) {
    return absl::InvalidArgumentError("hello.task_types is empty: the executor serves nothing");
  }
  if (absl::Status s = CheckModeSlots(hello); !s.ok()) return s;
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
    if (hello.executor_id.empty()) hello.executor_id = executors_.UnusedId();
    if (absl::Status s = ReplaceOrRefuse(hello, fx); !s.ok()) return s;
    SettleOrphans(hello, fx);
    ConnectedExecutor& e = executors_.Add(std::move(hello), std::move(channel), clock_.Now());
    session = ExecutorSession{e.hello.executor_id, e.session_id};
    spdlog::info("executor {} connected from {}: {} slots, {} task types, queues [{}]",
                 session.executor_id, e.hello.peer, e.hello.slots, e.hello.task_types.size(),
                 absl::StrJoin(e.hello.queues, ","));
    ClaimRunning(e, fx);
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  Deliver();
  return session;
}

// One executor id is one live process. The same process (same incarnation) dialling again
// replaces its old session at once (the old stream may be half-open); what its Hello does
// not list is settled as lost right away. Another process with the id is refused.
absl::Status SchedulerCore::ReplaceOrRefuse(const ExecutorHello& hello, Effects& fx) {
  ConnectedExecutor* old = executors_.Find(hello.executor_id);
  if (old == nullptr) return absl::OkStatus();
  ConnectedExecutor& e = *old;
  // An executor too old to send an incarnation is taken to be the same process, as before.
  const bool same_process = hello.incarnation.empty() || e.hello.incarnation.empty() ||
                            e.hello.incarnation == hello.incarnation;
  if (!same_process) {
    spdlog::warn("executor id {} refused to a second process from {}: it is connected from {} "
                 "(incarnations {} and {})",
                 hello.executor_id, hello.peer, e.hello.peer, e.hello.incarnation,
                 hello.incarnation);
    return absl::AlreadyExistsError(absl::StrCat(
        "executor id ", Quote(hello.executor_id), " is already connected from ", e.hello.peer,
        " (another process uses this id); give each executor its own --id"));
  }
  // Listed attempts move over to the new session instead of being lost.
  for (const std::vector<AttemptRef>* listed : {&hello.running, &hello.unreported}) {
    for (const AttemptRef& ref : *listed) {
      executors_.Free(e, ref);
    }
  }
  fx.closes.emplace_back(e.channel, absl::AbortedError("replaced by a newer connection"));
  RemoveExecutor(hello.executor_id, "reconnected without it", fx);
  return absl::OkStatus();
}

// Attempts recovered from the store (the scheduler restarted) wait one lease for their
// executor. When it says Hello without listing one, it no longer runs it (its result was
// lost with the old scheduler): lost now, not a lease later.
void SchedulerCore::SettleOrphans(const ExecutorHello& hello, Effects& fx) {
  absl::flat_hash_set<AttemptRef> listed(hello.running.begin(), hello.running.end());
  listed.insert(hello.unreported.begin(), hello.unreported.end());
  std::vector<std::string> settled;
  for (const auto& [task_id, attempt] : orphaned_) {
    const TaskRecord& task = tasks_.at(task_id);
    if (task.attempts.back().executor_id == hello.executor_id &&
        !listed.contains(AttemptRef{task_id, attempt})) {
      settled.push_back(task_id);
    }
  }
  for (const std::string& task_id : settled) {
    orphaned_.erase(task_id);
    TaskRecord& task = tasks_.at(task_id);
    LoseAttempt(task, absl::StrCat("executor ", hello.executor_id,
                                   " reconnected after the scheduler's restart without it"),
                fx);
  }
  if (!settled.empty()) {
    spdlog::info("executor {} reconnected without {} attempts recovered from the store; "
                 "they run again", hello.executor_id, settled.size());
  }
}

// A reconnecting executor keeps the attempts that are still current; those it still runs
// but the core no longer counts on it (lost and requeued meanwhile, or cancelled) it is
// told to cancel. Either way each holds a slot until its result arrives.
void SchedulerCore::ClaimRunning(ConnectedExecutor& e, Effects& fx) {
  size_t kept = 0;
  size_t cancelled = 0;
  auto claim = [&](const AttemptRef& ref, bool still_running) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = tasks_.find(ref.task_id);
    if (!executors_.Take(e, ref, it == tasks_.end() ? "" : it->second.spec->type)) return;
    const bool current = it != tasks_.end() && it->second.state == TaskState::kRunning &&
                         it->second.attempts.back().number == ref.attempt &&
                         it->second.attempts.back().executor_id == e.hello.executor_id;
    if (current) {
      orphaned_.erase(ref.task_id);
      ++kept;
    } else if (still_running) {
      fx.OutboxFor(e.channel).cancels.push_back(ref);
      ++cancelled;
    }
  };
  for (const AttemptRef& ref : e.hello.running) claim(ref, /*still_running=*/true);
  for (const AttemptRef& ref : e.hello.unreported) claim(ref, /*still_running=*/false);
  if (!e.hello.running.empty() || !e.hello.unreported.empty()) {
    spdlog::info("executor {} reconnected with {} running and {} unreported attempts: {} kept, "
                 "{} cancelled", e.hello.executor_id, e.hello.running.size(),
                 e.hello.unreported.size(), kept, cancelled);
  }
}

ConnectedExecutor* SchedulerCore::FindSession(const ExecutorSession& session) {
  ConnectedExecutor* e = executors_.FindSession(session.session_id);
  if (e != nullptr) e->last_seen = clock_.Now();
  return e;
}

void SchedulerCore::OnHeartbeat(const ExecutorSession& session) {
  absl::MutexLock lock(&mu_);
  FindSession(session);
}

void SchedulerCore::OnResults(const ExecutorSession& session, std::vector<AttemptResult> results) {
  Effects fx;
  {
    absl::MutexLock lock(&mu_);
    ConnectedExecutor* e = FindSession(session);
    if (e == nullptr) {  // a session already dropped: its attempts were requeued
      for (size_t i = 0; i < results.size(); ++i) metrics_.StaleResult();
      return;
    }
    for (AttemptResult& r : results) ApplyResult(*e, r, fx);
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  Deliver();
}

void SchedulerCore::ApplyResult(ConnectedExecutor& executor, AttemptResult& result,
                                Effects& fx) {
  if (!executors_.Free(executor, AttemptRef{result.task_id, result.attempt})) {
    metrics_.StaleResult();
    return;
  }

  auto it = tasks_.find(result.task_id);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  if (task.state != TaskState::kRunning || task.attempts.back().number != result.attempt) {
    return;  // cancelled meanwhile: the answer only frees the slot
  }
  metrics_.RunTime(task.spec->type, absl::ToDoubleSeconds(result.run_time));
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
      task.attempts.back().not_retryable = result.not_retryable;
      FinishAttempt(task, result.outcome, result.error);
      RetryOrFail(task, std::move(result.error), !result.not_retryable, fx);
      break;
  }
}

void SchedulerCore::OnDrain(const ExecutorSession& session) {
  absl::MutexLock lock(&mu_);
  if (ConnectedExecutor* e = FindSession(session)) {
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
    if (stopping_) {
      executors_.Remove(session.executor_id);
      return;
    }
    RemoveExecutor(session.executor_id, reason, fx);
    Dispatch(fx);
    pending_.push_back(std::move(fx));
  }
  Deliver();
}

void SchedulerCore::Stopping() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void SchedulerCore::RemoveExecutor(const std::string& id, absl::string_view reason, Effects& fx) {
  std::unique_ptr<ConnectedExecutor> e = executors_.Remove(id);
  if (e == nullptr) return;
  size_t requeued = 0;
  for (const auto& [ref, pool] : e->outstanding) {
    auto it = tasks_.find(ref.task_id);
    if (it == tasks_.end()) continue;
    TaskRecord& task = it->second;
    if (task.state != TaskState::kRunning || task.attempts.back().number != ref.attempt) {
      continue;
    }
    LoseAttempt(task, absl::StrCat("executor ", id, " ", reason), fx);
    if (task.state == TaskState::kQueued) ++requeued;
  }
  spdlog::info("executor {} disconnected ({}); {} running tasks requeued", id, reason, requeued);
}

}  // namespace taskwire::scheduler
