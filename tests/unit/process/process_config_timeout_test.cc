// A process task's timeout_seconds too small to be useful (found by
// tests/fuzz/executor_config_fuzzer.cc): 1e-300 became a zero timeout, so every attempt
// would have been killed as soon as it started. Positive values under a millisecond are
// refused like negative ones.
#include <string>

#include "absl/time/time.h"
#include "executor/process/process_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::executor {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::HasSubstr;

std::string WithTimeout(const std::string& seconds) {
  return "process_slots: 1\nprocess_tasks { type: \"a\" argv: \"/bin/true\" timeout_seconds: " +
         seconds + " }";
}

TEST(ProcessConfigTimeoutTest, RefusesAPositiveTimeoutUnderAMillisecond) {
  for (const char* seconds : {"1e-300", "0.0009"}) {
    EXPECT_THAT(ParseProcessConfig(WithTimeout(seconds), "exec.textproto").status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("process_tasks[0].timeout_seconds")))
        << seconds;
  }
}

TEST(ProcessConfigTimeoutTest, KeepsAMillisecondAndZeroForNone) {
  absl::StatusOr<ProcessConfig> tiny = ParseProcessConfig(WithTimeout("0.001"), "exec.textproto");
  ASSERT_THAT(tiny, IsOk());
  EXPECT_EQ(tiny->commands.at(0).timeout, absl::Milliseconds(1));
  absl::StatusOr<ProcessConfig> none = ParseProcessConfig(WithTimeout("0"), "exec.textproto");
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(none->commands.at(0).timeout, absl::InfiniteDuration());
}

}  // namespace
}  // namespace taskwire::executor
