#include "scheduler/store/memory_task_store.h"

#include <algorithm>

namespace taskwire::scheduler {

absl::Status MemoryTaskStore::Save(absl::Span<const TaskRecord> records) {
  absl::MutexLock lock(&mu_);
  for (const TaskRecord& r : records) {
    auto [it, inserted] = records_.try_emplace(r.id, r);
    if (!inserted && it->second.version < r.version) it->second = r;
    max_seq_ = std::max(max_seq_, r.seq);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TaskRecord>> MemoryTaskStore::LoadUnfinished() {
  std::vector<TaskRecord> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, r] : records_) {
      if (!IsTerminal(r.state)) out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TaskRecord& a, const TaskRecord& b) { return a.seq < b.seq; });
  return out;
}

absl::StatusOr<uint64_t> MemoryTaskStore::MaxSeq() {
  absl::MutexLock lock(&mu_);
  return max_seq_;
}

size_t MemoryTaskStore::size() const {
  absl::MutexLock lock(&mu_);
  return records_.size();
}

}  // namespace taskwire::scheduler
