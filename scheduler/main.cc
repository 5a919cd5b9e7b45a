// taskwire-scheduler: the gRPC service that accepts tasks and streams them to executors.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/credential_flags.h"
#include "common/json_string.h"
#include "common/log_flags.h"
#include "common/logging.h"
#include "common/process_signals.h"
#include "common/version.h"
#include "scheduler/scheduler_server.h"

int main(int argc, char** argv) {
  taskwire::BlockShutdownSignals();
  taskwire::DisableMutexDeadlockDetection();
  taskwire::scheduler::SchedulerServerOptions options;
  taskwire::LogOptions log{.service = "scheduler"};
  double executor_timeout = absl::ToDoubleSeconds(options.core.executor_timeout);
  double heartbeat = absl::ToDoubleSeconds(options.core.heartbeat_interval);
  std::string ready_file;

  CLI::App app{"taskwire-scheduler: accepts tasks over gRPC and streams them to executors"};
  app.footer(
      "Every flag can also be set with the environment variable shown.\n"
      "Example:\n  taskwire-scheduler --listen 0.0.0.0:7070 --metrics-listen 0.0.0.0:9464");
  app.add_option("--listen", options.listen, "gRPC address (port 0: any free port)")
      ->envname("TASKWIRE_LISTEN")->capture_default_str();
  app.add_option("--metrics-listen", options.metrics_listen,
                 "Prometheus /metrics address; empty disables it")
      ->envname("TASKWIRE_METRICS_LISTEN")->capture_default_str();
  options.store = "sqlite";  // the binary is durable by default; tests start with memory
  app.add_option("--store", options.store,
                 "task store: sqlite (durable, in --data-dir), postgres (durable, shared by "
                 "standby schedulers: --postgres-url) or memory (not durable: tests and "
                 "benchmarks)")
      ->envname("TASKWIRE_STORE")->capture_default_str()
      ->check(CLI::IsMember({"sqlite", "postgres", "memory"}));
  app.add_option("--max-retained-tasks", options.max_retained_tasks,
                 "with --store=memory: finished tasks kept in memory at most, the oldest "
                 "dropped first (a warning says so); 0: no limit. The sqlite store keeps "
                 "finished tasks on disk, for --retention")
      ->envname("TASKWIRE_MAX_RETAINED_TASKS")->capture_default_str();
  app.add_option("--data-dir", options.data_dir,
                 "directory of the sqlite store (the file is taskwire.db); created if missing")
      ->envname("TASKWIRE_DATA_DIR")->capture_default_str();
  app.add_option("--sqlite-synchronous", options.sqlite_synchronous,
                 "normal: a commit survives a killed process (not a power loss); full: also "
                 "a power loss, at one fsync per transaction")
      ->envname("TASKWIRE_SQLITE_SYNCHRONOUS")->capture_default_str()
      ->check(CLI::IsMember({"normal", "full"}));
  app.add_option("--postgres-url", options.postgres_url,
                 "with --store=postgres: the database, as a libpq URL, e.g. "
                 "postgresql://taskwire@db:5432/taskwire?sslmode=verify-full (a password "
                 "is better in PGPASSWORD or ~/.pgpass than in the URL)")
      ->envname("TASKWIRE_POSTGRES_URL");
  std::string synchronous_commit = "on";
  app.add_option("--postgres-synchronous-commit", synchronous_commit,
                 "on: a commit is on the database server's disk before the client hears of "
                 "it; off: faster, and a crash of the database server may lose its last "
                 "commits (a crash of the scheduler loses nothing)")
      ->envname("TASKWIRE_POSTGRES_SYNCHRONOUS_COMMIT")->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  double leader_lease = absl::ToDoubleSeconds(options.leader_lease);
  app.add_option("--leader-lease", leader_lease,
                 "with --store=postgres: seconds a leader's lease lasts; schedulers on one "
                 "database elect one leader, the others stand by and take over once its "
                 "lease runs out (renewed every third of it)")
      ->envname("TASKWIRE_LEADER_LEASE")->capture_default_str()->check(CLI::Range(1.0, 3600.0));
  app.add_option("--advertise", options.advertise,
                 "this scheduler's address as the others name it to clients while it leads "
                 "(host:port); default: the --listen address")
      ->envname("TASKWIRE_ADVERTISE");
  app.add_option("--max-payload-bytes", options.core.limits.max_payload_bytes,
                 "largest task payload accepted")
      ->envname("TASKWIRE_MAX_PAYLOAD_BYTES")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-batch-size", options.core.limits.max_batch_size,
                 "most tasks in one SubmitBatch")
      ->envname("TASKWIRE_MAX_BATCH_SIZE")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-message-bytes", options.max_message_bytes,
                 "largest gRPC message accepted")
      ->envname("TASKWIRE_MAX_MESSAGE_BYTES")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--executor-timeout,--lease-time", executor_timeout,
                 "seconds without a message before an executor counts as lost and its attempts' "
                 "leases end; also how long a restarted scheduler keeps running attempts for "
                 "their executors to reconnect")
      ->envname("TASKWIRE_EXECUTOR_TIMEOUT")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--heartbeat-interval", heartbeat, "seconds between executor heartbeats")
      ->envname("TASKWIRE_HEARTBEAT_INTERVAL")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-lost-attempts", options.core.max_lost_attempts,
                 "fail a task after its executor went away this many times")
      ->envname("TASKWIRE_MAX_LOST_ATTEMPTS")->capture_default_str()->check(CLI::PositiveNumber);
  taskwire::scheduler::RetryPolicy& retry = options.core.default_retry;
  double retry_initial = absl::ToDoubleSeconds(retry.initial_backoff);
  double retry_max = absl::ToDoubleSeconds(retry.max_backoff);
  double retention_hours = absl::ToDoubleHours(options.core.retention);
  app.add_option("--default-max-attempts", retry.max_attempts,
                 "attempts in all for a task that sets no retry policy (1: no retry)")
      ->envname("TASKWIRE_DEFAULT_MAX_ATTEMPTS")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--retry-initial-backoff", retry_initial,
                 "seconds before the first retry, by default")
      ->envname("TASKWIRE_RETRY_INITIAL_BACKOFF")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--retry-multiplier", retry.multiplier, "growth of each next backoff")
      ->envname("TASKWIRE_RETRY_MULTIPLIER")->capture_default_str()->check(CLI::Range(1.0, 100.0));
  app.add_option("--retry-max-backoff", retry_max, "seconds: the longest backoff, by default")
      ->envname("TASKWIRE_RETRY_MAX_BACKOFF")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--retry-jitter", retry.jitter,
                 "each backoff is drawn from [wait * (1 - jitter), wait]")
      ->envname("TASKWIRE_RETRY_JITTER")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--retention", retention_hours,
                 "hours that finished tasks and workflows are kept (a task may ask otherwise)")
      ->envname("TASKWIRE_RETENTION")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-waiting-tasks", options.core.max_waiting_tasks,
                 "tasks waiting to run (pending, scheduled, queued) before Submit answers "
                 "RESOURCE_EXHAUSTED")
      ->envname("TASKWIRE_MAX_WAITING_TASKS")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-waiting-per-queue", options.core.max_waiting_per_queue,
                 "the same limit per queue; 0: none")
      ->envname("TASKWIRE_MAX_WAITING_PER_QUEUE")->capture_default_str();
  app.add_option("--max-workflow-nodes", options.core.limits.max_workflow_nodes,
                 "most nodes in one workflow")
      ->envname("TASKWIRE_MAX_WORKFLOW_NODES")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-workflow-edges", options.core.limits.max_workflow_edges,
                 "most dependencies in one workflow")
      ->envname("TASKWIRE_MAX_WORKFLOW_EDGES")->capture_default_str()->check(CLI::PositiveNumber);
  taskwire::AddServerTlsFlags(app, options.tls);
  app.add_option("--auth-file", options.access_file,
                 "access file: who may do what, by bearer token or client certificate "
                 "(docs/security.md; needs --tls-cert). Without it every caller may do "
                 "everything")
      ->envname("TASKWIRE_AUTH_FILE");
  double reload_seconds = absl::ToDoubleSeconds(options.tls.reload_interval);
  app.add_option("--reload-interval", reload_seconds,
                 "seconds between looks at the certificate, key, CA and access files: a "
                 "changed file takes effect without a restart")
      ->envname("TASKWIRE_RELOAD_INTERVAL")->capture_default_str()->check(CLI::Range(1.0, 3600.0));
  app.add_option("--health-listen", options.health_listen,
                 "extra plaintext address serving only gRPC health, for probes that cannot do "
                 "TLS; empty: none")
      ->envname("TASKWIRE_HEALTH_LISTEN");
  app.add_option("--keda-listen", options.keda_listen,
                 "plaintext address serving KEDA's external scaler (externalscaler."
                 "ExternalScaler: queue depths for autoscaling executors, docs/operations.md); "
                 "empty: none")
      ->envname("TASKWIRE_KEDA_LISTEN");
  app.add_option("--ready-file", ready_file,
                 "write {\"grpc\":ADDR,\"metrics\":ADDR,\"health\":ADDR} here once serving")
      ->envname("TASKWIRE_READY_FILE");
  taskwire::AddLogFlags(app, log);
  app.set_version_flag("--version", absl::StrCat("taskwire-scheduler ", taskwire::kVersion),
                       "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  if (absl::Status s = taskwire::InitLogging(log); !s.ok()) {
    std::cerr << "taskwire-scheduler: " << s.message() << "\n";
    return 2;
  }
  if (heartbeat >= executor_timeout) {
    std::cerr << "taskwire-scheduler: --heartbeat-interval must be below --executor-timeout\n";
    return 2;
  }
  options.core.executor_timeout = absl::Seconds(executor_timeout);
  options.core.heartbeat_interval = absl::Seconds(heartbeat);
  retry.initial_backoff = absl::Seconds(retry_initial);
  retry.max_backoff = absl::Seconds(retry_max);
  options.core.retention = absl::Hours(retention_hours);
  options.tls.reload_interval = absl::Seconds(reload_seconds);
  options.postgres_synchronous_commit = synchronous_commit == "on";
  options.leader_lease = absl::Seconds(leader_lease);

  auto server = taskwire::scheduler::SchedulerServer::Start(options);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", server.status().ToString());
    return 1;
  }
  if (!ready_file.empty()) {
    const std::string json =
        absl::StrCat(R"({"grpc":)", taskwire::JsonString((*server)->address()),
                     R"(,"metrics":)", taskwire::JsonString((*server)->metrics_address()),
                     R"(,"health":)", taskwire::JsonString((*server)->health_address()), "}");
    if (absl::Status s = taskwire::WriteReadyFile(ready_file, json); !s.ok()) {
      spdlog::critical("{}", s.ToString());
      return 1;
    }
  }
  const int sig = taskwire::WaitForShutdownSignal();
  spdlog::info("signal {}: shutting down", sig);
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
