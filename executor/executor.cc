#include "executor/executor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "executor/event_loop/event_loop_runner.h"
#include "executor/link_proto.h"
#include "executor/process/process_metrics.h"
#include "executor/process/process_runner.h"
#include "executor/thread_runner.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "prometheus/registry.h"

namespace taskwire::executor {
namespace {

constexpr char kReadyService[] = "ready";

std::string DefaultExecutorId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

std::string NewIncarnation() {
  std::random_device seed;
  std::mt19937_64 rng((uint64_t{seed()} << 32) ^ seed());
  return absl::StrFormat("%016x", rng());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Executor>> Executor::Start(ExecutorOptions options,
                                                          const HandlerRegistry& registry) {
  std::unique_ptr<Executor> executor(new Executor(std::move(options), registry));
  if (absl::Status s = executor->Init(); !s.ok()) return s;
  return executor;
}

Executor::Executor(ExecutorOptions options, const HandlerRegistry& registry)
    : options_(std::move(options)), registry_(registry) {}

absl::Status Executor::Init() {
  if (options_.thread_slots == 0) return absl::InvalidArgumentError("--slots must be at least 1");
  if (options_.event_loop_slots == 0 || options_.event_loop_threads == 0) {
    return absl::InvalidArgumentError(
        "--event-loop-slots and --event-loop-threads must be at least 1");
  }
  if (registry_.Types().empty() && registry_.AsyncTypes().empty() &&
      options_.process.commands.empty()) {
    return absl::InvalidArgumentError("no task types registered");
  }
  std::vector<std::string> in_process = registry_.Types();
  for (const std::string& type : registry_.AsyncTypes()) in_process.push_back(type);
  TW_RETURN_IF_ERROR(CheckNoThreadTypeClash(options_.process, in_process));
  process_slots_ = options_.process.commands.empty() ? 0 : options_.process.process_slots;
  id_ = options_.executor_id.empty() ? DefaultExecutorId() : options_.executor_id;
  incarnation_ = NewIncarnation();
  metrics_registry_ = std::make_shared<prometheus::Registry>();
  uint32_t all_slots = 0;
  for (const auto& [mode, slots] : ModeSlots()) all_slots += slots;
  exec_metrics_ = std::make_unique<ExecutorMetrics>(*metrics_registry_, all_slots);
  runners_.Add(RunMode::kThread, std::make_unique<ThreadRunner>(registry_, options_.thread_slots));
  for (const std::string& type : registry_.Types()) runners_.Route(type, RunMode::kThread);
  TW_RETURN_IF_ERROR(StartEventLoopRunner(runners_));
  TW_RETURN_IF_ERROR(StartProcessRunner(runners_));
  grpc::ChannelArguments unused;  // the server-name override goes through LinkOptions
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options_.security, unused);
  if (!credentials.ok()) return credentials.status();
  link_credentials_ = std::move(*credentials);
  TW_RETURN_IF_ERROR(StartHealth());
  if (!options_.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
        MetricsServer::Start(options_.metrics_listen, metrics_registry_);
    if (!metrics.ok()) return metrics.status();
    metrics_ = std::move(*metrics);
  }

  link_ = std::make_unique<SchedulerLink>(
      MakeLinkOptions(),
      LinkCallbacks{[this](v1::Hello& h) { OnHello(h); },
                    [this](const v1::Welcome& w) { OnWelcome(w); },
                    [this](v1::SchedulerMessage& m) { OnWork(m); },
                    [this](const std::string& reason) { OnDisconnected(reason); },
                    [this](const absl::Status& status) { OnFatal(status); }});
  AttemptTableOptions table;
  table.max_message_bytes = static_cast<size_t>(options_.max_message_bytes);
  table_ = std::make_unique<AttemptTable>(clock_, *link_, table);
  link_->Start();
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  spdlog::info("executor {} (incarnation {}) dialling {}: {} thread slots, queues [{}], "
               "thread types [{}]", id_, incarnation_, options_.scheduler, options_.thread_slots,
               absl::StrJoin(options_.queues, ","), absl::StrJoin(registry_.Types(), ","));
  return absl::OkStatus();
}

std::vector<std::pair<RunMode, uint32_t>> Executor::ModeSlots() const {
  std::vector<std::pair<RunMode, uint32_t>> out = {{RunMode::kThread, options_.thread_slots}};
  if (!registry_.AsyncTypes().empty()) {
    out.emplace_back(RunMode::kEventLoop, options_.event_loop_slots);
  }
  if (process_slots_ > 0) out.emplace_back(RunMode::kProcess, process_slots_);
  return out;
}

absl::Status Executor::StartEventLoopRunner(RunnerSet& runners) {
  const std::vector<std::string> types = registry_.AsyncTypes();
  if (types.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<EventLoopRunner>> runner =
      EventLoopRunner::Create(registry_, options_.event_loop_threads);
  if (!runner.ok()) return runner.status();
  runners.Add(RunMode::kEventLoop, *std::move(runner));
  for (const std::string& type : types) runners.Route(type, RunMode::kEventLoop);
  spdlog::info("event-loop mode: {} slots on {} loop threads, types [{}]",
               options_.event_loop_slots, options_.event_loop_threads, absl::StrJoin(types, ","));
  return absl::OkStatus();
}

absl::Status Executor::StartHealth() {
  if (options_.health_listen.empty()) return absl::OkStatus();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  no_service_ = std::make_unique<grpc::CallbackGenericService>();
  builder.RegisterCallbackGenericService(no_service_.get());
  // gRPC sets SO_REUSEPORT by default: a second executor on the same health address would
  // start and split the probes with the first. A taken port is a start-up error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options_.health_tls);
  if (!credentials.ok()) return credentials.status();
  int port = 0;
  builder.AddListeningPort(options_.health_listen, *credentials, &port);
  health_ = builder.BuildAndStart();
  if (health_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.health_listen));
  }
  health_address_ = absl::StrCat(
      options_.health_listen.substr(0, options_.health_listen.rfind(':')), ":", port);
  SetReady(false);
  return absl::OkStatus();
}

LinkOptions Executor::MakeLinkOptions() const {
  LinkOptions link;
  link.target = options_.scheduler;
  link.credentials = link_credentials_;
  link.tls_server_name = options_.security.server_name;
  link.min_backoff = options_.min_backoff;
  link.max_backoff = options_.max_backoff;
  link.max_message_bytes = options_.max_message_bytes;
  link.refused_id_grace = options_.refused_id_grace;
  link.hello.set_executor_id(id_);
  link.hello.set_incarnation(incarnation_);
  link.hello.set_version(kVersion);
  // A credit window per mode, so that a thread task never waits behind event-loop slots;
  // `slots` is their sum for a scheduler that knows one window only.
  uint32_t all_slots = 0;
  for (const auto& [mode, slots] : ModeSlots()) {
    v1::ModeSlots* m = link.hello.add_mode_slots();
    m->set_mode(ToProto(mode));
    m->set_slots(slots);
    all_slots += slots;
  }
  link.hello.set_slots(all_slots);
  for (const std::string& q : options_.queues) link.hello.add_queues(q);
  for (const auto& [type, mode] : runners_.routes()) {
    v1::TaskTypeInfo* info = link.hello.add_task_types();
    info->set_name(type);
    info->set_mode(ToProto(mode));
  }
  return link;
}

absl::Status Executor::StartProcessRunner(RunnerSet& runners) {
  if (options_.process.commands.empty()) return absl::OkStatus();
  if (options_.process.process_slots == 0) {
    return absl::InvalidArgumentError("process_slots must be at least 1 with process task types");
  }
  for (const ProcessCommand& command : options_.process.commands) {
    // Not fatal: the program may appear later (a mounted volume); its attempts fail meanwhile.
    if (access(command.argv[0].c_str(), X_OK) != 0) {
      spdlog::warn("process task type '{}': {} is not executable here ({}); its attempts "
                   "will fail until it is", command.type, command.argv[0], std::strerror(errno));
    }
  }
  process_metrics_ = std::make_unique<ProcessMetrics>(*metrics_registry_);
  ProcessRunnerOptions options;
  options.commands = options_.process.commands;
  options.slots = options_.process.process_slots;
  options.kill_grace = options_.kill_grace;
  auto runner = std::make_unique<ProcessRunner>(std::move(options), *process_metrics_);
  const std::vector<std::string> types = runner->types();
  runners.Add(RunMode::kProcess, std::move(runner));
  // Only a type listed in the config runs as a process.
  for (const std::string& type : types) runners.Route(type, RunMode::kProcess);
  spdlog::info("process mode: {} slots, types [{}], kill grace {}", options_.process.process_slots,
               absl::StrJoin(types, ","), absl::FormatDuration(options_.kill_grace));
  return absl::OkStatus();
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (table_) table_->CancelAll();
  runners_.CancelRequested();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (link_) link_->Stop(absl::Seconds(1));
  runners_.Shutdown();  // waits for what still runs (processes are killed and reaped)
  if (health_) health_->Shutdown(std::chrono::system_clock::now());
}

void Executor::SetReady(bool ready) {
  if (health_) health_->GetHealthCheckService()->SetServingStatus(kReadyService, ready);
}

void Executor::OnHello(v1::Hello& hello) { AddToHello(table_->OnHello(), hello); }

void Executor::OnWelcome(const v1::Welcome& welcome) {
  table_->OnWelcome(WelcomeFromProto(welcome));
  exec_metrics_->Connected(true);
  SetReady(!table_->draining());
  spdlog::info("linked to scheduler {} as {}", options_.scheduler, welcome.executor_id());
  absl::MutexLock lock(&mu_);
  welcomed_ = true;
}

void Executor::OnDisconnected(const std::string& reason) {
  table_->OnDisconnected();
  exec_metrics_->Connected(false);
  exec_metrics_->Reconnect();
  SetReady(false);
  if (table_->draining()) {
    spdlog::info("link to scheduler closed ({})", reason);
  } else {
    spdlog::warn("link to scheduler lost ({}); {} running attempts go on, their results wait "
                 "for the next connection", reason, table_->running());
  }
}

void Executor::OnFatal(const absl::Status& status) {
  std::string why;
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    why = absl::StrFormat(
        "executor id '%s' is already connected to the scheduler (another process uses --id "
        "%s); give each executor its own --id (scheduler said: %s)",
        id_, id_, status.message());
  } else {
    why = absl::StrFormat(
        "the scheduler at %s refused this executor's Hello: %s; fix the executor's flags or "
        "config (queues, task types, slots, version) and start it again",
        options_.scheduler, status.message());
  }
  spdlog::error("{}", why);
  SetReady(false);
  absl::MutexLock lock(&mu_);
  fatal_ = true;
  fatal_status_ = absl::Status(status.code(), why);
}

bool Executor::WaitForFatal(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&fatal_), timeout);
}

absl::Status Executor::fatal_status() const {
  absl::MutexLock lock(&mu_);
  return fatal_status_;
}

bool Executor::WaitUntilLinked(absl::Duration timeout) { return table_->AwaitLinked(timeout); }

void Executor::OnWork(v1::SchedulerMessage& message) {
  table_->OnHeard();
  if (message.assignments_size() > 0) {
    std::vector<std::shared_ptr<Attempt>> attempts;
    attempts.reserve(message.assignments_size());
    for (v1::Assignment& a : *message.mutable_assignments()) {
      attempts.push_back(AttemptFromProto(a));
    }
    for (std::shared_ptr<Attempt>& attempt : table_->OnAssignments(std::move(attempts))) {
      exec_metrics_->AttemptStarted();
      runners_.For(attempt->context.type).Start(attempt, [this, attempt](RunResult r) {
        Finished(attempt, std::move(r));
      });
    }
  }
  if (message.cancels_size() > 0 && table_->OnCancels(CancelsFromProto(message)) > 0) {
    runners_.CancelRequested();
  }
}

void Executor::Finished(const std::shared_ptr<Attempt>& attempt, RunResult result) {
  exec_metrics_->AttemptFinished(attempt->context.type, result.outcome, result.run_time);
  table_->OnFinished(attempt, std::move(result));
}

void Executor::HeartbeatLoop() {
  absl::MutexLock lock(&mu_);
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || welcomed_; };
  while (!stopping_) {
    const bool was_woken =
        mu_.AwaitWithTimeout(absl::Condition(&woken), table_->heartbeat_interval());
    if (stopping_) break;
    if (was_woken) {  // a Welcome may have changed the interval: start it afresh
      welcomed_ = false;
      continue;
    }
    mu_.Unlock();
    table_->Tick();
    mu_.Lock();
  }
}

bool Executor::Drain() {
  const size_t left = table_->StartDrain("shutting down");
  SetReady(false);
  spdlog::info("draining: {} attempts running, grace {}", left,
               absl::FormatDuration(options_.drain_grace));
  bool clean = true;
  if (!table_->AwaitIdle(options_.drain_grace)) {
    spdlog::warn("drain grace passed; cancelling {} attempts (they will run elsewhere)",
                 table_->CancelAll());
    runners_.CancelRequested();
    // Cancelled processes end within the kill grace (SIGTERM, then SIGKILL).
    const absl::Duration bound =
        process_slots_ > 0 ? std::max(absl::Seconds(5), options_.kill_grace + absl::Seconds(1))
                           : absl::Seconds(5);
    clean = table_->AwaitIdle(bound);
  }
  link_->Stop(absl::Seconds(5));  // sends the last results, then closes
  spdlog::info("drained{}", clean ? "" : " (some handlers ignored their cancel token)");
  return clean;
}

}  // namespace taskwire::executor
