// What a thread-mode handler sees of its task: the payload, who it is, and a cancel token
// that trips when the scheduler cancels the attempt or its timeout passes. Cancellation is
// cooperative: long handlers check cancelled() or sleep through SleepFor().
#ifndef TASKWIRE_EXECUTOR_TASK_CONTEXT_H_
#define TASKWIRE_EXECUTOR_TASK_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace taskwire::executor {

// Thread-safe.
class CancelToken {
 public:
  explicit CancelToken(absl::Time deadline = absl::InfiniteFuture()) : deadline_(deadline) {}

  void Cancel();
  bool cancelled() const;  // cancelled by request
  bool expired() const { return absl::Now() >= deadline_; }
  bool stop_requested() const { return cancelled() || expired(); }
  absl::Time deadline() const { return deadline_; }
  // Sleeps for `d` unless stopped first; returns false if stopped.
  bool SleepFor(absl::Duration d) const;

 private:
  const absl::Time deadline_;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

struct TaskContext {
  std::string task_id;
  uint32_t attempt = 0;
  std::string type;
  std::string payload;
  const CancelToken* token = nullptr;

  bool stop_requested() const { return token->stop_requested(); }
};

// A thread-mode task: returns the output, or an error that fails the attempt.
using Handler = std::function<absl::StatusOr<std::string>(const TaskContext&)>;

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_TASK_CONTEXT_H_
