// Finished work leaves the core's memory once it is stored, and every read still answers
// for it from the store: GetTask, WaitTask, CancelTask, ListTasks, idempotency keys,
// workflows; after a restart only the work in flight is loaded, and retention deletes in
// the store. The cache of recent results is off here (every read goes to the store) except
// in the tests that are about it.
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler_core.h"
#include "tests/unit/forwarding_task_store.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::IsOkAndHolds;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

CoreOptions WithoutRecentResults() {
  CoreOptions options = TestOptions();
  options.recent_results = 0;
  return options;
}

class HistoryTest : public SchedulerCoreTest {
 protected:
  HistoryTest() {
    RebuildCore(WithoutRecentResults());
    e_ = Connect("e", {"echo"}, /*slots=*/8);
  }

  // Submits `n` echo tasks and runs them all to success on executor "e".
  std::vector<std::string> RunToSuccess(size_t n, TaskSpec spec = Spec("echo")) {
    std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(n, spec));
    for (size_t round = 0; round <= n; ++round) {  // each result frees a slot for the next
      std::vector<AssignmentOut> sent = e_.channel->TakeAssignments();
      if (sent.empty()) break;
      for (const AssignmentOut& a : sent) Succeed(e_, a, "out-" + a.task_id);
    }
    return ids;
  }
  std::vector<std::string> Listed(TaskListQuery query) {
    std::vector<std::string> ids;
    for (int page = 0; page < 20; ++page) {
      absl::StatusOr<TaskPage> p = core().ListTasks(query);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      for (const TaskRecord& t : p->tasks) ids.push_back(t.id);
      if (p->next_page_token.empty()) break;
      query.page_token = p->next_page_token;
    }
    return ids;
  }

  TestExecutor e_;
};

TEST_F(HistoryTest, AFinishedTaskLeavesMemoryAndIsStillReadFromTheStore) {
  const std::vector<std::string> ids = RunToSuccess(3);

  EXPECT_EQ(core().tasks_in_memory(), 0u);
  TaskView view = View(ids[1]);
  EXPECT_EQ(view.record.state, TaskState::kSucceeded);
  EXPECT_EQ(view.record.output, "out-" + ids[1]);
  EXPECT_THAT(view.record.attempts, SizeIs(1));
  EXPECT_THAT(core().CancelTask(ids[1]), IsOkAndHolds(TaskState::kSucceeded));
  std::optional<TaskState> waited;
  ASSERT_THAT(core().AddWaiter(ids[2], [&](const TaskView& v) { waited = v.record.state; }),
              IsOkAndHolds(0u));
  EXPECT_EQ(waited, TaskState::kSucceeded);
  EXPECT_THAT(core().GetTask("unknown"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(core().CancelTask("unknown"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(core().AddWaiter("unknown", [](const TaskView&) {}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(HistoryTest, MemoryHoldsOnlyTheWorkInFlight) {
  RunToSuccess(50);
  const std::string waiting = Submit(Spec("nobody-serves-this"));

  EXPECT_EQ(core().tasks_in_memory(), 1u);
  EXPECT_EQ(StateOf(waiting), TaskState::kQueued);
}

TEST_F(HistoryTest, ListsFinishedAndLiveTasksTogetherInSubmissionOrderOnce) {
  const std::vector<std::string> done = RunToSuccess(2);
  const std::string queued = Submit(Spec("nobody-serves-this"));
  const std::vector<std::string> more = RunToSuccess(1);

  TaskListQuery all;
  all.page_size = 2;
  EXPECT_THAT(Listed(all), ElementsAre(done[0], done[1], queued, more[0]));
  TaskListQuery succeeded;
  succeeded.state = TaskState::kSucceeded;
  EXPECT_THAT(Listed(succeeded), ElementsAre(done[0], done[1], more[0]));
  TaskListQuery by_type;
  by_type.type = "nobody-serves-this";
  EXPECT_THAT(Listed(by_type), ElementsAre(queued));
}

TEST_F(HistoryTest, AnIdempotencyKeyOfAFinishedTaskStillNamesIt) {
  TaskSpec keyed = Spec("echo");
  keyed.idempotency_key = "order-7";
  const std::string first = RunToSuccess(1, keyed)[0];
  ASSERT_EQ(core().tasks_in_memory(), 0u);

  std::vector<bool> existing;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> again,
                       core().Submit({keyed}, SchedulerCore::SubmitPath::kOne, &existing));

  EXPECT_THAT(again, ElementsAre(first));
  EXPECT_THAT(existing, ElementsAre(true));
  EXPECT_EQ(core().tasks_in_memory(), 0u);
}

TEST_F(HistoryTest, AFinishedWorkflowLeavesMemoryWithItsNodesAndIsStillRead) {
  WorkflowSpec spec;
  spec.nodes = {WorkflowNodeSpec{"first", Spec("echo"), {}},
                WorkflowNodeSpec{"second", Spec("echo"), {"first"}}};
  spec.idempotency_key = "nightly";
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow wf, core().SubmitWorkflow(spec));
  for (int round = 0; round < 2; ++round) {
    for (const AssignmentOut& a : e_.channel->TakeAssignments()) Succeed(e_, a, "r");
  }

  EXPECT_EQ(core().tasks_in_memory(), 0u);
  ASSERT_OK_AND_ASSIGN(WorkflowView view, core().GetWorkflow(wf.workflow_id));
  EXPECT_EQ(view.record.state, WorkflowState::kSucceeded);
  ASSERT_THAT(view.nodes, SizeIs(2));
  EXPECT_EQ(view.nodes[1].state, TaskState::kSucceeded);
  EXPECT_EQ(View(wf.task_ids[1]).node, "second");
  EXPECT_THAT(core().CancelWorkflow(wf.workflow_id), IsOkAndHolds(WorkflowState::kSucceeded));
  std::optional<WorkflowState> waited;
  ASSERT_THAT(core().AddWorkflowWaiter(wf.workflow_id,
                                       [&](const WorkflowView& v) { waited = v.record.state; }),
              IsOkAndHolds(0u));
  EXPECT_EQ(waited, WorkflowState::kSucceeded);
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow again, core().SubmitWorkflow(spec));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.workflow_id, wf.workflow_id);
  EXPECT_EQ(again.task_ids, wf.task_ids);
  EXPECT_THAT(core().GetWorkflow("unknown"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(HistoryTest, ARestartLoadsOnlyTheWorkInFlightAndRetentionStillEnds) {
  TaskSpec brief = Spec("echo");
  brief.retention = absl::Minutes(1);
  const std::string finished = RunToSuccess(1, brief)[0];
  const std::string waiting = Submit(Spec("nobody-serves-this"));

  RebuildCore(WithoutRecentResults());
  ASSERT_THAT(core().Recover(), IsOk());

  EXPECT_EQ(core().tasks_in_memory(), 1u);
  EXPECT_EQ(StateOf(finished), TaskState::kSucceeded);
  EXPECT_EQ(StateOf(waiting), TaskState::kQueued);
  clock_.Advance(absl::Minutes(2));
  core().Tick();
  EXPECT_THAT(core().GetTask(finished), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(StateOf(waiting), TaskState::kQueued);
}

TEST_F(HistoryTest, RetentionRunsInBatchesBackToBackUntilNothingIsDue) {
  CoreOptions options = WithoutRecentResults();
  options.retention_batch = 2;
  options.retention = absl::Minutes(1);
  RebuildCore(options);
  e_ = Connect("e2", {"echo"}, /*slots=*/8);
  RunToSuccess(5);
  ASSERT_THAT(Listed(TaskListQuery{}), SizeIs(5));

  clock_.Advance(absl::Minutes(2));
  absl::Time next = core().Tick();
  for (int i = 0; i < 5 && next <= clock_.Now(); ++i) next = core().Tick();

  EXPECT_THAT(Listed(TaskListQuery{}), IsEmpty());
  EXPECT_EQ(store_.size(), 0u);
}

// A store whose reads fail, like a disk gone bad: what a read of finished work needs it for.
class UnreadableStore final : public ForwardingTaskStore {
 public:
  absl::StatusOr<std::optional<TaskRecord>> FindTask(absl::string_view) override {
    return absl::DataLossError("bad sector");
  }
};

TEST(RecentResultsTest, TheLatestResultsAreReadFromMemoryAndOlderOnesFromTheStore) {
  FakeClock clock;
  UnreadableStore store;
  EventHub events;
  CoreOptions options = TestOptions();
  options.recent_results = 2;
  SchedulerCore core(clock, store, events, nullptr, options);
  auto channel = std::make_shared<FakeExecutorChannel>();
  ASSERT_OK_AND_ASSIGN(ExecutorSession session,
                       core.ConnectExecutor(Hello("e", {"echo"}, 8), channel));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids,
                       core.Submit(std::vector<TaskSpec>(3, Spec("echo"))));
  for (const AssignmentOut& a : channel->TakeAssignments()) {
    AttemptResult result;
    result.task_id = a.task_id;
    result.attempt = a.attempt;
    result.output = "out";
    core.OnResults(session, {std::move(result)});
  }

  ASSERT_OK_AND_ASSIGN(TaskView latest, core.GetTask(ids[2]));
  EXPECT_EQ(latest.record.output, "out");
  EXPECT_THAT(core.CancelTask(ids[1]), IsOkAndHolds(TaskState::kSucceeded));
  // The oldest left the cache: the store must answer, and cannot.
  EXPECT_THAT(core.GetTask(ids[0]),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::HasSubstr("bad sector")));
  // Past its retention a cached result is gone, as it is from the store.
  clock.Advance(options.retention + absl::Seconds(1));
  EXPECT_THAT(core.GetTask(ids[2]), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace taskwire::scheduler::testing
