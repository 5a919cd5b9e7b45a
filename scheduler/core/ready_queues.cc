#include "scheduler/core/ready_queues.h"

#include <algorithm>

namespace taskwire::scheduler {

void ReadyQueues::Push(TaskRecord* task) {
  if (lanes_[LaneKey{task->spec->queue, task->spec->type}].emplace(OrderOf(*task), task).second) {
    ++size_;
  }
}

bool ReadyQueues::Remove(const TaskRecord& task) {
  auto lane = lanes_.find(LaneKey{task.spec->queue, task.spec->type});
  if (lane == lanes_.end() || lane->second.erase(OrderOf(task)) == 0) return false;
  if (lane->second.empty()) lanes_.erase(lane);
  --size_;
  return true;
}

TaskRecord* ReadyQueues::Best(absl::Span<const LaneKey> lanes) const {
  const Lane* best = nullptr;
  for (const LaneKey& key : lanes) {
    auto it = lanes_.find(key);
    if (it == lanes_.end()) continue;
    if (best == nullptr || it->second.begin()->first < best->begin()->first) best = &it->second;
  }
  return best == nullptr ? nullptr : best->begin()->second;
}

absl::flat_hash_map<std::string, absl::Time> ReadyQueues::OldestQueuedAt() const {
  absl::flat_hash_map<std::string, absl::Time> oldest;
  for (const auto& [key, lane] : lanes_) {
    absl::Time& t = oldest.try_emplace(key.queue, absl::InfiniteFuture()).first->second;
    for (auto it = lane.begin(); it != lane.end();
         it = lane.lower_bound(Order{it->first.first + 1, 0})) {
      t = std::min(t, absl::Time(it->second->queued_at));
    }
  }
  return oldest;
}

size_t ReadyQueues::LaneSize(const LaneKey& lane) const {
  auto it = lanes_.find(lane);
  return it == lanes_.end() ? 0 : it->second.size();
}

std::vector<std::pair<std::string, size_t>> ReadyQueues::LanesOf(absl::string_view queue) const {
  std::vector<std::pair<std::string, size_t>> out;
  for (const auto& [key, lane] : lanes_) {
    if (key.queue == queue) out.emplace_back(key.type, lane.size());
  }
  return out;
}

}  // namespace taskwire::scheduler
