#include "scheduler/store/group_commit.h"

#include <utility>

namespace taskwire::scheduler {

absl::Status GroupCommit::Commit(const StoreBatch& batch, Write write) {
  if (batch.empty()) return absl::OkStatus();
  Waiter self{&batch};
  mu_.Lock();
  ++calls_;
  queue_.push_back(&self);
  // Either a leader writes our batch, or we find no transaction in progress and lead one
  // with every batch queued so far (ours among them).
  auto written_or_free = [this, &self]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return self.done || !leader_active_;
  };
  mu_.Await(absl::Condition(&written_or_free));
  if (!self.done) {
    leader_active_ = true;
    std::vector<Waiter*> group;
    group.swap(queue_);
    ++transactions_;
    mu_.Unlock();
    std::vector<const StoreBatch*> batches;
    batches.reserve(group.size());
    for (const Waiter* w : group) batches.push_back(w->batch);
    const absl::Status status = write(batches);
    mu_.Lock();
    for (Waiter* w : group) {
      w->status = status;
      w->done = true;
    }
    leader_active_ = false;
  }
  absl::Status status = std::move(self.status);
  mu_.Unlock();
  return status;
}

uint64_t GroupCommit::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

uint64_t GroupCommit::transactions() const {
  absl::MutexLock lock(&mu_);
  return transactions_;
}

void GroupCommit::WaitForCalls(uint64_t n) const {
  absl::MutexLock lock(&mu_);
  auto entered = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
  mu_.Await(absl::Condition(&entered));
}

}  // namespace taskwire::scheduler
