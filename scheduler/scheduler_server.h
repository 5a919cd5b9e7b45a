// Assembles a running scheduler: store, core, gRPC services (client API, executor link,
// health, reflection), the metrics endpoint and the thread that runs the core's timers. main.cc and
// the in-process integration tests both start the scheduler through this class.
#ifndef TASKWIRE_SCHEDULER_SCHEDULER_SERVER_H_
#define TASKWIRE_SCHEDULER_SCHEDULER_SERVER_H_

#include <atomic>
#include <functional>
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
#include "scheduler/leader_election.h"
#include "scheduler/service/leader_gate.h"
#include "scheduler/store/store_metrics.h"
#include "scheduler/core/task_store.h"

namespace grpc {
class Server;
}

namespace taskwire::scheduler {

class ExecutorLinkService;
class KedaScalerService;
class PostgresLease;
class PostgresTaskStore;

struct SchedulerServerOptions {
  std::string listen = "127.0.0.1:7070";       // port 0 picks a free one
  std::string metrics_listen = "127.0.0.1:9464";  // empty: no metrics endpoint
  // A plaintext listener with gRPC health only, for probes that cannot do TLS; empty: none.
  std::string health_listen;
  // A plaintext listener for KEDA's external scaler (externalscaler.ExternalScaler); empty:
  // none.
  std::string keda_listen;
  ServerSecurity tls;       // plaintext unless a certificate is given
  // The access file (scheduler/auth/); none: every caller may do everything. Looked at
  // again every tls.reload_interval, as the certificate files are.
  std::string access_file;
  // "sqlite": durable, one file <data_dir>/taskwire.db; "postgres": durable, a database that
  // several schedulers share (one leads, the others stand by); "memory": tasks die with the
  // process (tests, benchmarks). taskwire-scheduler defaults to sqlite; in-process tests
  // keep memory.
  std::string store = "memory";
  std::string data_dir = "./taskwire-data";
  std::string sqlite_synchronous = "normal";  // or "full": see sqlite_task_store.h
  std::string postgres_url;                   // a libpq URL (postgres_task_store.h)
  bool postgres_synchronous_commit = true;
  // With the postgres store, the schedulers on one database elect a leader by a lease this
  // long (leader_election.h); the others are standbys until it expires.
  absl::Duration leader_lease = absl::Seconds(10);
  std::string advertise;  // this scheduler's address as standbys name it; empty: the listener's
  // Runs (once) when this scheduler loses the leadership; it must step down. Default: log
  // and exit with status 4, for the supervisor to restart it as a standby.
  std::function<void(const std::string& reason)> on_lost_leadership;
  // With the memory store: finished tasks kept at most (the oldest go first); 0: no limit.
  size_t max_retained_tasks = 100'000;
  size_t max_message_bytes = 64 << 20;  // gRPC's limit; the payload limit is in core.limits
  CoreOptions core;
  ServiceOptions service;
};

// The exit status of a scheduler that lost the leadership (SchedulerServerOptions::
// on_lost_leadership's default).
inline constexpr int kExitLostLeadership = 4;

class SchedulerServer {
 public:
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(SchedulerServerOptions options);
  ~SchedulerServer();

  // host:port of the gRPC listener and of /metrics (empty when disabled).
  const std::string& address() const { return address_; }
  const std::string& health_address() const { return health_address_; }
  const std::string& keda_address() const { return keda_address_; }  // empty when disabled
  std::string metrics_address() const { return metrics_ ? metrics_->address() : ""; }
  SchedulerCore& core() { return *core_; }
  // Whether this scheduler serves: always without a leader lease, else while it leads.
  bool leader() const { return gate_.open(); }
  prometheus::Registry& registry() { return *registry_; }

  // Stops accepting calls, ends open streams, and joins. Idempotent.
  void Shutdown();

 private:
  explicit SchedulerServer(SchedulerServerOptions options);
  absl::Status Init();
  absl::Status OpenStore();  // store_ per options_.store; needs registry_
  absl::Status OpenPostgres();
  // Starts what only the leader runs (the core's threads) and opens the gate.
  void StartServing();
  absl::Status TakeOver(uint64_t term);  // the election's on_elected
  void StepDown(const std::string& reason);
  std::string StandbyMessage() const;
  absl::Status StartHealthListener();
  absl::Status StartKedaListener();
  void WarnAboutOpenAccess() const;
  void TimerLoop();

  const SchedulerServerOptions options_;
  RealClock clock_;
  std::unique_ptr<StoreMetrics> store_metrics_;  // outlives store_
  std::unique_ptr<TaskStore> store_;
  PostgresTaskStore* postgres_ = nullptr;  // store_, when it is PostgreSQL
  std::unique_ptr<PostgresLease> lease_;
  std::unique_ptr<LeaderElection> election_;  // with lease_
  LeaderGate gate_;
  std::atomic<uint64_t> led_term_{0};  // the term this scheduler took over with
  prometheus::Gauge* leader_gauge_ = nullptr;
  prometheus::Gauge* term_gauge_ = nullptr;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<SchedulerMetrics> scheduler_metrics_;
  EventHub events_;
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<Authorizer> auth_;
  std::unique_ptr<SchedulerService> service_;
  std::unique_ptr<ExecutorLinkService> link_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_;  // --health-listen
  std::unique_ptr<KedaScalerService> keda_;
  std::unique_ptr<grpc::Server> keda_server_;  // --keda-listen; shut down before keda_ goes
  std::unique_ptr<MetricsServer> metrics_;
  std::string address_;
  std::string health_address_;
  std::string keda_address_;
  absl::Mutex timer_mu_;
  absl::Time wake_at_ ABSL_GUARDED_BY(timer_mu_) = absl::InfiniteFuture();
  bool timer_changed_ ABSL_GUARDED_BY(timer_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(timer_mu_) = false;
  std::thread timers_;
  bool shut_down_ = false;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SCHEDULER_SERVER_H_
