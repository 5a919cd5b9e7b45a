// Durations too long for absl::Duration (found by tests/fuzz/cli_args_fuzzer.cc): a number
// of seconds past its range saturated to an infinite duration, which the unit syntax and
// "inf" already refuse; the three spellings now agree.
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "cli/task_args.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::cli {
namespace {

using ::taskwire::testing::StatusIs;

TEST(ParseDurationArgRangeTest, RefusesSecondsPastTheRangeOfADuration) {
  EXPECT_THAT(ParseDurationArg("1e30"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDurationArg("9.3e18"), StatusIs(absl::StatusCode::kInvalidArgument));
  std::string text = "1e30";
  EXPECT_FALSE(Duration()(text).empty());
}

TEST(ParseDurationArgRangeTest, TakesTheLongestFiniteDurations) {
  EXPECT_EQ(*ParseDurationArg("9e18"), absl::Seconds(9e18));
  EXPECT_EQ(*ParseDurationArg("87600h"), absl::Hours(87600));
}

}  // namespace
}  // namespace taskwire::cli
