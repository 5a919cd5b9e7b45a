// The process runner's Prometheus metrics (docs/metrics.md): spawns, exits by reason,
// spawn latency, live children. Thread-safe.
#ifndef TASKWIRE_EXECUTOR_PROCESS_PROCESS_METRICS_H_
#define TASKWIRE_EXECUTOR_PROCESS_PROCESS_METRICS_H_

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace taskwire::executor {

// Why a process attempt ended: the `reason` label of the exits counter.
enum class ProcessExit { kOk, kNonzero, kSignal, kTimeout, kCancelled, kOutputLimit, kSpawnFailed };

const char* ProcessExitLabel(ProcessExit reason);

class ProcessMetrics {
 public:
  explicit ProcessMetrics(prometheus::Registry& registry);

  void Spawned(absl::Duration took);
  // `reason` kSpawnFailed for a child that never ran; the others after Spawned().
  void Exited(ProcessExit reason);

 private:
  prometheus::Counter& spawns_;
  prometheus::Family<prometheus::Counter>& exits_;
  prometheus::Histogram& spawn_seconds_;
  prometheus::Gauge& children_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_PROCESS_PROCESS_METRICS_H_
