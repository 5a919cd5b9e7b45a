// InitLogging: level names, and JSON lines that stay one valid object whatever the message
// holds. Lines go to stderr, which the JSON test captures.
#include "common/logging.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"
#include "tests/unit/status_matchers.h"

namespace taskwire {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// InitLogging replaces the process's default logger; put a plain one back afterwards.
class InitLoggingTest : public ::testing::Test {
 protected:
  void TearDown() override {
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  }
};

TEST_F(InitLoggingTest, RejectsAnUnknownLevelWithInvalidArgumentNamingIt) {
  EXPECT_THAT(InitLogging({.level = "verbose", .json = false, .service = "test"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'verbose'")));
  EXPECT_THAT(InitLogging({.level = "", .json = true, .service = "test"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(InitLoggingTest, AcceptsEveryDocumentedLevel) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_THAT(InitLogging({.level = level, .json = false, .service = "test"}), IsOk())
        << "level: " << level;
  }
}

TEST_F(InitLoggingTest, SetsTheDefaultLoggersLevel) {
  ASSERT_THAT(InitLogging({.level = "error", .json = false, .service = "test"}), IsOk());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
  EXPECT_EQ(spdlog::default_logger()->name(), "test");
}

TEST_F(InitLoggingTest, JsonModeWritesOneObjectPerLineWithQuotesAndControlsEscaped) {
  ASSERT_THAT(InitLogging({.level = "info", .json = true, .service = "scheduler"}), IsOk());
  ::testing::internal::CaptureStderr();
  spdlog::info("say \"hi\"\nnext\tline \\ end\x01");
  const std::string out = ::testing::internal::GetCapturedStderr();

  EXPECT_THAT(out, StartsWith("{\"time\":\""));
  EXPECT_THAT(out, EndsWith("}\n"));
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "one line: " << out;
  EXPECT_THAT(out, HasSubstr("\"level\":\"info\",\"service\":\"scheduler\""));
  EXPECT_THAT(out, HasSubstr(R"("msg":"say \"hi\"\nnext\tline \\ end\u0001"})"));
}

TEST_F(InitLoggingTest, TextModeWritesServiceAndMessage) {
  ASSERT_THAT(InitLogging({.level = "info", .json = false, .service = "executor"}), IsOk());
  ::testing::internal::CaptureStderr();
  spdlog::info("hello {}", 42);
  spdlog::debug("not shown");
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, AllOf(HasSubstr("executor: hello 42\n"), Not(HasSubstr("not shown"))));
}

}  // namespace
}  // namespace taskwire
