// What a thread-mode handler sees of its task: the payload, the results of its upstream
// workflow nodes, who it is, and a cancel token that trips when the scheduler cancels the
// attempt or its timeout passes. Cancellation is cooperative: long handlers check
// cancelled() or sleep through SleepFor().
//
// A handler that knows a retry cannot help (bad input, say) returns
// NotRetryable(absl::InvalidArgumentError("...")): the attempt fails and the scheduler
// does not retry it, whatever the task's retry policy (docs/tasks.md).
#ifndef TASKWIRE_EXECUTOR_TASK_CONTEXT_H_
#define TASKWIRE_EXECUTOR_TASK_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
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
  uint32_t attempt = 0;  // 1 for the first attempt
  std::string type;
  std::string payload;
  const CancelToken* token = nullptr;
  // For a workflow node: the outputs of the nodes it waits for, in the order of its
  // dependency list (WorkflowNode.after). Empty for a plain task and a workflow's roots.
  std::vector<std::string> upstream_results;

  bool stop_requested() const { return token->stop_requested(); }
  // What a handler that takes "one input" works on: the payload when there are no upstream
  // results; otherwise the upstream results concatenated in order, then the payload. So
  // in a chain echo("hello") -> sha256, sha256 hashes "hello" (docs/workflows.md).
  std::string input() const;
};

// Marks `status` (not OK) as permanent: the attempt fails without a retry. The mark is a
// status payload (kNotRetryablePayload), so it survives copies and rewrapping that keep
// payloads. An OK status is returned unchanged.
absl::Status NotRetryable(absl::Status status);
bool IsNotRetryable(const absl::Status& status);
inline constexpr char kNotRetryablePayload[] = "type.taskwire.dev/not-retryable";

// A thread-mode task: returns the output, or an error that fails the attempt.
using Handler = std::function<absl::StatusOr<std::string>(const TaskContext&)>;

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_TASK_CONTEXT_H_
