#include "scheduler/scheduler_server.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "prometheus/registry.h"
#include "scheduler/service/executor_link_service.h"
#include "scheduler/store/memory_task_store.h"
#include "scheduler/store/sqlite_task_store.h"

namespace taskwire::scheduler {

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(
    SchedulerServerOptions options) {
  std::unique_ptr<SchedulerServer> server(new SchedulerServer(std::move(options)));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

SchedulerServer::SchedulerServer(SchedulerServerOptions options) : options_(std::move(options)) {}

absl::Status SchedulerServer::Init() {
  registry_ = std::make_shared<prometheus::Registry>();
  if (absl::Status s = OpenStore(); !s.ok()) return s;
  scheduler_metrics_ = std::make_unique<SchedulerMetrics>(*registry_);
  core_ = std::make_unique<SchedulerCore>(clock_, *store_, events_, scheduler_metrics_.get(),
                                          options_.core);
  if (absl::Status s = core_->Recover(); !s.ok()) return s;
  if (!options_.access_file.empty() && !options_.tls.tls()) {
    return absl::InvalidArgumentError(
        "--auth-file needs --tls-cert and --tls-key: bearer tokens must not travel in plaintext");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options_.tls);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<std::unique_ptr<Authorizer>> authorizer =
      Authorizer::Create(options_.access_file, options_.tls.reload_interval, registry_.get());
  if (!authorizer.ok()) return authorizer.status();
  auth_ = std::move(*authorizer);
  service_ = std::make_unique<SchedulerService>(*core_, events_, *auth_, options_.service);
  link_ = std::make_unique<ExecutorLinkService>(*core_, *auth_, scheduler_metrics_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, *credentials, &port);
  // gRPC sets SO_REUSEPORT by default: a second scheduler on the same address would start
  // and silently take half the clients. A taken port must be a start-up error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
  builder.RegisterService(service_.get());
  builder.RegisterService(link_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen,
                                               ": the address is taken or not valid (--listen)"));
  }
  address_ = absl::StrCat(options_.listen.substr(0, options_.listen.rfind(':')), ":", port);
  server_->GetHealthCheckService()->SetServingStatus(true);
  if (absl::Status s = StartHealthListener(); !s.ok()) return s;
  WarnAboutOpenAccess();

  if (!options_.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
        MetricsServer::Start(options_.metrics_listen, registry_);
    if (!metrics.ok()) return metrics.status();
    metrics_ = std::move(*metrics);
  }
  core_->SetTimerListener([this](absl::Time at) {
    absl::MutexLock lock(&timer_mu_);
    if (at < wake_at_) {
      wake_at_ = at;
      timer_changed_ = true;
    }
  });
  // A durable commit costs a write (and an fsync in full mode): the core's own threads do
  // it (one for delivery rounds, one for new tasks), so that gRPC's threads go on while it
  // commits, and what piles up meanwhile goes in one commit (bench/README.md). A memory
  // commit costs less than the thread hop, so there the calling thread commits and delivers.
  if (options_.store != "memory") core_->StartDeliveryThread();
  timers_ = std::thread([this] { TimerLoop(); });
  spdlog::info("scheduler listening on {} ({}; metrics: {}{})", address_,
               options_.tls.tls() ? (options_.tls.client_ca_file.empty() ? "TLS" : "mTLS")
                                  : "plaintext",
               metrics_ ? metrics_->address() : "off",
               health_ ? absl::StrCat("; health: ", health_address_) : "");
  return absl::OkStatus();
}

// Kubelet's gRPC probes cannot do TLS: this port answers grpc.health.v1 and nothing else.
absl::Status SchedulerServer::StartHealthListener() {
  if (options_.health_listen.empty()) return absl::OkStatus();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.health_listen, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  health_ = builder.BuildAndStart();
  if (health_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.health_listen,
                                               ": the address is taken or not valid "
                                               "(--health-listen)"));
  }
  health_address_ = absl::StrCat(
      options_.health_listen.substr(0, options_.health_listen.rfind(':')), ":", port);
  health_->GetHealthCheckService()->SetServingStatus(true);
  return absl::OkStatus();
}

void SchedulerServer::WarnAboutOpenAccess() const {
  if (!options_.tls.tls()) {
    spdlog::warn("*** OPEN ACCESS: no TLS and no --auth-file. Anyone who reaches {} can submit, "
                 "read and cancel every task, and connect as an executor to receive every "
                 "payload. Fine on loopback; elsewhere see docs/security.md ***",
                 address_);
  } else if (!auth_->enabled()) {
    spdlog::warn("*** TLS without --auth-file: every client that completes the handshake{} may "
                 "do everything, executors included. See docs/security.md ***",
                 options_.tls.client_ca_file.empty() ? "" : " (with a certificate from the CA)");
  }
}

// Calls the core's Tick when its next timer is due, when it reports an earlier one, and at
// least every heartbeat interval (to notice silent executors).
void SchedulerServer::TimerLoop() {
  absl::Time next = core_->Tick();
  for (;;) {
    const absl::Time at_the_latest = absl::Now() + options_.core.heartbeat_interval;
    {
      absl::MutexLock lock(&timer_mu_);
      for (;;) {
        if (stopping_) return;
        const absl::Time until = std::min({next, wake_at_, at_the_latest});
        if (absl::Now() >= until) break;
        timer_mu_.AwaitWithDeadline(absl::Condition(&timer_changed_), until);
        timer_changed_ = false;
      }
      wake_at_ = absl::InfiniteFuture();
    }
    next = core_->Tick();
  }
}

absl::Status SchedulerServer::OpenStore() {
  if (options_.store == "memory") {
    store_ = std::make_unique<MemoryTaskStore>(options_.max_retained_tasks,
                                               /*history_only=*/true);
    spdlog::warn("store: {}. NOT DURABLE: every task is lost when the scheduler stops; "
                 "use --store=sqlite outside tests and benchmarks",
                 store_->Describe());
    return absl::OkStatus();
  }
  if (options_.store != "sqlite") {
    return absl::InvalidArgumentError(
        absl::StrCat("--store=", options_.store, ": unknown store (available: sqlite, memory)"));
  }
  if (options_.data_dir.empty()) return absl::InvalidArgumentError("--data-dir is empty");
  absl::StatusOr<SqliteSynchronous> synchronous =
      ParseSqliteSynchronous(options_.sqlite_synchronous);
  if (!synchronous.ok()) return synchronous.status();
  store_metrics_ = std::make_unique<StoreMetrics>(*registry_);
  SqliteOptions sqlite;
  sqlite.synchronous = *synchronous;
  sqlite.metrics = store_metrics_.get();
  const std::string path = (std::filesystem::path(options_.data_dir) / "taskwire.db").string();
  absl::StatusOr<std::unique_ptr<SqliteTaskStore>> store = SqliteTaskStore::Open(path, sqlite);
  if (!store.ok()) return store.status();
  spdlog::info("store: {}", (*store)->Describe());
  store_ = std::move(*store);
  return absl::OkStatus();
}

void SchedulerServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&timer_mu_);
    stopping_ = true;
    timer_changed_ = true;
  }
  if (timers_.joinable()) timers_.join();
  if (server_) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    // Open streams (executors, watchers) are cancelled at the deadline.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
  }
  if (health_) {
    health_->GetHealthCheckService()->SetServingStatus(false);
    health_->Shutdown();
  }
  // After the server: calls still open until then may wait for a delivery.
  if (core_) core_->StopDeliveryThread();
  metrics_.reset();
}

SchedulerServer::~SchedulerServer() { Shutdown(); }

}  // namespace taskwire::scheduler
