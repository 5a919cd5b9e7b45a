// What an event-loop handler gets: its task, the loop it runs on, and the completion
// handle. The handler starts its work (a timer, a socket, an HTTP transfer on the loop)
// and returns at once; the attempt ends when Complete is called, from any thread, or when
// it is cancelled or its deadline passes.
//
//   registry.RegisterAsync("timer.wait", [](AsyncTask task) {
//     EventLoop::TimerId t = task.loop().AddTimer(absl::Now() + absl::Seconds(1),
//                                                 [task] { task.Complete("waited"); });
//     task.OnAbort([task, t] { task.loop().CancelTimer(t); });
//   });
//
// Complete counts once: the first call (or a cancel, or the deadline) ends the attempt, and
// any later call is dropped. The OnAbort function runs on the loop thread when a cancel or
// the deadline ends the attempt first: it stops the in-flight work (cancels the timer,
// removes the transfer). A handler that throws fails its attempt; one that never completes
// is ended by its deadline, a cancel, or the executor's drain.
#ifndef TASKWIRE_EXECUTOR_EVENT_LOOP_ASYNC_TASK_H_
#define TASKWIRE_EXECUTOR_EVENT_LOOP_ASYNC_TASK_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "executor/task_context.h"

namespace taskwire::executor {

class EventLoop;
struct AsyncAttempt;  // the runner's state of one attempt (event_loop_runner.cc)

class AsyncTask {
 public:
  explicit AsyncTask(std::shared_ptr<AsyncAttempt> attempt) : attempt_(std::move(attempt)) {}

  const TaskContext& context() const;
  EventLoop& loop() const;
  // Any thread; the first of Complete, a cancel and the deadline ends the attempt.
  // An error status fails it (NotRetryable(...) for good, as with thread handlers).
  void Complete(absl::StatusOr<std::string> result) const;
  // On the loop thread (in the handler, or a callback on its loop): what stops the work
  // when a cancel or the deadline ends the attempt first. A later call replaces it.
  void OnAbort(std::function<void()> abort) const;
  // Whether the attempt has ended (completed, cancelled or timed out).
  bool ended() const;

 private:
  std::shared_ptr<AsyncAttempt> attempt_;
};

// An event-loop task type's handler: starts the work on task.loop() and returns.
using AsyncHandler = std::function<void(AsyncTask task)>;

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_EVENT_LOOP_ASYNC_TASK_H_
