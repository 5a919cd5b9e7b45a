// Checks and conversions of command-line values, shared by the commands: seconds, state
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

// A decimal number of seconds, finite, > 0 (or >= 0 with `allow_zero`).
CLI::Validator Seconds(bool allow_zero);

// A task state name such as "queued" or "FAILED"; rewrites it to the enum's number so that
// the option can be bound to a v1::TaskState directly. Use with Option::transform.
CLI::Validator StateName();

// "pending, scheduled, ..., expired": the names StateName() accepts, for help texts.
std::string StateNameList();

// "key=value" with a non-empty key.
CLI::Validator Label();

// Seconds from the command line; infinity gives absl::InfiniteDuration().
absl::Duration SecondsToDuration(double seconds);

// Turns "k=v" strings (already checked by Label()) into a map; a key given twice is an
// INVALID_ARGUMENT error.
absl::StatusOr<google::protobuf::Map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& labels);

// The whole content of `path`, or of standard input for "-".
absl::StatusOr<std::string> ReadPayloadFile(const std::string& path);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_ARGS_H_
