// The taskwire command's arguments without a scheduler: TYPE[:PAYLOAD] words, durations,
// task option flags as CLI11 parses them, and the workflow each of chain, group and chord
// builds from its words.
#include <algorithm>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/args.h"
#include "cli/task_args.h"
#include "cli/workflow_args.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::cli {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseTaskWordTest, SplitsTypeAndPayloadAtTheFirstColon) {
  absl::StatusOr<v1::TaskSpec> spec = ParseTaskWord("sha256:hello");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->type(), "sha256");
  EXPECT_EQ(spec->payload(), "hello");
  spec = ParseTaskWord("echo:a:b");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->payload(), "a:b");
  spec = ParseTaskWord("collect");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->type(), "collect");
  EXPECT_EQ(spec->payload(), "");
  spec = ParseTaskWord("echo:");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->payload(), "");
}

TEST(ParseTaskWordTest, RefusesAWordWithoutAType) {
  EXPECT_THAT(ParseTaskWord(":hello"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TYPE:PAYLOAD")));
}

TEST(ParseTaskWordTest, RefusesAWordThatStartsWithADashNamingIt) {
  for (const char* word : {"--wait", "-x", "-", "--wait-timeout"}) {
    EXPECT_THAT(ParseTaskWord(word),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(absl::StrCat("'", word, "' starts with '-'")),
                               HasSubstr("put options before the task words"))))
        << word;
  }
  EXPECT_THAT(ParseTaskWord("echo:-5"), IsOk());  // a payload may start with '-'
}

TEST(BuildWorkflowFromWordsTest, RefusesAnOptionAfterTheDashes) {
  EXPECT_THAT(BuildWorkflowFromWords(WorkflowShape::kChord, {"echo:a", "collect", "--wait"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'--wait'")));
}

// Parses `args` into one duration option of a throwaway app.
absl::StatusOr<absl::Duration> DurationFlag(bool allow_zero, std::vector<std::string> args) {
  CLI::App app;
  absl::Duration d = absl::InfiniteDuration();
  AddDurationOption(app, "--for", d, "", allow_zero);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return d;
}

TEST(AddDurationOptionTest, TakesEverySpellingAndKeepsTheDefaultWhenAbsent) {
  EXPECT_EQ(*DurationFlag(false, {"--for", "2"}), absl::Seconds(2));
  EXPECT_EQ(*DurationFlag(false, {"--for", "2s"}), absl::Seconds(2));
  EXPECT_EQ(*DurationFlag(false, {"--for", "1m30s"}), absl::Seconds(90));
  EXPECT_EQ(*DurationFlag(false, {"--for", "250ms"}), absl::Milliseconds(250));
  EXPECT_EQ(*DurationFlag(true, {"--for", "0"}), absl::ZeroDuration());
  EXPECT_EQ(*DurationFlag(false, {}), absl::InfiniteDuration());
}

TEST(AddDurationOptionTest, RefusesZeroWhenAskedAndAnythingNotADuration) {
  EXPECT_THAT(DurationFlag(false, {"--for", "0s"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than zero")));
  EXPECT_THAT(DurationFlag(true, {"--for", "soon"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a duration")));
  EXPECT_THAT(DurationFlag(true, {"--for", "-1s"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
}

TEST(ParseDurationArgTest, TakesSecondsOrUnits) {
  EXPECT_EQ(*ParseDurationArg("1.5"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDurationArg("300ms"), absl::Milliseconds(300));
  EXPECT_EQ(*ParseDurationArg("1m30s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDurationArg("1h"), absl::Hours(1));
  EXPECT_THAT(ParseDurationArg("soon"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDurationArg("-1s"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDurationArg("inf"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Parses `args` (after a program name) into the task options of a throwaway app.
absl::StatusOr<v1::TaskSpec> SpecFrom(std::vector<std::string> args) {
  CLI::App app;
  TaskOptionArgs options;
  AddTaskOptions(app, options, /*subject=*/"task");
  std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  v1::TaskSpec spec;
  if (absl::Status s = ApplyTaskOptions(options, spec); !s.ok()) return s;
  return spec;
}

TEST(TaskOptionsFlagsTest, EveryFlagReachesTheSpec) {
  absl::StatusOr<v1::TaskSpec> spec =
      SpecFrom({"--retries", "3", "--backoff", "1s", "--countdown", "10s", "--expires", "1m",
                "--idempotency-key", "K", "--retention", "1h", "--queue", "cpu", "--priority",
                "5", "--timeout", "2500ms", "--label", "a=b"});
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->retry().max_attempts(), 4u);  // 3 retries after the first attempt
  EXPECT_EQ(spec->retry().initial_backoff().seconds(), 1);
  EXPECT_EQ(spec->countdown().seconds(), 10);
  EXPECT_EQ(spec->expires_after().seconds(), 60);
  EXPECT_EQ(spec->idempotency_key(), "K");
  EXPECT_EQ(spec->retention().seconds(), 3600);
  EXPECT_EQ(spec->queue(), "cpu");
  EXPECT_EQ(spec->priority(), 5);
  EXPECT_EQ(spec->timeout().nanos(), 500'000'000);
  EXPECT_EQ(spec->labels().at("a"), "b");
}

TEST(TaskOptionsFlagsTest, LeavesUnsetOptionsToTheScheduler) {
  absl::StatusOr<v1::TaskSpec> spec = SpecFrom({});
  ASSERT_THAT(spec, IsOk());
  EXPECT_FALSE(spec->has_retry());
  EXPECT_FALSE(spec->has_countdown());
  EXPECT_FALSE(spec->has_not_before());
  EXPECT_FALSE(spec->has_expires_after());
  EXPECT_FALSE(spec->has_retention());
  EXPECT_FALSE(spec->has_timeout());
}

TEST(TaskOptionsFlagsTest, EtaIsAnRfc3339TimeAndExcludesCountdown) {
  absl::StatusOr<v1::TaskSpec> spec = SpecFrom({"--eta", "2030-01-02T03:04:05Z"});
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->not_before().seconds(), 1893553445);
  EXPECT_THAT(SpecFrom({"--eta", "tomorrow"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RFC 3339")));
  EXPECT_THAT(SpecFrom({"--eta", "2030-01-02T03:04:05Z", "--countdown", "1s"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TaskOptionsFlagsTest, RefusesBadDurationsAndRetryCounts) {
  EXPECT_THAT(SpecFrom({"--backoff", "fast"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a duration")));
  EXPECT_THAT(SpecFrom({"--retries", "-1"}), StatusIs(absl::StatusCode::kInvalidArgument));
}

std::vector<std::string> Edges(const v1::WorkflowSpec& spec) {
  std::vector<std::string> out;
  for (const v1::WorkflowNode& node : spec.nodes()) {
    std::string line = absl::StrCat(node.name(), "(", node.task().payload(), ")<-");
    for (int i = 0; i < node.after_size(); ++i) absl::StrAppend(&line, i ? "," : "", node.after(i));
    out.push_back(line);
  }
  return out;
}

TEST(BuildWorkflowFromWordsTest, ChainLinksWordsInOrder) {
  absl::StatusOr<v1::WorkflowSpec> spec =
      BuildWorkflowFromWords(WorkflowShape::kChain, {"echo:hello", "echo", "sha256"}, {});
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec), ElementsAre("echo-1(hello)<-", "echo-2()<-echo-1", "sha256-3()<-echo-2"));
}

TEST(BuildWorkflowFromWordsTest, GroupIsIndependentAndChordEndsInTheLastWord) {
  absl::StatusOr<v1::WorkflowSpec> group =
      BuildWorkflowFromWords(WorkflowShape::kGroup, {"echo:a", "echo:b"}, {});
  ASSERT_THAT(group, IsOk());
  EXPECT_THAT(Edges(*group), ElementsAre("echo-1(a)<-", "echo-2(b)<-"));
  absl::StatusOr<v1::WorkflowSpec> chord =
      BuildWorkflowFromWords(WorkflowShape::kChord, {"echo:a", "echo:b", "collect"}, {});
  ASSERT_THAT(chord, IsOk());
  EXPECT_THAT(Edges(*chord), ElementsAre("echo-1(a)<-", "echo-2(b)<-", "collect-3()<-echo-1,echo-2"));
}

TEST(BuildWorkflowFromWordsTest, OptionsApplyToEveryNodeLabelsAndKeyToTheWorkflow) {
  TaskOptionArgs options;
  options.retries = 2;
  options.labels = {"team=infra"};
  options.idempotency_key = "nightly";
  absl::StatusOr<v1::WorkflowSpec> spec =
      BuildWorkflowFromWords(WorkflowShape::kGroup, {"echo:a", "echo:b"}, options);
  ASSERT_THAT(spec, IsOk());
  for (const v1::WorkflowNode& node : spec->nodes()) {
    EXPECT_EQ(node.task().retry().max_attempts(), 3u);
    EXPECT_EQ(node.task().idempotency_key(), "");  // the key names the workflow
  }
  EXPECT_EQ(spec->labels().at("team"), "infra");
  EXPECT_EQ(spec->idempotency_key(), "nightly");
}

TEST(BuildWorkflowFromWordsTest, AChordNeedsAGroupAndACallback) {
  EXPECT_THAT(BuildWorkflowFromWords(WorkflowShape::kChord, {"collect"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("callback")));
  EXPECT_THAT(BuildWorkflowFromWords(WorkflowShape::kChain, {"echo", ":x"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace taskwire::cli
