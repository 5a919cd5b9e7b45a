#include "executor/executor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
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

// Bounds of the results kept while disconnected: enough for every slot's results over a
// long outage, small beside the executor's own memory.
constexpr size_t kMaxUnsentResults = 10'000;
constexpr size_t kMaxUnsentBytes = 64 << 20;

v1::AttemptOutcome ToProto(RunOutcome o) {
  switch (o) {
    case RunOutcome::kSucceeded: return v1::ATTEMPT_OUTCOME_SUCCEEDED;
    case RunOutcome::kFailed: return v1::ATTEMPT_OUTCOME_FAILED;
    case RunOutcome::kCancelled: return v1::ATTEMPT_OUTCOME_CANCELLED;
    case RunOutcome::kTimedOut: return v1::ATTEMPT_OUTCOME_TIMED_OUT;
  }
  return v1::ATTEMPT_OUTCOME_FAILED;
}

std::string DefaultExecutorId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
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
  if (registry_.Types().empty() && options_.process.commands.empty()) {
    return absl::InvalidArgumentError("no task types registered");
  }
  TW_RETURN_IF_ERROR(CheckNoThreadTypeClash(options_.process, registry_.Types()));
  const uint32_t process_slots =
      options_.process.commands.empty() ? 0 : options_.process.process_slots;
  id_ = options_.executor_id.empty() ? DefaultExecutorId() : options_.executor_id;
  metrics_registry_ = std::make_shared<prometheus::Registry>();
  exec_metrics_ =
      std::make_unique<ExecutorMetrics>(*metrics_registry_, options_.thread_slots + process_slots);
  runner_ = std::make_unique<ThreadRunner>(registry_, options_.thread_slots);
  TW_RETURN_IF_ERROR(StartProcessRunner());

  if (!options_.health_listen.empty()) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    no_service_ = std::make_unique<grpc::CallbackGenericService>();
    builder.RegisterCallbackGenericService(no_service_.get());
    int port = 0;
    builder.AddListeningPort(options_.health_listen, grpc::InsecureServerCredentials(), &port);
    health_ = builder.BuildAndStart();
    if (health_ == nullptr || port == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.health_listen));
    }
    health_address_ = absl::StrCat(
        options_.health_listen.substr(0, options_.health_listen.rfind(':')), ":", port);
    SetReady(false);
  }
  if (!options_.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> metrics =
        MetricsServer::Start(options_.metrics_listen, metrics_registry_);
    if (!metrics.ok()) return metrics.status();
    metrics_ = std::move(*metrics);
  }

  LinkOptions link;
  link.target = options_.scheduler;
  link.min_backoff = options_.min_backoff;
  link.max_backoff = options_.max_backoff;
  link.max_message_bytes = options_.max_message_bytes;
  link.hello.set_executor_id(id_);
  link.hello.set_version(TASKWIRE_VERSION);
  // One credit window for both modes: the runners bound each mode's share locally.
  link.hello.set_slots(options_.thread_slots + process_slots);
  for (const std::string& q : options_.queues) link.hello.add_queues(q);
  for (const std::string& type : registry_.Types()) {
    v1::TaskTypeInfo* info = link.hello.add_task_types();
    info->set_name(type);
    info->set_mode(v1::RUN_MODE_THREAD);
  }
  if (process_runner_) {
    for (const std::string& type : process_runner_->types()) {
      v1::TaskTypeInfo* info = link.hello.add_task_types();
      info->set_name(type);
      info->set_mode(v1::RUN_MODE_PROCESS);
    }
  }
  link_ = std::make_unique<SchedulerLink>(
      std::move(link),
      LinkCallbacks{[this](v1::Hello& h) { OnHello(h); },
                    [this](const v1::Welcome& w) { OnWelcome(w); },
                    [this](v1::SchedulerMessage& m) { OnWork(m); },
                    [this](const std::string& reason) { OnDisconnected(reason); }});
  link_->Start();
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  spdlog::info("executor {} dialling {}: {} thread slots, queues [{}], types [{}]", id_,
               options_.scheduler, options_.thread_slots, absl::StrJoin(options_.queues, ","),
               absl::StrJoin(registry_.Types(), ","));
  if (process_runner_) {
    spdlog::info("process mode: {} slots, types [{}], kill grace {}", process_slots,
                 absl::StrJoin(process_runner_->types(), ","),
                 absl::FormatDuration(options_.kill_grace));
  }
  return absl::OkStatus();
}

absl::Status Executor::StartProcessRunner() {
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
  process_runner_ = std::make_unique<ProcessRunner>(std::move(options), *process_metrics_);
  return absl::OkStatus();
}

Runner& Executor::RunnerFor(const std::string& type) {
  // Only a type listed in the config runs as a process; anything else goes to the thread
  // runner, which fails it if no handler has that name.
  if (process_runner_ && process_runner_->Serves(type)) return *process_runner_;
  return *runner_;
}

void Executor::CancelsRequested() {
  if (process_runner_) process_runner_->CancelRequested();
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [key, attempt] : running_) attempt->token.Cancel();
  }
  CancelsRequested();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (link_) link_->Stop(absl::Seconds(1));
  if (process_runner_) process_runner_->Shutdown();  // kills and reaps what still runs
  if (runner_) runner_->Shutdown();
  if (health_) health_->Shutdown(std::chrono::system_clock::now());
}

void Executor::SetReady(bool ready) {
  if (health_) health_->GetHealthCheckService()->SetServingStatus(kReadyService, ready);
}

void Executor::OnHello(v1::Hello& hello) {
  absl::MutexLock lock(&mu_);
  auto add = [&hello](const std::string& task_id, uint32_t attempt) {
    v1::AttemptRef* ref = hello.add_running();
    ref->set_task_id(task_id);
    ref->set_attempt(attempt);
  };
  for (const auto& [key, attempt] : running_) add(key.first, key.second);
  // Finished but not reported: listed too, so that the scheduler keeps the attempt current
  // until its result arrives after the Welcome.
  for (const v1::AttemptResult& r : unsent_) add(r.task_id(), r.attempt());
}

void Executor::OnWelcome(const v1::Welcome& welcome) {
  bool draining;
  {
    absl::MutexLock lock(&mu_);
    linked_ = true;
    if (welcome.has_heartbeat_interval()) {
      heartbeat_interval_ = std::max(absl::Milliseconds(10), FromProto(welcome.heartbeat_interval()));
    }
    draining = draining_;
  }
  exec_metrics_->Connected(true);
  SetReady(!draining);
  spdlog::info("linked to scheduler {} as {}", options_.scheduler, welcome.executor_id());
  FlushUnsent();
}

void Executor::OnDisconnected(const std::string& reason) {
  exec_metrics_->Connected(false);
  exec_metrics_->Reconnect();
  SetReady(false);
  // Running attempts go on: the next Hello lists them, and their results wait for the
  // next Welcome. The scheduler cancels those it no longer counts as current.
  absl::MutexLock lock(&mu_);
  linked_ = false;
  if (draining_) {
    spdlog::info("link to scheduler closed ({})", reason);
  } else {
    spdlog::warn("link to scheduler lost ({}); {} running attempts go on, their results wait "
                 "for the next connection", reason, running_.size());
  }
}

bool Executor::WaitUntilLinked(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&linked_), timeout);
}

void Executor::OnWork(v1::SchedulerMessage& message) {
  std::vector<std::shared_ptr<Attempt>> rejected;
  std::vector<std::shared_ptr<Attempt>> accepted;
  {
    absl::MutexLock lock(&mu_);
    for (v1::Assignment& a : *message.mutable_assignments()) {
      const absl::Duration timeout = FromProto(a.timeout());
      auto attempt = std::make_shared<Attempt>(
          std::move(*a.mutable_task_id()), a.attempt(), std::move(*a.mutable_type()),
          std::move(*a.mutable_payload()),
          timeout > absl::ZeroDuration() ? absl::Now() + timeout : absl::InfiniteFuture(),
          std::vector<std::string>(std::make_move_iterator(a.mutable_upstream_results()->begin()),
                                   std::make_move_iterator(a.mutable_upstream_results()->end())));
      if (draining_) {
        rejected.push_back(std::move(attempt));
        continue;
      }
      // The same attempt assigned twice (a scheduler that lost track): run it once.
      if (!running_.emplace(AttemptKey(attempt->context.task_id, attempt->context.attempt), attempt)
               .second) {
        continue;
      }
      accepted.push_back(std::move(attempt));
    }
    for (const v1::AttemptRef& c : message.cancels()) {
      auto it = running_.find(AttemptKey(c.task_id(), c.attempt()));
      if (it != running_.end()) it->second->token.Cancel();
    }
    reporting_ += rejected.size();
  }
  if (!message.cancels().empty()) CancelsRequested();
  if (!rejected.empty()) {
    for (auto& attempt : rejected) {
      SendResult(*attempt, RunResult::NotRun("executor is draining"));
    }
    absl::MutexLock lock(&mu_);
    reporting_ -= rejected.size();
  }
  for (auto& attempt : accepted) {
    exec_metrics_->AttemptStarted();
    RunnerFor(attempt->context.type).Start(attempt, [this, attempt](RunResult r) {
      Finished(attempt, std::move(r));
    });
  }
}

void Executor::Finished(const std::shared_ptr<Attempt>& attempt, RunResult result) {
  exec_metrics_->AttemptFinished(attempt->context.type, result.outcome, result.run_time);
  {
    absl::MutexLock lock(&mu_);
    auto it = running_.find(AttemptKey(attempt->context.task_id, attempt->context.attempt));
    if (it != running_.end() && it->second == attempt) running_.erase(it);
    ++reporting_;
  }
  SendResult(*attempt, result);
  absl::MutexLock lock(&mu_);
  --reporting_;
}

void Executor::SendResult(const Attempt& attempt, const RunResult& result) {
  v1::AttemptResult r;
  r.set_task_id(attempt.context.task_id);
  r.set_attempt(attempt.context.attempt);
  r.set_outcome(ToProto(result.outcome));
  r.set_output(result.output);
  r.set_error(result.error);
  r.set_not_retryable(result.not_retryable && result.outcome == RunOutcome::kFailed);
  taskwire::ToProto(result.run_time, r.mutable_run_time());
  if (result.exit_code || result.term_signal != 0) {
    r.mutable_process()->set_exit_code(result.exit_code.value_or(0));
    r.mutable_process()->set_term_signal(result.term_signal);
  }
  {
    absl::MutexLock lock(&mu_);
    if (!linked_) {
      KeepUnsentLocked(std::move(r));
      return;
    }
  }
  if (link_->Send([&r](v1::ExecutorMessage& m) { m.add_results()->Swap(&r); })) return;
  {
    absl::MutexLock lock(&mu_);
    KeepUnsentLocked(std::move(r));
  }
  FlushUnsent();  // in case a Welcome came in between
}

void Executor::KeepUnsentLocked(v1::AttemptResult result) {
  unsent_bytes_ += result.ByteSizeLong();
  unsent_.push_back(std::move(result));
  while (unsent_.size() > kMaxUnsentResults || unsent_bytes_ > kMaxUnsentBytes) {
    spdlog::warn("dropping the unsent result of task {} attempt {}: more than {} results or "
                 "{} bytes wait for the link (the scheduler will count the attempt lost)",
                 unsent_.front().task_id(), unsent_.front().attempt(), kMaxUnsentResults,
                 kMaxUnsentBytes);
    unsent_bytes_ -= unsent_.front().ByteSizeLong();
    unsent_.pop_front();
  }
}

void Executor::FlushUnsent() {
  std::deque<v1::AttemptResult> results;
  {
    absl::MutexLock lock(&mu_);
    if (!linked_ || unsent_.empty()) return;
    results.swap(unsent_);
    unsent_bytes_ = 0;
  }
  const size_t n = results.size();
  const bool sent = link_->Send([&results](v1::ExecutorMessage& m) {
    for (v1::AttemptResult& r : results) m.add_results()->Swap(&r);
  });
  if (sent) {
    spdlog::info("sent {} results of attempts that ended while disconnected", n);
    return;
  }
  absl::MutexLock lock(&mu_);  // the link broke again: keep them, oldest first
  for (auto it = results.rbegin(); it != results.rend(); ++it) {
    unsent_bytes_ += it->ByteSizeLong();
    unsent_.push_front(std::move(*it));
  }
}

void Executor::HeartbeatLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), heartbeat_interval_);
    if (stopping_) break;
    std::vector<AttemptKey> running;
    for (const auto& [key, attempt] : running_) running.push_back(key);
    mu_.Unlock();
    link_->Send([&](v1::ExecutorMessage& m) {
      v1::Heartbeat* hb = m.mutable_heartbeat();
      hb->clear_running();
      for (const auto& [id, number] : running) {
        v1::AttemptRef* ref = hb->add_running();
        ref->set_task_id(id);
        ref->set_attempt(number);
      }
    });
    mu_.Lock();
  }
}

bool Executor::Drain() {
  size_t left;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    left = running_.size();
  }
  SetReady(false);
  link_->Send([](v1::ExecutorMessage& m) { m.mutable_drain()->set_reason("shutting down"); });
  spdlog::info("draining: {} attempts running, grace {}", left,
               absl::FormatDuration(options_.drain_grace));
  bool clean = true;
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return running_.empty() && reporting_ == 0;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&idle), options_.drain_grace)) {
      spdlog::warn("drain grace passed; cancelling {} attempts (they will run elsewhere)",
                   running_.size());
      for (auto& [key, attempt] : running_) attempt->token.Cancel();
      CancelsRequested();
      // Cancelled processes end within the kill grace (SIGTERM, then SIGKILL).
      const absl::Duration bound =
          process_runner_ ? std::max(absl::Seconds(5), options_.kill_grace + absl::Seconds(1))
                          : absl::Seconds(5);
      clean = mu_.AwaitWithTimeout(absl::Condition(&idle), bound);
    }
  }
  link_->Stop(absl::Seconds(5));  // sends the last results, then closes
  spdlog::info("drained{}", clean ? "" : " (some handlers ignored their cancel token)");
  return clean;
}

}  // namespace taskwire::executor
