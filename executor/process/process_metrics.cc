#include "executor/process/process_metrics.h"

#include "common/duration_buckets.h"

namespace taskwire::executor {

const char* ProcessExitLabel(ProcessExit reason) {
  switch (reason) {
    case ProcessExit::kOk: return "ok";
    case ProcessExit::kNonzero: return "nonzero";
    case ProcessExit::kSignal: return "signal";
    case ProcessExit::kTimeout: return "timeout";
    case ProcessExit::kCancelled: return "cancelled";
    case ProcessExit::kOutputLimit: return "output_limit";
    case ProcessExit::kSpawnFailed: return "spawn_failed";
  }
  return "unknown";
}

ProcessMetrics::ProcessMetrics(prometheus::Registry& registry)
    : spawns_(prometheus::BuildCounter()
                  .Name("taskwire_executor_process_spawns_total")
                  .Help("Subprocesses started for process-mode attempts")
                  .Register(registry)
                  .Add({})),
      exits_(prometheus::BuildCounter()
                 .Name("taskwire_executor_process_exits_total")
                 .Help("Process-mode attempts ended, by reason")
                 .Register(registry)),
      spawn_seconds_(prometheus::BuildHistogram()
                         .Name("taskwire_executor_process_spawn_seconds")
                         .Help("Time to start a subprocess (clone to exec)")
                         .Register(registry)
                         .Add({}, DurationBuckets())),
      children_(prometheus::BuildGauge()
                    .Name("taskwire_executor_process_children")
                    .Help("Subprocesses of this executor alive now")
                    .Register(registry)
                    .Add({})) {
  // Every reason shows from the start, so that rate() sees its first increment.
  for (ProcessExit r : {ProcessExit::kOk, ProcessExit::kNonzero, ProcessExit::kSignal,
                        ProcessExit::kTimeout, ProcessExit::kCancelled, ProcessExit::kOutputLimit,
                        ProcessExit::kSpawnFailed}) {
    exits_.Add({{"reason", ProcessExitLabel(r)}});
  }
}

void ProcessMetrics::Spawned(absl::Duration took) {
  spawns_.Increment();
  spawn_seconds_.Observe(absl::ToDoubleSeconds(took));
  children_.Increment();
}

void ProcessMetrics::Exited(ProcessExit reason) {
  if (reason != ProcessExit::kSpawnFailed) children_.Decrement();
  exits_.Add({{"reason", ProcessExitLabel(reason)}}).Increment();
}

}  // namespace taskwire::executor
