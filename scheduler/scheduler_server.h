// Assembles a running scheduler: store, core, gRPC services (client API, executor link,
// health, reflection), the metrics endpoint and the thread that runs the core's timers. main.cc and
// the in-process integration tests both start the scheduler through this class.
#ifndef TASKWIRE_SCHEDULER_SCHEDULER_SERVER_H_
#define TASKWIRE_SCHEDULER_SCHEDULER_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/credentials.h"
#include "common/metrics_server.h"
#include "scheduler/auth/authorizer.h"
#include "scheduler/core/event_hub.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/scheduler_metrics.h"
#include "scheduler/service/scheduler_service.h"
#include "scheduler/store/store_metrics.h"
#include "scheduler/core/task_store.h"

namespace grpc {
class Server;
}

namespace taskwire::scheduler {

class ExecutorLinkService;

struct SchedulerServerOptions {
  std::string listen = "127.0.0.1:7070";       // port 0 picks a free one
  std::string metrics_listen = "127.0.0.1:9464";  // empty: no metrics endpoint
  // A plaintext listener with gRPC health only, for probes that cannot do TLS; empty: none.
  std::string health_listen;
  ServerSecurity tls;       // plaintext unless a certificate is given
  // The access file (scheduler/auth/); none: every caller may do everything. Looked at
  // again every tls.reload_interval, as the certificate files are.
  std::string access_file;
  // "sqlite": durable, one file <data_dir>/taskwire.db; "memory": tasks die with the process
  // (tests, benchmarks). taskwire-scheduler defaults to sqlite; in-process tests keep memory.
  std::string store = "memory";
  std::string data_dir = "./taskwire-data";
  std::string sqlite_synchronous = "normal";  // or "full": see sqlite_task_store.h
  // With the memory store: finished tasks kept at most (the oldest go first); 0: no limit.
  size_t max_retained_tasks = 100'000;
  size_t max_message_bytes = 64 << 20;  // gRPC's limit; the payload limit is in core.limits
  CoreOptions core;
  ServiceOptions service;
};

class SchedulerServer {
 public:
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(SchedulerServerOptions options);
  ~SchedulerServer();

  // host:port of the gRPC listener and of /metrics (empty when disabled).
  const std::string& address() const { return address_; }
  const std::string& health_address() const { return health_address_; }
  std::string metrics_address() const { return metrics_ ? metrics_->address() : ""; }
  SchedulerCore& core() { return *core_; }
  prometheus::Registry& registry() { return *registry_; }

  // Stops accepting calls, ends open streams, and joins. Idempotent.
  void Shutdown();

 private:
  explicit SchedulerServer(SchedulerServerOptions options);
  absl::Status Init();
  absl::Status OpenStore();  // store_ per options_.store; needs registry_
  absl::Status StartHealthListener();
  void WarnAboutOpenAccess() const;
  void TimerLoop();

  const SchedulerServerOptions options_;
  RealClock clock_;
  std::unique_ptr<StoreMetrics> store_metrics_;  // outlives store_
  std::unique_ptr<TaskStore> store_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<SchedulerMetrics> scheduler_metrics_;
  EventHub events_;
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<Authorizer> auth_;
  std::unique_ptr<SchedulerService> service_;
  std::unique_ptr<ExecutorLinkService> link_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_;  // --health-listen
  std::unique_ptr<MetricsServer> metrics_;
  std::string address_;
  std::string health_address_;
  absl::Mutex timer_mu_;
  absl::Time wake_at_ ABSL_GUARDED_BY(timer_mu_) = absl::InfiniteFuture();
  bool timer_changed_ ABSL_GUARDED_BY(timer_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(timer_mu_) = false;
  std::thread timers_;
  bool shut_down_ = false;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SCHEDULER_SERVER_H_
