// The executor's configuration file (proto/taskwire/config/v1/executor_config.proto, text
// format): loads it, validates every field, and turns it into plain structs that the
// process runner uses as they are. Errors name the file, line, column and field, e.g.
//   executor.textproto:12:5: process_tasks[1].argv[0]: must be an absolute path, got "wc"
//
//   absl::StatusOr<ProcessConfig> config = LoadProcessConfig("/etc/taskwire/executor.textproto");
#ifndef TASKWIRE_EXECUTOR_PROCESS_PROCESS_CONFIG_H_
#define TASKWIRE_EXECUTOR_PROCESS_PROCESS_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace taskwire::executor {

// 0 means "not limited" (or, for open_files, "inherited").
struct ProcessLimits {
  uint64_t cpu_seconds = 0;
  uint64_t address_space_bytes = 0;
  uint64_t open_files = 0;
  uint64_t max_output_bytes = 16 << 20;
  uint64_t stderr_tail_bytes = 8 << 10;
};

// One process-mode task type, validated.
struct ProcessCommand {
  std::string type;
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::vector<std::string> env;   // "NAME=value": the child's whole environment
  std::string working_dir = "/";
  absl::Duration timeout = absl::InfiniteDuration();
  ProcessLimits limits;
  // stdin: false = the input (upstream results then payload, concatenated); true = each
  // upstream result then the payload as "<decimal length>\n<bytes>\n" (FramedStdin).
  bool framed_stdin = false;
  std::vector<int> not_retryable_exit_codes;  // 1..255, sorted, no duplicates
};

// The bytes of STDIN_FORMAT_FRAMED: each upstream result, then the payload, each as
// "<decimal length>\n<bytes>\n".
std::string FramedStdin(const std::vector<std::string>& upstream_results,
                        const std::string& payload);

// The environment variable that tells a process task how many upstream results it has.
inline constexpr char kUpstreamCountEnv[] = "TASKWIRE_UPSTREAM_COUNT";

struct ProcessConfig {
  uint32_t thread_slots = 0;  // 0: the --slots flag decides
  uint32_t process_slots = 0;
  std::vector<ProcessCommand> commands;  // in file order
};

// Parses and validates `text`; `filename` only labels the errors.
absl::StatusOr<ProcessConfig> ParseProcessConfig(absl::string_view text,
                                                 absl::string_view filename);
absl::StatusOr<ProcessConfig> LoadProcessConfig(const std::string& path);

// A process type may not share its name with a thread handler: a client names a type, and
// the name must mean one thing.
absl::Status CheckNoThreadTypeClash(const ProcessConfig& config,
                                    const std::vector<std::string>& thread_types);

}  // namespace taskwire::executor

#endif  // TASKWIRE_EXECUTOR_PROCESS_PROCESS_CONFIG_H_
