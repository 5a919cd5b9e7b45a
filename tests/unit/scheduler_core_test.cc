// SchedulerCore: credits, priority, routing by lane, attempt results, draining, waiters and
// events. Cancellation, lost executors, listing, validation, recovery and metrics have
// files of their own beside this one.
#include <map>
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
using ::testing::SizeIs;

// --- credits ---

TEST_F(SchedulerCoreTest, NeverAssignsMoreThanAnExecutorsFreeSlots) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/3);
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Submit(Spec("echo")));

  EXPECT_THAT(e.channel->assignments(), SizeIs(3));
  EXPECT_EQ(SlotsUsed("e1"), 3);
  int running = 0;
  int queued = 0;
  for (const std::string& id : ids) {
    const TaskState s = StateOf(id);
    running += s == TaskState::kRunning;
    queued += s == TaskState::kQueued;
  }
  EXPECT_EQ(running, 3);
  EXPECT_EQ(queued, 7);
}

TEST_F(SchedulerCoreTest, AResultFreesExactlyOneSlotAndPushesTheNextQueuedTask) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/2);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit(Spec("echo")));
  std::vector<AssignmentOut> first = e.channel->TakeAssignments();
  ASSERT_THAT(first, SizeIs(2));

  Succeed(e, first[0]);

  std::vector<AssignmentOut> next = e.channel->TakeAssignments();
  ASSERT_THAT(next, SizeIs(1));
  EXPECT_EQ(next[0].task_id, ids[2]);  // the oldest queued one
  EXPECT_EQ(next[0].attempt, 1u);
  EXPECT_EQ(SlotsUsed("e1"), 2);

  // Answer everything one at a time: the window never grows past the two slots.
  std::vector<AssignmentOut> outstanding = {first[1], next[0]};
  while (!outstanding.empty()) {
    Succeed(e, outstanding.front());
    outstanding.erase(outstanding.begin());
    for (const AssignmentOut& a : e.channel->TakeAssignments()) outstanding.push_back(a);
    ASSERT_LE(outstanding.size(), 2u);
  }
  for (const std::string& id : ids) EXPECT_EQ(StateOf(id), TaskState::kSucceeded);
  EXPECT_EQ(SlotsUsed("e1"), 0);
}

TEST_F(SchedulerCoreTest, SpreadsWorkAcrossExecutorsWithinEachOnesCredit) {
  TestExecutor a = Connect("a", {"echo"}, /*slots=*/2);
  TestExecutor b = Connect("b", {"echo"}, /*slots=*/1);
  SubmitAll(std::vector<TaskSpec>(6, Spec("echo")));

  EXPECT_THAT(a.channel->assignments(), SizeIs(2));
  EXPECT_THAT(b.channel->assignments(), SizeIs(1));
}

TEST_F(SchedulerCoreTest, PushesQueuedWorkToAnExecutorAsSoonAsItConnects) {
  std::vector<std::string> ids = SubmitAll(std::vector<TaskSpec>(3, Spec("echo")));

  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/2);

  EXPECT_THAT(e.channel->assigned_task_ids(), ElementsAre(ids[0], ids[1]));
  EXPECT_THAT(e.channel->batches(), SizeIs(1));  // one message carries the whole window
}

// --- priority ---

TEST_F(SchedulerCoreTest, RunsHigherPriorityFirstAndFifoWithinAPriority) {
  const std::string a = Submit(Spec("echo", 0));
  const std::string b = Submit(Spec("echo", 5));
  const std::string c = Submit(Spec("echo", 0));
  const std::string d = Submit(Spec("echo", 5));
  const std::string e = Submit(Spec("echo", -3));
  const std::string f = Submit(Spec("echo", 10));
  TestExecutor exec = Connect("e1", {"echo"}, /*slots=*/1);

  std::vector<std::string> order;
  while (std::optional<AssignmentOut> next = exec.channel->TakeOne()) {
    order.push_back(next->task_id);
    Succeed(exec, *next);
  }

  EXPECT_THAT(order, ElementsAre(f, b, d, a, c, e));
}

TEST_F(SchedulerCoreTest, PicksTheBestTaskAcrossAllLanesAnExecutorServes) {
  const std::string low_echo = Submit(Spec("echo", 1));
  const std::string high_hash = Submit(Spec("hash", 7, "batch"));
  const std::string old_hash = Submit(Spec("hash", 1));
  const std::string new_echo = Submit(Spec("echo", 1));
  TestExecutor exec = Connect("e1", {"echo", "hash"}, /*slots=*/1, {"default", "batch"});

  std::vector<std::string> order;
  while (std::optional<AssignmentOut> next = exec.channel->TakeOne()) {
    order.push_back(next->task_id);
    Succeed(exec, *next);
  }

  EXPECT_THAT(order, ElementsAre(high_hash, low_echo, old_hash, new_echo));
}

// --- routing ---

TEST_F(SchedulerCoreTest, AssignsAnExecutorOnlyTheLanesItAnnounced) {
  TestExecutor echo_default = Connect("echoer", {"echo"}, /*slots=*/10);
  TestExecutor hash_gpu = Connect("hasher", {"hash"}, /*slots=*/10, {"gpu"});

  const std::string echo_on_default = Submit(Spec("echo"));
  const std::string hash_on_gpu = Submit(Spec("hash", 0, "gpu"));
  const std::string echo_on_gpu = Submit(Spec("echo", 0, "gpu"));
  const std::string hash_on_default = Submit(Spec("hash"));

  EXPECT_THAT(echo_default.channel->assigned_task_ids(), ElementsAre(echo_on_default));
  EXPECT_THAT(hash_gpu.channel->assigned_task_ids(), ElementsAre(hash_on_gpu));
  EXPECT_EQ(StateOf(echo_on_gpu), TaskState::kQueued);
  EXPECT_EQ(StateOf(hash_on_default), TaskState::kQueued);
}

TEST_F(SchedulerCoreTest, AnAssignmentCarriesTheTaskSpec) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  TaskSpec spec = Spec("echo", 3);
  spec.payload = "hello";
  spec.timeout = absl::Seconds(9);
  Submit(spec);

  std::vector<AssignmentOut> got = e.channel->TakeAssignments();
  ASSERT_THAT(got, SizeIs(1));
  ASSERT_NE(got[0].spec, nullptr);
  EXPECT_EQ(got[0].spec->type, "echo");
  EXPECT_EQ(got[0].spec->payload, "hello");
  EXPECT_EQ(got[0].spec->queue, "default");
  EXPECT_EQ(got[0].spec->timeout, absl::Seconds(9));
}

TEST_F(SchedulerCoreTest, KeepsATaskNobodyServesQueuedAndNamesItsTypeAndQueue) {
  Connect("e1", {"echo"}, /*slots=*/4);
  const std::string id = Submit(Spec("render", 0, "gpu"));

  TaskView view = View(id);
  EXPECT_EQ(view.record.state, TaskState::kQueued);
  EXPECT_THAT(view.waiting_reason, HasSubstr("'render'"));
  EXPECT_THAT(view.waiting_reason, HasSubstr("'gpu'"));
}

TEST_F(SchedulerCoreTest, SaysATaskWaitsForASlotWhenEveryServingExecutorIsBusy) {
  Connect("e1", {"echo"}, /*slots=*/1);
  Submit(Spec("echo"));
  const std::string waiting = Submit(Spec("echo"));

  TaskView view = View(waiting);
  EXPECT_EQ(view.record.state, TaskState::kQueued);
  EXPECT_THAT(view.waiting_reason, HasSubstr("free slot"));
}

TEST_F(SchedulerCoreTest, GivesNoWaitingReasonOnceATaskRuns) {
  Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));

  EXPECT_THAT(View(id).waiting_reason, IsEmpty());
}

// --- results ---

TEST_F(SchedulerCoreTest, StoresTheOutputOfASucceededAttempt) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  clock_.Advance(absl::Seconds(2));

  Succeed(e, e.channel->TakeAssignments().at(0), "the output");

  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kSucceeded);
  EXPECT_EQ(task.output, "the output");
  EXPECT_EQ(task.finished_at, clock_.Now());
  ASSERT_THAT(task.attempts, SizeIs(1));
  EXPECT_EQ(task.attempts[0].outcome, AttemptOutcome::kSucceeded);
  EXPECT_EQ(task.attempts[0].executor_id, "e1");
  EXPECT_EQ(task.attempts[0].finished_at, clock_.Now());
  EXPECT_EQ(SlotsUsed("e1"), 0);
}

TEST_F(SchedulerCoreTest, FailsTheTaskWithTheExecutorsErrorOnAFailedAttempt) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));

  Answer(e, e.channel->TakeAssignments().at(0), AttemptOutcome::kFailed, "", "boom: exit 3");

  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_EQ(task.error, "boom: exit 3");
  ASSERT_THAT(task.attempts, SizeIs(1));
  EXPECT_EQ(task.attempts[0].outcome, AttemptOutcome::kFailed);
  EXPECT_EQ(task.attempts[0].error, "boom: exit 3");
}

TEST_F(SchedulerCoreTest, FailsTheTaskWhenItsAttemptTimesOut) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));

  Answer(e, e.channel->TakeAssignments().at(0), AttemptOutcome::kTimedOut, "", "ran past 5s");

  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_EQ(task.attempts.at(0).outcome, AttemptOutcome::kTimedOut);
}

TEST_F(SchedulerCoreTest, RequeuesATaskTheExecutorCancelledOnItsOwn) {
  TestExecutor draining = Connect("a", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AssignmentOut first = draining.channel->TakeAssignments().at(0);
  core().OnDrain(draining.session);

  Answer(draining, first, AttemptOutcome::kCancelled, "", "drain grace period over");

  TaskRecord task = Task(id);
  EXPECT_EQ(task.state, TaskState::kQueued);
  ASSERT_THAT(task.attempts, SizeIs(1));
  EXPECT_EQ(task.attempts[0].outcome, AttemptOutcome::kCancelled);
  EXPECT_EQ(task.attempts[0].error, "drain grace period over");

  TestExecutor other = Connect("b", {"echo"}, /*slots=*/1);
  std::vector<AssignmentOut> second = other.channel->TakeAssignments();
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(second[0].task_id, id);
  EXPECT_EQ(second[0].attempt, 2u);
  Succeed(other, second[0], "done elsewhere");
  EXPECT_EQ(Task(id).output, "done elsewhere");
}

TEST_F(SchedulerCoreTest, IgnoresAResultForAnAttemptItNeverSent) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  AssignmentOut real = e.channel->TakeAssignments().at(0);

  AssignmentOut wrong_attempt = real;
  wrong_attempt.attempt = 7;
  Succeed(e, wrong_attempt, "forged");
  AssignmentOut unknown_task = real;
  unknown_task.task_id = "no-such-task";
  Succeed(e, unknown_task, "forged");

  EXPECT_EQ(StateOf(id), TaskState::kRunning);
  EXPECT_EQ(SlotsUsed("e1"), 1);
  Succeed(e, real, "real");
  EXPECT_EQ(Task(id).output, "real");
}

TEST_F(SchedulerCoreTest, IgnoresASecondResultForTheSameAttempt) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  const std::string next = Submit(Spec("echo"));
  AssignmentOut a = e.channel->TakeAssignments().at(0);

  Succeed(e, a, "first");
  Answer(e, a, AttemptOutcome::kFailed, "", "second");

  EXPECT_EQ(StateOf(id), TaskState::kSucceeded);
  EXPECT_EQ(Task(id).output, "first");
  EXPECT_EQ(StateOf(next), TaskState::kRunning);  // the duplicate freed no extra slot
  EXPECT_EQ(SlotsUsed("e1"), 1);
}

// --- draining ---

TEST_F(SchedulerCoreTest, GivesADrainingExecutorNoNewWork) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/2);
  Submit(Spec("echo"));
  AssignmentOut running = e.channel->TakeAssignments().at(0);

  core().OnDrain(e.session);
  const std::string later = Submit(Spec("echo"));
  Succeed(e, running);  // a freed slot is not reused either

  EXPECT_THAT(e.channel->TakeAssignments(), IsEmpty());
  TaskView view = View(later);
  EXPECT_EQ(view.record.state, TaskState::kQueued);
  EXPECT_THAT(view.waiting_reason, HasSubstr("draining"));
  std::vector<ExecutorView> executors = core().ListExecutors();
  ASSERT_THAT(executors, SizeIs(1));
  EXPECT_TRUE(executors[0].draining);
}

TEST_F(SchedulerCoreTest, SendsWorkToTheExecutorsThatAreNotDraining) {
  TestExecutor leaving = Connect("leaving", {"echo"}, /*slots=*/5);
  TestExecutor staying = Connect("staying", {"echo"}, /*slots=*/5);
  core().OnDrain(leaving.session);

  SubmitAll(std::vector<TaskSpec>(4, Spec("echo")));

  EXPECT_THAT(leaving.channel->assignments(), IsEmpty());
  EXPECT_THAT(staying.channel->assignments(), SizeIs(4));
}

// --- executors ---

TEST_F(SchedulerCoreTest, RejectsAHelloThatServesNothing) {
  ExecutorHello no_slots;
  no_slots.task_types.push_back(TaskTypeInfo{"echo", RunMode::kThread});
  EXPECT_THAT(core().ConnectExecutor(no_slots, std::make_shared<FakeExecutorChannel>()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hello.slots")));

  ExecutorHello no_types;
  no_types.slots = 1;
  EXPECT_THAT(core().ConnectExecutor(no_types, std::make_shared<FakeExecutorChannel>()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hello.task_types")));

  ExecutorHello bad_queue;
  bad_queue.slots = 1;
  bad_queue.task_types.push_back(TaskTypeInfo{"echo", RunMode::kThread});
  bad_queue.queues = {"no spaces"};
  EXPECT_THAT(core().ConnectExecutor(bad_queue, std::make_shared<FakeExecutorChannel>()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hello.queues")));

  EXPECT_THAT(core().ListExecutors(), IsEmpty());
}

// Thread slots and event-loop slots are apart: a backlog of thread tasks does not fill
// the event loop's slots, and event-loop tasks do not wait behind the thread slots.
TEST_F(SchedulerCoreTest, DispatchesEachRunModeWithinItsOwnSlots) {
  ExecutorHello hello = Hello("e1", {}, /*slots=*/0);
  hello.task_types = {{"echo", RunMode::kThread}, {"sleep", RunMode::kEventLoop}};
  hello.mode_slots = {{RunMode::kThread, 1}, {RunMode::kEventLoop, 1000}};
  TestExecutor e = Connect(std::move(hello));
  SubmitAll(std::vector<TaskSpec>(5, Spec("echo")));
  SubmitAll(std::vector<TaskSpec>(50, Spec("sleep")));

  std::vector<AssignmentOut> sent = e.channel->TakeAssignments();
  size_t echo = 0;
  for (const AssignmentOut& a : sent) echo += a.spec->type == "echo";
  EXPECT_EQ(echo, 1u);               // one thread slot
  EXPECT_EQ(sent.size() - echo, 50u);  // every event-loop task at once

  std::vector<ExecutorView> executors = core().ListExecutors();
  ASSERT_THAT(executors, SizeIs(1));
  EXPECT_EQ(executors[0].hello.slots, 1001u);  // the sum of the modes
}

TEST_F(SchedulerCoreTest, RejectsModeSlotsThatLeaveATypeWithoutSlots) {
  ExecutorHello missing = Hello("e1", {}, /*slots=*/8);
  missing.task_types = {{"echo", RunMode::kThread}, {"sleep", RunMode::kEventLoop}};
  missing.mode_slots = {{RunMode::kThread, 8}};
  EXPECT_THAT(core().ConnectExecutor(missing, std::make_shared<FakeExecutorChannel>()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'sleep' runs in the event-loop mode")));

  ExecutorHello zero = Hello("e1", {"echo"}, /*slots=*/8);
  zero.mode_slots = {{RunMode::kThread, 0}};
  EXPECT_THAT(core().ConnectExecutor(zero, std::make_shared<FakeExecutorChannel>()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 slots")));

  ExecutorHello twice = Hello("e1", {"echo"}, /*slots=*/8);
  twice.mode_slots = {{RunMode::kThread, 4}, {RunMode::kThread, 4}};
  EXPECT_THAT(core().ConnectExecutor(twice, std::make_shared<FakeExecutorChannel>()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(core().ListExecutors(), IsEmpty());
}

TEST_F(SchedulerCoreTest, ListsConnectedExecutorsWithTheirDefaults) {
  clock_.Advance(absl::Seconds(1));
  Connect("e1", {"echo", "hash"}, /*slots=*/3);

  std::vector<ExecutorView> executors = core().ListExecutors();
  ASSERT_THAT(executors, SizeIs(1));
  EXPECT_EQ(executors[0].hello.executor_id, "e1");
  EXPECT_THAT(executors[0].hello.queues, ElementsAre("default"));
  EXPECT_EQ(executors[0].hello.slots, 3u);
  EXPECT_EQ(executors[0].slots_used, 0u);
  EXPECT_EQ(executors[0].connected_at, clock_.Now());
}

TEST_F(SchedulerCoreTest, GivesEachAnonymousExecutorItsOwnId) {
  TestExecutor a = Connect("", {"echo"}, /*slots=*/1);
  TestExecutor b = Connect("", {"echo"}, /*slots=*/1);

  EXPECT_FALSE(a.session.executor_id.empty());
  EXPECT_NE(a.session.executor_id, b.session.executor_id);
  EXPECT_THAT(core().ListExecutors(), SizeIs(2));
}

// --- waiters ---

TEST_F(SchedulerCoreTest, FiresAWaiterOnceWhenTheTaskFinishes) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  std::vector<TaskView> fired;
  ASSERT_OK_AND_ASSIGN(uint64_t token,
                       core().AddWaiter(id, [&](const TaskView& v) { fired.push_back(v); }));
  EXPECT_NE(token, 0u);
  EXPECT_THAT(fired, IsEmpty());

  Succeed(e, e.channel->TakeAssignments().at(0), "out");
  ASSERT_THAT(fired, SizeIs(1));
  EXPECT_EQ(fired[0].record.id, id);
  EXPECT_EQ(fired[0].record.state, TaskState::kSucceeded);
  EXPECT_EQ(fired[0].record.output, "out");

  EXPECT_THAT(core().CancelTask(id), IsOk());  // no second transition, no second call
  EXPECT_THAT(fired, SizeIs(1));
  EXPECT_FALSE(core().RemoveWaiter(id, token));
}

TEST_F(SchedulerCoreTest, FiresEveryWaiterOfATask) {
  const std::string id = Submit(Spec("echo"));
  int calls = 0;
  ASSERT_THAT(core().AddWaiter(id, [&](const TaskView&) { ++calls; }), IsOk());
  ASSERT_THAT(core().AddWaiter(id, [&](const TaskView&) { ++calls; }), IsOk());

  ASSERT_THAT(core().CancelTask(id), IsOk());

  EXPECT_EQ(calls, 2);
}

TEST_F(SchedulerCoreTest, FiresAWaiterAtOnceForATaskAlreadyFinished) {
  const std::string id = Submit(Spec("echo"));
  ASSERT_THAT(core().CancelTask(id), IsOk());

  std::vector<TaskState> fired;
  ASSERT_OK_AND_ASSIGN(uint64_t token, core().AddWaiter(id, [&](const TaskView& v) {
    fired.push_back(v.record.state);
  }));

  EXPECT_EQ(token, 0u);
  EXPECT_THAT(fired, ElementsAre(TaskState::kCancelled));
}

TEST_F(SchedulerCoreTest, NeverFiresARemovedWaiter) {
  TestExecutor e = Connect("e1", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));
  int calls = 0;
  ASSERT_OK_AND_ASSIGN(uint64_t token, core().AddWaiter(id, [&](const TaskView&) { ++calls; }));

  EXPECT_TRUE(core().RemoveWaiter(id, token));
  EXPECT_FALSE(core().RemoveWaiter(id, token));
  Succeed(e, e.channel->TakeAssignments().at(0));

  EXPECT_EQ(StateOf(id), TaskState::kSucceeded);
  EXPECT_EQ(calls, 0);
}

TEST_F(SchedulerCoreTest, RefusesAWaiterForAnUnknownTask) {
  EXPECT_THAT(core().AddWaiter("nope", [](const TaskView&) {}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nope'")));
  EXPECT_FALSE(core().RemoveWaiter("nope", 1));
}

TEST_F(SchedulerCoreTest, ReturnsNotFoundForAnUnknownTask) {
  EXPECT_THAT(core().GetTask("nope"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nope'")));
}

// --- events ---

TEST_F(SchedulerCoreTest, PublishesEachTasksEventsInOrderToMatchingSubscribers) {
  std::vector<TaskEvent> echo_events;
  std::vector<TaskEvent> finished_events;
  std::vector<TaskEvent> other_queue_events;
  events_.Subscribe(EventFilter{{}, "", "echo"},
                    [&](EventBatch b) {
    auto& batch = b.tasks;
                      echo_events.insert(echo_events.end(), batch.begin(), batch.end());
                    });
  events_.Subscribe(EventFilter{{TaskState::kSucceeded, TaskState::kFailed}, "", ""},
                    [&](EventBatch b) {
    auto& batch = b.tasks;
                      finished_events.insert(finished_events.end(), batch.begin(), batch.end());
                    });
  events_.Subscribe(EventFilter{{}, "other", ""}, [&](EventBatch b) {
    auto& batch = b.tasks;
    other_queue_events.insert(other_queue_events.end(), batch.begin(), batch.end());
  });
  TestExecutor e = Connect("e1", {"echo", "hash"}, /*slots=*/1);

  const std::string echo = Submit(Spec("echo"));
  const std::string hash = Submit(Spec("hash"));
  Succeed(e, e.channel->TakeOne().value());
  Answer(e, e.channel->TakeOne().value(), AttemptOutcome::kFailed, "", "bad input");

  ASSERT_THAT(echo_events, SizeIs(3));
  for (const TaskEvent& ev : echo_events) {
    EXPECT_EQ(ev.task_id, echo);
    EXPECT_EQ(ev.type, "echo");
    EXPECT_EQ(ev.queue, "default");
  }
  EXPECT_EQ(echo_events[0].state, TaskState::kQueued);
  EXPECT_EQ(echo_events[0].attempt, 0u);
  EXPECT_EQ(echo_events[1].state, TaskState::kRunning);
  EXPECT_EQ(echo_events[1].attempt, 1u);
  EXPECT_EQ(echo_events[1].executor_id, "e1");
  EXPECT_EQ(echo_events[2].state, TaskState::kSucceeded);
  EXPECT_EQ(echo_events[2].attempt, 1u);

  ASSERT_THAT(finished_events, SizeIs(2));
  EXPECT_EQ(finished_events[0].task_id, echo);
  EXPECT_EQ(finished_events[0].state, TaskState::kSucceeded);
  EXPECT_EQ(finished_events[1].task_id, hash);
  EXPECT_EQ(finished_events[1].state, TaskState::kFailed);
  EXPECT_EQ(finished_events[1].error, "bad input");

  EXPECT_THAT(other_queue_events, IsEmpty());
}

TEST_F(SchedulerCoreTest, StopsPublishingToAnUnsubscribedWatcher) {
  int batches = 0;
  const uint64_t sub = events_.Subscribe(EventFilter{}, [&](EventBatch) { ++batches; });
  Submit(Spec("echo"));
  EXPECT_EQ(batches, 1);

  events_.Unsubscribe(sub);
  Submit(Spec("echo"));

  EXPECT_EQ(batches, 1);
  EXPECT_FALSE(events_.HasSubscribers());
}

}  // namespace
}  // namespace taskwire::scheduler::testing
