// Task option setters: each fills the TaskSpec field the scheduler reads.
#include "client/task_options.h"

#include "client/client.h"
#include "gtest/gtest.h"

namespace taskwire::client {
namespace {

TEST(TaskOptionsTest, SetRetryFillsThePolicyAndLeavesUnsetDurationsUnset) {
  v1::TaskSpec spec = MakeTask("echo");
  SetRetry(spec, {.max_attempts = 4, .initial_backoff = absl::Milliseconds(1500), .jitter = 0.5});
  EXPECT_EQ(spec.retry().max_attempts(), 4u);
  EXPECT_EQ(spec.retry().initial_backoff().seconds(), 1);
  EXPECT_EQ(spec.retry().initial_backoff().nanos(), 500'000'000);
  EXPECT_FALSE(spec.retry().has_max_backoff());
  EXPECT_DOUBLE_EQ(spec.retry().jitter(), 0.5);
}

TEST(TaskOptionsTest, EtaAndCountdownReplaceEachOther) {
  v1::TaskSpec spec = MakeTask("echo");
  SetCountdown(spec, absl::Seconds(10));
  EXPECT_EQ(spec.countdown().seconds(), 10);
  SetEta(spec, absl::FromUnixSeconds(1'800'000'000));
  EXPECT_FALSE(spec.has_countdown());
  EXPECT_EQ(spec.not_before().seconds(), 1'800'000'000);
  SetCountdown(spec, absl::Seconds(1));
  EXPECT_FALSE(spec.has_not_before());
}

TEST(TaskOptionsTest, ExpiryKeyAndRetentionAreSet) {
  v1::TaskSpec spec = MakeTask("echo");
  SetExpiresAfter(spec, absl::Minutes(1));
  SetIdempotencyKey(spec, "order-42");
  SetRetention(spec, absl::Hours(1));
  EXPECT_EQ(spec.expires_after().seconds(), 60);
  EXPECT_EQ(spec.idempotency_key(), "order-42");
  EXPECT_EQ(spec.retention().seconds(), 3600);
}

TEST(WorkflowStateTest, NamesAndTerminalStates) {
  EXPECT_EQ(WorkflowStateName(v1::WORKFLOW_STATE_SUCCEEDED), "succeeded");
  EXPECT_EQ(WorkflowStateName(static_cast<v1::WorkflowState>(99)), "unspecified");
  EXPECT_FALSE(IsTerminal(v1::WORKFLOW_STATE_RUNNING));
  EXPECT_TRUE(IsTerminal(v1::WORKFLOW_STATE_CANCELLED));
}

}  // namespace
}  // namespace taskwire::client
