// Runs process-mode attempts: each task type listed in the executor's config is a command
// that runs as a subprocess (DESIGN.md, "Run modes on the executor"). The payload goes to
// its stdin, its stdout (bounded) is the result, the tail of its stderr the error detail;
// a non-zero exit, a signal, a timeout or too much output fails the attempt, never the
// executor.
//
// At most `slots` children run at once; further attempts wait here in order. One I/O
// thread serves every child: it polls their pipes and pidfds, feeds stdin, enforces
// deadlines (SIGTERM to the process group, SIGKILL after `kill_grace`) and reaps. So the
// executor's memory stays bounded (max_output_bytes + stderr tail per child) whatever a
// child writes, and nothing else in the executor blocks on a child.
//
// Thread-safe. Cancel is not polled: after cancelling the token of an attempt started
// here, call CancelRequested().
#ifndef TASKWIRE_EXECUTOR_PROCESS_PROCESS_RUNNER_H_
#define TASKWIRE_EXECUTOR_PROCESS_PROCESS_RUNNER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "executor/process/process_config.h"
#include "executor/process/process_metrics.h"
#include "executor/process/unique_fd.h"
#include "executor/runner.h"

namespace taskwire::executor {

class PreparedCommand;

struct ProcessRunnerOptions {
  std::vector<ProcessCommand> commands;
  uint32_t slots = 1;
  // Between SIGTERM and SIGKILL on timeout, cancel and shutdown.
  absl::Duration kill_grace = absl::Seconds(5);
};

class ProcessRunner final : public Runner {
 public:
  // Starts the I/O thread. `metrics` must outlive the runner.
  ProcessRunner(ProcessRunnerOptions options, ProcessMetrics& metrics);
  ~ProcessRunner() override;

  // An attempt whose type has no command fails at once.
  void Start(std::shared_ptr<Attempt> attempt, Done done) override;
  // Attempts not started yet end as cancelled; running children are stopped (SIGTERM,
  // then SIGKILL after the grace) and reaped. Returns when all are done.
  void Shutdown() override;
  void CancelRequested() override;

  bool Serves(absl::string_view type) const { return commands_.contains(type); }
  const std::vector<std::string>& types() const { return types_; }  // config order

 private:
  class IoLoop;
  struct Work {
    std::shared_ptr<Attempt> attempt;
    Done done;
  };

  void Wake();
  // Moves new work into `out`; returns whether Shutdown was called.
  bool TakePending(std::vector<Work>* out);
  const PreparedCommand* Find(const std::string& type) const;

  const ProcessRunnerOptions options_;
  ProcessMetrics& metrics_;
  absl::flat_hash_map<std::string, std::unique_ptr<PreparedCommand>> commands_;
  std::vector<std::string> types_;
  UniqueFd wake_fd_;  // an eventfd the I/O thread polls

  absl::Mutex mu_;
  std::vector<Work> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread io_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_PROCESS_PROCESS_RUNNER_H_
