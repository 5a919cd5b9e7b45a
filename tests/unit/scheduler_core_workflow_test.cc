// SchedulerCore's workflows with a FakeClock and fake executors: graph validation, release
// in dependency order, result passing, fan-out and fan-in, failure and cancel propagation,
// retries inside a chord, recovery, idempotency keys, and what a round writes to the store.
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/core/workflow_graph.h"
#include "tests/unit/forwarding_task_store.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

WorkflowNodeSpec Node(std::string name, std::vector<std::string> after = {},
                      std::string type = "echo") {
  return WorkflowNodeSpec{std::move(name), Spec(std::move(type)), std::move(after)};
}

class WorkflowTest : public SchedulerCoreTest {
 protected:
  SubmittedWorkflow SubmitWf(std::vector<WorkflowNodeSpec> nodes) {
    absl::StatusOr<SubmittedWorkflow> wf =
        core().SubmitWorkflow(WorkflowSpec{std::move(nodes), {}, {}});
    EXPECT_TRUE(wf.ok()) << wf.status();
    return wf.ok() ? *std::move(wf) : SubmittedWorkflow{};
  }

  WorkflowView Wf(const std::string& id) {
    absl::StatusOr<WorkflowView> view = core().GetWorkflow(id);
    EXPECT_TRUE(view.ok()) << view.status();
    return view.ok() ? *std::move(view) : WorkflowView{};
  }

  // Answers every assignment the executor has, succeeding with "<task id's node>-out".
  std::vector<AssignmentOut> RunAll(const TestExecutor& e) {
    std::vector<AssignmentOut> ran = e.channel->TakeAssignments();
    for (const AssignmentOut& a : ran) Succeed(e, a, View(a.task_id).node + "-out");
    return ran;
  }

  std::vector<std::string> Nodes(const std::vector<AssignmentOut>& as) {
    std::vector<std::string> names;
    for (const AssignmentOut& a : as) names.push_back(View(a.task_id).node);
    return names;
  }
};

TEST_F(WorkflowTest, RejectsInvalidGraphsNamingTheProblem) {
  auto submit = [&](std::vector<WorkflowNodeSpec> nodes) {
    return core().SubmitWorkflow(WorkflowSpec{std::move(nodes), {}, {}}).status();
  };
  EXPECT_THAT(submit({}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(submit({Node("a"), Node("a")}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unique")));
  EXPECT_THAT(submit({Node("a", {"zz"})}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'zz'")));
  EXPECT_THAT(submit({Node("a", {"a"})}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("depends on itself")));
  EXPECT_THAT(submit({Node("a", {"c"}), Node("b", {"a"}), Node("c", {"b"}), Node("d")}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cycle")));
  EXPECT_THAT(submit({Node("a"), Node("b", {"a", "a"})}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(submit({Node("a"), Node("b", {"a"}, "bad type!")}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("workflow.nodes[1].task.type")));
  EXPECT_THAT(submit({Node("a"), Node("b", {"a"}, "--wait")}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("starts with '-'")));
  CoreOptions options = TestOptions();
  options.limits.max_workflow_nodes = 2;
  options.limits.max_workflow_edges = 1;
  RebuildCore(options);
  EXPECT_THAT(submit({Node("a"), Node("b"), Node("c")}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--max-workflow-nodes")));
  EXPECT_THAT(submit({Node("a"), Node("b", {"a"})}), IsOk());
  EXPECT_THAT(submit({Node("a"), Node("b", {"a", "a"})}),  // two edges, counted first
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--max-workflow-edges")));
  EXPECT_THAT(store_.size(), 2u);  // only the valid one stored
}

TEST_F(WorkflowTest, RunsAChainInOrderPassingEachResultToTheNext) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  SubmittedWorkflow wf = SubmitWf({Node("c", {"b"}), Node("a"), Node("b", {"a"})});

  EXPECT_EQ(StateOf(wf.task_ids[0]), TaskState::kPending);
  std::vector<AssignmentOut> first = RunAll(e);
  EXPECT_THAT(Nodes(first), ElementsAre("a"));
  EXPECT_THAT(first[0].upstream_results, IsEmpty());
  std::vector<AssignmentOut> second = RunAll(e);
  EXPECT_THAT(Nodes(second), ElementsAre("b"));
  EXPECT_THAT(second[0].upstream_results, ElementsAre("a-out"));
  std::vector<AssignmentOut> third = RunAll(e);
  EXPECT_THAT(third[0].upstream_results, ElementsAre("b-out"));

  WorkflowView view = Wf(wf.workflow_id);
  EXPECT_EQ(view.record.state, WorkflowState::kSucceeded);
  ASSERT_THAT(view.nodes, SizeIs(3));
  EXPECT_EQ(view.nodes[0].output, "c-out");
}

TEST_F(WorkflowTest, ViewSaysWhyAQueuedNodeWaits) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  SubmittedWorkflow wf = SubmitWf({Node("a", {}, "nobody"), Node("b", {}, "nobody"),
                                   Node("c", {"a"}), Node("d")});
  RunAll(e);  // d succeeds

  WorkflowView view = Wf(wf.workflow_id);
  ASSERT_THAT(view.waiting_reasons, SizeIs(4));
  EXPECT_THAT(view.waiting_reasons[0],
              HasSubstr("no connected executor serves task type 'nobody' on queue 'default'"));
  EXPECT_EQ(view.waiting_reasons[1], view.waiting_reasons[0]);
  EXPECT_EQ(view.waiting_reasons[2], "");  // pending: waits for its upstream, not a slot
  EXPECT_EQ(view.waiting_reasons[3], "");  // finished
}

TEST_F(WorkflowTest, FansOutAndInWithResultsInDependencyOrder) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  // A chord: a group of three, then a callback listing them in its own order.
  SubmittedWorkflow wf =
      SubmitWf({Node("g1"), Node("g2"), Node("g3"), Node("callback", {"g3", "g1", "g2"})});

  std::vector<AssignmentOut> group = e.channel->TakeAssignments();
  ASSERT_THAT(Nodes(group), ElementsAre("g1", "g2", "g3"));
  Succeed(e, group[1], "two");
  Succeed(e, group[0], "one");
  EXPECT_THAT(e.channel->TakeAssignments(), IsEmpty());  // g3 still runs
  Succeed(e, group[2], "three");

  std::vector<AssignmentOut> callback = e.channel->TakeAssignments();
  ASSERT_THAT(callback, SizeIs(1));
  EXPECT_THAT(callback[0].upstream_results, ElementsAre("three", "one", "two"));
}

TEST_F(WorkflowTest, CancelsEverythingDownstreamOfANodeThatFailsForGood) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  SubmittedWorkflow wf = SubmitWf(
      {Node("a"), Node("b", {"a"}), Node("c", {"b"}), Node("side"), Node("join", {"c", "side"})});

  std::vector<AssignmentOut> first = e.channel->TakeAssignments();
  ASSERT_THAT(Nodes(first), ElementsAre("a", "side"));
  Answer(e, first[0], AttemptOutcome::kFailed, "", "bad input");
  EXPECT_EQ(Wf(wf.workflow_id).record.state, WorkflowState::kRunning);  // side still runs
  Succeed(e, first[1]);

  WorkflowView view = Wf(wf.workflow_id);
  EXPECT_EQ(view.record.state, WorkflowState::kFailed);
  EXPECT_EQ(view.record.decided_by, "a");
  EXPECT_THAT(view.record.error, HasSubstr("bad input"));
  for (int i : {1, 2, 4}) {
    EXPECT_EQ(view.nodes[i].state, TaskState::kCancelled);
    EXPECT_EQ(view.nodes[i].error, "upstream a failed");
  }
  EXPECT_EQ(view.nodes[3].state, TaskState::kSucceeded);
}

TEST_F(WorkflowTest, GoesOnWhenAGroupMemberSucceedsOnRetry) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  WorkflowNodeSpec flaky = Node("g2");
  flaky.task.retry = RetryPolicy{3, absl::Seconds(1), 2, absl::Seconds(10), 0};
  SubmittedWorkflow wf = SubmitWf({Node("g1"), flaky, Node("callback", {"g1", "g2"})});

  std::vector<AssignmentOut> group = e.channel->TakeAssignments();
  Succeed(e, group[0], "one");
  Answer(e, group[1], AttemptOutcome::kFailed, "", "flaky");
  EXPECT_EQ(StateOf(wf.task_ids[1]), TaskState::kScheduled);
  clock_.Advance(absl::Seconds(1));
  core().Tick();
  std::vector<AssignmentOut> retry = e.channel->TakeAssignments();
  ASSERT_THAT(retry, SizeIs(1));
  EXPECT_EQ(retry[0].attempt, 2u);
  Succeed(e, retry[0], "two");

  std::vector<AssignmentOut> callback = e.channel->TakeAssignments();
  ASSERT_THAT(callback, SizeIs(1));
  EXPECT_THAT(callback[0].upstream_results, ElementsAre("one", "two"));
  Succeed(e, callback[0], "done");
  EXPECT_EQ(Wf(wf.workflow_id).record.state, WorkflowState::kSucceeded);
}

TEST_F(WorkflowTest, CancellingTheWorkflowCancelsEveryUnfinishedNodeRunningOnesIncluded) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  SubmittedWorkflow wf = SubmitWf({Node("a"), Node("b"), Node("c", {"a", "b"})});
  std::vector<AssignmentOut> started = e.channel->TakeAssignments();
  Succeed(e, started[0]);

  ASSERT_THAT(core().CancelWorkflow(wf.workflow_id), IsOk());

  WorkflowView view = Wf(wf.workflow_id);
  EXPECT_EQ(view.record.state, WorkflowState::kCancelled);
  EXPECT_EQ(view.record.decided_by, "");
  EXPECT_EQ(view.record.error, "cancelled by a client");
  EXPECT_EQ(view.nodes[0].state, TaskState::kSucceeded);
  EXPECT_EQ(view.nodes[1].state, TaskState::kCancelled);  // was running
  EXPECT_EQ(view.nodes[2].state, TaskState::kCancelled);  // was pending
  EXPECT_THAT(e.channel->cancels(), ElementsAre(AttemptRef{wf.task_ids[1], 1}));
  EXPECT_THAT(core().CancelWorkflow(wf.workflow_id), IsOk());  // again: no change
}

TEST_F(WorkflowTest, CancellingOneNodeCancelsItsDownstreamAndNamesIt) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  SubmittedWorkflow wf = SubmitWf({Node("a"), Node("b", {"a"})});

  ASSERT_THAT(core().CancelTask(wf.task_ids[0]), IsOk());

  WorkflowView view = Wf(wf.workflow_id);
  EXPECT_EQ(view.record.state, WorkflowState::kCancelled);
  EXPECT_EQ(view.record.decided_by, "a");
  EXPECT_EQ(view.nodes[1].error, "upstream a was cancelled");
}

TEST_F(WorkflowTest, WakesWorkflowWaitersAtTheEnd) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  SubmittedWorkflow wf = SubmitWf({Node("a"), Node("b", {"a"})});
  std::vector<WorkflowState> woken;
  ASSERT_OK_AND_ASSIGN(uint64_t token,
                       core().AddWorkflowWaiter(wf.workflow_id, [&](const WorkflowView& v) {
                         woken.push_back(v.record.state);
                       }));
  EXPECT_NE(token, 0u);

  RunAll(e);
  EXPECT_THAT(woken, IsEmpty());
  RunAll(e);

  EXPECT_THAT(woken, ElementsAre(WorkflowState::kSucceeded));
}

TEST_F(WorkflowTest, RecoversAHalfDoneWorkflowAndFinishesIt) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/10);
  SubmittedWorkflow wf = SubmitWf({Node("a"), Node("b", {"a"}), Node("c", {"b"})});
  RunAll(e);  // a done; b assigned
  ASSERT_EQ(StateOf(wf.task_ids[1]), TaskState::kRunning);

  RebuildCore(TestOptions());
  ASSERT_THAT(core().Recover(), IsOk());
  clock_.Advance(absl::Seconds(16));  // b's lease passes: lost, queued again
  core().Tick();
  TestExecutor e2 = Connect("e2", {"echo"}, /*slots=*/10);
  std::vector<AssignmentOut> b = RunAll(e2);
  ASSERT_THAT(Nodes(b), ElementsAre("b"));
  EXPECT_THAT(b[0].upstream_results, ElementsAre("a-out"));
  RunAll(e2);

  EXPECT_EQ(Wf(wf.workflow_id).record.state, WorkflowState::kSucceeded);
}

// --- idempotency keys of workflows

TEST_F(WorkflowTest, ARepeatedIdempotencyKeyReturnsTheFirstWorkflowAndCreatesNothing) {
  WorkflowSpec spec{{Node("a"), Node("b", {"a"})}, {}, "nightly-1"};
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow first, core().SubmitWorkflow(spec));
  EXPECT_FALSE(first.existing);
  const size_t stored = store_.size();

  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow again, core().SubmitWorkflow(spec));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.workflow_id, first.workflow_id);
  EXPECT_EQ(again.task_ids, first.task_ids);
  EXPECT_EQ(store_.size(), stored);

  // Another key, or none, makes another workflow; a task with the same key is apart.
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow other,
                       core().SubmitWorkflow({{Node("a")}, {}, "nightly-2"}));
  EXPECT_NE(other.workflow_id, first.workflow_id);
  TaskSpec task = Spec("echo");
  task.idempotency_key = "nightly-1";
  EXPECT_THAT(Submit(task), Not(IsEmpty()));
  EXPECT_EQ(store_.size(), stored + 2);
}

TEST_F(WorkflowTest, KeepsAWorkflowAndItsKeyAcrossARestartUntilItsRetentionEnds) {
  CoreOptions options = TestOptions();
  options.retention = absl::Minutes(5);
  RebuildCore(options);
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/4);
  WorkflowSpec spec{{Node("a")}, {}, "report-7"};
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow first, core().SubmitWorkflow(spec));
  RunAll(e);
  ASSERT_EQ(Wf(first.workflow_id).record.state, WorkflowState::kSucceeded);

  RebuildCore(options);
  ASSERT_THAT(core().Recover(), IsOk());
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow again, core().SubmitWorkflow(spec));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.workflow_id, first.workflow_id);
  EXPECT_EQ(again.task_ids, first.task_ids);

  clock_.Advance(absl::Minutes(5));
  core().Tick();  // the recovered workflow is forgotten, its nodes and key with it
  EXPECT_THAT(core().GetWorkflow(first.workflow_id), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(core().GetTask(first.task_ids[0]), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(StoredState stored, store_.Load());
  EXPECT_THAT(stored.tasks, IsEmpty());
  EXPECT_THAT(stored.workflows, IsEmpty());
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow fresh, core().SubmitWorkflow(spec));
  EXPECT_FALSE(fresh.existing);
  EXPECT_NE(fresh.workflow_id, first.workflow_id);
}

TEST_F(WorkflowTest, IsKeptAsLongAsTheLongestRetentionItsNodesAskedFor) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/4);
  WorkflowNodeSpec brief = Node("brief");
  brief.task.retention = absl::Minutes(1);
  WorkflowNodeSpec longer = Node("longer");
  longer.task.retention = absl::Minutes(3);
  SubmittedWorkflow wf = SubmitWf({brief, longer});
  RunAll(e);
  ASSERT_EQ(Wf(wf.workflow_id).record.state, WorkflowState::kSucceeded);

  clock_.Advance(absl::Minutes(2));
  core().Tick();
  EXPECT_THAT(core().GetTask(wf.task_ids[0]), IsOk());  // nodes go with their workflow
  clock_.Advance(absl::Minutes(1));
  core().Tick();
  EXPECT_THAT(core().GetWorkflow(wf.workflow_id), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(WorkflowTest, RefusesAnIdempotencyKeyOverTheLimit) {
  WorkflowSpec spec{{Node("a")}, {}, std::string(129, 'k')};
  EXPECT_THAT(core().SubmitWorkflow(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("workflow.idempotency_key is 129 bytes")));
  EXPECT_EQ(store_.size(), 0u);
}

// A store that counts the writes of each task, over a memory store.
class CountingStore final : public testing::ForwardingTaskStore {
 public:
  absl::Status Commit(const StoreBatch& batch) override {
    for (const TaskRecord& r : batch.tasks) ++writes_[r.id];
    return inner_.Commit(batch);
  }
  std::string Describe() const override { return "counting"; }
  int writes(const std::string& id) { return writes_[id]; }

 private:
  absl::flat_hash_map<std::string, int> writes_;  // the core commits one batch at a time here
};

TEST(WorkflowStoreTest, ANodeReleasedAndAssignedInOneRoundIsWrittenOnceInItsLastVersion) {
  FakeClock clock;
  CountingStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, /*metrics=*/nullptr, TestOptions());
  ExecutorHello hello;
  hello.executor_id = "e";
  hello.task_types.push_back(TaskTypeInfo{"echo", RunMode::kThread});
  hello.slots = 1;
  auto channel = std::make_shared<FakeExecutorChannel>();
  ASSERT_OK_AND_ASSIGN(ExecutorSession session, core.ConnectExecutor(hello, channel));
  ASSERT_OK_AND_ASSIGN(SubmittedWorkflow wf,
                       core.SubmitWorkflow(WorkflowSpec{{Node("a"), Node("b", {"a"})}, {}, {}}));
  const std::string& b = wf.task_ids[1];
  ASSERT_EQ(store.writes(b), 1);  // submitted, PENDING

  std::vector<AssignmentOut> a = channel->TakeAssignments();
  ASSERT_THAT(a, SizeIs(1));
  AttemptResult done;
  done.task_id = a[0].task_id;
  done.attempt = a[0].attempt;
  done.outcome = AttemptOutcome::kSucceeded;
  core.OnResults(session, {done});  // a SUCCEEDED; b QUEUED, then RUNNING on the free slot

  ASSERT_THAT(channel->TakeAssignments(), SizeIs(1));
  EXPECT_EQ(store.writes(b), 2) << "b's QUEUED version was written beside its RUNNING one";
  std::vector<TaskRecord> unfinished = UnfinishedIn(store);
  ASSERT_THAT(unfinished, SizeIs(1));
  EXPECT_EQ(unfinished[0].id, b);
  EXPECT_EQ(unfinished[0].state, TaskState::kRunning);
}

TEST(WorkflowGraphTest, ResolvesDependencyNamesToIndicesInTheirOrder) {
  WorkflowSpec spec{{Node("x"), Node("y"), Node("z", {"y", "x"})}, {}, {}};
  ASSERT_OK_AND_ASSIGN(auto upstream, ResolveWorkflowGraph(spec, TaskLimits{}));
  EXPECT_THAT(upstream, ElementsAre(IsEmpty(), IsEmpty(), ElementsAre(1u, 0u)));
}

}  // namespace
}  // namespace taskwire::scheduler::testing
