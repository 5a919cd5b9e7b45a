// The executor's config file: what a valid file becomes, and that every mistake an
// operator can make is refused with the file, line and field named.
#include "executor/process/process_config.h"

#include <string>

#include "absl/strings/str_cat.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::executor {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kValid[] = R"(
process_slots: 3
thread_slots: 5
process_tasks {
  type: "wc"
  argv: ["/usr/bin/wc", "-l"]
  env { key: "LC_ALL" value: "C" }
  env { key: "A" value: "1" }
  timeout_seconds: 2.5
  limits { cpu_seconds: 4 max_output_bytes: 100 }
}
process_tasks {
  type: "cat"
  argv: "/bin/cat"
  working_dir: "/tmp"
}
)";

absl::Status ParseError(const std::string& text) {
  return ParseProcessConfig(text, "exec.textproto").status();
}

TEST(ProcessConfigTest, TurnsAValidFileIntoCommands) {
  absl::StatusOr<ProcessConfig> config = ParseProcessConfig(kValid, "exec.textproto");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->process_slots, 3u);
  EXPECT_EQ(config->thread_slots, 5u);
  ASSERT_EQ(config->commands.size(), 2u);
  const ProcessCommand& wc = config->commands[0];
  EXPECT_EQ(wc.type, "wc");
  EXPECT_THAT(wc.argv, ElementsAre("/usr/bin/wc", "-l"));
  EXPECT_THAT(wc.env, ElementsAre("A=1", "LC_ALL=C"));  // sorted, only what is listed
  EXPECT_EQ(wc.working_dir, "/");
  EXPECT_EQ(wc.timeout, absl::Milliseconds(2500));
  EXPECT_EQ(wc.limits.cpu_seconds, 4u);
  EXPECT_EQ(wc.limits.max_output_bytes, 100u);
  EXPECT_EQ(wc.limits.stderr_tail_bytes, 8u << 10);  // the default
  const ProcessCommand& cat = config->commands[1];
  EXPECT_EQ(cat.working_dir, "/tmp");
  EXPECT_EQ(cat.timeout, absl::InfiniteDuration());
  EXPECT_EQ(cat.limits.max_output_bytes, 16u << 20);
  EXPECT_TRUE(cat.env.empty());
}

TEST(ProcessConfigTest, AnEmptyFileHasNoProcessTasks) {
  absl::StatusOr<ProcessConfig> config = ParseProcessConfig("# nothing\n", "empty");
  ASSERT_THAT(config, IsOk());
  EXPECT_TRUE(config->commands.empty());
}

TEST(ProcessConfigTest, TheShippedExampleIsValid) {
  absl::StatusOr<ProcessConfig> config = LoadProcessConfig(TASKWIRE_EXAMPLE_CONFIG);
  ASSERT_THAT(config, IsOk());
  std::vector<std::string> types;
  for (const ProcessCommand& c : config->commands) types.push_back(c.type);
  EXPECT_THAT(types, ElementsAre("wc", "sort", "py.upper", "true"));
}

TEST(ProcessConfigTest, SyntaxErrorNamesFileLineAndColumn) {
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks {\n  type \"x\"\n}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("exec.textproto:3:8: ")));
}

TEST(ProcessConfigTest, UnknownFieldNamesItsLine) {
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"x\" arg: \"/bin/x\" }\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("exec.textproto:2:"), HasSubstr("\"arg\""))));
}

TEST(ProcessConfigTest, RelativeProgramNamesTheFieldAndLine) {
  EXPECT_THAT(ParseError(R"(process_slots: 1
process_tasks { type: "a" argv: "/bin/true" }
process_tasks {
  type: "b"
  argv: "wc"
}
)"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("exec.textproto:5:3: process_tasks[1].argv[0]: "),
                             HasSubstr("absolute path"), HasSubstr("\"wc\""))));
}

TEST(ProcessConfigTest, RefusesAMissingCommand) {
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"a\" }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[0].argv: must name the program")));
}

TEST(ProcessConfigTest, RefusesABadTypeName) {
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"a b\" argv: \"/bin/true\" }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("exec.textproto:2:17: process_tasks[0].type: "),
                             HasSubstr("[A-Za-z0-9_.:-]"))));
}

TEST(ProcessConfigTest, RefusesADuplicateType) {
  EXPECT_THAT(ParseError(R"(process_slots: 1
process_tasks { type: "a" argv: "/bin/true" }
process_tasks { type: "a" argv: "/bin/false" }
)"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("exec.textproto:3:17: process_tasks[1].type: "),
                             HasSubstr("listed twice"))));
}

TEST(ProcessConfigTest, RequiresProcessSlotsWhenTasksAreListed) {
  EXPECT_THAT(ParseError("process_tasks { type: \"a\" argv: \"/bin/true\" }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_slots: must be at least 1")));
}

TEST(ProcessConfigTest, RefusesLimitsOutOfRange) {
  EXPECT_THAT(ParseError(R"(process_slots: 1
process_tasks {
  type: "a"
  argv: "/bin/true"
  limits {
    max_output_bytes: 1000000000
  }
})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("exec.textproto:6:5: process_tasks[0].limits.max_output_bytes: "
                                  "must be at most")));
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"a\" argv: \"/bin/true\" "
                         "limits { address_space_bytes: 4096 } }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[0].limits.address_space_bytes")));
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"a\" argv: \"/bin/true\" "
                         "limits { open_files: 2 } }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[0].limits.open_files")));
  EXPECT_THAT(ParseError("process_slots: 5000"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("process_slots")));
}

TEST(ProcessConfigTest, RefusesBadEnvironmentWorkingDirAndTimeout) {
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"a\" argv: \"/bin/true\" "
                         "env { key: \"A=B\" value: \"1\" } }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[0].env[\"A=B\"]")));
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"a\" argv: \"/bin/true\" "
                         "working_dir: \"tmp\" }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[0].working_dir: must be an absolute path")));
  EXPECT_THAT(ParseError("process_slots: 1\nprocess_tasks { type: \"a\" argv: \"/bin/true\" "
                         "timeout_seconds: -1 }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[0].timeout_seconds")));
}

TEST(ProcessConfigTest, AProcessTypeMayNotShadowAThreadType) {
  absl::StatusOr<ProcessConfig> config = ParseProcessConfig(kValid, "exec.textproto");
  ASSERT_THAT(config, IsOk());
  EXPECT_THAT(CheckNoThreadTypeClash(*config, {"echo", "thread.sleep"}), IsOk());
  EXPECT_THAT(CheckNoThreadTypeClash(*config, {"echo", "cat"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[1].type: \"cat\" is already a thread task type")));
}

TEST(ProcessConfigTest, AMissingFileIsNotFound) {
  EXPECT_THAT(LoadProcessConfig("/nonexistent/executor.textproto").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/executor.textproto")));
}

}  // namespace
}  // namespace taskwire::executor

namespace taskwire::executor {
namespace {

TEST(ProcessConfigTest, ReadsStdinFormatAndNotRetryableExitCodes) {
  absl::StatusOr<ProcessConfig> config = ParseProcessConfig(R"(
process_slots: 1
process_tasks {
  type: "framed"
  argv: "/bin/cat"
  stdin_format: STDIN_FORMAT_FRAMED
  not_retryable_exit_codes: [4, 3, 4]
}
process_tasks { type: "plain" argv: "/bin/cat" }
)", "exec.textproto");
  ASSERT_THAT(config, IsOk());
  EXPECT_TRUE(config->commands[0].framed_stdin);
  EXPECT_THAT(config->commands[0].not_retryable_exit_codes, ElementsAre(3, 4));
  EXPECT_FALSE(config->commands[1].framed_stdin);
  EXPECT_TRUE(config->commands[1].not_retryable_exit_codes.empty());
}

TEST(ProcessConfigTest, RefusesAnExitCodeOutsideOneTo255) {
  EXPECT_THAT(ParseError(R"(process_slots: 1
process_tasks { type: "x" argv: "/bin/cat" not_retryable_exit_codes: [1, 256] })"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("process_tasks[0].not_retryable_exit_codes[1]: must be an exit "
                                 "code in 1..255, got 256")));
}

TEST(ProcessConfigTest, RefusesTheReservedUpstreamCountVariable) {
  EXPECT_THAT(ParseError(R"(process_slots: 1
process_tasks { type: "x" argv: "/bin/cat" env { key: "TASKWIRE_UPSTREAM_COUNT" value: "9" } })"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is set by the executor for every process task")));
}

TEST(FramedStdinTest, FramesEachUpstreamResultThenThePayload) {
  EXPECT_EQ(FramedStdin({}, "pay"), "3\npay\n");
  EXPECT_EQ(FramedStdin({"ab", ""}, ""), "2\nab\n0\n\n0\n\n");
  const std::string binary("x\0\ny", 4);
  EXPECT_EQ(FramedStdin({binary}, "p"), absl::StrCat("4\n", binary, "\n1\np\n"));
}

}  // namespace
}  // namespace taskwire::executor
