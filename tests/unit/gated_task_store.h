// A MemoryTaskStore whose next Commit() can be held at a gate: the test learns when a
// commit has entered it, then lets it through or fails it. For the window between a
// submit's claim of an idempotency key and its commit's answer.
#ifndef TASKWIRE_TESTS_UNIT_GATED_TASK_STORE_H_
#define TASKWIRE_TESTS_UNIT_GATED_TASK_STORE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/unit/forwarding_task_store.h"

namespace taskwire::scheduler::testing {

class GatedTaskStore final : public ForwardingTaskStore {
 public:
  // The next commit waits at the gate; once released it answers `outcome` (an error
  // leaves nothing stored) or, when OK, goes through.
  void GateNext(absl::Status outcome) {
    absl::MutexLock lock(&mu_);
    gated_ = true;
    entered_ = released_ = false;
    outcome_ = std::move(outcome);
  }
  // Waits (bounded) until the gated commit is at the gate.
  bool AwaitEntered(absl::Duration bound) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&entered_), bound);
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }

  absl::Status Commit(const StoreBatch& batch) override {
    {
      absl::MutexLock lock(&mu_);
      if (gated_) {
        gated_ = false;
        entered_ = true;
        mu_.Await(absl::Condition(&released_));
        if (!outcome_.ok()) return outcome_;
      }
    }
    return inner_.Commit(batch);
  }
  std::string Describe() const override { return "gated memory"; }

 private:
  absl::Mutex mu_;
  bool gated_ ABSL_GUARDED_BY(mu_) = false;
  bool entered_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status outcome_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taskwire::scheduler::testing

#endif  // TASKWIRE_TESTS_UNIT_GATED_TASK_STORE_H_
