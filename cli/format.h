// Small text formatters for the human output: times, ages, durations, enum names and
// task output bytes that may or may not be text.
#ifndef TASKWIRE_CLI_FORMAT_H_
#define TASKWIRE_CLI_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "taskwire/v1/task.pb.h"

namespace taskwire::cli {

// "2026-11-25 13:05:01.123 +01:00" in the local time zone; "-" for an unset timestamp.
std::string FormatTime(const google::protobuf::Timestamp& t);

// A compact age for tables: "42s", "7m", "3h", "12d"; "-" for an unset timestamp.
std::string FormatAge(const google::protobuf::Timestamp& t, absl::Time now);

// Truncated to the millisecond from a second up, else to the microsecond: "2m3.5s",
// "1.234s", "1.523ms", "87us".
std::string FormatShortDuration(absl::Duration d);

// "1 attempt", "2 attempts", "0 attempts": `noun` with an "s" unless `n` is 1.
std::string CountOf(int64_t n, std::string_view noun);

// "succeeded", "lost", "timed_out", ...
std::string_view OutcomeName(v1::AttemptOutcome outcome);

// True when `bytes` is valid UTF-8 without control characters other than tab, CR and LF.
bool IsPrintableText(std::string_view bytes);

// `bytes` as text when printable, cut after `max_bytes` with a note; else a hex dump of the
// first bytes. Ends without a newline.
std::string RenderBytes(std::string_view bytes, size_t max_bytes);

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_FORMAT_H_
