// ValidateName and ValidateTaskSpec: every rejection is INVALID_ARGUMENT and names the field.
#include "scheduler/core/task_validation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::scheduler {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TaskSpec ValidSpec() {
  TaskSpec spec;
  spec.type = "echo";
  spec.queue = "default";
  spec.payload = "hello";
  return spec;
}

TEST(ValidateNameTest, AcceptsNamesOfTheAllowedCharacters) {
  EXPECT_THAT(ValidateName("f", "Az09_.:-", 128), IsOk());
  EXPECT_THAT(ValidateName("f", "x", 1), IsOk());
  EXPECT_THAT(ValidateName("f", std::string(128, 'n'), 128), IsOk());
}

TEST(ValidateNameTest, RejectsAnEmptyName) {
  EXPECT_THAT(ValidateName("task.type", "", 128),
              StatusIs(kInvalid, HasSubstr("task.type is empty")));
}

TEST(ValidateNameTest, RejectsANameOverTheLimitAndSaysTheLimit) {
  EXPECT_THAT(ValidateName("task.type", std::string(129, 'n'), 128),
              StatusIs(kInvalid, AllOf(HasSubstr("task.type"), HasSubstr("129"),
                                       HasSubstr("128"))));
}

TEST(ValidateNameTest, RejectsCharactersOutsideTheAllowedSet) {
  for (const char* bad : {"a b", "a/b", "a\tb", "é", "a,b", "a\nb", "$x"}) {
    EXPECT_THAT(ValidateName("task.queue", bad, 128),
                StatusIs(kInvalid, AllOf(HasSubstr("task.queue"), HasSubstr("character"))))
        << "name '" << bad << "'";
  }
}

TEST(ValidateTaskSpecTest, AcceptsAValidSpecAndTheLimitsThemselves) {
  TaskLimits limits;
  limits.max_payload_bytes = 8;
  TaskSpec spec = ValidSpec();
  spec.payload = std::string(8, 'p');
  spec.priority = limits.max_priority;
  spec.timeout = absl::ZeroDuration();
  EXPECT_THAT(ValidateTaskSpec("task", spec, limits), IsOk());

  spec.priority = limits.min_priority;
  spec.timeout = absl::Seconds(30);
  EXPECT_THAT(ValidateTaskSpec("task", spec, limits), IsOk());
}

TEST(ValidateTaskSpecTest, NamesTheTypeField) {
  TaskSpec empty = ValidSpec();
  empty.type = "";
  EXPECT_THAT(ValidateTaskSpec("tasks[1]", empty, TaskLimits{}),
              StatusIs(kInvalid, HasSubstr("tasks[1].type is empty")));

  TaskSpec long_type = ValidSpec();
  long_type.type = std::string(129, 't');
  EXPECT_THAT(ValidateTaskSpec("tasks[1]", long_type, TaskLimits{}),
              StatusIs(kInvalid, HasSubstr("tasks[1].type")));

  TaskSpec bad_char = ValidSpec();
  bad_char.type = "rm -rf";
  EXPECT_THAT(ValidateTaskSpec("tasks[1]", bad_char, TaskLimits{}),
              StatusIs(kInvalid, HasSubstr("tasks[1].type")));
}

TEST(ValidateTaskSpecTest, RejectsATypeThatStartsWithADash) {
  for (const char* type : {"-", "--wait", "-x"}) {
    TaskSpec spec = ValidSpec();
    spec.type = type;
    EXPECT_THAT(ValidateTaskSpec("workflow.nodes[1].task", spec, TaskLimits{}),
                StatusIs(kInvalid, AllOf(HasSubstr("workflow.nodes[1].task.type"),
                                         HasSubstr(type), HasSubstr("starts with '-'"))))
        << "type '" << type << "'";
  }
  TaskSpec inner = ValidSpec();
  inner.type = "a-b";  // a dash inside is fine
  EXPECT_THAT(ValidateTaskSpec("task", inner, TaskLimits{}), IsOk());
}

TEST(ValidateTaskSpecTest, NamesTheQueueField) {
  TaskSpec spec = ValidSpec();
  spec.queue = "no/slashes";
  EXPECT_THAT(ValidateTaskSpec("task", spec, TaskLimits{}),
              StatusIs(kInvalid, HasSubstr("task.queue")));
}

TEST(ValidateTaskSpecTest, RejectsAPayloadOverTheLimit) {
  TaskLimits limits;
  limits.max_payload_bytes = 8;
  TaskSpec spec = ValidSpec();
  spec.payload = std::string(9, 'p');

  EXPECT_THAT(ValidateTaskSpec("tasks[2]", spec, limits),
              StatusIs(kInvalid, AllOf(HasSubstr("tasks[2].payload"), HasSubstr("9 bytes"),
                                       HasSubstr("limit is 8"))));
}

TEST(ValidateTaskSpecTest, RejectsANegativeTimeout) {
  TaskSpec spec = ValidSpec();
  spec.timeout = -absl::Milliseconds(1);

  EXPECT_THAT(ValidateTaskSpec("task", spec, TaskLimits{}),
              StatusIs(kInvalid, AllOf(HasSubstr("task.timeout"), HasSubstr("negative"))));
}

TEST(ValidateTaskSpecTest, RejectsAPriorityOutOfRange) {
  TaskSpec high = ValidSpec();
  high.priority = 101;
  TaskSpec low = ValidSpec();
  low.priority = -101;

  EXPECT_THAT(ValidateTaskSpec("task", high, TaskLimits{}),
              StatusIs(kInvalid, AllOf(HasSubstr("task.priority"), HasSubstr("[-100, 100]"))));
  EXPECT_THAT(ValidateTaskSpec("task", low, TaskLimits{}),
              StatusIs(kInvalid, HasSubstr("task.priority")));
}

TEST(ValidateTaskSpecTest, RejectsTooManyOrOversizedLabels) {
  TaskLimits limits;
  limits.max_labels = 2;
  limits.max_label_bytes = 4;
  TaskSpec many = ValidSpec();
  many.labels = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  TaskSpec empty_key = ValidSpec();
  empty_key.labels = {{"", "1"}};
  TaskSpec long_value = ValidSpec();
  long_value.labels = {{"k", "12345"}};
  TaskSpec fine = ValidSpec();
  fine.labels = {{"k", "1234"}, {"kkkk", ""}};

  EXPECT_THAT(ValidateTaskSpec("task", many, limits),
              StatusIs(kInvalid, HasSubstr("task.labels has 3 entries")));
  EXPECT_THAT(ValidateTaskSpec("task", empty_key, limits),
              StatusIs(kInvalid, HasSubstr("task.labels")));
  EXPECT_THAT(ValidateTaskSpec("task", long_value, limits),
              StatusIs(kInvalid, HasSubstr("task.labels['k']")));
  EXPECT_THAT(ValidateTaskSpec("task", fine, limits), IsOk());
}

}  // namespace
}  // namespace taskwire::scheduler
