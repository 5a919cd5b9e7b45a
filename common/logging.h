// Process-wide logging setup on spdlog: one line per event, text for people or JSON for
// containers. Call InitLogging once from main(); then use spdlog::info(...) and friends.
#ifndef TASKWIRE_COMMON_LOGGING_H_
#define TASKWIRE_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

// Debian's Abseil has its own string_view type; let spdlog/fmt print it.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace taskwire {

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  bool json = false;
  std::string service;         // "scheduler", "executor": a field of every line
};

// Logs go to stderr. Fails on an unknown level name.
absl::Status InitLogging(const LogOptions& options);

}  // namespace taskwire

#endif  // TASKWIRE_COMMON_LOGGING_H_
