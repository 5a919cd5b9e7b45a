#include "scheduler/scheduler_metrics.h"

#include <string>
#include <utility>

#include "common/duration_buckets.h"
#include "common/version.h"

namespace taskwire::scheduler {

SchedulerMetrics::SchedulerMetrics(prometheus::Registry& registry, size_t max_label_values)
    : queue_names_(max_label_values),
      type_names_(max_label_values),
      submitted_(prometheus::BuildCounter()
                     .Name("taskwire_tasks_submitted_total")
                     .Help("Tasks accepted by Submit/SubmitBatch")
                     .Register(registry)),
      finished_(prometheus::BuildCounter()
                    .Name("taskwire_tasks_finished_total")
                    .Help("Tasks that reached a terminal state, by outcome")
                    .Register(registry)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("taskwire_queue_depth")
                       .Help("Tasks in state QUEUED, by queue")
                       .Register(registry)),
      queue_wait_(prometheus::BuildHistogram()
                      .Name("taskwire_task_queue_wait_seconds")
                      .Help("Time from entering QUEUED to being assigned to an executor")
                      .Register(registry)),
      run_time_(prometheus::BuildHistogram()
                    .Name("taskwire_task_run_seconds")
                    .Help("Run time of finished attempts, as the executor measured it")
                    .Register(registry)),
      started_(prometheus::BuildCounter()
                   .Name("taskwire_tasks_started_total")
                   .Help("Attempts assigned to an executor")
                   .Register(registry)),
      end_to_end_(prometheus::BuildHistogram()
                      .Name("taskwire_task_end_to_end_seconds")
                      .Help("Time from a task's submission to its terminal state")
                      .Register(registry)),
      oldest_age_(prometheus::BuildGauge()
                      .Name("taskwire_queue_oldest_age_seconds")
                      .Help("Age of the oldest QUEUED task, by queue (0: none queued)")
                      .Register(registry)),
      queue_executors_(prometheus::BuildGauge()
                           .Name("taskwire_queue_executors")
                           .Help("Connected executors serving each queue")
                           .Register(registry)),
      running_(prometheus::BuildGauge()
                   .Name("taskwire_tasks_running")
                   .Help("Tasks in state RUNNING")
                   .Register(registry)
                   .Add({})),
      pending_(prometheus::BuildGauge()
                   .Name("taskwire_tasks_pending")
                   .Help("Workflow nodes in state PENDING, waiting for their dependencies")
                   .Register(registry)
                   .Add({})),
      scheduled_(prometheus::BuildGauge()
                     .Name("taskwire_tasks_scheduled")
                     .Help("Tasks in state SCHEDULED: a countdown, an ETA or a retry's backoff")
                     .Register(registry)
                     .Add({})),
      retained_(prometheus::BuildGauge()
                    .Name("taskwire_tasks_retained")
                    .Help("Finished tasks kept in memory until --retention evicts them")
                    .Register(registry)
                    .Add({})),
      attempts_lost_(prometheus::BuildCounter()
                         .Name("taskwire_attempts_lost_total")
                         .Help("Attempts whose executor went away before answering")
                         .Register(registry)
                         .Add({})),
      retries_(prometheus::BuildCounter()
                   .Name("taskwire_task_retries_total")
                   .Help("Failed or timed-out attempts followed by a retry")
                   .Register(registry)),
      workflows_submitted_(prometheus::BuildCounter()
                               .Name("taskwire_workflows_submitted_total")
                               .Help("Workflows accepted by SubmitWorkflow")
                               .Register(registry)
                               .Add({})),
      workflow_nodes_(prometheus::BuildHistogram()
                          .Name("taskwire_workflow_nodes")
                          .Help("Nodes per submitted workflow")
                          .Register(registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
                                       10000, 20000})),
      workflows_finished_(prometheus::BuildCounter()
                              .Name("taskwire_workflows_finished_total")
                              .Help("Workflows that ended, by outcome")
                              .Register(registry)),
      workflow_duration_(prometheus::BuildHistogram()
                             .Name("taskwire_workflow_duration_seconds")
                             .Help("Time from a workflow's submission to its end")
                             .Register(registry)
                             .Add({}, DurationBuckets())),
      stale_results_(prometheus::BuildCounter()
                         .Name("taskwire_stale_results_total")
                         .Help("Results for attempts that were no longer current, ignored")
                         .Register(registry)
                         .Add({})),
      executors_connected_(prometheus::BuildGauge()
                               .Name("taskwire_executors_connected")
                               .Help("Executors with an open link")
                               .Register(registry)
                               .Add({})),
      link_in_(prometheus::BuildCounter()
                   .Name("taskwire_link_messages_total")
                   .Help("Executor-link stream messages, by direction")
                   .Register(registry)
                   .Add({{"direction", "in"}})),
      link_out_(prometheus::BuildCounter()
                    .Name("taskwire_link_messages_total")
                    .Help("Executor-link stream messages, by direction")
                    .Register(registry)
                    .Add({{"direction", "out"}})) {
  other_queues_.queue = std::string(LabelLimiter::kOther);
  other_queues_.other_types.type = std::string(LabelLimiter::kOther);
  auto& slots = prometheus::BuildGauge()
                    .Name("taskwire_executor_slots")
                    .Help("Slots announced by connected executors, by state and run mode "
                          "(shared: one window for every mode)")
                    .Register(registry);
  constexpr const char* kWindows[kSlotWindows] = {"shared", "thread", "process", "event-loop"};
  for (size_t w = 0; w < kSlotWindows; ++w) {
    slots_free_[w] = &slots.Add({{"state", "free"}, {"mode", kWindows[w]}});
    slots_used_[w] = &slots.Add({{"state", "used"}, {"mode", kWindows[w]}});
  }
  prometheus::BuildGauge()
      .Name("taskwire_scheduler_build_info")
      .Help("Always 1; the version label says which build runs")
      .Register(registry)
      .Add({{"version", kVersion}})
      .Set(1);
}

void SchedulerMetrics::TasksInStateChanged(TaskState state, double delta) {
  switch (state) {
    case TaskState::kPending:
      pending_.Increment(delta);
      break;
    case TaskState::kScheduled:
      scheduled_.Increment(delta);
      break;
    case TaskState::kQueued:  // taskwire_queue_depth, by queue
    case TaskState::kRunning:  // taskwire_tasks_running
      break;
    case TaskState::kSucceeded:
    case TaskState::kFailed:
    case TaskState::kCancelled:
    case TaskState::kExpired:
      retained_.Increment(delta);
      break;
  }
}

namespace {

// The series in `slot`, made on first use.
template <typename Metric, typename... Extra>
Metric& Child(Metric*& slot, prometheus::Family<Metric>& family,
              const prometheus::Labels& labels, Extra&&... extra) {
  if (slot == nullptr) slot = &family.Add(labels, std::forward<Extra>(extra)...);
  return *slot;
}

}  // namespace

SchedulerMetrics::QueueSeries& SchedulerMetrics::Queue(absl::string_view queue) {
  if (auto it = queues_.find(queue); it != queues_.end()) return it->second;
  std::string label = queue_names_.Limit(queue);
  if (label == LabelLimiter::kOther) return other_queues_;  // not kept by name: bounded
  QueueSeries& series = queues_[queue];
  series.queue = std::move(label);
  series.other_types.type = std::string(LabelLimiter::kOther);
  return series;
}

SchedulerMetrics::TypeSeries& SchedulerMetrics::Type(QueueSeries& queue, absl::string_view type) {
  if (auto it = queue.types.find(type); it != queue.types.end()) return it->second;
  std::string label = type_names_.Limit(type);
  if (label == LabelLimiter::kOther) return queue.other_types;
  TypeSeries& series = queue.types[type];
  series.type = std::move(label);
  return series;
}

void SchedulerMetrics::TaskSubmitted(absl::string_view queue, absl::string_view type) {
  absl::MutexLock lock(&mu_);
  QueueSeries& q = Queue(queue);
  TypeSeries& t = Type(q, type);
  Child(t.submitted, submitted_, {{"queue", q.queue}, {"type", t.type}}).Increment();
}

void SchedulerMetrics::TaskFinished(absl::string_view queue, absl::string_view type,
                                    TaskState state, double end_to_end_seconds) {
  absl::MutexLock lock(&mu_);
  QueueSeries& q = Queue(queue);
  TypeSeries& t = Type(q, type);
  Child(t.finished[static_cast<size_t>(state)], finished_,
        {{"queue", q.queue}, {"type", t.type}, {"outcome", std::string(TaskStateName(state))}})
      .Increment();
  Child(q.end_to_end, end_to_end_, {{"queue", q.queue}}, DurationBuckets())
      .Observe(end_to_end_seconds);
}

void SchedulerMetrics::TaskRetried(absl::string_view queue, absl::string_view type) {
  absl::MutexLock lock(&mu_);
  QueueSeries& q = Queue(queue);
  TypeSeries& t = Type(q, type);
  Child(t.retried, retries_, {{"queue", q.queue}, {"type", t.type}}).Increment();
}

void SchedulerMetrics::TaskStarted(absl::string_view queue, absl::string_view type,
                                   double queue_wait_seconds) {
  absl::MutexLock lock(&mu_);
  QueueSeries& q = Queue(queue);
  TypeSeries& t = Type(q, type);
  Child(q.queue_wait, queue_wait_, {{"queue", q.queue}}, DurationBuckets())
      .Observe(queue_wait_seconds);
  Child(t.started, started_, {{"queue", q.queue}, {"type", t.type}}).Increment();
}

void SchedulerMetrics::RunTime(absl::string_view type, double seconds) {
  absl::MutexLock lock(&mu_);
  auto it = run_time_by_type_.find(type);
  if (it == run_time_by_type_.end()) {
    std::string label = type_names_.Limit(type);
    prometheus::Histogram& h = run_time_.Add({{"type", label}}, DurationBuckets());
    // Names past the limit are not kept: they share the "_other" series.
    if (label == LabelLimiter::kOther) {
      h.Observe(seconds);
      return;
    }
    it = run_time_by_type_.emplace(type, &h).first;
  }
  it->second->Observe(seconds);
}

void SchedulerMetrics::QueueDepthChanged(absl::string_view queue, double delta) {
  absl::MutexLock lock(&mu_);
  QueueSeries& q = Queue(queue);
  Child(q.depth, queue_depth_, {{"queue", q.queue}}).Increment(delta);
}

void SchedulerMetrics::QueueOldestAge(absl::string_view queue, double seconds) {
  absl::MutexLock lock(&mu_);
  QueueSeries& q = Queue(queue);
  Child(q.oldest_age, oldest_age_, {{"queue", q.queue}}).Set(seconds);
}

void SchedulerMetrics::QueueExecutorsChanged(absl::string_view queue, double delta) {
  absl::MutexLock lock(&mu_);
  QueueSeries& q = Queue(queue);
  Child(q.executors, queue_executors_, {{"queue", q.queue}}).Increment(delta);
}

void SchedulerMetrics::WorkflowSubmitted(size_t nodes) {
  workflows_submitted_.Increment();
  workflow_nodes_.Observe(static_cast<double>(nodes));
}

void SchedulerMetrics::WorkflowFinished(WorkflowState state, double seconds) {
  {
    absl::MutexLock lock(&mu_);
    Child(workflows_finished_by_state_[static_cast<size_t>(state)], workflows_finished_,
          {{"outcome", std::string(WorkflowStateName(state))}})
        .Increment();
  }
  workflow_duration_.Observe(seconds);
}

}  // namespace taskwire::scheduler
