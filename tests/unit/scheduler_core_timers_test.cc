// SchedulerCore's clock-driven behaviour with a FakeClock and Tick(): retries with backoff
// and jitter, ETA and countdown, queue-wait expiry, the scheduler's side of attempt
// timeouts, retention, and the not-retryable mark.
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

TaskSpec Retrying(uint32_t max_attempts, absl::Duration initial, double multiplier,
                  absl::Duration max, double jitter) {
  TaskSpec spec = Spec("echo");
  spec.retry = RetryPolicy{max_attempts, initial, multiplier, max, jitter};
  return spec;
}

class TimersTest : public SchedulerCoreTest {
 protected:
  void Fail(const TestExecutor& e, bool retryable = true) {
    std::optional<AssignmentOut> a = e.channel->TakeOne();
    ASSERT_TRUE(a.has_value());
    AttemptResult r;
    r.task_id = a->task_id;
    r.attempt = a->attempt;
    r.outcome = AttemptOutcome::kFailed;
    r.error = "boom";
    r.not_retryable = !retryable;
    core().OnResults(e.session, {std::move(r)});
  }

  // `alive`, if given, heartbeats first so that it is not dropped as silent.
  void AdvanceAndTick(absl::Duration d, const TestExecutor* alive = nullptr) {
    clock_.Advance(d);
    if (alive != nullptr) core().OnHeartbeat(alive->session);
    core().Tick();
  }
};

TEST_F(TimersTest, RetriesAFailedAttemptAfterAnExponentialBackoffHeldAsScheduled) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  const std::string id =
      Submit(Retrying(3, absl::Seconds(2), 3, absl::Minutes(1), /*jitter=*/0));

  Fail(e);
  TaskView view = View(id);
  EXPECT_EQ(view.record.state, TaskState::kScheduled);
  EXPECT_EQ(view.record.scheduled_for, clock_.Now() + absl::Seconds(2));
  AdvanceAndTick(absl::Seconds(1));
  EXPECT_EQ(StateOf(id), TaskState::kScheduled);  // not before its time
  EXPECT_EQ(e.channel->assignment_count(), 1u);
  AdvanceAndTick(absl::Seconds(1));
  EXPECT_EQ(StateOf(id), TaskState::kRunning);  // queued, then dispatched at once

  Fail(e);
  EXPECT_EQ(Task(id).scheduled_for, clock_.Now() + absl::Seconds(6));  // 2 s * 3
  AdvanceAndTick(absl::Seconds(6));
  Fail(e);

  TaskRecord done = Task(id);
  EXPECT_EQ(done.state, TaskState::kFailed);  // three attempts in all
  EXPECT_THAT(done.attempts, SizeIs(3));
  EXPECT_THAT(done.error, HasSubstr("failed 3 attempts"));
}

TEST_F(TimersTest, KeepsEachBackoffWithinItsJitterBoundsAndTheCap) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  const std::string id =
      Submit(Retrying(8, absl::Seconds(1), 2, absl::Seconds(10), /*jitter=*/0.5));

  const double expected[] = {1, 2, 4, 8, 10, 10, 10};  // capped at 10 s
  for (double full : expected) {
    Fail(e);
    const absl::Duration wait = Task(id).scheduled_for - clock_.Now();
    EXPECT_GE(wait, absl::Seconds(full * 0.5)) << "full wait " << full;
    EXPECT_LE(wait, absl::Seconds(full)) << "full wait " << full;
    AdvanceAndTick(wait);
  }
  Fail(e);
  EXPECT_EQ(StateOf(id), TaskState::kFailed);
}

TEST_F(TimersTest, DoesNotRetryAnErrorTheHandlerMarkedNotRetryable) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Retrying(5, absl::Seconds(1), 2, absl::Seconds(10), 0));

  Fail(e, /*retryable=*/false);

  TaskRecord done = Task(id);
  EXPECT_EQ(done.state, TaskState::kFailed);
  EXPECT_THAT(done.error, HasSubstr("not retryable"));
  ASSERT_THAT(done.attempts, SizeIs(1));
  EXPECT_TRUE(done.attempts[0].not_retryable);
}

TEST_F(TimersTest, UsesTheSchedulersDefaultPolicyWhenATaskSetsNone) {
  CoreOptions options = TestOptions();
  options.default_retry = RetryPolicy{2, absl::Seconds(5), 2, absl::Minutes(1), 0};
  RebuildCore(options);
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  const std::string id = Submit(Spec("echo"));

  Fail(e);

  EXPECT_EQ(Task(id).scheduled_for, clock_.Now() + absl::Seconds(5));
  EXPECT_EQ(Task(id).spec->retry.max_attempts, 2u);  // stored with the task
}

TEST_F(TimersTest, HoldsATaskWithAnEtaUntilItsTime) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  TaskSpec eta = Spec("echo");
  eta.not_before = clock_.Now() + absl::Minutes(5);
  TaskSpec countdown = Spec("echo");
  countdown.countdown = absl::Minutes(1);
  const std::string later = Submit(eta);
  const std::string sooner = Submit(countdown);

  EXPECT_EQ(StateOf(later), TaskState::kScheduled);
  EXPECT_EQ(StateOf(sooner), TaskState::kScheduled);
  EXPECT_EQ(Task(sooner).scheduled_for, clock_.Now() + absl::Minutes(1));
  EXPECT_THAT(e.channel->assigned_task_ids(), IsEmpty());

  AdvanceAndTick(absl::Minutes(1), &e);
  EXPECT_THAT(e.channel->assigned_task_ids(), ElementsAre(sooner));
  AdvanceAndTick(absl::Minutes(4), &e);
  EXPECT_EQ(StateOf(later), TaskState::kQueued);  // the slot is busy
}

TEST_F(TimersTest, ExpiresATaskThatDidNotStartInTime) {
  TaskSpec spec = Spec("echo");
  spec.expires_after = absl::Seconds(30);
  const std::string id = Submit(spec);

  AdvanceAndTick(absl::Seconds(29));
  EXPECT_EQ(StateOf(id), TaskState::kQueued);
  AdvanceAndTick(absl::Seconds(1));

  TaskRecord expired = Task(id);
  EXPECT_EQ(expired.state, TaskState::kExpired);
  EXPECT_THAT(expired.error, HasSubstr("not started within 30s"));
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  EXPECT_THAT(e.channel->assigned_task_ids(), IsEmpty());
}

TEST_F(TimersTest, ExpiresARetryWhoseBackoffEndsAfterTheExpiry) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  TaskSpec spec = Retrying(3, absl::Seconds(60), 2, absl::Minutes(5), 0);
  spec.expires_after = absl::Seconds(30);
  const std::string id = Submit(spec);

  Fail(e);  // started in time; the retry would start at 60 s
  AdvanceAndTick(absl::Seconds(60));

  EXPECT_EQ(StateOf(id), TaskState::kExpired);
  EXPECT_EQ(e.channel->assignment_count(), 1u);
}

TEST_F(TimersTest, EndsAnAttemptWhoseExecutorDoesNotAnswerByTheTimeoutPlusALease) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/1);
  TaskSpec spec = Spec("echo");
  spec.timeout = absl::Seconds(10);
  const std::string id = Submit(spec);
  core().OnHeartbeat(e.session);

  // The executor keeps heartbeating but never answers.
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(5));
    core().OnHeartbeat(e.session);
    core().Tick();
  }

  TaskRecord done = Task(id);
  EXPECT_EQ(done.state, TaskState::kFailed);
  ASSERT_THAT(done.attempts, SizeIs(1));
  EXPECT_EQ(done.attempts[0].outcome, AttemptOutcome::kTimedOut);
  EXPECT_THAT(e.channel->cancels(), ElementsAre(AttemptRef{id, 1}));
  EXPECT_EQ(SlotsUsed("e"), 1);  // until the executor answers the cancel
}

TEST_F(TimersTest, ForgetsATerminalTaskAfterItsRetention) {
  TestExecutor e = Connect("e", {"echo"}, /*slots=*/2);
  TaskSpec short_lived = Spec("echo");
  short_lived.retention = absl::Minutes(1);
  short_lived.idempotency_key = "key-1";
  const std::string brief = Submit(short_lived);
  const std::string kept = Submit(Spec("echo"));  // the default: 24 h
  for (const AssignmentOut& a : e.channel->TakeAssignments()) Succeed(e, a);

  AdvanceAndTick(absl::Minutes(1));

  EXPECT_THAT(core().GetTask(brief), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(StateOf(kept), TaskState::kSucceeded);
  EXPECT_THAT(store_.FindTask(brief), IsOkAndHolds(::testing::Eq(std::nullopt)));
  EXPECT_THAT(store_.FindTask(kept), IsOkAndHolds(::testing::Ne(std::nullopt)));
  // The key is free again: a new submit makes a new task.
  std::vector<bool> existing;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids,
                       core().Submit({short_lived}, SchedulerCore::SubmitPath::kOne, &existing));
  EXPECT_NE(ids[0], brief);
  EXPECT_THAT(existing, ElementsAre(false));
}

TEST_F(TimersTest, TellsTheListenerWhenAnEarlierTimerIsAdded) {
  std::vector<absl::Time> wakeups;
  core().SetTimerListener([&](absl::Time at) { wakeups.push_back(at); });
  EXPECT_EQ(core().Tick(), absl::InfiniteFuture());

  TaskSpec later = Spec("echo");
  later.countdown = absl::Minutes(10);
  Submit(later);
  TaskSpec sooner = Spec("echo");
  sooner.countdown = absl::Minutes(1);
  Submit(sooner);
  Submit(later);  // not earlier: no wakeup

  EXPECT_THAT(wakeups, ElementsAre(clock_.Now() + absl::Minutes(10),
                                   clock_.Now() + absl::Minutes(1)));
  EXPECT_EQ(core().Tick(), clock_.Now() + absl::Minutes(1));
}

// --- idempotency and backpressure (submit-time rules) ---

TEST_F(TimersTest, ReturnsTheExistingTaskForARepeatedIdempotencyKey) {
  TaskSpec spec = Spec("echo");
  spec.idempotency_key = "order-42";
  std::vector<bool> existing;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> first,
                       core().Submit({spec}, SchedulerCore::SubmitPath::kOne, &existing));
  EXPECT_THAT(existing, ElementsAre(false));

  ASSERT_OK_AND_ASSIGN(std::vector<std::string> again,
                       core().Submit({spec, spec, Spec("echo")},
                                     SchedulerCore::SubmitPath::kBatch, &existing));

  EXPECT_EQ(again[0], first[0]);
  EXPECT_EQ(again[1], first[0]);
  EXPECT_NE(again[2], first[0]);
  EXPECT_THAT(existing, ElementsAre(true, true, false));
  EXPECT_EQ(store_.size(), 2u);
}

TEST_F(TimersTest, MakesOneTaskForAKeyRepeatedWithinABatch) {
  TaskSpec spec = Spec("echo");
  spec.idempotency_key = "twice-in-one-batch";
  std::vector<bool> existing;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids,
                       core().Submit({spec, Spec("echo"), spec},
                                     SchedulerCore::SubmitPath::kBatch, &existing));

  EXPECT_EQ(ids[2], ids[0]);
  EXPECT_THAT(existing, ElementsAre(false, false, true));
  EXPECT_EQ(store_.size(), 2u);
}

TEST_F(TimersTest, KeepsIdempotencyAcrossARestart) {
  TaskSpec spec = Spec("echo");
  spec.idempotency_key = "order-7";
  const std::string id = Submit(spec);
  RebuildCore(TestOptions());
  ASSERT_THAT(core().Recover(), IsOk());

  std::vector<bool> existing;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> again,
                       core().Submit({spec}, SchedulerCore::SubmitPath::kOne, &existing));
  EXPECT_EQ(again[0], id);
  EXPECT_THAT(existing, ElementsAre(true));
}

TEST_F(TimersTest, RefusesWholeBatchesPastTheWaitingLimitsAndAcceptsAgainOnceTasksStart) {
  CoreOptions options = TestOptions();
  options.max_waiting_tasks = 3;
  options.max_waiting_per_queue = 2;
  RebuildCore(options);
  SubmitAll({Spec("echo"), Spec("echo")});

  EXPECT_THAT(core().Submit({Spec("echo")}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("queue 'default'")));
  EXPECT_THAT(core().Submit({Spec("echo", 0, "other"), Spec("echo", 0, "other")}),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("--max-waiting-tasks")));
  EXPECT_EQ(store_.size(), 2u);  // nothing half-stored

  TestExecutor e = Connect("e", {"echo"}, /*slots=*/2);  // both start: room again
  EXPECT_THAT(core().Submit({Spec("echo"), Spec("echo")}), IsOk());
}

}  // namespace
}  // namespace taskwire::scheduler::testing
