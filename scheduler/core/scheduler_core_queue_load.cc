// SchedulerCore::LoadOfQueue: one queue's waiting and running tasks and the executors
// that serve it, read from what the core already keeps (the ready lanes, the executor
// registry and the attempts each executor holds), for autoscalers.
#include "absl/container/flat_hash_set.h"
#include "scheduler/core/scheduler_core.h"

namespace taskwire::scheduler {

QueueLoad SchedulerCore::LoadOfQueue(absl::string_view queue) const {
  QueueLoad load;
  absl::MutexLock lock(&mu_);
  // Who serves the queue: executors that take work, with the slots of their windows
  // that hold a type on it.
  absl::flat_hash_set<absl::string_view> served_types;
  for (const auto& e : executors_.all()) {
    if (e->draining) continue;
    QueueLoad::Executor serving{e->hello.executor_id, 0, 0};
    bool serves = false;
    for (const SlotPool& pool : e->pools) {
      bool pool_serves = false;
      for (const LaneKey& lane : pool.lanes) {
        if (lane.queue != queue) continue;
        pool_serves = true;
        served_types.insert(lane.type);
      }
      if (!pool_serves) continue;
      serves = true;
      if (pool.window == SlotWindow::kEventLoop) {
        serving.event_loop_slots += pool.slots;
      } else {
        serving.slots += pool.slots;
      }
    }
    if (serves) load.executors.push_back(std::move(serving));
  }
  for (const auto& [type, queued] : ready_.LanesOf(queue)) {
    load.waiting += queued;
    if (!served_types.contains(type)) load.waiting_unserved += queued;
  }
  // Running: each RUNNING task of the queue once, by its current attempt. An executor may
  // still hold an older attempt of a task (told to cancel it): that one does not count.
  auto runs_here = [&](const std::string& task_id, uint32_t attempt,
                       absl::string_view executor_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return false;
    const TaskRecord& task = it->second;
    return task.state == TaskState::kRunning && task.spec->queue == queue &&
           !task.attempts.empty() && task.attempts.back().number == attempt &&
           task.attempts.back().executor_id == executor_id;
  };
  for (const auto& e : executors_.all()) {
    for (const auto& [ref, pool] : e->outstanding) {
      if (runs_here(ref.task_id, ref.attempt, e->hello.executor_id)) ++load.running;
    }
  }
  // Recovered attempts whose executor has not reconnected yet are RUNNING too.
  for (const auto& [task_id, attempt] : orphaned_) {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end() || it->second.attempts.empty()) continue;
    if (runs_here(task_id, attempt, it->second.attempts.back().executor_id)) ++load.running;
  }
  return load;
}

}  // namespace taskwire::scheduler
