#include "scheduler/core/executor_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace taskwire::scheduler {

std::string ExecutorRegistry::UnusedId() const {
  // A made-up id must not be one a connected executor chose: it would replace it.
  for (uint64_t n = next_session_;; ++n) {
    std::string id = absl::StrCat("executor-", n);
    if (Find(id) == nullptr) return id;
  }
}

ConnectedExecutor& ExecutorRegistry::Add(ExecutorHello hello,
                                         std::shared_ptr<ExecutorChannel> channel,
                                         absl::Time now) {
  auto e = std::make_unique<ConnectedExecutor>();
  e->session_id = next_session_++;
  e->channel = std::move(channel);
  // One pool per announced mode, in the Hello's order; without modes, one for all.
  for (const ModeSlots& m : hello.mode_slots) e->pools.push_back(SlotPool{m.slots, 0, {}});
  if (e->pools.empty()) e->pools.push_back(SlotPool{hello.slots, 0, {}});
  for (const TaskTypeInfo& t : hello.task_types) {
    uint32_t pool = 0;
    for (uint32_t i = 0; i < hello.mode_slots.size(); ++i) {
      if (hello.mode_slots[i].mode == t.mode) pool = i;
    }
    e->pool_of_type[t.name] = pool;
    for (const std::string& q : hello.queues) {
      e->lanes.push_back(LaneKey{q, t.name});
      e->pools[pool].lanes.push_back(LaneKey{q, t.name});
    }
  }
  e->connected_at = e->last_seen = now;
  e->hello = std::move(hello);
  metrics_.ExecutorsConnectedChanged(1);
  metrics_.SlotsChanged(e->hello.slots, 0);
  for (const std::string& q : e->hello.queues) metrics_.QueueExecutorsChanged(q, 1);
  executors_.push_back(std::move(e));
  return *executors_.back();
}

std::unique_ptr<ConnectedExecutor> ExecutorRegistry::Remove(absl::string_view executor_id) {
  auto pos = std::find_if(executors_.begin(), executors_.end(),
                          [&](const auto& e) { return e->hello.executor_id == executor_id; });
  if (pos == executors_.end()) return nullptr;
  std::unique_ptr<ConnectedExecutor> e = std::move(*pos);
  executors_.erase(pos);
  for (const std::string& q : e->hello.queues) metrics_.QueueExecutorsChanged(q, -1);
  metrics_.ExecutorsConnectedChanged(-1);
  metrics_.SlotsChanged(-static_cast<double>(e->free_slots()),
                        -static_cast<double>(e->outstanding.size()));
  return e;
}

ConnectedExecutor* ExecutorRegistry::Find(absl::string_view executor_id) const {
  for (const auto& e : executors_) {
    if (e->hello.executor_id == executor_id) return e.get();
  }
  return nullptr;
}

ConnectedExecutor* ExecutorRegistry::FindSession(uint64_t session_id) const {
  for (const auto& e : executors_) {
    if (e->session_id == session_id) return e.get();
  }
  return nullptr;
}

bool ExecutorRegistry::Take(ConnectedExecutor& executor, AttemptRef attempt,
                            absl::string_view type) {
  const uint32_t pool = executor.PoolOf(type);
  if (!executor.outstanding.emplace(std::move(attempt), pool).second) return false;
  ++executor.pools[pool].used;
  metrics_.SlotsChanged(-1, 1);
  return true;
}

bool ExecutorRegistry::Free(ConnectedExecutor& executor, const AttemptRef& attempt) {
  auto it = executor.outstanding.find(attempt);
  if (it == executor.outstanding.end()) return false;
  --executor.pools[it->second].used;
  executor.outstanding.erase(it);
  metrics_.SlotsChanged(1, -1);
  return true;
}

}  // namespace taskwire::scheduler
