// SchedulerCore and executors that go away: a broken stream, a missed heartbeat window, a
// reconnect under the same id. Their running attempts are lost and run again elsewhere;
// whatever the old attempt or session says afterwards is ignored.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

using LostExecutorTest = SchedulerCoreTest;

TEST_F(LostExecutorTest, RunsTheAttemptsOfADisconnectedExecutorOnAnotherAsAttemptTwo) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/2);
  const std::string id = Submit(Spec("echo"));
  ASSERT_THAT(a.channel->TakeAssignments(), SizeIs(1));
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/1);

  core().DisconnectExecutor(a.session, "stream broke");

  std::vector<AssignmentOut> second = b.channel->TakeAssignments();
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(second[0].task_id, id);
  EXPECT_EQ(second[0].attempt, 2u);
  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kRunning);
  ASSERT_THAT(task.attempts, SizeIs(2));
  EXPECT_EQ(task.attempts[0].outcome, AttemptOutcome::kLost);
  EXPECT_EQ(task.attempts[0].executor_id, "a");
  EXPECT_THAT(task.attempts[0].error, HasSubstr("stream broke"));
  EXPECT_EQ(task.attempts[1].executor_id, "b");
  EXPECT_THAT(core().ListExecutors(), SizeIs(1));
  EXPECT_FALSE(a.channel->closed());  // its stream already ended; nothing to close
}

TEST_F(LostExecutorTest, QueuesALostAttemptWhenNoOtherExecutorCanTakeIt) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));

  core().DisconnectExecutor(a.session, "stream broke");

  EXPECT_EQ(StateOf(id), TaskState::kQueued);
  EXPECT_THAT(View(id).waiting_reason, HasSubstr("no connected executor"));
}

TEST_F(LostExecutorTest, IgnoresALateResultFromTheLostAttempt) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AssignmentOut first = a.channel->TakeAssignments().at(0);
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/1);
  core().DisconnectExecutor(a.session, "stream broke");
  AssignmentOut second = b.channel->TakeAssignments().at(0);

  Succeed(a, first, "from the lost attempt");  // while the second attempt runs
  EXPECT_EQ(StateOf(id), TaskState::kRunning);

  Succeed(b, second, "from the second attempt");
  Succeed(a, first, "from the lost attempt");  // and after it finished

  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kSucceeded);
  EXPECT_EQ(task.output, "from the second attempt");
  EXPECT_EQ(task.attempts.at(1).outcome, AttemptOutcome::kSucceeded);
}

TEST_F(LostExecutorTest, IgnoresADisconnectOfASessionAlreadyGone) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  core().DisconnectExecutor(a.session, "stream broke");
  TestExecutor again = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));

  core().DisconnectExecutor(a.session, "the old stream's cleanup runs late");

  EXPECT_THAT(core().ListExecutors(), SizeIs(1));
  EXPECT_EQ(StateOf(id), TaskState::kRunning);
}

TEST_F(LostExecutorTest, DropsAnExecutorThatStopsHeartbeatingAndRunsItsWorkElsewhere) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AssignmentOut first = a.channel->TakeAssignments().at(0);

  // Heartbeats keep it alive: 20 s since it connected, but only 10 s since it last spoke.
  clock_.Advance(absl::Seconds(10));
  core().OnHeartbeat(a.session);
  clock_.Advance(absl::Seconds(10));
  core().CheckExecutorLiveness();
  EXPECT_THAT(core().ListExecutors(), SizeIs(1));
  EXPECT_FALSE(a.channel->closed());
  EXPECT_EQ(StateOf(id), TaskState::kRunning);

  // Then 16 s of silence, past the 15 s timeout.
  clock_.Advance(absl::Seconds(6));
  core().CheckExecutorLiveness();

  EXPECT_THAT(core().ListExecutors(), IsEmpty());
  EXPECT_TRUE(a.channel->closed());
  EXPECT_EQ(a.channel->close_status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(StateOf(id), TaskState::kQueued);
  EXPECT_EQ(Task(id).attempts.at(0).outcome, AttemptOutcome::kLost);

  TestExecutor b = Connect("b", {"echo"}, /*slots=*/1);
  std::vector<AssignmentOut> second = b.channel->TakeAssignments();
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(second[0].attempt, 2u);

  Succeed(a, first, "from the dropped session");
  Succeed(b, second[0], "from b");
  EXPECT_EQ(Task(id).output, "from b");
}

TEST_F(LostExecutorTest, CountsResultsAndHeartbeatsAsSignsOfLife) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/2);
  SubmitAll(std::vector<TaskSpec>(2, Spec("echo")));
  std::vector<AssignmentOut> work = a.channel->TakeAssignments();

  clock_.Advance(absl::Seconds(10));
  core().OnHeartbeat(a.session);
  clock_.Advance(absl::Seconds(10));
  core().CheckExecutorLiveness();
  EXPECT_THAT(core().ListExecutors(), SizeIs(1));

  Succeed(a, work[0]);
  clock_.Advance(absl::Seconds(10));
  core().CheckExecutorLiveness();
  EXPECT_THAT(core().ListExecutors(), SizeIs(1));
  EXPECT_EQ(core().ListExecutors()[0].last_seen, clock_.Now() - absl::Seconds(10));
}

TEST_F(LostExecutorTest, KeepsAnExecutorSilentForExactlyTheTimeout) {
  Connect("a", {"echo"}, /*slots=*/1);
  clock_.Advance(absl::Seconds(15));

  core().CheckExecutorLiveness();

  EXPECT_THAT(core().ListExecutors(), SizeIs(1));
}

TEST_F(LostExecutorTest, FailsATaskLostMaxLostAttemptsTimes) {
  CoreOptions options = TestOptions();
  options.max_lost_attempts = 3;
  RebuildCore(options);
  const std::string id = Submit(Spec("crasher"));
  std::vector<TaskView> fired;
  ASSERT_THAT(core().AddWaiter(id, [&](const TaskView& v) { fired.push_back(v); }),
              ::taskwire::testing::IsOk());

  for (int i = 1; i <= 3; ++i) {
    TestExecutor e = Connect(absl::StrCat("e", i), {"crasher"}, /*slots=*/1);
    std::vector<AssignmentOut> got = e.channel->TakeAssignments();
    ASSERT_THAT(got, SizeIs(1)) << "executor " << i;
    EXPECT_EQ(got[0].attempt, static_cast<uint32_t>(i));
    core().DisconnectExecutor(e.session, "process died");
  }

  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_THAT(task.error, HasSubstr("lost 3 times"));
  ASSERT_THAT(task.attempts, SizeIs(3));
  for (const AttemptRecord& a : task.attempts) EXPECT_EQ(a.outcome, AttemptOutcome::kLost);
  ASSERT_THAT(fired, SizeIs(1));
  EXPECT_EQ(fired[0].record.state, TaskState::kFailed);

  TestExecutor last = Connect("e4", {"crasher"}, /*slots=*/1);
  EXPECT_THAT(last.channel->assignments(), IsEmpty());
}

TEST_F(LostExecutorTest, DoesNotCountCancelledAttemptsAsLost) {
  CoreOptions options = TestOptions();
  options.max_lost_attempts = 2;
  RebuildCore(options);
  const std::string id = Submit(Spec("echo"));

  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  Answer(a, a.channel->TakeAssignments().at(0), AttemptOutcome::kCancelled, "", "draining");
  core().DisconnectExecutor(a.session, "went away");  // lost #1 (attempt 2)
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/1);

  EXPECT_EQ(StateOf(id), TaskState::kRunning);
  EXPECT_EQ(b.channel->assignments().at(0).attempt, 3u);
}

TEST_F(LostExecutorTest, ReplacesTheOldSessionWhenAnExecutorReconnectsWithTheSameId) {
  TestExecutor old_session = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AssignmentOut first = old_session.channel->TakeAssignments().at(0);

  TestExecutor new_session = Connect("a", {"echo"}, /*slots=*/1);

  EXPECT_NE(new_session.session.session_id, old_session.session.session_id);
  EXPECT_EQ(old_session.channel->close_count(), 1);
  EXPECT_EQ(old_session.channel->close_status().code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(new_session.channel->closed());
  EXPECT_THAT(core().ListExecutors(), SizeIs(1));
  std::vector<AssignmentOut> second = new_session.channel->TakeAssignments();
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(second[0].task_id, id);
  EXPECT_EQ(second[0].attempt, 2u);
  EXPECT_EQ(Task(id).attempts.at(0).outcome, AttemptOutcome::kLost);

  // Whatever arrives for the first attempt, on either session, is stale.
  Succeed(old_session, first, "old session");
  Succeed(new_session, first, "new session, old attempt");
  EXPECT_EQ(StateOf(id), TaskState::kRunning);
  EXPECT_EQ(SlotsUsed("a"), 1);

  // The old stream's end must not take the new session down.
  core().DisconnectExecutor(old_session.session, "old stream finished");
  EXPECT_THAT(core().ListExecutors(), SizeIs(1));

  Succeed(new_session, second[0], "second attempt");
  EXPECT_EQ(Task(id).output, "second attempt");
}

TEST_F(LostExecutorTest, IgnoresADrainFromAReplacedSession) {
  TestExecutor old_session = Connect("a", {"echo"}, /*slots=*/1);
  TestExecutor new_session = Connect("a", {"echo"}, /*slots=*/1);

  core().OnDrain(old_session.session);
  const std::string id = Submit(Spec("echo"));

  EXPECT_THAT(new_session.channel->assigned_task_ids(), ElementsAre(id));
  EXPECT_FALSE(core().ListExecutors().at(0).draining);
}

// An executor that leaves its id empty gets one the core makes up; that made-up id must
// never be taken for a reconnect of another executor that chose the same name.
TEST_F(LostExecutorTest, AnAnonymousExecutorNeverReplacesANamedOne) {
  TestExecutor named = Connect("executor-2", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));

  TestExecutor anonymous = Connect("", {"echo"}, /*slots=*/1);

  EXPECT_NE(anonymous.session.executor_id, "executor-2");
  EXPECT_FALSE(named.channel->closed());
  EXPECT_THAT(core().ListExecutors(), SizeIs(2));
  EXPECT_EQ(StateOf(id), TaskState::kRunning);
  EXPECT_THAT(Task(id).attempts, SizeIs(1));
}

TEST_F(LostExecutorTest, RequeuesEveryRunningAttemptOfALostExecutor) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/3);
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/3);

  core().DisconnectExecutor(a.session, "stream broke");

  std::vector<AssignmentOut> moved = b.channel->TakeAssignments();
  std::vector<std::string> moved_ids;
  for (const AssignmentOut& m : moved) {
    moved_ids.push_back(m.task_id);
    EXPECT_EQ(m.attempt, 2u);
  }
  EXPECT_THAT(moved_ids, UnorderedElementsAre(ids[0], ids[1], ids[2]));
  EXPECT_EQ(SlotsUsed("b"), 3);
}

}  // namespace
}  // namespace taskwire::scheduler::testing
