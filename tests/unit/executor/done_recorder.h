// Records every done callback of a runner by task id, so a test can check each attempt
// ended exactly once, and wait (with a bound) for a number of ends.
#ifndef TASKWIRE_TESTS_UNIT_EXECUTOR_DONE_RECORDER_H_
#define TASKWIRE_TESTS_UNIT_EXECUTOR_DONE_RECORDER_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "executor/runner.h"

namespace taskwire::executor {

class DoneRecorder {
 public:
  Runner::Done For(const std::string& task_id) {
    return [this, task_id](RunResult result) {
      absl::MutexLock lock(&mu_);
      results_[task_id].push_back(std::move(result));
      ++calls_;
    };
  }
  bool AwaitCalls(int n, absl::Duration bound) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), bound);
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<RunResult> ResultsOf(const std::string& task_id) {
    absl::MutexLock lock(&mu_);
    return results_[task_id];
  }

 private:
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::vector<RunResult>> results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_TESTS_UNIT_EXECUTOR_DONE_RECORDER_H_
