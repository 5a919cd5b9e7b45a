#include "scheduler/core/executor_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace taskwire::scheduler {
namespace {

SlotWindow WindowOf(RunMode mode) {
  switch (mode) {
    case RunMode::kThread: return SlotWindow::kThread;
    case RunMode::kProcess: return SlotWindow::kProcess;
    case RunMode::kEventLoop: return SlotWindow::kEventLoop;
  }
  return SlotWindow::kShared;
}

}  // namespace

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
  for (const ModeSlots& m : hello.mode_slots) {
    e->pools.push_back(SlotPool{WindowOf(m.mode), m.slots, 0, {}});
  }
  if (e->pools.empty()) e->pools.push_back(SlotPool{SlotWindow::kShared, hello.slots, 0, {}});
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
  for (const SlotPool& pool : e->pools) metrics_.SlotsChanged(pool.window, pool.slots, 0);
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
  for (const SlotPool& pool : e->pools) {
    metrics_.SlotsChanged(pool.window, -static_cast<double>(pool.free()),
                          -static_cast<double>(pool.used));
  }
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
  SlotPool& p = executor.pools[pool];
  // Past its slots (a claim in a Hello), a pool's gauge of free slots stays at 0.
  metrics_.SlotsChanged(p.window, p.used < p.slots ? -1 : 0, 1);
  ++p.used;
  return true;
}

bool ExecutorRegistry::Free(ConnectedExecutor& executor, const AttemptRef& attempt) {
  auto it = executor.outstanding.find(attempt);
  if (it == executor.outstanding.end()) return false;
  SlotPool& p = executor.pools[it->second];
  --p.used;
  executor.outstanding.erase(it);
  metrics_.SlotsChanged(p.window, p.used < p.slots ? 1 : 0, -1);
  return true;
}

}  // namespace taskwire::scheduler
