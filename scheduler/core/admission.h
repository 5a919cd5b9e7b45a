// Backpressure at the door: how many tasks wait to run (PENDING, SCHEDULED or QUEUED, plus
// the tasks of submits still committing), in all and per queue, against the scheduler's
// limits (--max-waiting-tasks, --max-waiting-per-queue). A submit reserves room for all
// its tasks or for none; a refusal is RESOURCE_EXHAUSTED naming the limit, so the client
// retries later instead of the scheduler growing until it is killed. Not thread-safe: the
// core calls it under its lock.
#ifndef TASKWIRE_SCHEDULER_CORE_ADMISSION_H_
#define TASKWIRE_SCHEDULER_CORE_ADMISSION_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

class Admission {
 public:
  // `max_waiting_per_queue` 0: no limit per queue.
  Admission(size_t max_waiting, size_t max_waiting_per_queue)
      : max_waiting_(max_waiting), max_waiting_per_queue_(max_waiting_per_queue) {}

  // Room for one waiting task per spec, or RESOURCE_EXHAUSTED and nothing reserved.
  absl::Status Reserve(const std::vector<const TaskSpec*>& specs);
  // Gives back what Reserve took for `specs` (their submit was not stored).
  void Release(const std::vector<const TaskSpec*>& specs);
  // A task of `queue` starts (+1) or stops (-1) waiting.
  void Count(const std::string& queue, int delta);

  size_t waiting() const { return waiting_; }

 private:
  const size_t max_waiting_;
  const size_t max_waiting_per_queue_;
  size_t waiting_ = 0;
  absl::flat_hash_map<std::string, size_t> waiting_by_queue_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_ADMISSION_H_
