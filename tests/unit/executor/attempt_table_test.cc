// The executor's half of the link protocol (executor/core/attempt_table.h), driven by a
// FakeClock and a FakeLink: one test per invariant. Nothing here runs a handler or waits.
#include "executor/core/attempt_table.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "executor/core/oversized_result.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/executor/fake_link.h"

namespace taskwire::executor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::shared_ptr<Attempt> MakeAttempt(const std::string& task_id, uint32_t attempt) {
  return std::make_shared<Attempt>(task_id, attempt, "echo", "payload", absl::InfiniteFuture());
}

RunResult Succeeded(std::string output = "out") {
  RunResult r;
  r.outcome = RunOutcome::kSucceeded;
  r.output = std::move(output);
  return r;
}

std::vector<AttemptKey> Keys(const std::vector<AttemptReport>& reports) {
  std::vector<AttemptKey> keys;
  for (const AttemptReport& r : reports) keys.push_back(r.key());
  return keys;
}

AttemptKey Key(const std::string& task_id, uint32_t attempt) { return {task_id, attempt}; }

class AttemptTableTest : public ::testing::Test {
 protected:
  AttemptTableTest() { Make(AttemptTableOptions()); }

  void Make(AttemptTableOptions options) {
    table_ = std::make_unique<AttemptTable>(clock_, link_, options);
  }
  // A dial and its Welcome.
  void Link(WelcomeInfo welcome = {}) {
    link_.set_up(true);
    table_->OnHello();
    table_->OnWelcome(welcome);
  }
  // The stream breaks (no stream up until the next dial).
  void Break() {
    link_.set_up(false);
    table_->OnDisconnected();
  }
  std::shared_ptr<Attempt> Run(const std::string& task_id, uint32_t attempt) {
    std::shared_ptr<Attempt> a = MakeAttempt(task_id, attempt);
    EXPECT_EQ(table_->OnAssignments({a}).size(), 1u) << task_id << " was not accepted";
    return a;
  }

  FakeClock clock_;
  FakeLink link_;
  std::unique_ptr<AttemptTable> table_;
};

TEST_F(AttemptTableTest, AResultWhileLinkedIsSentAtOnce) {
  Link();
  std::shared_ptr<Attempt> a = Run("t1", 1);
  table_->OnFinished(a, Succeeded("hi"));
  const std::vector<AttemptReport> results = link_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].key(), Key("t1", 1));
  EXPECT_EQ(results[0].result.output, "hi");
  EXPECT_EQ(table_->running(), 0u);
  EXPECT_EQ(table_->unreported(), 0u);
}

TEST_F(AttemptTableTest, AHelloListsRunningAndUnreportedAttemptsSeparately) {
  Link();
  std::shared_ptr<Attempt> a = Run("t1", 1);
  Run("t2", 3);
  Break();
  table_->OnFinished(a, Succeeded());

  const HelloLists hello = table_->OnHello();
  EXPECT_THAT(hello.running, ElementsAre(Key("t2", 3)));
  EXPECT_THAT(hello.unreported, ElementsAre(Key("t1", 1)));
}

TEST_F(AttemptTableTest, AResultEndingWhileDisconnectedIsListedUnreportedAndSentAfterWelcome) {
  Link();
  std::shared_ptr<Attempt> a = Run("t1", 1);
  Break();
  table_->OnFinished(a, Succeeded());
  EXPECT_THAT(link_.results(), IsEmpty());

  link_.set_up(true);
  EXPECT_THAT(table_->OnHello().unreported, ElementsAre(Key("t1", 1)));
  EXPECT_THAT(link_.results(), IsEmpty()) << "sent before the Welcome";
  table_->OnWelcome({});
  EXPECT_THAT(Keys(link_.results()), ElementsAre(Key("t1", 1)));

  // A later Welcome (another reconnect) sends nothing again.
  Break();
  Link();
  EXPECT_THAT(Keys(link_.results()), ElementsAre(Key("t1", 1)));
}

TEST_F(AttemptTableTest, AReconnectRacingAResultSendsItExactlyOnceAfterTheWelcome) {
  // The stream breaks while t1 runs; the next dial's Hello lists t1 as running; t1 ends
  // between that Hello and its Welcome (the stream is up but not welcomed). Its result
  // must wait for the Welcome, then go exactly once.
  Link();
  std::shared_ptr<Attempt> a = Run("t1", 1);
  Break();
  link_.set_up(true);
  const HelloLists hello = table_->OnHello();
  EXPECT_THAT(hello.running, ElementsAre(Key("t1", 1)));
  EXPECT_THAT(hello.unreported, IsEmpty());

  table_->OnFinished(a, Succeeded());
  EXPECT_THAT(link_.results(), IsEmpty()) << "sent on a stream not welcomed yet";
  table_->OnWelcome({});
  table_->OnWelcome({});  // a duplicate Welcome must not resend
  EXPECT_THAT(Keys(link_.results()), ElementsAre(Key("t1", 1)));
  EXPECT_EQ(table_->unreported(), 0u);
  EXPECT_EQ(table_->running(), 0u);
}

TEST_F(AttemptTableTest, AResultTheBreakingStreamRefusesIsKeptForTheNextWelcome) {
  // The stream broke but its disconnect has not been seen yet: Send returns false.
  Link();
  std::shared_ptr<Attempt> a = Run("t1", 1);
  link_.set_up(false);
  table_->OnFinished(a, Succeeded());
  EXPECT_EQ(table_->unreported(), 1u);
  table_->OnDisconnected();

  link_.set_up(true);
  EXPECT_THAT(table_->OnHello().unreported, ElementsAre(Key("t1", 1)));
  table_->OnWelcome({});
  EXPECT_THAT(Keys(link_.results()), ElementsAre(Key("t1", 1)));
}

TEST_F(AttemptTableTest, ACancelForAnotherAttemptNumberDoesNotTouchTheRunningAttempt) {
  Link();
  std::shared_ptr<Attempt> a = Run("t1", 2);
  EXPECT_EQ(table_->OnCancels({Key("t1", 1), Key("t1", 3), Key("t9", 2)}), 0u);
  EXPECT_FALSE(a->token.cancelled());
  EXPECT_EQ(table_->OnCancels({Key("t1", 2)}), 1u);
  EXPECT_TRUE(a->token.cancelled());
}

TEST_F(AttemptTableTest, TheSameAttemptAssignedTwiceRunsOnce) {
  Link();
  std::shared_ptr<Attempt> first = Run("t1", 1);
  std::shared_ptr<Attempt> again = MakeAttempt("t1", 1);
  EXPECT_THAT(table_->OnAssignments({again}), IsEmpty());
  EXPECT_EQ(table_->running(), 1u);

  // The duplicate's (impossible) end must not retire the attempt that runs.
  table_->OnFinished(first, Succeeded());
  EXPECT_EQ(table_->running(), 0u);
  EXPECT_THAT(Keys(link_.results()), ElementsAre(Key("t1", 1)));
}

TEST_F(AttemptTableTest, AHigherAttemptOfATaskStillRunningHereRunsBesideItKeyedApart) {
  Link();
  std::shared_ptr<Attempt> old_attempt = Run("t1", 1);
  std::shared_ptr<Attempt> new_attempt = Run("t1", 2);
  EXPECT_EQ(table_->running(), 2u);
  EXPECT_THAT(table_->OnHello().running, UnorderedElementsAre(Key("t1", 1), Key("t1", 2)));
  table_->OnWelcome({});

  EXPECT_EQ(table_->OnCancels({Key("t1", 1)}), 1u);
  EXPECT_TRUE(old_attempt->token.cancelled());
  EXPECT_FALSE(new_attempt->token.cancelled());
  RunResult cancelled;
  cancelled.outcome = RunOutcome::kCancelled;
  table_->OnFinished(old_attempt, cancelled);
  EXPECT_EQ(table_->running(), 1u);
  table_->OnFinished(new_attempt, Succeeded());
  EXPECT_THAT(Keys(link_.results()), ElementsAre(Key("t1", 1), Key("t1", 2)));
  EXPECT_EQ(link_.results()[0].result.outcome, RunOutcome::kCancelled);
  EXPECT_EQ(link_.results()[1].result.outcome, RunOutcome::kSucceeded);
}

TEST_F(AttemptTableTest, AnOversizedResultFailsItsOwnAttemptAndTheNextResultStillGoesOut) {
  AttemptTableOptions options;
  options.max_message_bytes = 1 << 20;
  Make(options);
  Link();
  std::shared_ptr<Attempt> big = Run("big", 1);
  std::shared_ptr<Attempt> small = Run("small", 1);
  RunResult huge = Succeeded(std::string(1 << 20, 'x'));
  huge.exit_code = 0;
  huge.run_time = absl::Seconds(2);
  table_->OnFinished(big, std::move(huge));
  table_->OnFinished(small, Succeeded("ok"));

  const std::vector<AttemptReport> results = link_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].key(), Key("big", 1));
  EXPECT_EQ(results[0].result.outcome, RunOutcome::kFailed);
  EXPECT_THAT(results[0].result.output, IsEmpty());
  EXPECT_THAT(results[0].result.error,
              HasSubstr("result of 1,048,643 bytes exceeds the link's message limit of "
                        "1,048,576 bytes (--max-message-bytes"));
  EXPECT_THAT(results[0].result.error, HasSubstr("output dropped"));
  EXPECT_EQ(results[0].result.exit_code, 0);
  EXPECT_EQ(results[0].result.run_time, absl::Seconds(2));
  EXPECT_EQ(results[1].key(), Key("small", 1));
  EXPECT_EQ(results[1].result.outcome, RunOutcome::kSucceeded);
  EXPECT_EQ(results[1].result.output, "ok");
}

TEST(OversizedResultTest, AResultThatFitsBesideTheEnvelopeHeadroomIsLeftAlone) {
  const size_t limit = 1 << 20;
  AttemptReport report{"t", 1, Succeeded("")};
  report.result.output = std::string(limit - kEnvelopeHeadroom - EncodedSizeBound(report), 'x');
  EXPECT_FALSE(FailIfOversized(report, limit));
  EXPECT_EQ(report.result.outcome, RunOutcome::kSucceeded);
  report.result.output += "x";
  EXPECT_TRUE(FailIfOversized(report, limit));
  EXPECT_EQ(report.result.outcome, RunOutcome::kFailed);
}

TEST(OversizedResultTest, TheReplacementKeepsTheAttemptsOwnErrorAndExitStatus) {
  AttemptReport report{"t", 1, {}};
  report.result.outcome = RunOutcome::kFailed;
  report.result.output = std::string(2 << 20, 'x');
  report.result.error = "exit status 7";
  report.result.exit_code = 7;
  report.result.not_retryable = true;
  ASSERT_TRUE(FailIfOversized(report, 1 << 20));
  EXPECT_THAT(report.result.error, HasSubstr("the attempt's own error: exit status 7"));
  EXPECT_EQ(report.result.exit_code, 7);
  EXPECT_TRUE(report.result.not_retryable);
}

TEST_F(AttemptTableTest, TheUnreportedBufferDropsTheOldestPastItsCountBound) {
  AttemptTableOptions options;
  options.max_unreported = 2;
  Make(options);
  Link();
  std::vector<std::shared_ptr<Attempt>> attempts = {Run("t1", 1), Run("t2", 1), Run("t3", 1)};
  Break();
  for (const std::shared_ptr<Attempt>& a : attempts) table_->OnFinished(a, Succeeded());

  link_.set_up(true);
  EXPECT_THAT(table_->OnHello().unreported, ElementsAre(Key("t2", 1), Key("t3", 1)));
  table_->OnWelcome({});
  EXPECT_THAT(Keys(link_.results()), ElementsAre(Key("t2", 1), Key("t3", 1)));
}

TEST_F(AttemptTableTest, TheUnreportedBufferDropsTheOldestPastItsByteBound) {
  AttemptTableOptions options;
  options.max_unreported_bytes = 3000;
  Make(options);
  Link();
  std::vector<std::shared_ptr<Attempt>> attempts = {Run("t1", 1), Run("t2", 1), Run("t3", 1)};
  Break();
  for (const std::shared_ptr<Attempt>& a : attempts) {
    table_->OnFinished(a, Succeeded(std::string(1000, 'x')));
  }
  EXPECT_THAT(table_->OnHello().unreported, ElementsAre(Key("t2", 1), Key("t3", 1)));
}

TEST_F(AttemptTableTest, ASilentSchedulerPastTheLeaseMakesTheLinkRedial) {
  WelcomeInfo welcome;
  welcome.lease = absl::Seconds(4);
  welcome.heartbeat_interval = absl::Seconds(1);
  Link(welcome);

  clock_.Advance(absl::Seconds(3));
  table_->Tick();
  table_->OnHeard();  // a HeartbeatAck restarts the lease
  clock_.Advance(absl::Seconds(4));
  table_->Tick();
  EXPECT_THAT(link_.redials(), IsEmpty());

  clock_.Advance(absl::Milliseconds(1));
  table_->Tick();
  ASSERT_EQ(link_.redials().size(), 1u);
  EXPECT_THAT(link_.redials()[0], HasSubstr("silent"));
  table_->Tick();
  EXPECT_EQ(link_.redials().size(), 1u) << "one redial per lease, not one per tick";
}

TEST_F(AttemptTableTest, ASchedulerWhoseWelcomeGivesNoLeaseIsTrustedForFifteenSeconds) {
  Link();
  clock_.Advance(absl::Seconds(15));
  table_->Tick();
  EXPECT_THAT(link_.redials(), IsEmpty());
  clock_.Advance(absl::Milliseconds(1));
  table_->Tick();
  EXPECT_EQ(link_.redials().size(), 1u);
}

TEST_F(AttemptTableTest, ADialNotWelcomedWithinALeaseIsAbandoned) {
  table_->OnHello();
  clock_.Advance(absl::Seconds(16));
  table_->Tick();
  ASSERT_EQ(link_.redials().size(), 1u);
  EXPECT_THAT(link_.redials()[0], HasSubstr("no Welcome"));
}

TEST_F(AttemptTableTest, NoDialNoRedial) {
  clock_.Advance(absl::Hours(1));
  table_->Tick();
  Link();
  Break();
  clock_.Advance(absl::Hours(1));
  table_->Tick();
  EXPECT_THAT(link_.redials(), IsEmpty());
}

TEST_F(AttemptTableTest, AHeartbeatGoesOutOnlyWhenLinked) {
  table_->Tick();
  EXPECT_THAT(link_.sent(), IsEmpty()) << "a heartbeat before the Welcome";
  Link();
  Run("t1", 1);
  table_->Tick();
  const std::vector<LinkMessage> sent = link_.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].heartbeat);
}

TEST_F(AttemptTableTest, AssignmentsWhileDrainingAreRefusedAsNotRun) {
  Link();
  Run("t1", 1);
  EXPECT_EQ(table_->StartDrain("shutting down"), 1u);
  EXPECT_THAT(table_->OnAssignments({MakeAttempt("t2", 1)}), IsEmpty());
  const std::vector<LinkMessage> sent = link_.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].drain, "shutting down");
  ASSERT_EQ(sent[1].results.size(), 1u);
  EXPECT_EQ(sent[1].results[0].key(), Key("t2", 1));
  EXPECT_EQ(sent[1].results[0].result.outcome, RunOutcome::kCancelled);
  EXPECT_EQ(table_->running(), 1u);
}

TEST_F(AttemptTableTest, CancelAllStopsEveryRunningAttempt) {
  Link();
  std::shared_ptr<Attempt> a = Run("t1", 1);
  std::shared_ptr<Attempt> b = Run("t2", 1);
  EXPECT_EQ(table_->CancelAll(), 2u);
  EXPECT_TRUE(a->token.cancelled());
  EXPECT_TRUE(b->token.cancelled());
}

}  // namespace
}  // namespace taskwire::executor
