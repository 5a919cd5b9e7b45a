#include "cli/task_args.h"

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "common/grpc_status.h"

namespace taskwire::cli {

CLI::Validator Rfc3339() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        absl::Time t;
        std::string error;
        if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
          return absl::StrCat("'", text, "' is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z): ",
                              error);
        }
        return {};
      },
      "");
}

void AddTaskOptions(CLI::App& app, TaskOptionArgs& args, const char* subject) {
  app.add_option("--queue", args.queue, "Queue (default: \"default\")");
  app.add_option("--priority", args.priority, "Higher runs first")
      ->check(CLI::Range(-100, 100))
      ->capture_default_str();
  app.add_option("--timeout", args.timeout, "Run-time limit of one attempt (default: none)")
      ->check(Duration())
      ->type_name("DURATION");
  app.add_option("--label", args.labels, "A label; repeat for more")
      ->transform(Label())
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app.add_option("--retries", args.retries,
                 "Retries after a failed or timed-out attempt (default: the scheduler's)")
      ->check(CLI::Range(0, 1000))
      ->type_name("N");
  app.add_option("--backoff", args.backoff, "Wait before the first retry (later waits grow by the scheduler's multiplier)")
      ->check(Duration())
      ->type_name("DURATION");
  CLI::Option* countdown =
      app.add_option("--countdown", args.countdown, "Run no sooner than this after submitting")
          ->check(Duration())
          ->type_name("DURATION");
  app.add_option("--eta", args.eta, "Run no sooner than this time")
      ->check(Rfc3339())
      ->type_name("RFC3339")
      ->excludes(countdown);
  app.add_option("--expires", args.expires,
                 "Expire if not started this long after submitting (default: never)")
      ->check(Duration())
      ->type_name("DURATION");
  app.add_option("--idempotency-key", args.idempotency_key,
                 absl::StrCat("Submitting the same key again returns the first ", subject))
      ->type_name("KEY");
  app.add_option("--retention", args.retention,
                 absl::StrCat("Keep the finished ", subject,
                              " this long (default: the scheduler's)"))
      ->check(Duration())
      ->type_name("DURATION");
}

absl::Status ApplyTaskOptions(const TaskOptionArgs& args, v1::TaskSpec& spec) {
  absl::StatusOr<google::protobuf::Map<std::string, std::string>> labels = ParseLabels(args.labels);
  if (!labels.ok()) return labels.status();
  *spec.mutable_labels() = *std::move(labels);
  spec.set_queue(args.queue);
  spec.set_priority(args.priority);
  // `field` is called only for a value given: calling a mutable_ accessor sets the field.
  auto duration = [&spec](const std::string& text,
                          google::protobuf::Duration* (v1::TaskSpec::*field)()) -> absl::Status {
    if (text.empty()) return absl::OkStatus();
    absl::StatusOr<absl::Duration> d = ParseDurationArg(text);
    if (!d.ok()) return d.status();
    ToProto(*d, (spec.*field)());
    return absl::OkStatus();
  };
  if (!args.timeout.empty()) {
    absl::StatusOr<absl::Duration> timeout = ParseDurationArg(args.timeout);
    if (!timeout.ok()) return timeout.status();
    if (*timeout > absl::ZeroDuration()) ToProto(*timeout, spec.mutable_timeout());
  }
  if (args.retries >= 0) spec.mutable_retry()->set_max_attempts(static_cast<uint32_t>(args.retries) + 1);
  if (!args.backoff.empty()) {
    absl::StatusOr<absl::Duration> backoff = ParseDurationArg(args.backoff);
    if (!backoff.ok()) return backoff.status();
    ToProto(*backoff, spec.mutable_retry()->mutable_initial_backoff());
  }
  if (!args.countdown.empty() && !args.eta.empty()) {
    return absl::InvalidArgumentError("give --countdown or --eta, not both");
  }
  if (absl::Status s = duration(args.countdown, &v1::TaskSpec::mutable_countdown); !s.ok()) return s;
  if (!args.eta.empty()) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, args.eta, &t, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--eta: ", error));
    }
    ToProto(t, spec.mutable_not_before());
  }
  if (absl::Status s = duration(args.expires, &v1::TaskSpec::mutable_expires_after); !s.ok()) return s;
  if (absl::Status s = duration(args.retention, &v1::TaskSpec::mutable_retention); !s.ok()) return s;
  spec.set_idempotency_key(args.idempotency_key);
  return absl::OkStatus();
}

absl::StatusOr<v1::TaskSpec> ParseTaskWord(const std::string& word) {
  const size_t colon = word.find(':');
  v1::TaskSpec spec;
  spec.set_type(word.substr(0, colon));
  if (colon != std::string::npos) spec.set_payload(word.substr(colon + 1));
  if (spec.type().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", word, "' names no task type; write TYPE or TYPE:PAYLOAD"));
  }
  // An option after `--` (chord A -- B --wait) would otherwise become a task of type
  // "--wait" that no executor runs.
  if (word.front() == '-') {
    return absl::InvalidArgumentError(absl::StrCat(
        "task word '", word,
        "' starts with '-': it is not an option here; put options before the task words "
        "(and before '--')"));
  }
  return spec;
}

}  // namespace taskwire::cli
