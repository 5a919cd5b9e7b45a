#include "executor/core/oversized_result.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace taskwire::executor {
namespace {

// The fixed fields (attempt, outcome, retry mark, run time, process) and the tags and
// length prefixes of the three strings.
constexpr size_t kFixedFieldsBound = 64;
// How much of the original error the replacement keeps.
constexpr size_t kKeptErrorBytes = 1024;

std::string WithThousands(size_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

size_t EncodedSizeBound(const AttemptReport& report) {
  return report.task_id.size() + report.result.output.size() + report.result.error.size() +
         kFixedFieldsBound;
}

bool FailIfOversized(AttemptReport& report, size_t max_message_bytes) {
  const size_t size = EncodedSizeBound(report);
  const size_t fits = max_message_bytes > kEnvelopeHeadroom
                          ? max_message_bytes - kEnvelopeHeadroom
                          : max_message_bytes / 2;
  if (size <= fits) return false;
  RunResult& r = report.result;
  std::string error = absl::StrFormat(
      "result of %s bytes exceeds the link's message limit of %s bytes "
      "(--max-message-bytes, less %s for the envelope); output dropped",
      WithThousands(size), WithThousands(max_message_bytes), WithThousands(kEnvelopeHeadroom));
  if (!r.error.empty()) {
    absl::StrAppend(&error, "; the attempt's own error: ", r.error.substr(0, kKeptErrorBytes));
  }
  r.outcome = RunOutcome::kFailed;
  r.output.clear();
  r.output.shrink_to_fit();
  r.error = std::move(error);
  return true;
}

}  // namespace taskwire::executor
