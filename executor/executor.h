// A running executor: links to the scheduler, announces its task types, queues and slots,
// runs assigned attempts on its runners (thread mode for the registry's handlers, process
// mode for the config's commands), streams results back, heartbeats, and drains on
// request. Also serves grpc.health.v1 ("" = alive; "ready" = linked and not draining)
// and /metrics. The stock taskwire-executor binary and a user's own executor program
// (with its own HandlerRegistry) both start one of these.
//
// Reconnects: when the link breaks (or the scheduler restarts), running attempts keep
// running. The next Hello lists them (Hello.running) so the scheduler keeps those still
// current and cancels the others; results of attempts that end while disconnected are
// kept (a bounded buffer) and sent right after the next Welcome.
#ifndef TASKWIRE_EXECUTOR_EXECUTOR_H_
#define TASKWIRE_EXECUTOR_EXECUTOR_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics_server.h"
#include "executor/executor_metrics.h"
#include "executor/handler_registry.h"
#include "executor/process/process_config.h"
#include "executor/runner.h"
#include "executor/scheduler_link.h"

namespace grpc {
class CallbackGenericService;
class Server;
}  // namespace grpc

namespace taskwire::executor {

class ProcessMetrics;
class ProcessRunner;

struct ExecutorOptions {
  std::string scheduler = "127.0.0.1:7070";
  std::string executor_id;                  // empty: hostname-pid
  std::vector<std::string> queues = {"default"};
  uint32_t thread_slots = 8;
  // Process-mode task types and their slots (--config); none by default. The executor
  // announces thread_slots + process_slots; each mode keeps its own bound locally.
  ProcessConfig process;
  // Between SIGTERM and SIGKILL when a process attempt times out or is cancelled.
  absl::Duration kill_grace = absl::Seconds(5);
  std::string health_listen = "127.0.0.1:7071";  // empty: no health server
  std::string metrics_listen = "127.0.0.1:9465";  // empty: no metrics endpoint
  // How long a drain waits for running attempts before cancelling them.
  absl::Duration drain_grace = absl::Seconds(30);
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_message_bytes = 64 << 20;
};

class Executor {
 public:
  static absl::StatusOr<std::unique_ptr<Executor>> Start(ExecutorOptions options,
                                                         const HandlerRegistry& registry);
  ~Executor();

  // Stops taking work, tells the scheduler, waits up to drain_grace for running attempts
  // (then cancels the rest, which the scheduler runs elsewhere), sends the last results
  // and closes the link. Returns false if some handler ignored its cancel token.
  bool Drain();

  // Blocks until the scheduler has welcomed this executor, or `timeout` passes.
  bool WaitUntilLinked(absl::Duration timeout);

  const std::string& id() const { return id_; }
  bool connected() const { return link_->connected(); }
  std::string health_address() const { return health_address_; }
  std::string metrics_address() const { return metrics_ ? metrics_->address() : ""; }
  prometheus::Registry& metrics_registry() { return *metrics_registry_; }

 private:
  Executor(ExecutorOptions options, const HandlerRegistry& registry);
  absl::Status Init();
  using AttemptKey = std::pair<std::string, uint32_t>;  // task id, attempt number

  void OnHello(v1::Hello& hello);
  void OnWelcome(const v1::Welcome& welcome);
  void OnWork(v1::SchedulerMessage& message);
  void OnDisconnected(const std::string& reason);
  void Finished(const std::shared_ptr<Attempt>& attempt, RunResult result);
  // Sends the result now if linked, else keeps it for the next Welcome.
  void SendResult(const Attempt& attempt, const RunResult& result);
  void KeepUnsentLocked(v1::AttemptResult result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the kept results if linked.
  void FlushUnsent();
  void HeartbeatLoop();
  void SetReady(bool ready);
  absl::Status StartProcessRunner();
  Runner& RunnerFor(const std::string& type);
  // After cancelling tokens: the process runner watches pipes, not tokens.
  void CancelsRequested();

  const ExecutorOptions options_;
  const HandlerRegistry& registry_;
  std::string id_;
  std::shared_ptr<prometheus::Registry> metrics_registry_;
  std::unique_ptr<ExecutorMetrics> exec_metrics_;
  std::unique_ptr<Runner> runner_;  // thread mode
  std::unique_ptr<ProcessMetrics> process_metrics_;
  std::unique_ptr<ProcessRunner> process_runner_;  // null without process task types
  std::unique_ptr<SchedulerLink> link_;
  // The health server has no service of ours: an empty generic service puts it on the
  // callback API, which the default health service needs to answer.
  std::unique_ptr<grpc::CallbackGenericService> no_service_;
  std::unique_ptr<grpc::Server> health_;
  std::string health_address_;
  std::unique_ptr<MetricsServer> metrics_;
  std::thread heartbeat_;

  absl::Mutex mu_;
  // Running attempts. Keyed by attempt, not task: after a reconnect the scheduler may
  // assign a task again while its earlier attempt still runs here (until cancelled).
  absl::flat_hash_map<AttemptKey, std::shared_ptr<Attempt>> running_ ABSL_GUARDED_BY(mu_);
  // Attempts out of running_ (finished, or refused while draining) whose result is not yet
  // handed to the link: a drain waits for these too, or it would close the stream under a
  // result on its way.
  size_t reporting_ ABSL_GUARDED_BY(mu_) = 0;
  // Results that could not be sent (no welcomed link), oldest first, sent after the next
  // Welcome. Bounded (count and bytes): past the bound the oldest is dropped, and the
  // scheduler treats that attempt as lost (it was not listed in Hello.running).
  std::deque<v1::AttemptResult> unsent_ ABSL_GUARDED_BY(mu_);
  size_t unsent_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool linked_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(3);
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_EXECUTOR_H_
