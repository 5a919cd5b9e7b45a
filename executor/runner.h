// A run mode: how an executor runs one attempt. The thread runner calls C++ handlers on a
// bounded pool, the process runner runs configured commands, the event-loop runner starts
// asynchronous handlers on a few loop threads (RunnerSet routes each task type to its
// mode's runner).
#ifndef TASKWIRE_EXECUTOR_RUNNER_H_
#define TASKWIRE_EXECUTOR_RUNNER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "executor/task_context.h"

namespace taskwire::executor {

// Mirrors taskwire.v1.RunMode.
enum class RunMode { kThread, kProcess, kEventLoop };

enum class RunOutcome { kSucceeded, kFailed, kCancelled, kTimedOut };

struct RunResult {
  // An attempt that never ran: the runner or the executor was stopping.
  static RunResult NotRun(std::string why) {
    RunResult r;
    r.outcome = RunOutcome::kCancelled;
    r.error = std::move(why);
    return r;
  }

  RunOutcome outcome = RunOutcome::kFailed;
  std::string output;
  std::string error;
  absl::Duration run_time = absl::ZeroDuration();
  std::optional<int> exit_code;  // process tasks that exited
  int term_signal = 0;           // process tasks ended by a signal
  // kFailed only: the handler (NotRetryable) or the process's exit code said that a retry
  // cannot help.
  bool not_retryable = false;
};

// One attempt in the executor: its context and the token that stops it.
struct Attempt {
  Attempt(std::string task_id, uint32_t attempt, std::string type, std::string payload,
          absl::Time deadline, std::vector<std::string> upstream_results = {})
      : token(deadline),
        context{std::move(task_id), attempt, std::move(type), std::move(payload), &token,
                std::move(upstream_results)} {}
  CancelToken token;
  TaskContext context;
};

class Runner {
 public:
  using Done = std::function<void(RunResult)>;
  virtual ~Runner() = default;
  // Starts `attempt` without blocking; calls `done` exactly once, on any thread.
  virtual void Start(std::shared_ptr<Attempt> attempt, Done done) = 0;
  // Called after cancelling the tokens of attempts started here, for a runner that does
  // not poll its tokens (the process runner watches pipes).
  virtual void CancelRequested() {}
  // Waits for every started attempt to end, then releases the runner's resources.
  virtual void Shutdown() = 0;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_RUNNER_H_
