// SchedulerCore with the real SchedulerMetrics over a fresh prometheus::Registry: the
// counters and gauges move as tasks and executors do, read back through Collect().
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "scheduler/scheduler_metrics.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::testing::Optional;

// The value of the counter or gauge `name` with exactly these labels; nullopt if the
// registry has no such series.
std::optional<double> Read(prometheus::Registry& registry, const std::string& name,
                           const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      std::map<std::string, std::string> got;
      for (const auto& l : m.label) got[l.name] = l.value;
      if (got != labels) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter: return m.counter.value;
        case prometheus::MetricType::Gauge: return m.gauge.value;
        case prometheus::MetricType::Histogram: return static_cast<double>(m.histogram.sample_count);
        default: return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

class MetricsTest : public SchedulerCoreTest {
 protected:
  MetricsTest() : metrics_(std::make_unique<SchedulerMetrics>(registry_)) {
    RebuildCore(TestOptions(), metrics_.get());
  }
  // The core holds a pointer to metrics_, which goes before the base class's members.
  ~MetricsTest() override { core_.reset(); }

  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) {
    return Read(registry_, name, labels);
  }
  std::optional<double> Depth(const std::string& queue = "default") {
    return Value("taskwire_queue_depth", {{"queue", queue}});
  }
  // The test executors announce one window for all their types: mode "shared".
  std::optional<double> Slots(const std::string& state, const std::string& mode = "shared") {
    return Value("taskwire_executor_slots", {{"state", state}, {"mode", mode}});
  }

  prometheus::Registry registry_;
  std::unique_ptr<SchedulerMetrics> metrics_;
};

// Slots are counted per run mode, so that full thread slots show beside 10,000 free
// event-loop ones (the saturation alert is per mode).
TEST_F(MetricsTest, CountsSlotsPerRunModeWhenTheExecutorGivesModeSlots) {
  ExecutorHello hello = Hello("e1", {}, /*slots=*/0);
  hello.task_types = {{"echo", RunMode::kThread}, {"sleep", RunMode::kEventLoop}};
  hello.mode_slots = {{RunMode::kThread, 1}, {RunMode::kEventLoop, 100}};
  TestExecutor e = Connect(std::move(hello));
  SubmitAll({Spec("echo"), Spec("echo"), Spec("sleep"), Spec("sleep")});
  EXPECT_THAT(Slots("used", "thread"), Optional(1.0));
  EXPECT_THAT(Slots("free", "thread"), Optional(0.0));
  EXPECT_THAT(Slots("used", "event-loop"), Optional(2.0));
  EXPECT_THAT(Slots("free", "event-loop"), Optional(98.0));
  EXPECT_THAT(Slots("used"), Optional(0.0));

  core().DisconnectExecutor(e.session, "gone");
  EXPECT_THAT(Slots("used", "thread"), Optional(0.0));
  EXPECT_THAT(Slots("free", "event-loop"), Optional(0.0));
  EXPECT_THAT(Slots("used", "event-loop"), Optional(0.0));
}

TEST_F(MetricsTest, TracksQueueDepthSlotsAndOutcomesThroughATasksLife) {
  SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));
  EXPECT_THAT(Depth(), Optional(3.0));
  EXPECT_THAT(Value("taskwire_tasks_submitted_total", {{"queue", "default"}, {"type", "echo"}}),
              Optional(3.0));

  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/2);
  EXPECT_THAT(Value("taskwire_executors_connected"), Optional(1.0));
  EXPECT_THAT(Depth(), Optional(1.0));
  EXPECT_THAT(Value("taskwire_tasks_running"), Optional(2.0));
  EXPECT_THAT(Slots("used"), Optional(2.0));
  EXPECT_THAT(Slots("free"), Optional(0.0));
  EXPECT_THAT(Value("taskwire_task_queue_wait_seconds", {{"queue", "default"}}), Optional(2.0));

  while (std::optional<AssignmentOut> a = e.channel->TakeOne()) Succeed(e, *a);

  EXPECT_THAT(Depth(), Optional(0.0));
  EXPECT_THAT(Value("taskwire_tasks_running"), Optional(0.0));
  EXPECT_THAT(Slots("used"), Optional(0.0));
  EXPECT_THAT(Slots("free"), Optional(2.0));
  EXPECT_THAT(Value("taskwire_tasks_finished_total",
                    {{"queue", "default"}, {"type", "echo"}, {"outcome", "succeeded"}}),
              Optional(3.0));
  EXPECT_THAT(Value("taskwire_task_run_seconds", {{"type", "echo"}}), Optional(3.0));

  core().DisconnectExecutor(e.session, "done");
  EXPECT_THAT(Value("taskwire_executors_connected"), Optional(0.0));
  EXPECT_THAT(Slots("free"), Optional(0.0));
}

TEST_F(MetricsTest, CountsCancelsLostAttemptsAndStaleResults) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/2);
  const std::string cancelled = Submit(Spec("echo"));
  const std::string lost = Submit(Spec("echo"));
  const std::string queued_then_cancelled = Submit(Spec("echo"));
  std::vector<AssignmentOut> work = a.channel->TakeAssignments();
  ASSERT_EQ(work.at(0).task_id, cancelled);
  EXPECT_THAT(Depth(), Optional(1.0));

  ASSERT_THAT(core().CancelTask(queued_then_cancelled), IsOk());
  EXPECT_THAT(Depth(), Optional(0.0));
  ASSERT_THAT(core().CancelTask(cancelled), IsOk());
  EXPECT_THAT(Value("taskwire_tasks_running"), Optional(1.0));
  EXPECT_THAT(Slots("used"), Optional(2.0));  // held until the executor answers

  core().DisconnectExecutor(a.session, "stream broke");
  EXPECT_THAT(Value("taskwire_attempts_lost_total"), Optional(1.0));
  EXPECT_THAT(Value("taskwire_tasks_running"), Optional(0.0));
  EXPECT_THAT(Slots("used"), Optional(0.0));
  EXPECT_THAT(Slots("free"), Optional(0.0));
  EXPECT_THAT(Depth(), Optional(1.0));  // the lost one is back in the queue
  EXPECT_THAT(Value("taskwire_tasks_finished_total",
                    {{"queue", "default"}, {"type", "echo"}, {"outcome", "cancelled"}}),
              Optional(2.0));

  Succeed(a, work[1]);  // the dropped session answers late
  EXPECT_THAT(Value("taskwire_stale_results_total"), Optional(1.0));
  EXPECT_EQ(StateOf(lost), TaskState::kQueued);
}

// What memory sizing and "how many ETA tasks" need: tasks waiting for a time or for their
// dependencies, and finished tasks still held in memory (the recent results; the rest are
// read from the store).
TEST_F(MetricsTest, CountsScheduledPendingAndRetainedTasks) {
  CoreOptions options = TestOptions();
  options.recent_results = 2;
  RebuildCore(options, metrics_.get());
  TaskSpec later = Spec("echo");
  later.countdown = absl::Minutes(1);
  Submit(later);
  ASSERT_TRUE(core()
                  .SubmitWorkflow(WorkflowSpec{{WorkflowNodeSpec{"a", Spec("echo"), {}},
                                                WorkflowNodeSpec{"b", Spec("echo"), {"a"}}},
                                               {},
                                               {}})
                  .ok());
  EXPECT_THAT(Value("taskwire_tasks_scheduled"), Optional(1.0));
  EXPECT_THAT(Value("taskwire_tasks_pending"), Optional(1.0));
  EXPECT_THAT(Value("taskwire_tasks_retained"), Optional(0.0));

  clock_.Advance(absl::Minutes(2));  // the countdown ends
  core().Tick();
  EXPECT_THAT(Value("taskwire_tasks_scheduled"), Optional(0.0));
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/4);
  SubmitAll(std::vector<TaskSpec>(2, Spec("echo")));
  for (int round = 0; round < 10; ++round) {
    while (std::optional<AssignmentOut> a = e.channel->TakeOne()) Succeed(e, *a);
  }

  EXPECT_THAT(Value("taskwire_tasks_pending"), Optional(0.0));
  EXPECT_THAT(Value("taskwire_tasks_finished_total",
                    {{"queue", "default"}, {"type", "echo"}, {"outcome", "succeeded"}}),
              Optional(5.0));
  // Three standalone tasks finished; two stay as recent results. The workflow's nodes
  // left memory with their stored workflow.
  EXPECT_THAT(Value("taskwire_tasks_retained"), Optional(2.0));
}

TEST_F(MetricsTest, CountsMessagesSentToExecutors) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/4);
  SubmitAll(std::vector<TaskSpec>(4, Spec("echo")));  // one batch, one message

  EXPECT_THAT(Value("taskwire_link_messages_total", {{"direction", "out"}}), Optional(1.0));
}

// Queue and type names come from clients: past the limit they share one "_other" series,
// however often they come back.
TEST(SchedulerMetricsTest, NamesPastTheLimitShareTheOtherSeries) {
  prometheus::Registry registry;
  SchedulerMetrics metrics(registry, /*max_label_values=*/2);
  metrics.TaskSubmitted("a", "t1");
  metrics.TaskSubmitted("b", "t2");
  for (int i = 0; i < 2; ++i) metrics.TaskSubmitted("c", "t1");  // queue over the limit
  metrics.TaskSubmitted("d", "t3");                             // both over the limit
  metrics.TaskSubmitted("a", "t3");                             // type over the limit

  auto submitted = [&](const std::string& queue, const std::string& type) {
    return Read(registry, "taskwire_tasks_submitted_total", {{"queue", queue}, {"type", type}});
  };
  EXPECT_THAT(submitted("a", "t1"), Optional(1.0));
  EXPECT_THAT(submitted("b", "t2"), Optional(1.0));
  EXPECT_THAT(submitted("_other", "t1"), Optional(2.0));
  EXPECT_THAT(submitted("_other", "_other"), Optional(1.0));
  EXPECT_THAT(submitted("a", "_other"), Optional(1.0));
  EXPECT_EQ(submitted("c", "t1"), std::nullopt);
}

}  // namespace
}  // namespace taskwire::scheduler::testing
