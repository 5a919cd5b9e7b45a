#include "scheduler/store/group_commit.h"

#include <utility>

namespace taskwire::scheduler {

GroupCommit::GroupCommit(size_t writers) {
  for (size_t i = writers; i > 0; --i) free_writers_.push_back(i - 1);
}

absl::Status GroupCommit::Commit(const StoreBatch& batch, Write write) {
  if (batch.empty()) return absl::OkStatus();
  Waiter self{&batch};
  mu_.Lock();
  ++calls_;
  queue_.push_back(&self);
  // Either a leader takes our batch and writes it, or we find a writer free first and lead
  // a transaction with every batch queued so far (ours among them).
  auto written_or_free = [this, &self]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return self.done || (!self.taken && !free_writers_.empty());
  };
  mu_.Await(absl::Condition(&written_or_free));
  if (!self.done) {
    const size_t writer = free_writers_.back();
    free_writers_.pop_back();
    std::vector<Waiter*> group;
    group.swap(queue_);
    for (Waiter* w : group) w->taken = true;
    ++transactions_;
    mu_.Unlock();
    std::vector<const StoreBatch*> batches;
    batches.reserve(group.size());
    for (const Waiter* w : group) batches.push_back(w->batch);
    const absl::Status status = write(batches, writer);
    mu_.Lock();
    for (Waiter* w : group) {
      w->status = status;
      w->done = true;
    }
    free_writers_.push_back(writer);
  }
  // Taken by another leader: wait for its transaction.
  mu_.Await(absl::Condition(&self.done));
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
