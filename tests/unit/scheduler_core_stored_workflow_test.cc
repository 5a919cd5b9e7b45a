// SchedulerCore::Recover over workflow records that do not hold together, as a damaged or
// hand-edited store can give (found by tests/fuzz/record_codec_fuzzer.cc): the core indexes
// nodes and tasks through each other, so such a workflow is reported and left out, and
// its tasks run on as tasks of no workflow, instead of the restart crashing.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;

class StoredWorkflowTest : public SchedulerCoreTest {
 protected:
  static TaskRecord NodeTask(std::string id, uint64_t seq, uint32_t index, TaskState state) {
    TaskRecord t;
    t.id = std::move(id);
    t.seq = seq;
    t.version = 1;
    t.spec = std::make_shared<const TaskSpec>(Spec("echo", 0, "default"));
    t.state = state;
    t.workflow_id = "wf";
    t.node_index = index;
    return t;
  }

  // A running workflow "wf": a -> b, with tasks "ta" (queued) and "tb" (pending).
  static WorkflowRecord TwoNodes() {
    WorkflowRecord w;
    w.id = "wf";
    w.seq = 3;
    w.version = 1;
    w.nodes = {{"a", "ta", {}}, {"b", "tb", {0}}};
    return w;
  }

  // Stores the records and restarts the core over them.
  void RestartOver(std::vector<TaskRecord> tasks, WorkflowRecord workflow) {
    StoreBatch batch;
    batch.tasks = std::move(tasks);
    batch.workflows.push_back(std::move(workflow));
    ASSERT_THAT(store_.Commit(batch), IsOk());
    RebuildCore(TestOptions());
    ASSERT_THAT(core().Recover(), IsOk());
  }
};

TEST_F(StoredWorkflowTest, AWorkflowWhoseNodeTaskIsMissingIsLeftOutAndItsOtherTasksStillRun) {
  RestartOver({NodeTask("ta", 1, 0, TaskState::kQueued)}, TwoNodes());
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  Succeed(e, e.channel->TakeAssignments().at(0));
  EXPECT_EQ(StateOf("ta"), TaskState::kSucceeded);
}

TEST_F(StoredWorkflowTest, AWorkflowWithAnEdgeOutsideItIsLeftOut) {
  WorkflowRecord w = TwoNodes();
  w.nodes[1].after = {7};
  RestartOver({NodeTask("ta", 1, 0, TaskState::kQueued), NodeTask("tb", 2, 1, TaskState::kPending)},
              std::move(w));
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/2);
  Succeed(e, e.channel->TakeAssignments().at(0));
  EXPECT_EQ(StateOf("ta"), TaskState::kSucceeded);
  EXPECT_EQ(StateOf("tb"), TaskState::kPending);  // no running workflow releases it
}

TEST_F(StoredWorkflowTest, AWorkflowDecidedByANodeItDoesNotHaveIsLeftOut) {
  WorkflowRecord w = TwoNodes();
  w.decided_by = "no-such-node";
  RestartOver({NodeTask("ta", 1, 0, TaskState::kFailed), NodeTask("tb", 2, 1, TaskState::kCancelled)},
              std::move(w));
  EXPECT_EQ(StateOf("ta"), TaskState::kFailed);
}

TEST_F(StoredWorkflowTest, AWorkflowThatATaskClaimsAForeignNodeOfIsLeftOut) {
  RestartOver({NodeTask("ta", 1, 0, TaskState::kQueued), NodeTask("tb", 2, 1, TaskState::kPending),
               NodeTask("tc", 4, 5, TaskState::kQueued)},
              TwoNodes());
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/2);
  for (const AssignmentOut& a : e.channel->TakeAssignments()) Succeed(e, a);
  EXPECT_EQ(StateOf("ta"), TaskState::kSucceeded);
  EXPECT_EQ(StateOf("tc"), TaskState::kSucceeded);
}

TEST_F(StoredWorkflowTest, AWholeWorkflowStillRecoversAndRuns) {
  RestartOver({NodeTask("ta", 1, 0, TaskState::kQueued), NodeTask("tb", 2, 1, TaskState::kPending)},
              TwoNodes());
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  Succeed(e, e.channel->TakeAssignments().at(0));
  Succeed(e, e.channel->TakeAssignments().at(0));
  absl::StatusOr<WorkflowView> wf = core().GetWorkflow("wf");
  ASSERT_THAT(wf.status(), IsOk());
  EXPECT_EQ(wf->record.state, WorkflowState::kSucceeded);
}

}  // namespace
}  // namespace taskwire::scheduler::testing
