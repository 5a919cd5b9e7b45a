// The scheduler's Prometheus metrics (names in docs/metrics.md), fed by the core through its
// CoreMetrics port. Queue and task type names come from clients, so they pass through a
// LabelLimiter. Each series is looked up once per label set and kept: the hot path does a
// small map lookup, not prometheus-cpp's Family::Add (a label map built, hashed and locked
// per call, once 17 % of the scheduler's CPU). Thread-safe.
#ifndef TASKWIRE_SCHEDULER_SCHEDULER_METRICS_H_
#define TASKWIRE_SCHEDULER_SCHEDULER_METRICS_H_

#include <array>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/label_limiter.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "scheduler/core/core_metrics.h"

namespace taskwire::scheduler {

class SchedulerMetrics final : public CoreMetrics {
 public:
  explicit SchedulerMetrics(prometheus::Registry& registry, size_t max_label_values = 200);

  void TaskSubmitted(absl::string_view queue, absl::string_view type) override;
  void TaskFinished(absl::string_view queue, absl::string_view type, TaskState state,
                    double end_to_end_seconds) override;
  void TaskRetried(absl::string_view queue, absl::string_view type) override;
  void TaskStarted(absl::string_view queue, absl::string_view type,
                   double queue_wait_seconds) override;
  void RunTime(absl::string_view type, double seconds) override;
  void QueueDepthChanged(absl::string_view queue, double delta) override;
  void QueueOldestAge(absl::string_view queue, double seconds) override;
  void QueueExecutorsChanged(absl::string_view queue, double delta) override;
  void RunningChanged(double delta) override { running_.Increment(delta); }
  void TasksInStateChanged(TaskState state, double delta) override;
  void AttemptLost() override { attempts_lost_.Increment(); }
  void StaleResult() override { stale_results_.Increment(); }
  void WorkflowSubmitted(size_t nodes) override;
  void WorkflowFinished(WorkflowState state, double seconds) override;
  void ExecutorsConnectedChanged(double delta) override { executors_connected_.Increment(delta); }
  void SlotsChanged(SlotWindow window, double free_delta, double used_delta) override {
    const size_t w = static_cast<size_t>(window);
    slots_free_[w]->Increment(free_delta);
    slots_used_[w]->Increment(used_delta);
  }
  void LinkMessage(bool inbound) override { (inbound ? link_in_ : link_out_).Increment(); }

 private:
  static constexpr size_t kTaskStates = static_cast<size_t>(TaskState::kExpired) + 1;
  static constexpr size_t kWorkflowStates = static_cast<size_t>(WorkflowState::kCancelled) + 1;

  // The series of one (queue, type) pair, each made on first use.
  struct TypeSeries {
    std::string type;  // the label value (the name, or LabelLimiter::kOther)
    prometheus::Counter* submitted = nullptr;
    prometheus::Counter* started = nullptr;
    prometheus::Counter* retried = nullptr;
    std::array<prometheus::Counter*, kTaskStates> finished{};
  };
  // The series of one queue, and of its types.
  struct QueueSeries {
    std::string queue;  // the label value
    prometheus::Gauge* depth = nullptr;
    prometheus::Gauge* oldest_age = nullptr;
    prometheus::Gauge* executors = nullptr;
    prometheus::Histogram* queue_wait = nullptr;
    prometheus::Histogram* end_to_end = nullptr;
    absl::flat_hash_map<std::string, TypeSeries> types;
    TypeSeries other_types;  // names past the limit share these
  };

  QueueSeries& Queue(absl::string_view queue) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TypeSeries& Type(QueueSeries& queue, absl::string_view type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  LabelLimiter queue_names_;
  LabelLimiter type_names_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, QueueSeries> queues_ ABSL_GUARDED_BY(mu_);
  QueueSeries other_queues_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Histogram*> run_time_by_type_ ABSL_GUARDED_BY(mu_);
  std::array<prometheus::Counter*, kWorkflowStates> workflows_finished_by_state_
      ABSL_GUARDED_BY(mu_){};

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
  prometheus::Gauge& pending_;
  prometheus::Gauge& scheduled_;
  prometheus::Gauge& retained_;
  prometheus::Counter& attempts_lost_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Counter& workflows_submitted_;
  prometheus::Histogram& workflow_nodes_;
  prometheus::Family<prometheus::Counter>& workflows_finished_;
  prometheus::Histogram& workflow_duration_;
  prometheus::Counter& stale_results_;
  prometheus::Gauge& executors_connected_;
  static constexpr size_t kSlotWindows = static_cast<size_t>(SlotWindow::kEventLoop) + 1;
  std::array<prometheus::Gauge*, kSlotWindows> slots_free_{};
  std::array<prometheus::Gauge*, kSlotWindows> slots_used_{};
  prometheus::Counter& link_in_;
  prometheus::Counter& link_out_;
};

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_SCHEDULER_METRICS_H_
