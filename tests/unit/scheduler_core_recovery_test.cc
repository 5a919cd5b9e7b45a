// SchedulerCore::Recover: a core rebuilt over the same store (as after a restart) gets back
// every retained task. Waiting tasks wait again; a running attempt keeps its lease for one
// executor timeout, for its executor to reconnect and claim it, and is lost after that.
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
  // Before the restart: one task succeeded, one running on "a", one queued, one cancelled.
  void SetUp() override {
    TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
    succeeded_ = Submit(Spec("echo"));
    Succeed(a, a.channel->TakeAssignments().at(0), "done before");
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

  void PassTheLease() {
    clock_.Advance(TestOptions().executor_timeout + absl::Seconds(1));
    core().Tick();
  }

  std::string succeeded_, running_, queued_, cancelled_;
};

TEST_F(RecoveryTest, KeepsARunningAttemptForOneLeaseThenLosesAndRequeuesIt) {
  Restart();
  EXPECT_EQ(StateOf(running_), TaskState::kRunning);

  PassTheLease();

  TaskRecord running = Task(running_);
  EXPECT_EQ(running.state, TaskState::kQueued);
  ASSERT_THAT(running.attempts, SizeIs(1));
  EXPECT_EQ(running.attempts[0].outcome, AttemptOutcome::kLost);
  EXPECT_THAT(running.attempts[0].error, HasSubstr("did not reconnect"));
  // The change is stored, so a second restart does not bring the attempt back.
  std::vector<TaskRecord> unfinished = UnfinishedIn(store_);
  ASSERT_THAT(unfinished, SizeIs(2));
  EXPECT_EQ(unfinished[0].id, running_);
  EXPECT_EQ(unfinished[0].state, TaskState::kQueued);
}

TEST_F(RecoveryTest, AnExecutorThatReconnectsWithTheAttemptKeepsRunningIt) {
  Restart();

  TestExecutor a = Reconnect("a", {"echo"}, /*slots=*/2, {AttemptRef{running_, 1}});

  EXPECT_THAT(a.channel->cancels(), IsEmpty());
  EXPECT_THAT(a.channel->assigned_task_ids(), ElementsAre(queued_));  // one slot was free
  EXPECT_EQ(SlotsUsed("a"), 2);
  Succeed(a, AssignmentOut{running_, 1, nullptr, {}}, "finished across the restart");
  PassTheLease();
  TaskRecord running = Task(running_);
  EXPECT_EQ(running.state, TaskState::kSucceeded);
  EXPECT_EQ(running.output, "finished across the restart");
  EXPECT_THAT(running.attempts, SizeIs(1));  // not duplicated
}

TEST_F(RecoveryTest, AnExecutorReportingAnAttemptThatIsNoLongerCurrentIsToldToCancelIt) {
  Restart();
  PassTheLease();  // the attempt is lost and the task queued again

  TestExecutor a = Reconnect("a", {"echo"}, /*slots=*/1, {AttemptRef{running_, 1}});

  EXPECT_THAT(a.channel->cancels(), ElementsAre(AttemptRef{running_, 1}));
  EXPECT_THAT(a.channel->assigned_task_ids(), IsEmpty());  // its one slot is still busy
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/5);
  std::vector<AssignmentOut> got = b.channel->TakeAssignments();
  ASSERT_THAT(got, SizeIs(2));
  EXPECT_EQ(got[0].task_id, running_);
  EXPECT_EQ(got[0].attempt, 2u);
  EXPECT_EQ(got[1].task_id, queued_);
}

TEST_F(RecoveryTest, KeepsFinishedTasksWithTheirResultsAndOutOfTheQueues) {
  Restart();

  TaskRecord done = Task(succeeded_);
  EXPECT_EQ(done.state, TaskState::kSucceeded);
  EXPECT_EQ(done.output, "done before");
  EXPECT_EQ(StateOf(cancelled_), TaskState::kCancelled);
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/5);
  EXPECT_THAT(b.channel->assigned_task_ids(), ElementsAre(queued_));
  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(TaskListQuery{}));
  EXPECT_THAT(page.tasks, SizeIs(4));
}

TEST_F(RecoveryTest, GivesNewTasksIdsThatDoNotCollideWithOldOnes) {
  ASSERT_OK_AND_ASSIGN(StoredState before, store_.Load());
  Restart();

  std::vector<std::string> fresh = SubmitAll(std::vector<TaskSpec>(20, Spec("echo")));

  for (const std::string& id : fresh) {
    EXPECT_THAT(id, Not(::testing::AnyOf(succeeded_, running_, queued_, cancelled_)));
  }
  EXPECT_EQ(Task(fresh[0]).seq, before.max_seq + 1);
  EXPECT_EQ(store_.size(), 4u + 20u);  // nothing overwritten
  ASSERT_OK_AND_ASSIGN(TaskPage page, core().ListTasks(TaskListQuery{}));
  ASSERT_THAT(page.tasks, SizeIs(24));
  EXPECT_EQ(page.tasks[0].id, succeeded_);  // old tasks still list first
  EXPECT_EQ(page.tasks[4].id, fresh[0]);
}

TEST_F(RecoveryTest, IgnoresAResultFromAnExecutorThatDoesNotHoldTheAttempt) {
  Restart();
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/5);

  Succeed(b, AssignmentOut{running_, 1, nullptr, {}}, "not b's to report");

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
