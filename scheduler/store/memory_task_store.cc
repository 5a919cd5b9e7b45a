#include "scheduler/store/memory_task_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace taskwire::scheduler {
namespace {

template <typename Map>
auto InSeqOrder(const Map& map, auto keep) {
  std::vector<typename Map::mapped_type> out;
  for (const auto& [id, r] : map) {
    if (keep(r)) out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return out;
}

bool WorkflowFinished(const WorkflowRecord& w) { return w.state != WorkflowState::kRunning; }

}  // namespace

void MemoryTaskStore::UpsertTask(const TaskRecord& r) {
  auto [it, inserted] = tasks_.try_emplace(r.id, r);
  if (!inserted) {
    if (it->second.version >= r.version) return;
    const bool was_finished = IsFinishedStandalone(it->second);
    it->second = r;
    if (was_finished) return;
  } else {
    task_by_seq_.emplace(r.seq, r.id);
    if (!r.spec->idempotency_key.empty()) task_by_key_[r.spec->idempotency_key] = r.id;
  }
  if (IsFinishedStandalone(r)) {
    ++finished_tasks_;
    finished_order_.push_back(FinishedRef{false, r.id});
    finished_until_.emplace(r.retain_until, FinishedRef{false, r.id});
  }
}

void MemoryTaskStore::UpsertWorkflow(const WorkflowRecord& r) {
  auto [it, inserted] = workflows_.try_emplace(r.id, r);
  if (!inserted) {
    if (it->second.version >= r.version) return;
    const bool was_finished = WorkflowFinished(it->second);
    it->second = r;
    if (was_finished) return;
  } else if (!r.idempotency_key.empty()) {
    workflow_by_key_[r.idempotency_key] = r.id;
  }
  if (WorkflowFinished(r)) {
    finished_tasks_ += r.nodes.size();
    finished_order_.push_back(FinishedRef{true, r.id});
    finished_until_.emplace(r.retain_until, FinishedRef{true, r.id});
  }
}

void MemoryTaskStore::RemoveTask(const std::string& id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return;
  const TaskRecord& r = it->second;
  if (IsFinishedStandalone(r)) --finished_tasks_;
  task_by_seq_.erase(r.seq);
  if (const std::string& key = r.spec->idempotency_key; !key.empty()) {
    if (auto k = task_by_key_.find(key); k != task_by_key_.end() && k->second == id) {
      task_by_key_.erase(k);
    }
  }
  tasks_.erase(it);
}

void MemoryTaskStore::RemoveWorkflow(const std::string& id, bool nodes) {
  auto it = workflows_.find(id);
  if (it == workflows_.end()) return;
  const WorkflowRecord& r = it->second;
  if (WorkflowFinished(r)) finished_tasks_ -= r.nodes.size();
  if (nodes) {
    for (const WorkflowNodeRecord& node : r.nodes) RemoveTask(node.task_id);
  }
  if (!r.idempotency_key.empty()) {
    if (auto k = workflow_by_key_.find(r.idempotency_key);
        k != workflow_by_key_.end() && k->second == id) {
      workflow_by_key_.erase(k);
    }
  }
  workflows_.erase(it);
}

bool MemoryTaskStore::IsFinished(const FinishedRef& ref) const {
  if (ref.workflow) {
    auto it = workflows_.find(ref.id);
    return it != workflows_.end() && WorkflowFinished(it->second);
  }
  auto it = tasks_.find(ref.id);
  return it != tasks_.end() && IsFinishedStandalone(it->second);
}

void MemoryTaskStore::EvictPastLimit() {
  if (max_finished_tasks_ == 0) return;
  uint64_t evicted = 0;
  while (finished_tasks_ > max_finished_tasks_ && !finished_order_.empty()) {
    FinishedRef ref = std::move(finished_order_.front());
    finished_order_.pop_front();
    if (!IsFinished(ref)) continue;
    const size_t before = finished_tasks_;
    ref.workflow ? RemoveWorkflow(ref.id, /*nodes=*/true) : RemoveTask(ref.id);
    evicted += before - finished_tasks_;
  }
  if (evicted > 0) {
    // Once per power of two, so that a steady stream does not flood the log.
    const uint64_t total = evicted_ + evicted;
    if ((total & (total - 1)) == 0 || evicted_ == 0) {
      spdlog::warn("memory store: {} finished tasks dropped before their retention ended, "
                   "oldest first, to stay within --max-retained-tasks={}",
                   total, max_finished_tasks_);
    }
    evicted_ = total;
  }
  // The order queue holds an entry per finished record ever; drop those already gone.
  while (!finished_order_.empty() && !IsFinished(finished_order_.front())) {
    finished_order_.pop_front();
  }
}

absl::Status MemoryTaskStore::Commit(const StoreBatch& batch) {
  absl::MutexLock lock(&mu_);
  for (const TaskRecord& r : batch.tasks) {
    if (!history_only_ || IsTerminal(r.state)) UpsertTask(r);
    max_seq_ = std::max(max_seq_, r.seq);
  }
  for (const WorkflowRecord& r : batch.workflows) {
    if (!history_only_ || WorkflowFinished(r)) UpsertWorkflow(r);
    max_seq_ = std::max(max_seq_, r.seq);
  }
  for (const std::string& id : batch.deleted_tasks) RemoveTask(id);
  for (const std::string& id : batch.deleted_workflows) RemoveWorkflow(id, /*nodes=*/false);
  EvictPastLimit();
  return absl::OkStatus();
}

absl::StatusOr<StoredState> MemoryTaskStore::Load() {
  absl::MutexLock lock(&mu_);
  StoredState state;
  state.workflows = InSeqOrder(workflows_, [](const WorkflowRecord& w) {
    return !WorkflowFinished(w);
  });
  absl::flat_hash_map<std::string, bool> running_workflows;
  for (const WorkflowRecord& w : state.workflows) running_workflows[w.id] = true;
  state.tasks = InSeqOrder(tasks_, [&](const TaskRecord& t) {
    return !IsTerminal(t.state) || running_workflows.contains(t.workflow_id);
  });
  state.max_seq = max_seq_;
  return state;
}

absl::StatusOr<std::optional<TaskRecord>> MemoryTaskStore::FindTask(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<WorkflowRecord>> MemoryTaskStore::FindWorkflow(
    absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = workflows_.find(id);
  if (it == workflows_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<std::string>> MemoryTaskStore::FindTaskIdByKey(
    absl::string_view key) {
  absl::MutexLock lock(&mu_);
  auto it = task_by_key_.find(key);
  if (it == task_by_key_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<WorkflowRecord>> MemoryTaskStore::FindWorkflowByKey(
    absl::string_view key) {
  absl::MutexLock lock(&mu_);
  auto it = workflow_by_key_.find(key);
  if (it == workflow_by_key_.end()) return std::nullopt;
  return workflows_.at(it->second);
}

absl::StatusOr<std::vector<TaskRecord>> MemoryTaskStore::ListFinishedTasks(
    const FinishedTaskQuery& query) {
  absl::MutexLock lock(&mu_);
  std::vector<TaskRecord> out;
  auto take = [&](const TaskRecord& t) {
    if (!IsTerminal(t.state) || (query.state && t.state != *query.state)) return;
    if (!query.queue.empty() && t.spec->queue != query.queue) return;
    if (!query.type.empty() && t.spec->type != query.type) return;
    if (!query.owner.empty() && t.spec->owner != query.owner) return;
    out.push_back(t);
  };
  const auto first = task_by_seq_.lower_bound(query.from_seq);
  const auto last = task_by_seq_.lower_bound(query.to_seq);
  if (query.newest_first) {
    for (auto it = std::make_reverse_iterator(last);
         it != std::make_reverse_iterator(first) && out.size() < query.limit; ++it) {
      take(tasks_.at(it->second));
    }
  } else {
    for (auto it = first; it != last && out.size() < query.limit; ++it) {
      take(tasks_.at(it->second));
    }
  }
  return out;
}

absl::StatusOr<RetentionSweep> MemoryTaskStore::DeleteExpired(absl::Time now, size_t limit) {
  absl::MutexLock lock(&mu_);
  RetentionSweep sweep;
  while (!finished_until_.empty() && sweep.deleted < limit) {
    auto first = finished_until_.begin();
    if (first->first > now) break;
    FinishedRef ref = std::move(first->second);
    finished_until_.erase(first);
    if (!IsFinished(ref)) continue;
    ref.workflow ? RemoveWorkflow(ref.id, /*nodes=*/true) : RemoveTask(ref.id);
    ++sweep.deleted;
  }
  while (!finished_until_.empty() && !IsFinished(finished_until_.begin()->second)) {
    finished_until_.erase(finished_until_.begin());
  }
  if (!finished_until_.empty()) sweep.next_due = finished_until_.begin()->first;
  return sweep;
}

std::string MemoryTaskStore::Describe() const {
  if (max_finished_tasks_ == 0) return "memory (not durable: tasks die with the process)";
  return absl::StrCat("memory (not durable: tasks die with the process; at most ",
                      max_finished_tasks_, " finished tasks kept)");
}

size_t MemoryTaskStore::size() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

uint64_t MemoryTaskStore::evicted() const {
  absl::MutexLock lock(&mu_);
  return evicted_;
}

}  // namespace taskwire::scheduler
