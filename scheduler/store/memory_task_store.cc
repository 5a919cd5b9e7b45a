#include "scheduler/store/memory_task_store.h"

#include <algorithm>

namespace taskwire::scheduler {
namespace {

template <typename Map, typename Record>
void Upsert(Map& map, const Record& r) {
  auto [it, inserted] = map.try_emplace(r.id, r);
  if (!inserted && it->second.version < r.version) it->second = r;
}

template <typename Map>
auto InSeqOrder(const Map& map) {
  std::vector<typename Map::mapped_type> out;
  out.reserve(map.size());
  for (const auto& [id, r] : map) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return out;
}

}  // namespace

absl::Status MemoryTaskStore::Commit(const StoreBatch& batch) {
  absl::MutexLock lock(&mu_);
  for (const TaskRecord& r : batch.tasks) {
    Upsert(tasks_, r);
    max_seq_ = std::max(max_seq_, r.seq);
  }
  for (const WorkflowRecord& r : batch.workflows) {
    Upsert(workflows_, r);
    max_seq_ = std::max(max_seq_, r.seq);
  }
  for (const std::string& id : batch.deleted_tasks) tasks_.erase(id);
  for (const std::string& id : batch.deleted_workflows) workflows_.erase(id);
  return absl::OkStatus();
}

absl::StatusOr<StoredState> MemoryTaskStore::Load() {
  absl::MutexLock lock(&mu_);
  return StoredState{InSeqOrder(tasks_), InSeqOrder(workflows_), max_seq_};
}

size_t MemoryTaskStore::size() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

}  // namespace taskwire::scheduler
