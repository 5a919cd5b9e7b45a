// The executor's Prometheus metrics (docs/metrics.md): attempts started and finished, run
// time, slots, the link to the scheduler, and build info. The process_* metrics (CPU,
// memory, fds) come from MetricsServer. A task type's series are looked up once and kept
// (prometheus-cpp's Family::Add builds and hashes a label map per call). Thread-safe.
#ifndef TASKWIRE_EXECUTOR_EXECUTOR_METRICS_H_
#define TASKWIRE_EXECUTOR_EXECUTOR_METRICS_H_

#include <array>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

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
  static constexpr size_t kMaxCachedTypes = 1000;
  struct TypeSeries {
    std::array<prometheus::Counter*, static_cast<size_t>(RunOutcome::kTimedOut) + 1> attempts{};
    prometheus::Histogram* run_time = nullptr;
  };

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, TypeSeries> by_type_ ABSL_GUARDED_BY(mu_);
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
