// taskwire-executor: the stock executor. It runs the built-in task types of --builtins on a
// thread pool and an event loop (http.* within the fetch policy of --fetch-allow/--fetch-deny),
// and the process task types of its --config file as subprocesses (docs/process-tasks.md);
// a program of your own can do the same with its own HandlerRegistry (see README).
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "common/credential_flags.h"
#include "absl/strings/str_cat.h"
#include "common/json_string.h"
#include "common/log_flags.h"
#include "common/scheduler_target.h"
#include "common/logging.h"
#include "common/process_signals.h"
#include "common/version.h"
#include "executor/builtin_tasks.h"
#include "executor/executor.h"
#include "executor/process/process_config.h"

namespace {

// Each event-loop fetch holds a socket: thousands at once need more descriptors than the
// usual soft limit of 1024. The hard limit is the operator's bound.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  taskwire::BlockShutdownSignals();
  taskwire::DisableMutexDeadlockDetection();
  taskwire::executor::ExecutorOptions options;
  taskwire::LogOptions log{.service = "executor"};
  double drain_grace = absl::ToDoubleSeconds(options.drain_grace);
  double max_backoff = absl::ToDoubleSeconds(options.max_backoff);
  double kill_grace = absl::ToDoubleSeconds(options.kill_grace);
  double refused_id_grace = absl::ToDoubleSeconds(options.refused_id_grace);
  std::string ready_file;
  std::string config_path;
  std::string builtins = "all";
  std::string fetch_allow;
  std::string fetch_deny;
  size_t http_max_response_bytes = taskwire::executor::BuiltinOptions{}.http_max_response_bytes;

  CLI::App app{"taskwire-executor: runs tasks that the scheduler assigns to it"};
  app.footer(
      "Every flag can also be set with the environment variable shown.\n"
      "Built-in task types (--builtins): on threads collect, echo, fail, primes, sha256,\n"
      "thread.http.get, thread.sleep; on the event loop http.get, http.request, sleep\n"
      "(docs/tasks.md, docs/event-loop.md). The http.* types fetch what clients name: they\n"
      "never connect to loopback, link-local (169.254.169.254) or unspecified addresses\n"
      "unless --fetch-allow lists them by address; once --fetch-allow is given, only what it\n"
      "lists is fetched; --fetch-deny wins over both. Entries: 10.0.0.0/8, fd00::/8,\n"
      "10.1.2.3, api.example.com, *.example.com.\n"
      "Process task types come from --config (docs/process-tasks.md).\n"
      "Health (grpc.health.v1): service \"\" = alive, \"ready\" = linked and not draining.\n"
      "On SIGTERM it drains: takes no new work, lets running tasks finish within\n"
      "--drain-grace, hands the rest back to the scheduler, and exits 0.\n"
      "Exit codes: 0 drained; 1 cannot start; 2 bad flags or config; 3 refused by the\n"
      "scheduler for good (another live process uses this --id past --refused-id-grace, or\n"
      "the scheduler rejects this executor's Hello): the log says why.\n"
      "Example:\n  taskwire-executor --scheduler 127.0.0.1:7070 --slots 16 --queues default,bulk");
  app.add_option("--scheduler", options.scheduler,
                 "scheduler address (host:port); several schedulers sharing one store: a "
                 "list (host:port,host:port,...) or dns:///name:port with several records, "
                 "and the executor follows the leader")
      ->envname("TASKWIRE_SCHEDULER")->capture_default_str();
  app.add_option("--id", options.executor_id, "executor id (default: hostname-pid)")
      ->envname("TASKWIRE_EXECUTOR_ID");
  app.add_option("--queues", options.queues, "queues to serve")
      ->envname("TASKWIRE_QUEUES")->delimiter(',')->capture_default_str();
  app.add_option("--slots", options.thread_slots, "thread tasks run at once (thread pool size)")
      ->envname("TASKWIRE_SLOTS")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--event-loop-slots", options.event_loop_slots,
                 "event-loop tasks (http.get, sleep ...) run at once; a waiting one holds no "
                 "thread")
      ->envname("TASKWIRE_EVENT_LOOP_SLOTS")->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--event-loop-threads", options.event_loop_threads,
                 "threads that run the event loops (tasks are spread over them)")
      ->envname("TASKWIRE_EVENT_LOOP_THREADS")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--config", config_path,
                 "executor config file (text format): process task types and slots per mode")
      ->envname("TASKWIRE_EXECUTOR_CONFIG");
  app.add_option("--builtins", builtins,
                 "built-in task types to serve: all, none, or a comma-separated list")
      ->envname("TASKWIRE_BUILTINS")->capture_default_str();
  app.add_option("--fetch-allow", fetch_allow,
                 "comma-separated IPs, CIDRs and host names the http.* tasks may fetch; when "
                 "given, "
                 "nothing else (an address entry also lifts the default deny, e.g. 127.0.0.1)")
      ->envname("TASKWIRE_FETCH_ALLOW");
  app.add_option("--fetch-deny", fetch_deny,
                 "comma-separated IPs, CIDRs and host names the http.* tasks never fetch, even if "
                 "allowed; added to the default deny list")
      ->envname("TASKWIRE_FETCH_DENY");
  app.add_option("--http-max-response-bytes", http_max_response_bytes,
                 "an http.* response body larger than this fails its task (not retried); the "
                 "output keeps the first 1 MiB")
      ->envname("TASKWIRE_HTTP_MAX_RESPONSE_BYTES")->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 40));
  app.add_option("--kill-grace", kill_grace,
                 "seconds between SIGTERM and SIGKILL when a process task times out or is "
                 "cancelled")
      ->envname("TASKWIRE_KILL_GRACE")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--health-listen", options.health_listen,
                 "grpc.health.v1 address; empty disables it")
      ->envname("TASKWIRE_HEALTH_LISTEN")->capture_default_str();
  app.add_option("--health-tls-cert", options.health_tls.cert_file,
                 "serve the health port over TLS with this PEM certificate (default: plaintext, "
                 "for probes)")
      ->envname("TASKWIRE_HEALTH_TLS_CERT");
  app.add_option("--health-tls-key", options.health_tls.key_file,
                 "the PEM private key of --health-tls-cert")
      ->envname("TASKWIRE_HEALTH_TLS_KEY");
  taskwire::AddChannelSecurityFlags(app, options.security);
  app.add_option("--metrics-listen", options.metrics_listen,
                 "Prometheus /metrics address; empty disables it")
      ->envname("TASKWIRE_METRICS_LISTEN")->capture_default_str();
  app.add_option("--drain-grace", drain_grace, "seconds a drain waits for running tasks")
      ->envname("TASKWIRE_DRAIN_GRACE")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--max-backoff", max_backoff, "longest wait between reconnects, seconds")
      ->envname("TASKWIRE_MAX_BACKOFF")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--refused-id-grace", refused_id_grace,
                 "seconds the executor keeps dialling while the scheduler refuses its id as "
                 "in use (a restart within the old session's lease), before it exits with 3")
      ->envname("TASKWIRE_REFUSED_ID_GRACE")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-message-bytes", options.max_message_bytes,
                 "largest gRPC message to or from the scheduler (keep it equal to the "
                 "scheduler's); a result that does not fit fails its own attempt")
      ->envname("TASKWIRE_MAX_MESSAGE_BYTES")->capture_default_str()
      ->check(CLI::Range(1 << 20, 1 << 30));
  app.add_option("--ready-file", ready_file,
                 "write {\"health\":ADDR,\"metrics\":ADDR} here once started")
      ->envname("TASKWIRE_READY_FILE");
  taskwire::AddLogFlags(app, log);
  app.set_version_flag("--version", absl::StrCat("taskwire-executor ", taskwire::kVersion),
                       "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (absl::StatusOr<taskwire::SchedulerTarget> target =
          taskwire::ParseSchedulerTarget(options.scheduler);
      !target.ok()) {
    std::cerr << "taskwire-executor: --scheduler: " << target.status().message() << "\n";
    return 2;
  }

  if (absl::Status s = taskwire::InitLogging(log); !s.ok()) {
    std::cerr << "taskwire-executor: " << s.message() << "\n";
    return 2;
  }
  RaiseDescriptorLimit();
  taskwire::executor::BuiltinOptions builtin_options;
  builtin_options.http_max_response_bytes = http_max_response_bytes;
  if (auto types = taskwire::executor::ParseBuiltinList(builtins); types.ok()) {
    builtin_options.types = *std::move(types);
  } else {
    spdlog::critical("{}", types.status().message());
    return 2;
  }
  if (auto policy = taskwire::executor::FetchPolicy::Parse(fetch_allow, fetch_deny);
      policy.ok()) {
    builtin_options.fetch_policy = *std::move(policy);
  } else {
    spdlog::critical("{}", policy.status().message());
    return 2;
  }
  options.drain_grace = absl::Seconds(drain_grace);
  options.max_backoff = absl::Seconds(max_backoff);
  options.kill_grace = absl::Seconds(kill_grace);
  options.refused_id_grace = absl::Seconds(refused_id_grace);
  if (!config_path.empty()) {
    absl::StatusOr<taskwire::executor::ProcessConfig> config =
        taskwire::executor::LoadProcessConfig(config_path);
    if (!config.ok()) {
      spdlog::critical("{}", config.status().message());
      return 2;
    }
    // The file sets the thread slots unless --slots (or TASKWIRE_SLOTS) does.
    if (config->thread_slots != 0 && app.count("--slots") == 0) {
      options.thread_slots = config->thread_slots;
    }
    options.process = std::move(*config);
  }

  taskwire::executor::HandlerRegistry registry;
  if (absl::Status s = taskwire::executor::RegisterBuiltinTasks(registry, builtin_options);
      !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  if (registry.FindAsync("http.get") != nullptr || registry.FindAsync("http.request") != nullptr ||
      registry.Find("thread.http.get") != nullptr) {
    spdlog::info("http.* fetch policy: {}", builtin_options.fetch_policy.Describe());
  }
  auto executor = taskwire::executor::Executor::Start(options, registry);
  if (!executor.ok()) {
    spdlog::critical("cannot start: {}", executor.status().ToString());
    return 1;
  }
  if (!ready_file.empty()) {
    const std::string json =
        absl::StrCat(R"({"health":)", taskwire::JsonString((*executor)->health_address()),
                     R"(,"metrics":)", taskwire::JsonString((*executor)->metrics_address()),
                     R"(,"id":)", taskwire::JsonString((*executor)->id()), "}");
    if (absl::Status s = taskwire::WriteReadyFile(ready_file, json); !s.ok()) {
      spdlog::critical("{}", s.ToString());
      return 1;
    }
  }
  // A refusal by the scheduler ends the wait like a signal: the watcher raises SIGTERM,
  // which only WaitForShutdownSignal takes (every thread blocks it).
  std::atomic<bool> signalled{false};
  std::thread watcher([&] {
    while (!signalled.load()) {
      if ((*executor)->WaitForFatal(absl::Milliseconds(200))) {
        kill(getpid(), SIGTERM);
        return;
      }
    }
  });
  const int sig = taskwire::WaitForShutdownSignal();
  signalled.store(true);
  watcher.join();
  if (absl::Status fatal = (*executor)->fatal_status(); !fatal.ok()) {
    // The executor has logged why, with what to do.
    spdlog::critical("refused by the scheduler; exiting with code {}",
                     taskwire::executor::kExitRefused);
    executor->reset();  // cancels what still runs; the scheduler already counts it lost
    spdlog::shutdown();
    return taskwire::executor::kExitRefused;
  }
  spdlog::info("signal {}: draining", sig);
  if (!(*executor)->Drain()) {
    // A handler is stuck and threads cannot be killed: its task already runs elsewhere.
    spdlog::warn("exiting with handlers still running");
    spdlog::shutdown();
    _exit(0);
  }
  executor->reset();
  spdlog::info("stopped");
  return 0;
}
