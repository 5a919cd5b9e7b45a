// Fuzzes the executor's configuration file (executor/process/process_config.h): the bytes
// as the text of --config, parsed (protobuf text format) and validated.
// Checks: the answer is a config or INVALID_ARGUMENT naming the file; an accepted config
// keeps every promise of ProcessCommand (a valid and unique type, an absolute argv[0], no
// NUL where exec would cut, NAME=value environment entries, sorted exit codes in 1..255,
// process slots when there are process tasks).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "executor/process/process_config.h"
#include "tests/fuzz/fuzz_support.h"

namespace taskwire::executor {
namespace {

constexpr absl::string_view kFile = "fuzz.textproto";

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

void CheckCommand(const ProcessCommand& c) {
  TASKWIRE_FUZZ_CHECK(!c.type.empty() && c.type.size() <= 128, c.type);
  TASKWIRE_FUZZ_CHECK(!c.argv.empty(), c.type);
  TASKWIRE_FUZZ_CHECK(absl::StartsWith(c.argv[0], "/"), c.argv[0]);
  for (const std::string& arg : c.argv) TASKWIRE_FUZZ_CHECK(!HasNul(arg), c.type);
  for (const std::string& env : c.env) {
    TASKWIRE_FUZZ_CHECK(!HasNul(env), c.type);
    const size_t eq = env.find('=');
    TASKWIRE_FUZZ_CHECK(eq != std::string::npos && eq > 0, env);
  }
  TASKWIRE_FUZZ_CHECK(absl::StartsWith(c.working_dir, "/") && !HasNul(c.working_dir),
                      c.working_dir);
  TASKWIRE_FUZZ_CHECK(c.timeout > absl::ZeroDuration(), c.type);
  TASKWIRE_FUZZ_CHECK(std::is_sorted(c.not_retryable_exit_codes.begin(),
                                     c.not_retryable_exit_codes.end()) &&
                          std::adjacent_find(c.not_retryable_exit_codes.begin(),
                                             c.not_retryable_exit_codes.end()) ==
                              c.not_retryable_exit_codes.end(),
                      c.type);
  for (int code : c.not_retryable_exit_codes) TASKWIRE_FUZZ_CHECK(code >= 1 && code <= 255, c.type);
  TASKWIRE_FUZZ_CHECK(c.limits.max_output_bytes > 0 && c.limits.stderr_tail_bytes > 0, c.type);
}

}  // namespace
}  // namespace taskwire::executor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace taskwire::executor;  // NOLINT(google-build-using-namespace): one function
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ProcessConfig> config = ParseProcessConfig(text, kFile);
  if (!config.ok()) {
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(config.status()), config.status().ToString());
    TASKWIRE_FUZZ_CHECK(absl::StartsWith(config.status().message(), kFile),
                        config.status().ToString());
    return 0;
  }
  TASKWIRE_FUZZ_CHECK(config->thread_slots <= 4096 && config->process_slots <= 4096, "slots");
  TASKWIRE_FUZZ_CHECK(config->commands.empty() || config->process_slots >= 1, "process_slots");
  absl::flat_hash_set<std::string> types;
  for (const ProcessCommand& c : config->commands) {
    CheckCommand(c);
    TASKWIRE_FUZZ_CHECK(types.insert(c.type).second, c.type);
  }
  // A clash with a thread type is found whenever there is one.
  if (!config->commands.empty()) {
    const absl::Status clash = CheckNoThreadTypeClash(*config, {"echo", config->commands[0].type});
    TASKWIRE_FUZZ_CHECK(absl::IsInvalidArgument(clash), clash.ToString());
  }
  return 0;
}
