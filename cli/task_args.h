// The task options that `submit`, `chain`, `group` and `chord` share (queue, priority,
// timeout, labels, retries, countdown/ETA, expiry, idempotency key, retention), the
// TYPE[:PAYLOAD] words of the workflow commands, and the duration syntax of the flags.
#ifndef TASKWIRE_CLI_TASK_ARGS_H_
#define TASKWIRE_CLI_TASK_ARGS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/args.h"  // ParseDurationArg, Duration: the duration syntax
#include "taskwire/v1/task.pb.h"

namespace taskwire::cli {

struct TaskOptionArgs {
  std::string queue;
  int priority = 0;
  std::string timeout;          // a Duration(); zero: no limit
  std::vector<std::string> labels;
  int retries = -1;             // -1: the scheduler's default; N: N retries (N + 1 attempts)
  std::string backoff;          // a Duration()
  std::string countdown;        // a Duration()
  std::string eta;              // RFC 3339
  std::string expires;          // a Duration()
  std::string idempotency_key;  // names the task (submit) or the workflow (chain, ...)
  std::string retention;        // a Duration()
};

// Declares the options on `app`. The help of --idempotency-key and --retention names what
// they apply to, `subject`: "task" for submit, "workflow" for chain, group and chord.
void AddTaskOptions(CLI::App& app, TaskOptionArgs& args, const char* subject);

// Sets the options on `spec` (type and payload are left as they are). INVALID_ARGUMENT for
// a value the validators could not see alone (both --countdown and --eta, a bad label).
absl::Status ApplyTaskOptions(const TaskOptionArgs& args, v1::TaskSpec& spec);

// "2026-01-02T15:04:05Z" or with an offset ("+01:00").
CLI::Validator Rfc3339();

// One word of chain/group/chord: "TYPE" or "TYPE:PAYLOAD", split at the first ':' (so a
// type that contains ':' cannot be named this way). An empty type, or a word that starts
// with '-' (an option misplaced after `--`), is INVALID_ARGUMENT.
absl::StatusOr<v1::TaskSpec> ParseTaskWord(const std::string& word);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_TASK_ARGS_H_
