// A running executor: links to the scheduler, announces its task types, queues and slots,
// runs assigned attempts on its runners (thread and event-loop modes for the registry's
// handlers, process mode for the config's commands), streams results back, heartbeats,
// and drains on
// request. Also serves grpc.health.v1 ("" = alive; "ready" = linked and not draining)
// and /metrics. The stock taskwire-executor binary and a user's own executor program
// (with its own HandlerRegistry) both start one of these.
//
// Reconnects: when the link breaks (or the scheduler restarts), running attempts keep
// running. The next Hello lists them (Hello.running) and the attempts that ended while
// disconnected (Hello.unreported), whose results (a bounded buffer) follow the Welcome.
// The link protocol's state lives in core/attempt_table.h; this class wires it to the
// gRPC link, the runners (one per run mode), health and metrics.
//
// A scheduler that refuses this executor for good (ALREADY_EXISTS for longer than
// refused_id_grace: another live process uses this --id; INVALID_ARGUMENT: a bad Hello)
// stops the link: WaitForFatal returns
// true and fatal_status() says why; the stock binary then exits with kExitRefused.
#ifndef TASKWIRE_EXECUTOR_EXECUTOR_H_
#define TASKWIRE_EXECUTOR_EXECUTOR_H_

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/credentials.h"
#include "common/metrics_server.h"
#include "executor/core/attempt_table.h"
#include "executor/executor_metrics.h"
#include "executor/handler_registry.h"
#include "executor/process/process_config.h"
#include "executor/runner.h"
#include "executor/runner_set.h"
#include "executor/scheduler_link.h"

namespace grpc {
class CallbackGenericService;
class Server;
}  // namespace grpc

namespace taskwire::executor {

class ProcessMetrics;

// The exit code of taskwire-executor when the scheduler refuses it for good.
inline constexpr int kExitRefused = 3;

struct ExecutorOptions {
  std::string scheduler = "127.0.0.1:7070";
  std::string executor_id;                  // empty: hostname-pid
  std::vector<std::string> queues = {"default"};
  uint32_t thread_slots = 8;
  // Event-loop attempts at once (the registry's async handlers): an idle wait costs no
  // thread, so thousands; and the loop threads that carry them.
  uint32_t event_loop_slots = 10'000;
  uint32_t event_loop_threads = 1;
  // Process-mode task types and their slots (--config); none by default. The executor
  // announces thread_slots + process_slots; each mode keeps its own bound locally.
  ProcessConfig process;
  // Between SIGTERM and SIGKILL when a process attempt times out or is cancelled.
  absl::Duration kill_grace = absl::Seconds(5);
  std::string health_listen = "127.0.0.1:7071";  // empty: no health server
  ServerSecurity health_tls;  // the health port's certificate; none: plaintext, for probes
  ChannelSecurity security;   // how to reach the scheduler: TLS, a token
  std::string metrics_listen = "127.0.0.1:9465";  // empty: no metrics endpoint
  // How long a drain waits for running attempts before cancelling them.
  absl::Duration drain_grace = absl::Seconds(30);
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_message_bytes = 64 << 20;
  // How long a refusal of this executor's id (ALREADY_EXISTS) is retried before the
  // executor gives up (LinkOptions::refused_id_grace).
  absl::Duration refused_id_grace = absl::Seconds(30);
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

  // Blocks until the scheduler refused this executor for good (true), or `timeout` passes.
  bool WaitForFatal(absl::Duration timeout);
  // OK unless refused: then why, with what to do.
  absl::Status fatal_status() const;

  const std::string& id() const { return id_; }
  // Random, chosen once per Executor: tells the scheduler a redial from a second process.
  const std::string& incarnation() const { return incarnation_; }
  bool connected() const { return link_->connected(); }
  std::string health_address() const { return health_address_; }
  std::string metrics_address() const { return metrics_ ? metrics_->address() : ""; }
  prometheus::Registry& metrics_registry() { return *metrics_registry_; }

 private:
  Executor(ExecutorOptions options, const HandlerRegistry& registry);
  absl::Status Init();
  absl::Status StartHealth();
  absl::Status StartProcessRunner(RunnerSet& runners);
  absl::Status StartEventLoopRunner(RunnerSet& runners);
  // Each mode's slots; the scheduler keeps a credit window per mode.
  std::vector<std::pair<RunMode, uint32_t>> ModeSlots() const;
  LinkOptions MakeLinkOptions() const;

  // The link's callbacks.
  void OnHello(v1::Hello& hello);
  void OnWelcome(const v1::Welcome& welcome);
  void OnWork(v1::SchedulerMessage& message);
  void OnDisconnected(const std::string& reason);
  void OnFatal(const absl::Status& status);
  void Finished(const std::shared_ptr<Attempt>& attempt, RunResult result);
  void HeartbeatLoop();
  void SetReady(bool ready);

  const ExecutorOptions options_;
  const HandlerRegistry& registry_;
  RealClock clock_;
  std::string id_;
  std::string incarnation_;
  uint32_t process_slots_ = 0;
  std::shared_ptr<prometheus::Registry> metrics_registry_;
  std::unique_ptr<ExecutorMetrics> exec_metrics_;
  std::unique_ptr<ProcessMetrics> process_metrics_;
  RunnerSet runners_;
  std::shared_ptr<grpc::ChannelCredentials> link_credentials_;  // set by Start
  std::unique_ptr<SchedulerLink> link_;
  std::unique_ptr<AttemptTable> table_;  // uses link_
  // The health server has no service of ours: an empty generic service puts it on the
  // callback API, which the default health service needs to answer.
  std::unique_ptr<grpc::CallbackGenericService> no_service_;
  std::unique_ptr<grpc::Server> health_;
  std::string health_address_;
  std::unique_ptr<MetricsServer> metrics_;
  std::thread heartbeat_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;  // wakes the heartbeat loop
  bool fatal_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fatal_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_EXECUTOR_H_
