// Group commit for a durable store: Commit() queues the caller's batch; a caller that finds
// a writer free becomes the leader and writes every queued batch in one transaction
// (through the store's `write`, on that writer), then wakes their callers. So N concurrent
// Submits cost about one transaction (and one fsync or round trip), not N. An error fails
// every caller of that transaction. With several writers (connections), that many
// transactions may be in flight at once, each with the batches queued when it began.
//
//   GroupCommit group_{/*writers=*/1};
//   absl::Status Store::Commit(const StoreBatch& batch) {
//     return group_.Commit(batch, [this](absl::Span<const StoreBatch* const> batches,
//                                        size_t writer) {
//       return WriteInOneTransaction(batches);
//     });
//   }
//
// Thread-safe. `write` runs without the queue's lock, on one caller's thread per writer.
#ifndef TASKWIRE_SCHEDULER_STORE_GROUP_COMMIT_H_
#define TASKWIRE_SCHEDULER_STORE_GROUP_COMMIT_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "scheduler/core/task_store.h"

namespace taskwire::scheduler {

class GroupCommit {
 public:
  // `writer`: which of the writers (0 .. writers - 1) the transaction is on; no two run
  // on one writer at a time.
  using Write =
      absl::FunctionRef<absl::Status(absl::Span<const StoreBatch* const>, size_t writer)>;

  explicit GroupCommit(size_t writers = 1);

  // Returns once `batch` is written (or its transaction failed). An empty batch is not
  // queued: OK at once.
  absl::Status Commit(const StoreBatch& batch, Write write);

  // Calls of Commit() with a non-empty batch, and transactions written for them (committed
  // or failed): with concurrent callers, fewer transactions than calls.
  uint64_t calls() const;
  uint64_t transactions() const;
  // Tests: blocks until `n` non-empty Commit() calls have entered.
  void WaitForCalls(uint64_t n) const;

 private:
  struct Waiter {
    const StoreBatch* batch;
    bool taken = false;  // in a leader's transaction
    bool done = false;
    absl::Status status = {};
  };

  mutable absl::Mutex mu_;
  std::vector<Waiter*> queue_ ABSL_GUARDED_BY(mu_);  // batches waiting for a transaction
  std::vector<size_t> free_writers_ ABSL_GUARDED_BY(mu_);
  uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t transactions_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_STORE_GROUP_COMMIT_H_
