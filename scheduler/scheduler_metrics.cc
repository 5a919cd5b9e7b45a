#include "scheduler/scheduler_metrics.h"

#include <string>

#include "common/duration_buckets.h"

namespace taskwire::scheduler {

SchedulerMetrics::SchedulerMetrics(prometheus::Registry& registry, size_t max_label_values)
    : queues_(max_label_values),
      types_(max_label_values),
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
      slots_free_(prometheus::BuildGauge()
                      .Name("taskwire_executor_slots")
                      .Help("Slots announced by connected executors, by state")
                      .Register(registry)
                      .Add({{"state", "free"}})),
      slots_used_(prometheus::BuildGauge()
                      .Name("taskwire_executor_slots")
                      .Help("Slots announced by connected executors, by state")
                      .Register(registry)
                      .Add({{"state", "used"}})),
      link_in_(prometheus::BuildCounter()
                   .Name("taskwire_link_messages_total")
                   .Help("Executor-link stream messages, by direction")
                   .Register(registry)
                   .Add({{"direction", "in"}})),
      link_out_(prometheus::BuildCounter()
                    .Name("taskwire_link_messages_total")
                    .Help("Executor-link stream messages, by direction")
                    .Register(registry)
                    .Add({{"direction", "out"}})) {}

void SchedulerMetrics::TaskSubmitted(absl::string_view queue, absl::string_view type) {
  submitted_.Add({{"queue", queues_.Limit(queue)}, {"type", types_.Limit(type)}}).Increment();
}

void SchedulerMetrics::TaskFinished(absl::string_view queue, absl::string_view type,
                                    absl::string_view outcome) {
  finished_
      .Add({{"queue", queues_.Limit(queue)},
            {"type", types_.Limit(type)},
            {"outcome", std::string(outcome)}})
      .Increment();
}

void SchedulerMetrics::QueueDepthChanged(absl::string_view queue, double delta) {
  queue_depth_.Add({{"queue", queues_.Limit(queue)}}).Increment(delta);
}

void SchedulerMetrics::TaskStarted(absl::string_view queue, absl::string_view type,
                                   double queue_wait_seconds) {
  const std::string q = queues_.Limit(queue);
  queue_wait_.Add({{"queue", q}}, DurationBuckets()).Observe(queue_wait_seconds);
  started_.Add({{"queue", q}, {"type", types_.Limit(type)}}).Increment();
}

void SchedulerMetrics::TaskEndToEnd(absl::string_view queue, double seconds) {
  end_to_end_.Add({{"queue", queues_.Limit(queue)}}, DurationBuckets()).Observe(seconds);
}

void SchedulerMetrics::QueueOldestAge(absl::string_view queue, double seconds) {
  oldest_age_.Add({{"queue", queues_.Limit(queue)}}).Set(seconds);
}

void SchedulerMetrics::QueueExecutorsChanged(absl::string_view queue, double delta) {
  queue_executors_.Add({{"queue", queues_.Limit(queue)}}).Increment(delta);
}

void SchedulerMetrics::TaskRetried(absl::string_view queue, absl::string_view type) {
  retries_.Add({{"queue", queues_.Limit(queue)}, {"type", types_.Limit(type)}}).Increment();
}

void SchedulerMetrics::WorkflowSubmitted(size_t nodes) {
  workflows_submitted_.Increment();
  workflow_nodes_.Observe(static_cast<double>(nodes));
}

void SchedulerMetrics::WorkflowFinished(absl::string_view outcome, double seconds) {
  workflows_finished_.Add({{"outcome", std::string(outcome)}}).Increment();
  workflow_duration_.Observe(seconds);
}

void SchedulerMetrics::RunTime(absl::string_view type, double seconds) {
  run_time_.Add({{"type", types_.Limit(type)}}, DurationBuckets()).Observe(seconds);
}

}  // namespace taskwire::scheduler
