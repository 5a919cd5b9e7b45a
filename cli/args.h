// Checks and conversions of command-line values, shared by the commands: durations, state
// names, labels and payload files. A value that fails a CLI11 check below ends the command
// with a usage error (exit code 2) before anything is sent.
#ifndef TASKWIRE_CLI_ARGS_H_
#define TASKWIRE_CLI_ARGS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/map.h"

namespace taskwire::cli {

// Validators: each describes itself through the option's type_name, not here.

// The one duration syntax of every flag that takes one: a number of seconds ("1.5") or
// Go-style units ("300ms", "10s", "1m30s", "1h"; ns, us, ms, s, m, h). Finite, not negative.
absl::StatusOr<absl::Duration> ParseDurationArg(const std::string& text);

// ParseDurationArg as a CLI11 check; zero is refused unless `allow_zero`.
CLI::Validator Duration(bool allow_zero = true);

// An option `name` that takes a duration (ParseDurationArg) into `target`; `target` keeps
// its value when the option is not given.
CLI::Option* AddDurationOption(CLI::App& app, const std::string& name, absl::Duration& target,
                               const std::string& help, bool allow_zero);

// A task state name such as "queued" or "FAILED"; rewrites it to the enum's number so that
// the option can be bound to a v1::TaskState directly. Use with Option::transform.
CLI::Validator StateName();

// "pending, scheduled, ..., expired": the names StateName() accepts, for help texts.
std::string StateNameList();

// "key=value" with a non-empty key.
CLI::Validator Label();

// Turns "k=v" strings (already checked by Label()) into a map; a key given twice is an
// INVALID_ARGUMENT error.
absl::StatusOr<google::protobuf::Map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& labels);

// The whole content of `path`, or of standard input for "-".
absl::StatusOr<std::string> ReadPayloadFile(const std::string& path);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_ARGS_H_
