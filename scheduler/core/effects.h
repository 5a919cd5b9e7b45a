// The core's outbox: what one change of its state does outside its lock. Every core method
// gathers these under the lock; after it, the delivery thread (or the calling thread)
// merges the rounds' records into one store commit and then carries out each round in
// order: events, waiter callbacks, messages to executors, closes of executor streams, the
// timer's wake-up. Nobody hears of a change before it is stored.
#ifndef TASKWIRE_SCHEDULER_CORE_EFFECTS_H_
#define TASKWIRE_SCHEDULER_CORE_EFFECTS_H_

#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "scheduler/core/executor_channel.h"
#include "scheduler/core/task_event.h"
#include "scheduler/core/task_record.h"
#include "scheduler/core/task_store.h"

namespace taskwire::scheduler {

// What goes to one executor in one message.
struct Outbox {
  std::shared_ptr<ExecutorChannel> channel;
  std::vector<AssignmentOut> assignments;
  std::vector<AttemptRef> cancels;
};

struct Effects {
  using WaitCallback = std::function<void(const TaskView&)>;
  using WorkflowWaitCallback = std::function<void(const WorkflowView&)>;

  StoreBatch saves;
  EventBatch events;
  std::vector<std::pair<WaitCallback, TaskView>> wakeups;
  std::vector<std::pair<WorkflowWaitCallback, WorkflowView>> workflow_wakeups;
  std::vector<Outbox> sends;  // one per executor
  std::vector<std::pair<std::shared_ptr<ExecutorChannel>, absl::Status>> closes;
  absl::Time wake_timer_at = absl::InfiniteFuture();

  // The message to `channel`'s executor, so that a round sends one per executor.
  Outbox& OutboxFor(const std::shared_ptr<ExecutorChannel>& channel);
};

// Moves `from`'s records to the end of `to`, leaving `from` empty.
void Append(StoreBatch& to, StoreBatch& from);
// The records of every round, for one commit: a record changed in several rounds (a
// workflow node released and assigned at once) is written once, in its last version.
StoreBatch MergeSaves(std::deque<Effects>& rounds);

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_EFFECTS_H_
