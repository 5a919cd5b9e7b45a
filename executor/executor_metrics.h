// The executor's Prometheus metrics (docs/metrics.md): attempts started and finished, run
// time, slots, the link to the scheduler, and build info. The process_* metrics (CPU,
// memory, fds) come from MetricsServer. Thread-safe.
#ifndef TASKWIRE_EXECUTOR_EXECUTOR_METRICS_H_
#define TASKWIRE_EXECUTOR_EXECUTOR_METRICS_H_

#include <string>

#include "executor/runner.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace taskwire::executor {

class ExecutorMetrics {
 public:
  ExecutorMetrics(prometheus::Registry& registry, uint32_t slots);

  void AttemptStarted();
  void AttemptFinished(const std::string& type, RunOutcome outcome, absl::Duration run_time);
  void Connected(bool up) { connected_.Set(up ? 1 : 0); }
  void Reconnect() { reconnects_.Increment(); }

 private:
  prometheus::Counter& started_;
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Histogram>& run_time_;
  prometheus::Gauge& slots_free_;
  prometheus::Gauge& slots_used_;
  prometheus::Gauge& connected_;
  prometheus::Counter& reconnects_;
};

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_EXECUTOR_METRICS_H_
