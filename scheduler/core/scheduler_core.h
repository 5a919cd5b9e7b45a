// The scheduler's brain, free of gRPC and of real time: accepts tasks, keeps them in
// priority lanes, pushes them to executors within each executor's credit (its free slots),
// tracks attempts, handles cancellation and lost executors. The gRPC adapters
// (scheduler/service/) translate wire messages to these calls.
//
// Thread-safety: every public method may be called from any thread. One mutex guards the
// state; side effects (store writes, events, waiter callbacks, sends to executors) are
// collected under it and carried out after it is released, in that order.
#ifndef TASKWIRE_SCHEDULER_CORE_SCHEDULER_CORE_H_
#define TASKWIRE_SCHEDULER_CORE_SCHEDULER_CORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/executor_channel.h"
#include "scheduler/core/ready_queues.h"
#include "scheduler/core/task_record.h"
#include "scheduler/core/task_validation.h"
#include "scheduler/store/task_store.h"

namespace taskwire::scheduler {

class SchedulerMetrics;

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
  int32_t default_page_size = 100;
  int32_t max_page_size = 1000;
  // ListTasks looks at most this many tasks per call, so a filter that matches little
  // cannot hold the lock for long; the page may then be short, with a next_page_token.
  size_t max_list_scan = 50'000;
};

enum class RunMode { kThread, kProcess };

struct TaskTypeInfo {
  std::string name;
  RunMode mode = RunMode::kThread;
};

struct ExecutorHello {
  std::string executor_id;  // empty: the core picks one
  std::string peer;
  std::string version;
  std::vector<TaskTypeInfo> task_types;
  std::vector<std::string> queues;  // empty: {"default"}
  uint32_t slots = 0;
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
};

struct TaskView {
  TaskRecord record;
  std::string waiting_reason;  // set while QUEUED
};

struct TaskListQuery {
  std::optional<TaskState> state;
  std::string queue;
  std::string type;
  int32_t page_size = 0;  // 0: default
  std::string page_token;
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
};

class SchedulerCore {
 public:
  using WaitCallback = std::function<void(const TaskView&)>;

  SchedulerCore(const Clock& clock, TaskStore& store, EventHub& events,
                SchedulerMetrics* metrics, CoreOptions options);
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  // Loads every unfinished task from the store: QUEUED and RUNNING ones are queued again
  // (a running attempt's executor is not connected yet, so its attempt counts as lost).
  absl::Status Recover();

  // --- client API ---
  // How errors name a spec: "task" (Submit of one) or "tasks[i]" (SubmitBatch).
  enum class SubmitPath { kOne, kBatch };
  // Validates all specs, stores them, then queues them; all or none. Ids in input order.
  absl::StatusOr<std::vector<std::string>> Submit(std::vector<TaskSpec> specs,
                                                  SubmitPath path = SubmitPath::kBatch);
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

  // --- executor link ---
  // Registers an executor; a live session with the same id is replaced (its attempts are
  // lost and requeued, its channel closed).
  absl::StatusOr<ExecutorSession> ConnectExecutor(ExecutorHello hello,
                                                  std::shared_ptr<ExecutorChannel> channel);
  void OnStarted(const ExecutorSession& session, const std::vector<AttemptRef>& started);
  void OnResults(const ExecutorSession& session, std::vector<AttemptResult> results);
  void OnHeartbeat(const ExecutorSession& session);
  // The executor takes no more work; it will finish what it runs and disconnect.
  void OnDrain(const ExecutorSession& session);
  // The stream ended: outstanding attempts are lost and their tasks requeued.
  void DisconnectExecutor(const ExecutorSession& session, absl::string_view reason);
  // Drops executors silent for longer than executor_timeout. Called periodically.
  void CheckExecutorLiveness();

  const CoreOptions& options() const { return options_; }

 private:
  struct Executor {
    ExecutorHello hello;
    uint64_t session_id = 0;
    std::shared_ptr<ExecutorChannel> channel;
    std::vector<LaneKey> lanes;
    // Attempts sent and not yet answered, by task id. A cancelled task keeps its slot
    // here until the executor reports back.
    absl::flat_hash_map<std::string, uint32_t> outstanding;
    bool draining = false;
    absl::Time connected_at;
    absl::Time last_seen;
    uint32_t free_slots() const {
      return hello.slots > outstanding.size() ? hello.slots - outstanding.size() : 0;
    }
  };

  struct Outbox {
    std::shared_ptr<ExecutorChannel> channel;
    std::vector<AssignmentOut> assignments;
    std::vector<AttemptRef> cancels;
  };

  // Side effects gathered under the lock, carried out by Flush() after it is released.
  struct Effects {
    std::vector<TaskRecord> saves;
    std::vector<TaskEvent> events;
    std::vector<std::pair<WaitCallback, TaskView>> wakeups;
    std::vector<Outbox> sends;
    std::vector<std::pair<std::shared_ptr<ExecutorChannel>, absl::Status>> closes;
    Outbox& OutboxFor(const std::shared_ptr<ExecutorChannel>& channel);
  };

  void Flush(Effects& fx) ABSL_LOCKS_EXCLUDED(mu_);
  void DeliverPending() ABSL_LOCKS_EXCLUDED(mu_);

  Executor* FindSession(const ExecutorSession& session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Changed(TaskRecord& task, Effects& fx, std::string executor_id = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(TaskRecord& task, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Assign(TaskRecord& task, Executor& executor, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishAttempt(TaskRecord& task, AttemptOutcome outcome, std::string error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(TaskRecord& task, TaskState state, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoseAttempt(TaskRecord& task, absl::string_view reason, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyResult(Executor& executor, AttemptResult& result, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveExecutor(const std::string& id, absl::string_view reason, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string WaitingReason(const TaskRecord& task) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewTaskId(uint64_t seq) const;

  const Clock& clock_;
  TaskStore& store_;
  EventHub& events_;
  SchedulerMetrics* const metrics_;  // may be null
  const CoreOptions options_;
  const uint64_t id_nonce_;  // mixed into task ids so ids differ across store wipes

  mutable absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  absl::node_hash_map<std::string, TaskRecord> tasks_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<uint64_t, TaskRecord*> by_seq_ ABSL_GUARDED_BY(mu_);
  ReadyQueues ready_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_map<uint64_t, WaitCallback>> waiters_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  // Executors in connection order; dispatch starts at a rotating offset to spread work.
  std::vector<std::unique_ptr<Executor>> executors_ ABSL_GUARDED_BY(mu_);
  size_t dispatch_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_session_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<Effects> pending_ ABSL_GUARDED_BY(mu_);
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_SCHEDULER_CORE_H_
