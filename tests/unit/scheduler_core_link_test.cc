// The scheduler's half of the executor link's invariants (docs/architecture.md, "The
// link"), each driven with a fake clock and fake channels:
//   - an attempt number fences every result: one for an attempt the core no longer counts
//     as current only frees its slot;
//   - a slot belongs to an attempt, not to a task: attempt 1 (told to cancel) and attempt 2
//     of the same task can hold a slot each on the same executor;
//   - a reconnecting executor's Hello lists what it still runs and what it finished but
//     could not report; everything else the core counted on that executor is settled at
//     once;
//   - one executor id is one live process: the same incarnation replaces its old session,
//     another is refused with ALREADY_EXISTS;
//   - nothing is published before it is stored: a failed commit holds its effects back.
#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/forwarding_task_store.h"
#include "tests/unit/scheduler_core_fixture.h"
#include "tests/unit/status_matchers.h"
#include "tests/unit/store/store_test_util.h"

namespace taskwire::scheduler::testing {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAreArray;

class LinkTest : public SchedulerCoreTest {
 protected:
  static std::vector<AttemptRef> Refs(const std::vector<AssignmentOut>& assignments) {
    std::vector<AttemptRef> refs;
    for (const AssignmentOut& a : assignments) refs.push_back(AttemptRef{a.task_id, a.attempt});
    return refs;
  }

  void AnswerCancelled(const TestExecutor& e, const AttemptRef& ref) {
    Answer(e, AssignmentOut{ref.task_id, ref.attempt, nullptr, {}}, AttemptOutcome::kCancelled,
           "", "cancelled by the scheduler");
  }
};

// A broken link, case 1. The stream of an executor running 10 long tasks breaks; the core loses
// the 10 attempts and queues the tasks again. The executor reconnects at once, still
// running them: it is told to cancel each, and as each cancel is answered its slot takes
// attempt 2 of whichever task is first in the queue, often one whose attempt 1 still runs
// here. Every task must still end, and the slot count must come back to zero.
TEST_F(LinkTest, AReconnectAfterABrokenStreamLeavesNoTaskRunningForEver) {
  TestExecutor before = Connect("a", {"thread.sleep"}, /*slots=*/10);
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(10, Spec("thread.sleep")));
  std::vector<AttemptRef> first = Refs(before.channel->TakeAssignments());
  ASSERT_THAT(first, SizeIs(10));
  core().DisconnectExecutor(before.session, "stream broke");

  TestExecutor after = Reconnect("a", {"thread.sleep"}, /*slots=*/10, first);

  EXPECT_THAT(after.channel->cancels(), UnorderedElementsAreArray(first));
  EXPECT_THAT(after.channel->assignments(), IsEmpty());  // every slot holds an attempt 1
  // Answer the cancels in the opposite order of the queue, so freed slots go to tasks
  // whose attempt 1 has not answered yet.
  std::vector<AttemptRef> order = first;
  std::reverse(order.begin(), order.end());
  for (const AttemptRef& ref : order) AnswerCancelled(after, ref);
  std::vector<AssignmentOut> second = after.channel->TakeAssignments();
  ASSERT_THAT(second, SizeIs(10));
  for (const AssignmentOut& a : second) {
    EXPECT_EQ(a.attempt, 2u);
    Succeed(after, a);
  }

  for (const std::string& id : ids) {
    TaskRecord task = Task(id);
    EXPECT_EQ(task.state, TaskState::kSucceeded) << id;
    ASSERT_THAT(task.attempts, SizeIs(2));
    EXPECT_EQ(task.attempts[0].outcome, AttemptOutcome::kLost);
    EXPECT_EQ(task.attempts[1].outcome, AttemptOutcome::kSucceeded);
  }
  EXPECT_EQ(SlotsUsed("a"), 0);
}

TEST_F(LinkTest, TwoAttemptsOfOneTaskHoldASlotEachOnTheSameExecutor) {
  TestExecutor before = Connect("a", {"thread.sleep"}, /*slots=*/2);
  const std::string id = Submit(Spec("thread.sleep"));
  AttemptRef first = Refs(before.channel->TakeAssignments()).at(0);
  core().DisconnectExecutor(before.session, "stream broke");

  TestExecutor after = Reconnect("a", {"thread.sleep"}, /*slots=*/2, {first});

  std::vector<AssignmentOut> second = after.channel->TakeAssignments();
  ASSERT_THAT(second, SizeIs(1));  // the second slot was free
  EXPECT_EQ(second[0].task_id, id);
  EXPECT_EQ(second[0].attempt, 2u);
  EXPECT_EQ(SlotsUsed("a"), 2);
  // Attempt 2's result first, then attempt 1's cancel: each frees its own slot.
  Succeed(after, second[0], "attempt 2");
  EXPECT_EQ(SlotsUsed("a"), 1);
  AnswerCancelled(after, first);
  EXPECT_EQ(SlotsUsed("a"), 0);
  EXPECT_EQ(Task(id).output, "attempt 2");
}

TEST_F(LinkTest, AResultForAnAttemptTheCoreAlreadyRequeuedOnlyFreesItsSlot) {
  TestExecutor before = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AttemptRef first = Refs(before.channel->TakeAssignments()).at(0);
  core().DisconnectExecutor(before.session, "stream broke");
  TestExecutor after = Reconnect("a", {"echo"}, /*slots=*/1, {first});

  // The executor finished attempt 1 before the cancel reached it.
  Succeed(after, AssignmentOut{first.task_id, first.attempt, nullptr, {}}, "from attempt 1");

  TaskRecord task = Task(id);
  EXPECT_EQ(task.attempts.at(0).outcome, AttemptOutcome::kLost);
  EXPECT_THAT(task.output, IsEmpty());
  std::vector<AssignmentOut> second = after.channel->TakeAssignments();
  ASSERT_THAT(second, SizeIs(1));  // the freed slot took attempt 2
  EXPECT_EQ(second[0].attempt, 2u);
  Succeed(after, second[0], "from attempt 2");
  EXPECT_EQ(Task(id).output, "from attempt 2");
  EXPECT_EQ(SlotsUsed("a"), 0);
}

// The stream is half-open: the core has not noticed it broke when the same process dials
// again. What it still runs or could not report stays its own; what it does not list is
// lost at once, not after a lease.
TEST_F(LinkTest, TheSameProcessReconnectingReplacesItsSessionAndSettlesWhatItDoesNotList) {
  TestExecutor before = Connect("a", {"echo"}, /*slots=*/3);
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));
  std::vector<AttemptRef> refs = Refs(before.channel->TakeAssignments());
  ExecutorHello hello = Hello("a", {"echo"}, /*slots=*/3);
  hello.running = {refs[0]};
  hello.unreported = {refs[1]};  // its result follows the Welcome

  TestExecutor after = Connect(std::move(hello));

  EXPECT_EQ(before.channel->close_status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(after.channel->cancels(), IsEmpty());
  Succeed(after, AssignmentOut{refs[1].task_id, refs[1].attempt, nullptr, {}}, "unreported");
  Succeed(after, AssignmentOut{refs[0].task_id, refs[0].attempt, nullptr, {}}, "running");
  TaskRecord unlisted = Task(refs[2].task_id);
  ASSERT_THAT(unlisted.attempts, SizeIs(2));
  EXPECT_EQ(unlisted.attempts[0].outcome, AttemptOutcome::kLost);
  EXPECT_THAT(unlisted.attempts[0].error, HasSubstr("reconnected without it"));
  EXPECT_EQ(unlisted.attempts[1].executor_id, "a");  // attempt 2, assigned at once
  EXPECT_EQ(Task(refs[0].task_id).output, "running");
  EXPECT_EQ(Task(refs[1].task_id).output, "unreported");
  EXPECT_THAT(Task(refs[1].task_id).attempts, SizeIs(1));
}

// An attempt that ended while the link was down and whose result waits for the Welcome
// is not cancelled (there is nothing to stop), even when the core no longer counts on it.
TEST_F(LinkTest, AnUnreportedAttemptThatIsNoLongerCurrentIsNotCancelledButHoldsItsSlot) {
  TestExecutor before = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AttemptRef first = Refs(before.channel->TakeAssignments()).at(0);
  core().DisconnectExecutor(before.session, "stream broke");
  ExecutorHello hello = Hello("a", {"echo"}, /*slots=*/1);
  hello.unreported = {first};

  TestExecutor after = Connect(std::move(hello));

  EXPECT_THAT(after.channel->cancels(), IsEmpty());
  EXPECT_EQ(SlotsUsed("a"), 1);
  Succeed(after, AssignmentOut{first.task_id, first.attempt, nullptr, {}}, "late");
  EXPECT_EQ(SlotsUsed("a"), 1);  // now attempt 2's
  EXPECT_EQ(after.channel->TakeAssignments().at(0).attempt, 2u);
  EXPECT_EQ(StateOf(id), TaskState::kRunning);
}

// The executor did not answer within the timeout plus a lease, so the core ended the
// attempt (TIMED_OUT) and the task failed for good; then the executor's link broke and it
// came back still running the attempt.
TEST_F(LinkTest, AHelloListingAnAttemptTheCoreAlreadyFailedGetsACancelAndKeepsTheFailure) {
  TestExecutor before = Connect("a", {"thread.sleep"}, /*slots=*/1);
  TaskSpec spec = Spec("thread.sleep");
  spec.timeout = absl::Seconds(10);
  const std::string id = Submit(spec);
  AttemptRef first = Refs(before.channel->TakeAssignments()).at(0);
  for (int i = 0; i < 3; ++i) {  // heartbeats keep the executor connected
    clock_.Advance(absl::Seconds(9));
    core().OnHeartbeat(before.session);
    core().Tick();
  }
  ASSERT_EQ(StateOf(id), TaskState::kFailed);
  ASSERT_EQ(Task(id).attempts.at(0).outcome, AttemptOutcome::kTimedOut);
  core().DisconnectExecutor(before.session, "stream broke");

  TestExecutor after = Reconnect("a", {"thread.sleep"}, /*slots=*/1, {first});

  EXPECT_THAT(after.channel->cancels(), ElementsAre(first));
  EXPECT_EQ(SlotsUsed("a"), 1);
  Succeed(after, AssignmentOut{first.task_id, first.attempt, nullptr, {}}, "too late");
  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_THAT(task.output, IsEmpty());
  EXPECT_THAT(task.attempts, SizeIs(1));
  EXPECT_EQ(SlotsUsed("a"), 0);
}

TEST_F(LinkTest, ASecondProcessWithALiveExecutorsIdIsRefusedAndTheFirstGoesOn) {
  TestExecutor first = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  ExecutorHello hello = Hello("a", {"echo"}, /*slots=*/1);
  hello.incarnation = "another process";

  absl::StatusOr<ExecutorSession> refused =
      core().ConnectExecutor(hello, std::make_shared<FakeExecutorChannel>());

  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'a'")));
  EXPECT_FALSE(first.channel->closed());
  EXPECT_THAT(core().ListExecutors(), SizeIs(1));
  Succeed(first, first.channel->TakeAssignments().at(0), "first");
  EXPECT_EQ(Task(id).output, "first");
  EXPECT_THAT(Task(id).attempts, SizeIs(1));

  // Once the first is gone, the id is free for another process.
  core().DisconnectExecutor(first.session, "stopped");
  EXPECT_THAT(core().ConnectExecutor(hello, std::make_shared<FakeExecutorChannel>()), IsOk());
}

// Executors older than the incarnation field reconnect as before.
TEST_F(LinkTest, AHelloWithoutAnIncarnationReplacesALiveSessionAsBefore) {
  TestExecutor first = Connect("a", {"echo"}, /*slots=*/1);
  ExecutorHello hello = Hello("a", {"echo"}, /*slots=*/1);
  hello.incarnation.clear();

  EXPECT_THAT(core().ConnectExecutor(hello, std::make_shared<FakeExecutorChannel>()), IsOk());
  EXPECT_TRUE(first.channel->closed());
}

// A broken link, case 4. The scheduler restarts with an attempt recorded RUNNING on "a"; its
// result was sent to the old process and never stored. "a" reconnects without it: the
// attempt is settled at once, not a lease (executor_timeout) later.
TEST_F(LinkTest, AfterARestartAHelloThatDoesNotListARecoveredAttemptLosesItAtOnce) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/2);
  const std::string kept = Submit(Spec("echo"));
  const std::string gone = Submit(Spec("echo"));
  std::vector<AttemptRef> refs = Refs(a.channel->TakeAssignments());
  ASSERT_THAT(refs, SizeIs(2));
  RebuildCore(TestOptions());
  ASSERT_THAT(core().Recover(), IsOk());

  TestExecutor back = Reconnect("a", {"echo"}, /*slots=*/2, {refs[0]});

  TaskRecord lost = Task(refs[1].task_id);
  ASSERT_THAT(lost.attempts, SizeIs(2));
  EXPECT_EQ(lost.attempts[0].outcome, AttemptOutcome::kLost);
  EXPECT_THAT(lost.attempts[0].error, HasSubstr("without it"));
  std::vector<AssignmentOut> again = back.channel->TakeAssignments();
  ASSERT_THAT(again, SizeIs(1));
  EXPECT_EQ(again[0].task_id, refs[1].task_id);
  EXPECT_EQ(again[0].attempt, 2u);
  EXPECT_EQ(StateOf(refs[0].task_id), TaskState::kRunning);  // listed: still its
  EXPECT_THAT(Task(refs[0].task_id).attempts, SizeIs(1));
  (void)kept;
  (void)gone;
}

TEST_F(LinkTest, AfterARestartAnotherExecutorsHelloLeavesTheRecoveredAttemptItsLease) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  RebuildCore(TestOptions());
  ASSERT_THAT(core().Recover(), IsOk());

  Connect("b", {"echo"}, /*slots=*/1);

  EXPECT_EQ(StateOf(id), TaskState::kRunning);
  EXPECT_THAT(Task(id).attempts, SizeIs(1));
  (void)a;
}

// A store that fails every commit while `failing` is set, then works.
class FlakyTaskStore final : public testing::ForwardingTaskStore {
 public:
  absl::Status Commit(const StoreBatch& batch) override {
    if (failing) return absl::ResourceExhaustedError("disk full");
    return inner_.Commit(batch);
  }
  std::string Describe() const override { return "flaky memory"; }
  bool failing = false;
};

// A result committed nowhere must not reach a waiter or free its executor's slot for new
// work: a restart would undo it. While the disk is full the change waits, and it goes out
// once a commit succeeds.
TEST(CommitFailureTest, AResultIsPublishedOnlyAfterItIsStored) {
  FakeClock clock;
  FlakyTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  auto channel = std::make_shared<FakeExecutorChannel>();
  ExecutorHello hello = Hello("a", {"echo"}, /*slots=*/1);
  ASSERT_OK_AND_ASSIGN(ExecutorSession session, core.ConnectExecutor(hello, channel));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids,
                       core.Submit({Spec("echo"), Spec("echo"), Spec("echo")}));
  AssignmentOut first = channel->TakeAssignments().at(0);
  bool woken = false;
  ASSERT_OK_AND_ASSIGN(uint64_t token,
                       core.AddWaiter(ids[0], [&](const TaskView&) { woken = true; }));
  (void)token;

  store.failing = true;
  AttemptResult result;
  result.task_id = first.task_id;
  result.attempt = first.attempt;
  result.output = "out";
  core.OnResults(session, {result});
  EXPECT_THAT(core.Submit({Spec("echo")}), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_THAT(core.CancelTask(ids[2]), IsOk());  // a second change held back with the first
  clock.Advance(absl::Seconds(1));
  core.Tick();  // retries, fails again

  EXPECT_FALSE(woken);
  EXPECT_THAT(channel->TakeAssignments(), IsEmpty());  // the second task waits too

  store.failing = false;
  clock.Advance(absl::Seconds(2));
  core.Tick();

  EXPECT_TRUE(woken);
  EXPECT_THAT(channel->TakeAssignments(), SizeIs(1));
  const std::vector<TaskRecord> stored = AllTasks(store);
  auto it = std::find_if(stored.begin(), stored.end(),
                         [&](const TaskRecord& r) { return r.id == ids[0]; });
  ASSERT_NE(it, stored.end());
  EXPECT_EQ(it->state, TaskState::kSucceeded);
  // Every held-back change was stored once, whole (a retry once wrote moved-from records).
  ASSERT_THAT(stored, SizeIs(3));
  for (const TaskRecord& r : stored) {
    EXPECT_FALSE(r.id.empty());
    EXPECT_NE(r.spec, nullptr);
  }
  EXPECT_EQ(std::count_if(stored.begin(), stored.end(),
                          [](const TaskRecord& r) { return r.state == TaskState::kCancelled; }),
            1);
}

// While held-back changes wait for their retry, a new submit is stored at once (its client
// is waiting); a commit that succeeds ends the backoff, so what was held back goes out
// with it rather than at the next retry.
TEST(CommitFailureTest, ASubmitDuringTheBackoffIsStoredAtOnceAndReleasesWhatWasHeldBack) {
  FakeClock clock;
  FlakyTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  auto channel = std::make_shared<FakeExecutorChannel>();
  ASSERT_OK_AND_ASSIGN(ExecutorSession session,
                       core.ConnectExecutor(Hello("a", {"echo"}, /*slots=*/1), channel));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids, core.Submit({Spec("echo")}));
  AssignmentOut first = channel->TakeAssignments().at(0);
  bool woken = false;
  ASSERT_THAT(core.AddWaiter(ids[0], [&](const TaskView&) { woken = true; }), IsOk());
  store.failing = true;
  AttemptResult result;
  result.task_id = first.task_id;
  result.attempt = first.attempt;
  core.OnResults(session, {result});  // held back
  ASSERT_FALSE(woken);

  store.failing = false;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> later, core.Submit({Spec("echo")}));

  EXPECT_TRUE(woken);  // no Tick: the submit's commit ended the backoff
  EXPECT_THAT(channel->TakeAssignments(), SizeIs(1));  // the slot was freed, the new task sent
  ASSERT_OK_AND_ASSIGN(TaskView view, core.GetTask(later[0]));
  EXPECT_EQ(view.record.state, TaskState::kRunning);
}

TEST(ErrorMessageTest, ALongIdIsCutShortInTheError) {
  FakeClock clock;
  MemoryTaskStore store;
  EventHub events;
  SchedulerCore core(clock, store, events, nullptr, TestOptions());
  const std::string long_id(8192, 'x');

  absl::StatusOr<TaskView> got = core.GetTask(long_id);

  EXPECT_THAT(got, StatusIs(absl::StatusCode::kNotFound, HasSubstr("(8192 bytes)")));
  EXPECT_LT(got.status().message().size(), 200u);
  EXPECT_THAT(core.CancelTask(long_id), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_LT(core.CancelTask(long_id).status().message().size(), 200u);
}

}  // namespace
}  // namespace taskwire::scheduler::testing
