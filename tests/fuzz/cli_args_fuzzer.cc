// Fuzzes the taskwire command's value parsing (cli/args.h, cli/task_args.h,
// cli/workflow_args.h): the bytes as up to 16 lines, each tried as a duration, a
// TYPE[:PAYLOAD] word, a state name, a label and an RFC 3339 time; then the lines
// as the task options and the words of chain, group and chord.
// Checks: each CLI11 validator agrees with the parse function behind it; a duration is
// finite and not negative; a task word splits and joins back to itself; a state name
// becomes the enum's number; the options and workflows either build or answer
// INVALID_ARGUMENT, and a built workflow has one node per word.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"  // SimpleAtoi
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/task_args.h"
#include "cli/workflow_args.h"
#include "tests/fuzz/fuzz_support.h"

namespace taskwire::cli {
namespace {

// Runs a validator as CLI11 does; true if it accepts (it may rewrite `text`).
bool Accepts(const CLI::Validator& validator, std::string& text) { return validator(text).empty(); }

void CheckLine(const std::string& line) {
  absl::StatusOr<absl::Duration> d = ParseDurationArg(line);
  std::string text = line;
  TASKWIRE_FUZZ_CHECK(Accepts(Duration(), text) == d.ok(), line);
  if (d.ok()) {
    TASKWIRE_FUZZ_CHECK(*d >= absl::ZeroDuration(), line);
    TASKWIRE_FUZZ_CHECK(*d != absl::InfiniteDuration(), line);
  } else {
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(d.status()), d.status().ToString());
  }

  absl::StatusOr<v1::TaskSpec> word = ParseTaskWord(line);
  if (word.ok()) {
    TASKWIRE_FUZZ_CHECK(!word->type().empty(), line);
    const bool colon = line.find(':') != std::string::npos;
    TASKWIRE_FUZZ_CHECK((colon ? word->type() + ":" + word->payload() : word->type()) == line, line);
  } else {
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(word.status()), word.status().ToString());
  }

  text = line;
  if (Accepts(StateName(), text)) {
    int number = 0;
    TASKWIRE_FUZZ_CHECK(absl::SimpleAtoi(text, &number) && v1::TaskState_IsValid(number) &&
                            number != v1::TASK_STATE_UNSPECIFIED,
                        line);
  }
  text = line;
  TASKWIRE_FUZZ_CHECK(Accepts(Duration(/*allow_zero=*/false), text) ==
                          (d.ok() && *d > absl::ZeroDuration()),
                      line);
  text = line;
  (void)Accepts(Rfc3339(), text);
}

TaskOptionArgs OptionsFrom(const std::vector<std::string>& lines) {
  auto at = [&lines](size_t i) { return i < lines.size() ? lines[i] : std::string(); };
  TaskOptionArgs args;
  args.queue = at(0);
  // The validators run before ApplyTaskOptions: only values they accept get there.
  auto checked = [](const CLI::Validator& v, std::string value) {
    return Accepts(v, value) ? value : std::string();
  };
  args.backoff = checked(Duration(), at(1));
  args.countdown = checked(Duration(), at(2));
  args.eta = checked(Rfc3339(), at(3));
  args.expires = checked(Duration(), at(4));
  args.retention = checked(Duration(), at(5));
  args.idempotency_key = at(6);
  for (const std::string& line : lines) {
    std::string label = line;
    if (Accepts(Label(), label)) args.labels.push_back(label);
  }
  args.retries = static_cast<int>(lines.size()) - 2;
  return args;
}

}  // namespace
}  // namespace taskwire::cli

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taskwire::cli;  // NOLINT(google-build-using-namespace): one function
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines = absl::StrSplit(input, '\n');
  if (lines.size() > 16) lines.resize(16);
  for (const std::string& line : lines) CheckLine(line);

  const TaskOptionArgs options = OptionsFrom(lines);
  taskwire::v1::TaskSpec spec;
  const absl::Status applied = ApplyTaskOptions(options, spec);
  TASKWIRE_FUZZ_CHECK(applied.ok() || absl::IsInvalidArgument(applied), applied.ToString());

  for (WorkflowShape shape : {WorkflowShape::kChain, WorkflowShape::kGroup, WorkflowShape::kChord}) {
    absl::StatusOr<taskwire::v1::WorkflowSpec> workflow =
        BuildWorkflowFromWords(shape, lines, options);
    if (!workflow.ok()) {
      TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(workflow.status()), workflow.status().ToString());
      continue;
    }
    TASKWIRE_FUZZ_CHECK(workflow->nodes_size() == static_cast<int>(lines.size()), "one node per word");
  }
  return 0;
}
