#include "scheduler/scheduler_server.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "prometheus/registry.h"
#include "scheduler/service/executor_link_service.h"
#include "scheduler/service/keda_scaler_service.h"
#include "scheduler/store/memory_task_store.h"
#include "scheduler/store/postgres_lease.h"
#include "scheduler/store/postgres_task_store.h"
#include "scheduler/store/sqlite_task_store.h"

namespace taskwire::scheduler {
namespace {

// The health service whose status says "this scheduler serves" (the leader).
constexpr char kSchedulerService[] = "taskwire.v1.Scheduler";

}  // namespace

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
  leader_gauge_ = &prometheus::BuildGauge()
                       .Name("taskwire_scheduler_leader")
                       .Help("1 while this scheduler serves (the leader, or the only "
                             "scheduler); 0 on a standby")
                       .Register(*registry_)
                       .Add({});
  term_gauge_ = &prometheus::BuildGauge()
                     .Name("taskwire_scheduler_leader_term")
                     .Help("the leader lease's term while this scheduler leads; 0 on a "
                           "standby and without a lease")
                     .Register(*registry_)
                     .Add({});
  // A standby loads the state only once it takes over: until then the leader changes it.
  if (lease_ == nullptr) {
    if (absl::Status s = core_->Recover(); !s.ok()) return s;
  }
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
  ServiceOptions service_options = options_.service;
  service_options.gate = &gate_;
  service_ = std::make_unique<SchedulerService>(*core_, events_, *auth_, service_options);
  link_ = std::make_unique<ExecutorLinkService>(*core_, *auth_, scheduler_metrics_.get(), &gate_);

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
  // "" answers whether the process runs (liveness); kSchedulerService whether it serves
  // (readiness: the leader), which clients with several addresses health-check.
  server_->GetHealthCheckService()->SetServingStatus(true);
  server_->GetHealthCheckService()->SetServingStatus(kSchedulerService, false);
  if (absl::Status s = StartHealthListener(); !s.ok()) return s;
  if (absl::Status s = StartKedaListener(); !s.ok()) return s;
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
  spdlog::info("scheduler listening on {} ({}; metrics: {}{})", address_,
               options_.tls.tls() ? (options_.tls.client_ca_file.empty() ? "TLS" : "mTLS")
                                  : "plaintext",
               metrics_ ? metrics_->address() : "off",
               health_ ? absl::StrCat("; health: ", health_address_) : "");
  if (lease_ == nullptr) {
    StartServing();
    return absl::OkStatus();
  }
  gate_.Close([this] { return StandbyMessage(); });
  const std::string advertise = options_.advertise.empty() ? address_ : options_.advertise;
  absl::BitGen random;
  election_ = std::make_unique<LeaderElection>(
      *lease_,
      ElectionOptions{.owner = absl::StrCat(advertise, "/", getpid(), "/",
                                            absl::Hex(absl::Uniform<uint32_t>(random))),
                      .advertise = advertise,
                      .lease = options_.leader_lease},
      [this](uint64_t term) { return TakeOver(term); },
      [this](const std::string& reason) { StepDown(reason); });
  election_->Start();
  return absl::OkStatus();
}

void SchedulerServer::StartServing() {
  // A durable commit costs a write (and an fsync in full mode): the core's own threads do
  // it (one for delivery rounds, one for new tasks), so that gRPC's threads go on while it
  // commits, and what piles up meanwhile goes in one commit (bench/README.md). A memory
  // commit costs less than the thread hop, so there the calling thread commits and delivers.
  if (options_.store != "memory") core_->StartDeliveryThread();
  {
    absl::MutexLock lock(&timer_mu_);
    if (stopping_) return;
    timers_ = std::thread([this] { TimerLoop(); });
  }
  gate_.Open();
  leader_gauge_->Set(1);
  server_->GetHealthCheckService()->SetServingStatus(kSchedulerService, true);
  if (health_) health_->GetHealthCheckService()->SetServingStatus(kSchedulerService, true);
}

absl::Status SchedulerServer::TakeOver(uint64_t term) {
  led_term_ = term;
  term_gauge_->Set(static_cast<double>(term));
  // From now on a write of an older term fails, and a write of this term fails once a
  // successor takes over.
  postgres_->FenceWithTerm(term);
  const absl::Time start = absl::Now();
  if (absl::Status s = core_->Recover(); !s.ok()) return s;
  StartServing();
  spdlog::info("serving as the leader (term {}): the state loaded in {:.3f} s", term,
               absl::ToDoubleSeconds(absl::Now() - start));
  return absl::OkStatus();
}

void SchedulerServer::StepDown(const std::string& reason) {
  gate_.Close([] { return std::string("this scheduler lost the leadership and is stopping"); });
  leader_gauge_->Set(0);
  term_gauge_->Set(0);
  server_->GetHealthCheckService()->SetServingStatus(kSchedulerService, false);
  if (health_) health_->GetHealthCheckService()->SetServingStatus(kSchedulerService, false);
  spdlog::critical("lost the leadership (term {}): {}; stepping down", led_term_.load(), reason);
  if (options_.on_lost_leadership) {
    options_.on_lost_leadership(reason);
    return;
  }
  // Its memory may be stale and its writes are fenced: exit, and let the supervisor start
  // it again as a standby.
  spdlog::shutdown();
  std::_Exit(kExitLostLeadership);
}

std::string SchedulerServer::StandbyMessage() const {
  const LeaseHolder holder = election_->holder();
  if (holder.advertise.empty()) return "this scheduler is a standby; no leader is known yet";
  return absl::StrCat("this scheduler is a standby; the leader is ", holder.advertise,
                      " (term ", holder.term, ")");
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
  health_->GetHealthCheckService()->SetServingStatus(kSchedulerService, false);
  return absl::OkStatus();
}

// KEDA's external scaler dials this port. Plaintext, and no access check: it answers with
// queue depths only, never a task. A port of its own, so that the main port's access rules
// stay whole.
absl::Status SchedulerServer::StartKedaListener() {
  if (options_.keda_listen.empty()) return absl::OkStatus();
  // A standby's core holds no state: only the leader answers.
  keda_ = std::make_unique<KedaScalerService>(*core_, [this] { return gate_.open(); });
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.keda_listen, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(keda_.get());
  keda_server_ = builder.BuildAndStart();
  if (keda_server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.keda_listen,
                                               ": the address is taken or not valid "
                                               "(--keda-listen)"));
  }
  keda_address_ = absl::StrCat(
      options_.keda_listen.substr(0, options_.keda_listen.rfind(':')), ":", port);
  spdlog::info("KEDA external scaler listening on {} (plaintext)", keda_address_);
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
  if (options_.store == "postgres") return OpenPostgres();
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
        absl::StrCat("--store=", options_.store,
                     ": unknown store (available: sqlite, postgres, memory)"));
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

absl::Status SchedulerServer::OpenPostgres() {
  if (options_.postgres_url.empty()) {
    return absl::InvalidArgumentError("--store=postgres needs --postgres-url");
  }
  if (options_.leader_lease < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--leader-lease must be at least 1 second");
  }
  store_metrics_ = std::make_unique<StoreMetrics>(*registry_);
  PostgresOptions postgres{
      .synchronous_commit = options_.postgres_synchronous_commit,
      .metrics = store_metrics_.get(),
      // A paused leader must not hold the lease row's lock past its lease.
      .idle_in_transaction_timeout = std::max(options_.leader_lease / 2, absl::Seconds(1)),
  };
  absl::StatusOr<std::unique_ptr<PostgresTaskStore>> store =
      PostgresTaskStore::Open(options_.postgres_url, std::move(postgres));
  if (!store.ok()) return store.status();
  absl::StatusOr<std::unique_ptr<PostgresLease>> lease =
      PostgresLease::Connect(options_.postgres_url, options_.leader_lease / 3);
  if (!lease.ok()) return lease.status();
  spdlog::info("store: {}; leader lease {}", (*store)->Describe(),
               absl::FormatDuration(options_.leader_lease));
  postgres_ = store->get();
  store_ = std::move(*store);
  lease_ = std::move(*lease);
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
  if (core_) core_->Stopping();
  // New calls go elsewhere; the executors' open streams may still deliver results, which
  // a leader commits: it renews its lease until the last write, then releases it.
  if (election_) {
    gate_.Close([] { return std::string("this scheduler is stopping"); });
    if (server_) server_->GetHealthCheckService()->SetServingStatus(kSchedulerService, false);
  }
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
  if (keda_) keda_->Stop();  // ends its open streams, so the shutdown need not wait
  if (keda_server_) {
    keda_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    keda_server_->Wait();
  }
  keda_.reset();  // before the core: its poller reads the core
  // After the server: calls still open until then may wait for a delivery.
  if (core_) core_->StopDeliveryThread();
  if (election_) {
    election_->Stop();
    election_->Release();
  }
  metrics_.reset();
}

SchedulerServer::~SchedulerServer() { Shutdown(); }

}  // namespace taskwire::scheduler
