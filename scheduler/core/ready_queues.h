// QUEUED tasks waiting for an executor, in lanes by (queue, task type): executors announce
// which lanes they serve, so routing is a lookup, not a scan. Within a lane, higher
// priority first, FIFO (submission order) within a priority. Not thread-safe: the core
// guards it with its lock.
#ifndef TASKWIRE_SCHEDULER_CORE_READY_QUEUES_H_
#define TASKWIRE_SCHEDULER_CORE_READY_QUEUES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

struct LaneKey {
  std::string queue;
  std::string type;
  bool operator==(const LaneKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const LaneKey& k) {
    return H::combine(std::move(h), k.queue, k.type);
  }
};

class ReadyQueues {
 public:
  void Push(TaskRecord* task);
  // Returns false if the task was not queued here.
  bool Remove(const TaskRecord& task);
  // The best task across `lanes` (it stays queued), or nullptr when they are all empty.
  TaskRecord* Best(absl::Span<const LaneKey> lanes) const;

  size_t size() const { return size_; }
  size_t LaneSize(const LaneKey& lane) const;
  // For each queue with queued tasks, the earliest queued_at among the first task of each
  // priority in each of its lanes: the oldest waiting task, give or take a retried task
  // that queued again later than a younger one. Walks priorities, not tasks.
  absl::flat_hash_map<std::string, absl::Time> OldestQueuedAt() const;
  // The lanes of `queue` that hold queued tasks: (task type, tasks queued). Walks the
  // lanes, not the tasks.
  std::vector<std::pair<std::string, size_t>> LanesOf(absl::string_view queue) const;

 private:
  // Orders by priority descending, then seq ascending.
  using Order = std::pair<int32_t, uint64_t>;
  static Order OrderOf(const TaskRecord& t) { return {-t.spec->priority, t.seq}; }
  using Lane = absl::btree_map<Order, TaskRecord*>;

  absl::node_hash_map<LaneKey, Lane> lanes_;
  size_t size_ = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_READY_QUEUES_H_
