// SchedulerCore::CancelTask in every state a task can be in.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::IsOkAndHolds;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using CancelTest = SchedulerCoreTest;

TEST_F(CancelTest, CancelsAQueuedTaskSoThatItIsNeverAssigned) {
  const std::string cancelled = Submit(Spec("echo"));
  const std::string kept = Submit(Spec("echo"));

  ASSERT_OK_AND_ASSIGN(TaskState state, core().CancelTask(cancelled));
  EXPECT_EQ(state, TaskState::kCancelled);

  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/5);
  EXPECT_THAT(e.channel->assigned_task_ids(), ElementsAre(kept));
  TaskRecord task = Task(cancelled);
  EXPECT_EQ(task.state, TaskState::kCancelled);
  EXPECT_THAT(task.error, HasSubstr("cancelled"));
  EXPECT_THAT(task.attempts, IsEmpty());
  EXPECT_EQ(task.finished_at, clock_.Now());
}

TEST_F(CancelTest, CancelsARunningTaskAtOnceAndTellsItsExecutor) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string running = Submit(Spec("echo"));
  AssignmentOut attempt = e.channel->TakeAssignments().at(0);
  ASSERT_EQ(attempt.task_id, running);

  ASSERT_OK_AND_ASSIGN(TaskState state, core().CancelTask(running));

  EXPECT_EQ(state, TaskState::kCancelled);
  EXPECT_EQ(StateOf(running), TaskState::kCancelled);
  EXPECT_THAT(e.channel->cancels(), ElementsAre(AttemptRef{running, 1}));
  TaskRecord task = Task(running);
  ASSERT_THAT(task.attempts, SizeIs(1));
  EXPECT_EQ(task.attempts[0].outcome, AttemptOutcome::kCancelled);
}

TEST_F(CancelTest, HoldsACancelledTasksSlotUntilTheExecutorAnswers) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string running = Submit(Spec("echo"));
  const std::string waiting = Submit(Spec("echo"));
  AssignmentOut attempt = e.channel->TakeAssignments().at(0);
  ASSERT_THAT(core().CancelTask(running), IsOk());

  // The executor may still be running it: its slot is not free yet.
  EXPECT_EQ(SlotsUsed("e1"), 1);
  EXPECT_EQ(StateOf(waiting), TaskState::kQueued);
  EXPECT_THAT(e.channel->TakeAssignments(), IsEmpty());

  Answer(e, attempt, AttemptOutcome::kCancelled, "", "cancelled on request");

  std::vector<AssignmentOut> next = e.channel->TakeAssignments();
  ASSERT_THAT(next, SizeIs(1));
  EXPECT_EQ(next[0].task_id, waiting);
  EXPECT_EQ(StateOf(running), TaskState::kCancelled);  // the answer changes nothing else
}

TEST_F(CancelTest, KeepsACancelledTaskCancelledWhenItsAttemptSucceedsAnyway) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AssignmentOut attempt = e.channel->TakeAssignments().at(0);
  ASSERT_THAT(core().CancelTask(id), IsOk());

  Succeed(e, attempt, "too late");

  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kCancelled);
  EXPECT_THAT(task.output, IsEmpty());
  EXPECT_EQ(SlotsUsed("e1"), 0);
}

TEST_F(CancelTest, FreesACancelledTasksSlotWhenItsExecutorGoesAway) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  ASSERT_THAT(core().CancelTask(id), IsOk());

  core().DisconnectExecutor(a.session, "stream broke");
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/1);

  EXPECT_EQ(StateOf(id), TaskState::kCancelled);  // not requeued like a lost attempt
  EXPECT_THAT(b.channel->assignments(), IsEmpty());
}

TEST_F(CancelTest, ReportsTheStateOfAFinishedTaskWithoutError) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string succeeded = Submit(Spec("echo"));
  Succeed(e, e.channel->TakeAssignments().at(0), "kept");
  const std::string failed = Submit(Spec("echo"));
  Answer(e, e.channel->TakeAssignments().at(0), AttemptOutcome::kFailed, "", "broke");
  const std::string cancelled = Submit(Spec("echo"));
  ASSERT_THAT(core().CancelTask(cancelled), IsOk());
  const std::vector<AttemptRef> cancels_before = e.channel->cancels();

  EXPECT_THAT(core().CancelTask(succeeded), IsOkAndHolds(TaskState::kSucceeded));
  EXPECT_THAT(core().CancelTask(failed), IsOkAndHolds(TaskState::kFailed));
  EXPECT_THAT(core().CancelTask(cancelled), IsOkAndHolds(TaskState::kCancelled));
  EXPECT_EQ(Task(succeeded).output, "kept");
  EXPECT_EQ(Task(failed).error, "broke");
  EXPECT_EQ(e.channel->cancels(), cancels_before);  // no second Cancel for the same attempt
}

TEST_F(CancelTest, ReturnsNotFoundForAnUnknownTask) {
  EXPECT_THAT(core().CancelTask("no-such-task"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'no-such-task'")));
}

TEST_F(CancelTest, StoresTheCancelledState) {
  const std::string id = Submit(Spec("echo"));
  ASSERT_THAT(core().CancelTask(id), IsOk());

  std::vector<TaskRecord> unfinished = UnfinishedIn(store_);
  EXPECT_THAT(unfinished, IsEmpty());
}

}  // namespace
}  // namespace taskwire::scheduler::testing
