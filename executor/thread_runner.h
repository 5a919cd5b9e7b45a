// Runs thread-mode attempts: each task type's C++ handler on a fixed pool of threads (one
// per slot, so the scheduler's credit window never queues work here for long).
#ifndef TASKWIRE_EXECUTOR_THREAD_RUNNER_H_
#define TASKWIRE_EXECUTOR_THREAD_RUNNER_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "executor/handler_registry.h"
#include "executor/runner.h"

namespace taskwire::executor {

class ThreadRunner final : public Runner {
 public:
  ThreadRunner(const HandlerRegistry& registry, size_t threads);
  ~ThreadRunner() override;

  void Start(std::shared_ptr<Attempt> attempt, Done done) override;
  void Shutdown() override;

 private:
  struct Work {
    std::shared_ptr<Attempt> attempt;
    Done done;
  };
  void Loop();
  RunResult Run(const Attempt& attempt) const;

  const HandlerRegistry& registry_;
  absl::Mutex mu_;
  std::deque<Work> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_THREAD_RUNNER_H_
