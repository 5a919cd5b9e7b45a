// CancelToken: cancellation by request, expiry by deadline, and SleepFor, which a Cancel()
// from another thread or the deadline must cut short.
#include "executor/task_context.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace taskwire::executor {
namespace {

TEST(CancelTokenTest, IsNotCancelledAtFirst) {
  CancelToken token;
  EXPECT_FALSE(token.cancelled());
  EXPECT_FALSE(token.expired());
  EXPECT_FALSE(token.stop_requested());
  EXPECT_EQ(token.deadline(), absl::InfiniteFuture());
}

TEST(CancelTokenTest, CancelTripsCancelledAndStopRequested) {
  CancelToken token;
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
  EXPECT_TRUE(token.stop_requested());
  EXPECT_FALSE(token.expired());
}

TEST(CancelTokenTest, PastDeadlineMakesExpiredAndStopRequestedTrue) {
  CancelToken token(absl::Now() - absl::Seconds(1));
  EXPECT_TRUE(token.expired());
  EXPECT_TRUE(token.stop_requested());
  EXPECT_FALSE(token.cancelled());
}

TEST(CancelTokenTest, SleepForReturnsTrueAfterSleepingWhenNothingStopsIt) {
  CancelToken token;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(token.SleepFor(absl::Milliseconds(5)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(5));
}

TEST(CancelTokenTest, SleepForReturnsFalsePromptlyWhenCancelledFromAnotherThread) {
  CancelToken token;
  absl::Notification sleeping;
  absl::Notification woke;
  bool slept_fully = true;
  std::thread sleeper([&] {
    sleeping.Notify();
    slept_fully = token.SleepFor(absl::Seconds(60));
    woke.Notify();
  });
  ASSERT_TRUE(sleeping.WaitForNotificationWithTimeout(absl::Seconds(5)));
  token.Cancel();
  // A sleeper that misses the cancel would hold the test for 60 s; fail well before that.
  EXPECT_TRUE(woke.WaitForNotificationWithTimeout(absl::Seconds(2)));
  sleeper.join();
  EXPECT_FALSE(slept_fully);
}

TEST(CancelTokenTest, SleepForReturnsFalseWhenTheDeadlineComesFirst) {
  const absl::Time start = absl::Now();
  CancelToken token(start + absl::Milliseconds(20));
  EXPECT_FALSE(token.SleepFor(absl::Seconds(60)));
  const absl::Duration slept = absl::Now() - start;
  EXPECT_GE(slept, absl::Milliseconds(20));
  EXPECT_LT(slept, absl::Seconds(2));
  EXPECT_TRUE(token.expired());
  EXPECT_FALSE(token.cancelled());
}

TEST(CancelTokenTest, SleepForReturnsFalseAtOnceWhenAlreadyCancelled) {
  CancelToken token;
  token.Cancel();
  const absl::Time start = absl::Now();
  EXPECT_FALSE(token.SleepFor(absl::Seconds(60)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(TaskContextTest, StopRequestedFollowsItsToken) {
  CancelToken token;
  TaskContext ctx{"t1", 1, "echo", "x", &token, {}};
  EXPECT_FALSE(ctx.stop_requested());
  token.Cancel();
  EXPECT_TRUE(ctx.stop_requested());
}

TEST(TaskContextTest, InputIsThePayloadWithoutUpstreamResults) {
  CancelToken token;
  TaskContext ctx{"t1", 1, "echo", "payload", &token, {}};
  EXPECT_EQ(ctx.input(), "payload");
}

TEST(TaskContextTest, InputIsUpstreamResultsInOrderThenThePayload) {
  CancelToken token;
  TaskContext ctx{"t1", 1, "echo", "+p", &token, {"first", "", "third"}};
  EXPECT_EQ(ctx.input(), "firstthird+p");
}

TEST(NotRetryableTest, MarksAnErrorKeepingItsCodeAndMessage) {
  const absl::Status s = NotRetryable(absl::InvalidArgumentError("bad"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad");
  EXPECT_TRUE(IsNotRetryable(s));
  EXPECT_TRUE(IsNotRetryable(absl::Status(s)));  // a copy keeps the mark
}

TEST(NotRetryableTest, PlainErrorsAndOkAreNotMarked) {
  EXPECT_FALSE(IsNotRetryable(absl::UnknownError("x")));
  EXPECT_FALSE(IsNotRetryable(absl::OkStatus()));
  EXPECT_TRUE(NotRetryable(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace taskwire::executor
