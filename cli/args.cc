#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"

namespace taskwire::cli {
namespace {

constexpr v1::TaskState kNamedStates[] = {
    v1::TASK_STATE_PENDING,   v1::TASK_STATE_SCHEDULED, v1::TASK_STATE_QUEUED,
    v1::TASK_STATE_RUNNING,   v1::TASK_STATE_SUCCEEDED, v1::TASK_STATE_FAILED,
    v1::TASK_STATE_CANCELLED, v1::TASK_STATE_EXPIRED,
};

}  // namespace

std::string StateNameList() {
  std::string list;
  for (v1::TaskState state : kNamedStates) {
    absl::StrAppend(&list, list.empty() ? "" : ", ", std::string(client::StateName(state)));
  }
  return list;
}

absl::StatusOr<absl::Duration> ParseDurationArg(const std::string& text) {
  double seconds = 0;
  absl::Duration d;
  if (absl::SimpleAtod(text, &seconds)) {
    if (!std::isfinite(seconds)) {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not finite"));
    }
    d = absl::Seconds(seconds);
    // Past absl::Duration's range (about 292 billion years) it saturates to infinity.
    if (d == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' is too long"));
    }
  } else if (!absl::ParseDuration(text, &d) || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a duration (seconds, or e.g. 300ms, 10s, 1m30s, 1h)"));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("duration '", text, "' is negative"));
  }
  return d;
}

CLI::Validator Duration(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& text) -> std::string {
        absl::StatusOr<absl::Duration> d = ParseDurationArg(text);
        if (!d.ok()) return std::string(d.status().message());
        if (!allow_zero && *d == absl::ZeroDuration()) {
          return absl::StrCat("the duration must be more than zero, got '", text, "'");
        }
        return {};
      },
      "");
}

CLI::Option* AddDurationOption(CLI::App& app, const std::string& name, absl::Duration& target,
                               const std::string& help, bool allow_zero) {
  // CLI11 runs the check before the function: the parse below cannot fail.
  return app
      .add_option_function<std::string>(
          name, [&target](const std::string& text) { target = *ParseDurationArg(text); }, help)
      ->check(Duration(allow_zero))
      ->type_name("DURATION");
}

CLI::Validator StateName() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::optional<v1::TaskState> state = client::ParseState(text);
        if (!state || *state == v1::TASK_STATE_UNSPECIFIED) {
          return absl::StrCat("unknown state '", text, "'; expected one of: ", StateNameList());
        }
        text = std::to_string(static_cast<int>(*state));
        return {};
      },
      "");
}

CLI::Validator Label() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const size_t eq = text.find('=');
        if (eq == std::string::npos || eq == 0) {
          return absl::StrCat("label '", text, "' is not of the form key=value");
        }
        return {};
      },
      "");
}

absl::StatusOr<google::protobuf::Map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& labels) {
  google::protobuf::Map<std::string, std::string> map;
  for (const std::string& label : labels) {
    const size_t eq = label.find('=');
    std::string key = label.substr(0, eq);
    if (map.find(key) != map.end()) {
      return absl::InvalidArgumentError(absl::StrCat("label '", key, "' is given twice"));
    }
    map[key] = label.substr(eq + 1);
  }
  return map;
}

absl::StatusOr<std::string> ReadPayloadFile(const std::string& path) {
  std::ostringstream content;
  if (path == "-") {
    content << std::cin.rdbuf();
    if (std::cin.bad()) return absl::InvalidArgumentError("cannot read the payload from stdin");
    return std::move(content).str();
  }
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat("payload file '", path, "' is a directory"));
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open payload file '", path, "': ", std::strerror(errno)));
  }
  content << file.rdbuf();
  if (file.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read payload file '", path, "'"));
  }
  return std::move(content).str();
}

}  // namespace taskwire::cli
