// The scheduler's Prometheus metrics (names in docs/metrics.md). The core updates them as
// tasks move; labels are bounded: queue and task type names pass through a LabelLimiter.
// Thread-safe (prometheus-cpp metrics are atomic).
#ifndef TASKWIRE_SCHEDULER_SCHEDULER_METRICS_H_
#define TASKWIRE_SCHEDULER_SCHEDULER_METRICS_H_

#include <memory>
#include "absl/strings/string_view.h"

#include "common/label_limiter.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace taskwire::scheduler {

class SchedulerMetrics {
 public:
  explicit SchedulerMetrics(prometheus::Registry& registry, size_t max_label_values = 200);

  void TaskSubmitted(absl::string_view queue, absl::string_view type);
  void TaskFinished(absl::string_view queue, absl::string_view type, absl::string_view outcome);
  void QueueDepthChanged(absl::string_view queue, double delta);
  void TaskStarted(absl::string_view queue, absl::string_view type, double queue_wait_seconds);
  void TaskEndToEnd(absl::string_view queue, double seconds);
  // Age of the oldest queued task per queue; 0 for a queue that has none now.
  void QueueOldestAge(absl::string_view queue, double seconds);
  void QueueExecutorsChanged(absl::string_view queue, double delta);
  void RunningChanged(double delta) { running_.Increment(delta); }
  void RunTime(absl::string_view type, double seconds);
  void AttemptLost() { attempts_lost_.Increment(); }
  void TaskRetried(absl::string_view queue, absl::string_view type);
  void WorkflowSubmitted(size_t nodes);
  void WorkflowFinished(absl::string_view outcome, double seconds);
  void StaleResult() { stale_results_.Increment(); }
  void ExecutorsConnectedChanged(double delta) { executors_connected_.Increment(delta); }
  void SlotsChanged(double free_delta, double used_delta) {
    slots_free_.Increment(free_delta);
    slots_used_.Increment(used_delta);
  }
  void LinkMessage(bool inbound) { (inbound ? link_in_ : link_out_).Increment(); }

 private:
  LabelLimiter queues_;
  LabelLimiter types_;
  prometheus::Family<prometheus::Counter>& submitted_;
  prometheus::Family<prometheus::Counter>& finished_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Histogram>& queue_wait_;
  prometheus::Family<prometheus::Histogram>& run_time_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Histogram>& end_to_end_;
  prometheus::Family<prometheus::Gauge>& oldest_age_;
  prometheus::Family<prometheus::Gauge>& queue_executors_;
  prometheus::Gauge& running_;
  prometheus::Counter& attempts_lost_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Counter& workflows_submitted_;
  prometheus::Histogram& workflow_nodes_;
  prometheus::Family<prometheus::Counter>& workflows_finished_;
  prometheus::Histogram& workflow_duration_;
  prometheus::Counter& stale_results_;
  prometheus::Gauge& executors_connected_;
  prometheus::Gauge& slots_free_;
  prometheus::Gauge& slots_used_;
  prometheus::Counter& link_in_;
  prometheus::Counter& link_out_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SCHEDULER_METRICS_H_
