// Runs event-loop attempts: each task type's AsyncHandler on one of a few loop threads
// (event_loop.h). An attempt holds no thread while it waits, so one loop carries thousands
// (--event-loop-slots); the scheduler bounds them with this mode's own credit window.
//
// Each attempt ends exactly once, by the first of: the handler's Complete, a cancel from
// the scheduler (CancelRequested), its deadline (a timer on its loop), a throw from the
// handler, or Shutdown. A cancel or the deadline calls the handler's OnAbort function on
// the loop thread, so the in-flight work stops; a Complete after that is dropped.
#ifndef TASKWIRE_EXECUTOR_EVENT_LOOP_EVENT_LOOP_RUNNER_H_
#define TASKWIRE_EXECUTOR_EVENT_LOOP_EVENT_LOOP_RUNNER_H_

#include <atomic>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "executor/event_loop/event_loop.h"
#include "executor/handler_registry.h"
#include "executor/runner.h"

namespace taskwire::executor {

struct LoopShard;

// One attempt on a loop. Fields after `ended` belong to the loop thread.
struct AsyncAttempt {
  std::shared_ptr<Attempt> attempt;
  std::shared_ptr<EventLoop> loop;  // a late Complete finds it stopped, not freed
  LoopShard* shard = nullptr;
  absl::Time started;
  std::atomic<bool> ended{false};  // set by whoever ends it first
  Runner::Done done;
  std::function<void()> abort;
  EventLoop::TimerId deadline_timer = 0;
};

// A loop and the attempts running on it (touched on the loop thread only).
struct LoopShard {
  std::shared_ptr<EventLoop> loop;
  absl::flat_hash_map<AsyncAttempt*, std::shared_ptr<AsyncAttempt>> running;
};

class EventLoopRunner final : public Runner {
 public:
  // `threads` loops (at least 1); fails if the kernel gives no epoll or timer descriptors.
  static absl::StatusOr<std::unique_ptr<EventLoopRunner>> Create(const HandlerRegistry& registry,
                                                                 size_t threads);
  ~EventLoopRunner() override;

  void Start(std::shared_ptr<Attempt> attempt, Done done) override;
  void CancelRequested() override;
  // Ends what still runs as cancelled (its OnAbort runs), then stops the loops.
  void Shutdown() override;

 private:
  explicit EventLoopRunner(const HandlerRegistry& registry) : registry_(registry) {}
  void StartOnLoop(LoopShard& shard, std::shared_ptr<Attempt> attempt, Done done);

  const HandlerRegistry& registry_;
  std::atomic<size_t> next_shard_{0};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<LoopShard>> shards_;  // fixed after Create
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_EVENT_LOOP_EVENT_LOOP_RUNNER_H_
