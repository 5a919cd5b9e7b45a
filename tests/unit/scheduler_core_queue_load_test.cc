// SchedulerCore::LoadOfQueue: a queue's waiting and running tasks and the executors that
// serve it, as an autoscaler reads them. Each test builds the scene through the core's
// ordinary calls (submits, connects, results, drains, a restart) and reads the load.
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler {

inline void PrintTo(const QueueLoad::Executor& e, std::ostream* os) {
  *os << "{" << e.id << ", " << e.slots << " slots, " << e.event_loop_slots
      << " event-loop slots}";
}

namespace testing {
namespace {

using ::taskwire::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using QueueLoadTest = SchedulerCoreTest;

TEST_F(QueueLoadTest, AnUnknownQueueHasNoLoadAndNoExecutors) {
  const QueueLoad load = core().LoadOfQueue("nothing-here");

  EXPECT_EQ(load.waiting, 0u);
  EXPECT_EQ(load.waiting_unserved, 0u);
  EXPECT_EQ(load.running, 0u);
  EXPECT_THAT(load.executors, IsEmpty());
}

TEST_F(QueueLoadTest, WithNoExecutorEveryWaitingTaskIsUnserved) {
  SubmitAll(std::vector<TaskSpec>(3, Spec("echo", 0, "emails")));
  Submit(Spec("sha256", 0, "emails"));

  const QueueLoad load = core().LoadOfQueue("emails");

  EXPECT_EQ(load.waiting, 4u);
  EXPECT_EQ(load.waiting_unserved, 4u);
  EXPECT_EQ(load.running, 0u);
  EXPECT_THAT(load.executors, IsEmpty());
}

TEST_F(QueueLoadTest, CountsRunningAndWaitingTasksOfTheQueueOnly) {
  Connect("e1", {"echo"}, /*slots=*/2, {"emails"});
  SubmitAll(std::vector<TaskSpec>(5, Spec("echo", 0, "emails")));
  SubmitAll(std::vector<TaskSpec>(7, Spec("echo", 0, "reports")));  // nobody serves it

  const QueueLoad load = core().LoadOfQueue("emails");

  EXPECT_EQ(load.running, 2u);  // one per slot
  EXPECT_EQ(load.waiting, 3u);
  EXPECT_EQ(load.waiting_unserved, 0u);
  EXPECT_THAT(load.executors, ElementsAre(QueueLoad::Executor{"e1", 2, 0}));
  const QueueLoad other = core().LoadOfQueue("reports");
  EXPECT_EQ(other.waiting, 7u);
  EXPECT_EQ(other.waiting_unserved, 7u);
  EXPECT_EQ(other.running, 0u);
  EXPECT_THAT(other.executors, IsEmpty());
}

TEST_F(QueueLoadTest, AFinishedTaskLeavesTheCountAndTheNextStarts) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  SubmitAll(std::vector<TaskSpec>(2, Spec("echo")));
  ASSERT_EQ(core().LoadOfQueue("default").running, 1u);
  ASSERT_EQ(core().LoadOfQueue("default").waiting, 1u);

  Succeed(e, e.channel->TakeAssignments().at(0));
  QueueLoad load = core().LoadOfQueue("default");
  EXPECT_EQ(load.running, 1u);
  EXPECT_EQ(load.waiting, 0u);

  Succeed(e, e.channel->TakeAssignments().at(0));
  load = core().LoadOfQueue("default");
  EXPECT_EQ(load.running, 0u);
  EXPECT_EQ(load.waiting, 0u);
}

TEST_F(QueueLoadTest, TasksOfATypeNoExecutorServesAreWaitingAndUnserved) {
  Connect("e1", {"echo"}, /*slots=*/1);
  SubmitAll(std::vector<TaskSpec>(2, Spec("echo")));
  SubmitAll(std::vector<TaskSpec>(3, Spec("nobody.serves.this")));

  const QueueLoad load = core().LoadOfQueue("default");

  EXPECT_EQ(load.running, 1u);
  EXPECT_EQ(load.waiting, 4u);  // 1 echo + 3 of the unserved type
  EXPECT_EQ(load.waiting_unserved, 3u);
}

TEST_F(QueueLoadTest, ReportsEachServingExecutorsSlotsApartFromItsEventLoopSlots) {
  ExecutorHello modes = Hello("modes", {}, /*slots=*/0, {"default"});
  modes.task_types = {{"echo", RunMode::kThread}, {"sleep", RunMode::kEventLoop}};
  modes.mode_slots = {{RunMode::kThread, 4}, {RunMode::kEventLoop, 1000}};
  Connect(std::move(modes));
  Connect("plain", {"echo"}, /*slots=*/8);                        // one shared window
  Connect("elsewhere", {"echo"}, /*slots=*/16, {"other-queue"});  // not this queue's

  const QueueLoad load = core().LoadOfQueue("default");

  EXPECT_THAT(load.executors, ElementsAre(QueueLoad::Executor{"modes", 4, 1000},
                                          QueueLoad::Executor{"plain", 8, 0}));
}

TEST_F(QueueLoadTest, CountsOnlyTheWindowsThatHoldTheQueuesTypes) {
  // Event-loop types on the queue, thread types elsewhere: only the event loop serves it.
  ExecutorHello hello = Hello("e1", {}, /*slots=*/0, {"fetches"});
  hello.task_types = {{"sleep", RunMode::kEventLoop}};
  hello.mode_slots = {{RunMode::kEventLoop, 500}};
  Connect(std::move(hello));

  EXPECT_THAT(core().LoadOfQueue("fetches").executors,
              ElementsAre(QueueLoad::Executor{"e1", 0, 500}));
}

TEST_F(QueueLoadTest, ADrainingExecutorServesNothingButItsRunningTasksStillCount) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));

  core().OnDrain(e.session);
  const QueueLoad load = core().LoadOfQueue("default");

  EXPECT_EQ(load.running, 1u);
  EXPECT_EQ(load.waiting, 2u);
  EXPECT_EQ(load.waiting_unserved, 2u);
  EXPECT_THAT(load.executors, IsEmpty());
}

TEST_F(QueueLoadTest, TasksWaitingForTheirEtaCountOnceReleased) {
  TaskSpec later = Spec("echo");
  later.not_before = clock_.Now() + absl::Seconds(30);
  Submit(later);
  EXPECT_EQ(core().LoadOfQueue("default").waiting, 0u);

  clock_.Advance(absl::Seconds(31));
  core().Tick();

  EXPECT_EQ(core().LoadOfQueue("default").waiting, 1u);
}

TEST_F(QueueLoadTest, ALostAttemptCountsOnceWhetherItsOldExecutorStillHoldsIt) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  core().DisconnectExecutor(a.session, "stream broke");
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/1);
  ASSERT_THAT(b.channel->TakeAssignments(), SizeIs(1));  // attempt 2

  // "a" comes back still running attempt 1: told to cancel it, it holds a slot meanwhile.
  TestExecutor again = Reconnect("a", {"echo"}, /*slots=*/1, {AttemptRef{id, 1}});
  ASSERT_THAT(again.channel->cancels(), ElementsAre(AttemptRef{id, 1}));

  const QueueLoad load = core().LoadOfQueue("default");
  EXPECT_EQ(load.running, 1u);
  EXPECT_EQ(load.waiting, 0u);
}

TEST_F(QueueLoadTest, ARecoveredAttemptCountsAsRunningBeforeAndAfterItsExecutorReturns) {
  Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  Submit(Spec("echo"));
  RebuildCore(TestOptions());  // a restart: the executor's stream is gone with the process
  ASSERT_THAT(core().Recover(), IsOk());

  QueueLoad load = core().LoadOfQueue("default");
  EXPECT_EQ(load.running, 1u);
  EXPECT_EQ(load.waiting, 1u);
  EXPECT_EQ(load.waiting_unserved, 1u);

  Reconnect("a", {"echo"}, /*slots=*/1, {AttemptRef{id, 1}});
  load = core().LoadOfQueue("default");
  EXPECT_EQ(load.running, 1u);
  EXPECT_EQ(load.waiting, 1u);
  EXPECT_EQ(load.waiting_unserved, 0u);
  EXPECT_THAT(load.executors, ElementsAre(QueueLoad::Executor{"a", 1, 0}));
}

}  // namespace
}  // namespace testing
}  // namespace taskwire::scheduler
