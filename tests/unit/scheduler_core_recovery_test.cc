// SchedulerCore::Recover: a core rebuilt over the same store (as after a restart) gets back
// every unfinished task; what was running has lost its attempt and runs again.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

class RecoveryTest : public SchedulerCoreTest {
 protected:
  // Before the restart: one task succeeded, one running, one queued, one cancelled.
  void SetUp() override {
    TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
    succeeded_ = Submit(Spec("echo"));
    Succeed(a, a.channel->TakeAssignments().at(0));
    running_ = Submit(Spec("echo", 1));
    queued_ = Submit(Spec("echo", 1));
    cancelled_ = Submit(Spec("echo", 1));
    ASSERT_THAT(core().CancelTask(cancelled_), IsOk());
    ASSERT_EQ(StateOf(running_), TaskState::kRunning);
    ASSERT_EQ(StateOf(queued_), TaskState::kQueued);
  }

  void Restart() {
    clock_.Advance(absl::Minutes(1));
    RebuildCore(TestOptions());
    ASSERT_THAT(core().Recover(), IsOk());
  }

  std::string succeeded_, running_, queued_, cancelled_;
};

TEST_F(RecoveryTest, QueuesAgainTheTasksThatWereQueuedOrRunning) {
  Restart();

  TaskRecord running = Task(running_);
  EXPECT_EQ(running.state, TaskState::kQueued);
  ASSERT_THAT(running.attempts, SizeIs(1));
  EXPECT_EQ(running.attempts[0].outcome, AttemptOutcome::kLost);
  EXPECT_THAT(running.attempts[0].error, HasSubstr("restarted"));
  EXPECT_EQ(running.queued_at, clock_.Now());

  TaskRecord queued = Task(queued_);
  EXPECT_EQ(queued.state, TaskState::kQueued);
  EXPECT_THAT(queued.attempts, IsEmpty());
  EXPECT_EQ(queued.spec->priority, 1);
}

TEST_F(RecoveryTest, RunsTheRecoveredTasksInTheirOriginalOrder) {
  Restart();

  TestExecutor b = Connect("b", {"echo"}, /*slots=*/5);

  std::vector<AssignmentOut> got = b.channel->TakeAssignments();
  ASSERT_THAT(got, SizeIs(2));
  EXPECT_EQ(got[0].task_id, running_);
  EXPECT_EQ(got[0].attempt, 2u);
  EXPECT_EQ(got[1].task_id, queued_);
  EXPECT_EQ(got[1].attempt, 1u);
  Succeed(b, got[0], "after the restart");
  EXPECT_EQ(Task(running_).output, "after the restart");
}

TEST_F(RecoveryTest, StoresTheLostAttemptOfARecoveredTask) {
  Restart();

  ASSERT_OK_AND_ASSIGN(std::vector<TaskRecord> unfinished, store_.LoadUnfinished());
  ASSERT_THAT(unfinished, SizeIs(2));
  EXPECT_EQ(unfinished[0].id, running_);
  EXPECT_EQ(unfinished[0].state, TaskState::kQueued);
  ASSERT_THAT(unfinished[0].attempts, SizeIs(1));
  EXPECT_EQ(unfinished[0].attempts[0].outcome, AttemptOutcome::kLost);
}

TEST_F(RecoveryTest, LeavesFinishedTasksOutOfTheQueues) {
  Restart();

  TestExecutor b = Connect("b", {"echo"}, /*slots=*/5);

  EXPECT_THAT(b.channel->assigned_task_ids(), ElementsAre(running_, queued_));
  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(TaskListQuery{}));
  EXPECT_THAT(page.tasks, SizeIs(2));
}

TEST_F(RecoveryTest, GivesNewTasksIdsThatDoNotCollideWithOldOnes) {
  const uint64_t old_max_seq = *store_.MaxSeq();
  Restart();

  std::vector<std::string> fresh = SubmitAll(std::vector<TaskSpec>(20, Spec("echo")));

  for (const std::string& id : fresh) {
    EXPECT_THAT(id, Not(::testing::AnyOf(succeeded_, running_, queued_, cancelled_)));
  }
  EXPECT_EQ(Task(fresh[0]).seq, old_max_seq + 1);
  EXPECT_EQ(store_.size(), 4u + 20u);  // nothing overwritten
  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(TaskListQuery{}));
  ASSERT_THAT(page.tasks, SizeIs(22));
  EXPECT_EQ(page.tasks[0].id, running_);  // old tasks still list first
  EXPECT_EQ(page.tasks[2].id, fresh[0]);
}

TEST_F(RecoveryTest, IgnoresResultsForAttemptsFromBeforeTheRestart) {
  AssignmentOut before{running_, 1, nullptr};
  Restart();
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/5);

  Succeed(b, before, "from before the restart");

  EXPECT_EQ(StateOf(running_), TaskState::kRunning);
  EXPECT_THAT(Task(running_).output, IsEmpty());
}

TEST(RecoveryOfAnEmptyStoreTest, RecoversNothing) {
  FakeClock clock;
  MemoryTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());

  ASSERT_THAT(core.Recover(), IsOk());

  ASSERT_OK_AND_ASSIGN(TaskPage page, core.ListTasks(TaskListQuery{}));
  EXPECT_THAT(page.tasks, IsEmpty());
  EXPECT_THAT(core.GetTask("anything"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace taskwire::scheduler::testing
