// The scheduler's brain, free of gRPC and of real time: accepts tasks and workflows, keeps
// them in priority lanes, pushes them to executors within each executor's credit (its free
// slots), tracks attempts and their leases, retries with backoff, releases ETA tasks and
// expires. It holds only the work in flight: a finished task, once stored, leaves memory
// and is read back from the store (which also runs retention). The gRPC adapters
// (scheduler/service/) translate wire messages to these calls; the server calls Tick()
// when the next timer is due.
//
// Source files: scheduler_core.cc (tasks, attempts, executors), scheduler_core_timers.cc
// (Tick: ETA, backoff, expiry, leases, retention), scheduler_core_workflows.cc (DAGs),
// scheduler_core_queue_load.cc (a queue's load, for autoscalers).
//
// Thread-safety: every public method may be called from any thread. One mutex guards the
// state; side effects (store writes, events, waiter callbacks, sends to executors) are
// collected under it and carried out after it is released, in that order: by the calling
// thread, or, once StartDeliveryThread() has run, by the core's own delivery thread, so
// that gRPC's callback threads never wait for the disk (SubmitAsync's commit included).
#ifndef TASKWIRE_SCHEDULER_CORE_SCHEDULER_CORE_H_
#define TASKWIRE_SCHEDULER_CORE_SCHEDULER_CORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/random/random.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "scheduler/core/admission.h"
#include "scheduler/core/core_metrics.h"
#include "scheduler/core/effects.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/executor_channel.h"
#include "scheduler/core/executor_registry.h"
#include "scheduler/core/queue_load.h"
#include "scheduler/core/ready_queues.h"
#include "scheduler/core/task_record.h"
#include "scheduler/core/task_validation.h"
#include "scheduler/core/waiter_registry.h"
#include "scheduler/core/workflow_graph.h"
#include "scheduler/core/task_store.h"

namespace taskwire::scheduler {

struct CoreOptions {
  TaskLimits limits;
  // An executor that sends nothing (not even a heartbeat) for this long is dropped and its
  // attempts return to the queue.
  absl::Duration executor_timeout = absl::Seconds(15);
  // What executors are told to use; well below executor_timeout.
  absl::Duration heartbeat_interval = absl::Seconds(3);
  // A task whose attempts were lost (executor gone) this many times fails: a task that
  // kills every executor it lands on must not loop forever.
  uint32_t max_lost_attempts = 5;
  // Retries of failed and timed-out attempts for tasks that set no policy of their own.
  RetryPolicy default_retry{.max_attempts = 1,
                            .initial_backoff = absl::Seconds(1),
                            .multiplier = 2,
                            .max_backoff = absl::Minutes(1),
                            .jitter = 0.2};
  // How long terminal tasks and workflows are kept, unless a task says otherwise.
  absl::Duration retention = absl::Hours(24);
  // Backpressure: Submit answers RESOURCE_EXHAUSTED past this many tasks waiting to run
  // (PENDING, SCHEDULED or QUEUED), in all and per queue (0: no per-queue limit).
  size_t max_waiting_tasks = 1'000'000;
  size_t max_waiting_per_queue = 0;
  int32_t default_page_size = 100;
  int32_t max_page_size = 1000;
  // ListTasks looks at most this many submissions (seqs) per call, so a filter that matches
  // little cannot hold the lock for long; the page may then be short, with a
  // next_page_token.
  size_t max_list_scan = 50'000;
  // Retention deletes finished tasks from the store in batches of this many, back to back
  // while more are due.
  size_t retention_batch = 5'000;
  // The most recently finished tasks kept in memory after they are stored, so that the
  // WaitTask or GetTask that usually follows a result does not read the store.
  size_t recent_results = 10'000;
};

// Identifies one connection of an executor; a reconnect is a new session.
struct ExecutorSession {
  std::string executor_id;
  uint64_t session_id = 0;
};

struct AttemptResult {
  std::string task_id;
  uint32_t attempt = 0;
  AttemptOutcome outcome = AttemptOutcome::kSucceeded;
  std::string output;
  std::string error;
  absl::Duration run_time = absl::ZeroDuration();
  std::optional<int32_t> exit_code;  // process tasks
  int32_t term_signal = 0;
  bool not_retryable = false;  // the handler said a retry cannot help
};

struct SubmittedWorkflow {
  std::string workflow_id;
  std::vector<std::string> task_ids;  // in node order
  bool existing = false;  // its idempotency key was known: the first workflow's ids
};

struct TaskListQuery {
  std::optional<TaskState> state;
  std::string queue;
  std::string type;
  std::string owner = {};  // empty: any
  int32_t page_size = 0;  // 0: default
  std::string page_token;
  bool newest_first = false;
};

struct TaskPage {
  std::vector<TaskRecord> tasks;  // the spec's payload and the output are shared, not copied
  std::string next_page_token;
};

struct ExecutorView {
  ExecutorHello hello;  // as announced, with the id the core uses
  uint32_t slots_used = 0;
  bool draining = false;
  absl::Time connected_at;
  absl::Time last_seen;
  // Slots taken in each of hello.mode_slots, in its order; empty without mode slots.
  std::vector<uint32_t> mode_slots_used = {};
};

class SchedulerCore {
 public:
  using WaitCallback = Effects::WaitCallback;
  using WorkflowWaitCallback = Effects::WorkflowWaitCallback;

  // `metrics` may be null: nothing is reported.
  SchedulerCore(const Clock& clock, TaskStore& store, EventHub& events, CoreMetrics* metrics,
                CoreOptions options);
  ~SchedulerCore();
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  // Loads the work in flight from the store (finished tasks stay there). Waiting tasks wait
  // again; RUNNING ones keep their attempt for one lease (executor_timeout): an executor
  // that reconnects with it keeps running it, otherwise the attempt is lost and retried.
  absl::Status Recover();

  // Runs what is due: ETA and backoff releases, expiry, attempt deadlines, leases of
  // recovered attempts, retention, silent executors. Returns when it next has work.
  absl::Time Tick();
  // Called (without the lock) when a timer earlier than the last Tick's answer is added,
  // so the server's timer thread can wake up sooner. Set before serving.
  void SetTimerListener(std::function<void(absl::Time)> listener);

  // From now on one thread of the core's own commits each round's changes (group commit:
  // what piles up meanwhile goes in the next commit) and then delivers the round's events,
  // waiter callbacks and sends, in order; callers return once their changes are queued.
  // A second one commits the new tasks of SubmitAsync.
  // Without it the calling thread does it (deterministic: the core's unit tests). Call
  // once, after SetTimerListener. Stop delivers what is pending, then joins; the
  // destructor stops it too.
  void StartDeliveryThread();
  void StopDeliveryThread();

  // --- client API ---
  // How errors name a spec: "task" (Submit of one) or "tasks[i]" (SubmitBatch).
  enum class SubmitPath { kOne, kBatch };
  // Validates all specs, stores them, then queues them; all or none. Ids in input order.
  // A spec whose idempotency key is already known gets the existing task's id, and
  // `existing` (if given) says which ids those are; UNAVAILABLE (nothing stored) while
  // the submit that claimed one of the keys is still committing, or when the commit
  // fails. RESOURCE_EXHAUSTED past the limits of waiting tasks, with nothing stored.
  // Waits for the commit; not to be called from a callback the core runs.
  absl::StatusOr<std::vector<std::string>> Submit(std::vector<TaskSpec> specs,
                                                  SubmitPath path = SubmitPath::kBatch,
                                                  std::vector<bool>* existing = nullptr);
  struct Submitted {
    std::vector<std::string> ids;  // in input order
    std::vector<bool> existing;    // per id: its idempotency key was known
  };
  using SubmitCallback = std::function<void(absl::StatusOr<Submitted>)>;
  // As Submit, without waiting: once StartDeliveryThread has run, the core's submit thread
  // stores the tasks (with every submit queued meanwhile, in one commit) and runs `done`
  // after the commit; without it, this thread does. `done` runs at once, on this thread,
  // when nothing needs storing or the request is refused. `done` must not block.
  void SubmitAsync(std::vector<TaskSpec> specs, SubmitPath path, SubmitCallback done);
  absl::StatusOr<TaskView> GetTask(absl::string_view id) const;
  // The state after the cancel. Cancelling a terminal task is not an error: it reports the
  // state it already has.
  absl::StatusOr<TaskState> CancelTask(absl::string_view id);
  absl::StatusOr<TaskPage> ListTasks(const TaskListQuery& query) const;
  std::vector<ExecutorView> ListExecutors() const;

  // Calls `done` once when the task is terminal: at once, on this thread, if it already
  // is. Returns a token for RemoveWaiter (0 when `done` already ran).
  absl::StatusOr<uint64_t> AddWaiter(absl::string_view id, WaitCallback done);
  // False if the waiter already fired (or is firing).
  bool RemoveWaiter(absl::string_view id, uint64_t token);

  // --- workflows ---
  // Validates the graph and every node's spec, stores the workflow and all its nodes, then
  // starts the nodes with no upstream; all or none. A spec whose idempotency key is known
  // gets the first workflow's ids (`existing` set) and creates nothing; UNAVAILABLE while
  // the first submit with that key is still committing.
  absl::StatusOr<SubmittedWorkflow> SubmitWorkflow(WorkflowSpec spec);
  // As SubmitWorkflow, answering through `done` as SubmitAsync does.
  using WorkflowSubmitCallback = std::function<void(absl::StatusOr<SubmittedWorkflow>)>;
  void SubmitWorkflowAsync(WorkflowSpec spec, WorkflowSubmitCallback done);
  absl::StatusOr<WorkflowView> GetWorkflow(absl::string_view id) const;
  // Cancels every unfinished node; the state after the cancel.
  absl::StatusOr<WorkflowState> CancelWorkflow(absl::string_view id);
  // As AddWaiter / RemoveWaiter, for the end of a workflow.
  absl::StatusOr<uint64_t> AddWorkflowWaiter(absl::string_view id, WorkflowWaitCallback done);
  bool RemoveWorkflowWaiter(absl::string_view id, uint64_t token);

  // --- executor link ---
  // Registers an executor. A live session with the same id and incarnation is the same
  // process reconnecting: it is replaced (attempts the Hello does not list are lost and
  // requeued, the old channel closed). With another incarnation: ALREADY_EXISTS.
  absl::StatusOr<ExecutorSession> ConnectExecutor(ExecutorHello hello,
                                                  std::shared_ptr<ExecutorChannel> channel);
  void OnResults(const ExecutorSession& session, std::vector<AttemptResult> results);
  void OnHeartbeat(const ExecutorSession& session);
  // The executor takes no more work; it will finish what it runs and disconnect.
  void OnDrain(const ExecutorSession& session);
  // The stream ended: outstanding attempts are lost and their tasks requeued (not once
  // the scheduler is stopping: see Stopping()).
  void DisconnectExecutor(const ExecutorSession& session, absl::string_view reason);
  // The scheduler is stopping: streams that end from now on are the scheduler's doing, so
  // their executors' running attempts stay RUNNING in the store, for the next scheduler
  // (a restart, or a standby that takes over) to recover when the executors reconnect.
  void Stopping();
  // Drops executors silent for longer than executor_timeout (and runs what else is due:
  // the same as Tick()).
  void CheckExecutorLiveness() { Tick(); }

  const CoreOptions& options() const { return options_; }
  // Tasks held in memory: the work in flight, plus finished ones not yet stored.
  size_t tasks_in_memory() const;

  // --- autoscaling (scheduler_core_queue_load.cc) ---
  // The load of `queue` now: its waiting and running tasks, and the executors that serve
  // it with their slots. Walks the queue's lanes, the executors' lanes and the attempts
  // they hold, under the lock: meant for about one call a second per queue.
  QueueLoad LoadOfQueue(absl::string_view queue) const;

 private:
  // A workflow with what the core needs to move it along.
  struct LiveWorkflow {
    WorkflowRecord record;
    std::vector<std::vector<uint32_t>> downstream;
    size_t unfinished = 0;  // nodes not yet terminal
  };

  enum class TimerKind {
    kRelease,      // a SCHEDULED task's ETA or backoff ends
    kExpire,       // a waiting task's expires_at
    kRunDeadline,  // a running attempt's timeout plus grace: the scheduler's side of it
    kLease,        // a recovered RUNNING attempt whose executor has not reconnected
    kSweep,        // the store's retention: finished tasks and workflows are deleted
  };
  struct Timer {
    TimerKind kind;
    std::string id;
    uint32_t attempt = 0;
  };

  // A submit between its validation and its commit: the new records (invisible until
  // stored) and what runs once the commit has ended.
  struct PendingSubmit {
    StoreBatch batch;  // new tasks, and a new workflow
    // Makes the records known (or frees what was reserved for them) and answers.
    std::function<void(StoreBatch& stored, const absl::Status& commit)> finish;
  };
  // Carries out one round's effects after its commit (see effects.h for the order).
  void Flush(Effects& fx) ABSL_LOCKS_EXCLUDED(mu_);
  // Delivers what is pending: at once on this thread, or by waking the delivery thread.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu_, delivery_mu_);
  // Commits and publishes pending_ until it is empty (one thread at a time).
  void DeliverPending() ABSL_LOCKS_EXCLUDED(mu_);
  void DeliveryLoop() ABSL_LOCKS_EXCLUDED(mu_, delivery_mu_);
  void SubmitLoop() ABSL_LOCKS_EXCLUDED(mu_, delivery_mu_);
  // Hands `submit` to the submit thread, or commits it on this thread without one.
  void QueueSubmit(PendingSubmit submit) ABSL_LOCKS_EXCLUDED(mu_, delivery_mu_);
  // Stores the submits' records in one commit, then finishes each.
  void CommitSubmits(std::vector<PendingSubmit>& submits) ABSL_LOCKS_EXCLUDED(mu_);
  bool DeliveryWakeUp() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(delivery_mu_) {
    return delivery_wanted_ || delivery_stopping_;
  }
  void HoldBack(std::deque<Effects> batch, StoreBatch saves, const absl::Status& error)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Validates `specs`, finds the known keys and reserves room and keys for the new tasks
  // (in `tasks`; the keys claimed in `claimed`).
  absl::Status PrepareSubmit(std::vector<TaskSpec>& specs, SubmitPath path, Submitted& answer,
                             std::vector<TaskRecord>& tasks, std::vector<std::string>& claimed)
      ABSL_LOCKS_EXCLUDED(mu_);
  // After the commit of `tasks`: adopts them (their effects go to pending_), or, if
  // `commit` failed, frees what was reserved and returns UNAVAILABLE.
  absl::Status FinishSubmit(std::vector<TaskRecord>& tasks,
                            const std::vector<std::string>& claimed, const absl::Status& commit)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A stored submit's tasks become known: indexes, queues, metrics and events. The store
  // works again, so what a failed commit held back goes out too.
  void AdoptSubmitted(std::vector<TaskRecord>& tasks, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A submit whose commit failed: the room its tasks took under the limits is free again.
  void ReleaseSubmitted(const std::vector<TaskRecord>& tasks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // As PrepareSubmit and FinishSubmit, for a workflow and its nodes. A known key sets
  // `out.existing` and prepares nothing.
  absl::Status PrepareWorkflowSubmit(WorkflowSpec& spec, SubmittedWorkflow& out,
                                     StoreBatch& batch) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status FinishWorkflowSubmit(StoreBatch& batch, const absl::Status& commit)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A repeated idempotency key whose first submit is still committing.
  static absl::Status KeyInCommitError(absl::string_view what, absl::string_view key);
  // A new task record for `spec`: id, times, policy defaults, starting state.
  TaskRecord NewTask(uint64_t seq, TaskSpec spec, absl::Time now, bool has_upstream) const;
  // Makes a stored or new task known: indexes, counters, queues and timers.
  // `counted`: already in the waiting counters (reserved by the submit).
  // Moves from `record` (taken by reference: a record moved once less per task).
  void Adopt(TaskRecord&& record, Effects& fx, bool counted) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TaskEvent EventOf(const TaskRecord& task, std::string executor_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ConnectExecutor's steps: a live session with the same id is this process reconnecting
  // (replaced) or another process (ALREADY_EXISTS); recovered attempts of this executor
  // that its Hello does not list are lost at once; listed ones are claimed.
  absl::Status ReplaceOrRefuse(const ExecutorHello& hello, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SettleOrphans(const ExecutorHello& hello, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClaimRunning(ConnectedExecutor& executor, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Expire(TaskRecord& task, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ConnectedExecutor* FindSession(const ExecutorSession& session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Changed(TaskRecord& task, Effects& fx, std::string executor_id = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every state change goes through here: it checks the move against the lifecycle
  // (task_lifecycle.h) and applies what the states count toward: admission, the ready
  // lanes and the queue-depth gauge, running tasks.
  void SetState(TaskRecord& task, TaskState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(TaskRecord& task, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // QUEUED now, or SCHEDULED until `at` when that is in the future.
  void Release(TaskRecord& task, absl::Time at, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a failed or timed-out attempt: SCHEDULED for a retry, or FAILED for good.
  void RetryOrFail(TaskRecord& task, std::string error, bool retryable, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddTimer(absl::Time at, Timer timer, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropSilentExecutors(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // At most once a second: the oldest queued task's age per queue, for the metric.
  void ReportQueueAges(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunTimer(const Timer& timer, absl::Time now, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a commit: finished tasks and workflows in `stored` leave memory (the store has
  // them now), moved to `evicted` so that the caller frees them outside the lock. Waiters
  // that came after the end, while it was being stored, are woken through `fx`.
  void EvictFinished(const StoreBatch& stored, std::vector<TaskRecord>& evicted, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictTask(const std::string& id, std::vector<TaskRecord>& evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes sure a retention sweep runs at or before `at`.
  void ScheduleSweep(absl::Time at, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes what is past its retention in the store (one batch), then schedules the next.
  void SweepRetention() ABSL_LOCKS_EXCLUDED(mu_);
  // A finished task or workflow, read from the store (nullopt: no such id).
  absl::StatusOr<std::optional<TaskView>> FindStoredTask(absl::string_view id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::optional<WorkflowView>> FindStoredWorkflow(absl::string_view id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // A finished task still in the cache of recent results (and not past its retention).
  const TaskRecord* FindRecent(absl::string_view id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The id of the task holding an idempotency key, in memory or in the store.
  absl::StatusOr<std::optional<std::string>> TaskWithKey(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a task that is not terminal (any other state), telling its executor if it runs.
  // Sends a Cancel for the attempt to the executor that holds it, if one does.
  void TellExecutorToCancel(const std::string& task_id, uint32_t attempt, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelLocked(TaskRecord& task, std::string reason, Effects& fx,
                    bool notify_workflow = true) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Assign(TaskRecord& task, ConnectedExecutor& executor, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishAttempt(TaskRecord& task, AttemptOutcome outcome, std::string error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `notify_workflow` false: the caller does the workflow's bookkeeping itself.
  void Finish(TaskRecord& task, TaskState state, Effects& fx, bool notify_workflow = true)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Workflow bookkeeping after one of its nodes ended.
  void NodeFinished(TaskRecord& task, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishWorkflow(LiveWorkflow& wf, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkflowChanged(LiveWorkflow& wf, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  WorkflowView ViewOf(const LiveWorkflow& wf) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After recovery: releases nodes whose upstreams all succeeded, cancels those behind a
  // failed one and ends workflows whose nodes are all terminal (a crash between the
  // commits cannot happen, as one commit carries both, but an older store may need it).
  void ReconcileWorkflow(LiveWorkflow& wf, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> UpstreamResults(const TaskRecord& task) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoseAttempt(TaskRecord& task, absl::string_view reason, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyResult(ConnectedExecutor& executor, AttemptResult& result, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveExecutor(const std::string& id, absl::string_view reason, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string WaitingReason(const TaskRecord& task) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TaskView ViewOfTask(const TaskRecord& task) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewTaskId(uint64_t seq) const;

  const Clock& clock_;
  TaskStore& store_;
  EventHub& events_;
  CoreMetrics no_metrics_;  // what metrics_ refers to when the caller gave none
  CoreMetrics& metrics_;
  const CoreOptions options_;
  const uint64_t id_nonce_;  // mixed into task ids so ids differ across store wipes

  mutable absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // The tasks in memory (the work in flight, and finished ones until they are stored) and
  // their indexes; the store answers for the others.
  absl::node_hash_map<std::string, TaskRecord> tasks_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<uint64_t, TaskRecord*> by_seq_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> by_idempotency_key_ ABSL_GUARDED_BY(mu_);
  // Running workflows (and finished ones until they are stored).
  absl::node_hash_map<std::string, LiveWorkflow> workflows_ ABSL_GUARDED_BY(mu_);
  // Idempotency keys of the workflows in memory (apart from the tasks'), claimed before
  // the commit, with the ids a repeated submit gets.
  absl::flat_hash_map<std::string, SubmittedWorkflow> workflow_by_key_ ABSL_GUARDED_BY(mu_);
  // Keys claimed by a submit whose commit has not answered yet. A repeated submit that
  // meets one gets UNAVAILABLE (retry): the first may still fail, and its ids are not
  // visible until it is stored.
  absl::flat_hash_set<std::string> task_keys_in_commit_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> workflow_keys_in_commit_ ABSL_GUARDED_BY(mu_);
  ReadyQueues ready_ ABSL_GUARDED_BY(mu_);
  Admission admission_ ABSL_GUARDED_BY(mu_);  // tasks waiting to run, against the limits
  // Timers fire lazily: each checks on firing that its task still needs it.
  absl::btree_multimap<absl::Time, Timer> timers_ ABSL_GUARDED_BY(mu_);
  absl::Time next_tick_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::function<void(absl::Time)> timer_listener_;  // set before serving
  // RUNNING attempts recovered from the store whose executor has not reconnected yet.
  absl::flat_hash_map<std::string, uint32_t> orphaned_ ABSL_GUARDED_BY(mu_);
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
  absl::Time last_age_report_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::flat_hash_set<std::string> age_reported_queues_ ABSL_GUARDED_BY(mu_);
  WaiterRegistry<WaitCallback> waiters_ ABSL_GUARDED_BY(mu_);
  WaiterRegistry<WorkflowWaitCallback> workflow_waiters_ ABSL_GUARDED_BY(mu_);
  ExecutorRegistry executors_ ABSL_GUARDED_BY(mu_);
  std::deque<Effects> pending_ ABSL_GUARDED_BY(mu_);
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // Stopping() was called
  // Finished standalone tasks already stored, newest last, at most options_.recent_results.
  absl::flat_hash_map<std::string, TaskRecord> recent_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> recent_order_ ABSL_GUARDED_BY(mu_);
  // The next retention sweep; sweep_due_ once it is reached, sweeping_ while one runs.
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool sweep_due_ ABSL_GUARDED_BY(mu_) = false;
  bool sweeping_ ABSL_GUARDED_BY(mu_) = false;
  // The delivery and submit threads, and what wakes them (apart from mu_, so that waiting
  // for work does not slow every unlock of the core's lock).
  std::thread delivery_thread_;
  std::thread submit_thread_;  // commits SubmitAsync's tasks
  absl::Mutex delivery_mu_;
  std::vector<PendingSubmit> submits_ ABSL_GUARDED_BY(delivery_mu_);  // for the submit thread
  bool delivery_threaded_ ABSL_GUARDED_BY(delivery_mu_) = false;
  bool delivery_wanted_ ABSL_GUARDED_BY(delivery_mu_) = false;
  bool delivery_stopping_ ABSL_GUARDED_BY(delivery_mu_) = false;
  // After a failed commit: effects wait in pending_ until this time, then Tick retries.
  absl::Time commit_retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint32_t commit_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_SCHEDULER_CORE_H_
