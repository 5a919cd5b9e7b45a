#include "scheduler/core/task_validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"

namespace taskwire::scheduler {
namespace {

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
         c == ':' || c == '-';
}

}  // namespace

absl::Status ValidateName(absl::string_view field, absl::string_view name, size_t max_bytes) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  if (name.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", name.size(),
                                                   " bytes long; the limit is ", max_bytes));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " ", Quote(name), " has a character outside [A-Za-z0-9_.:-]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTaskSpec(absl::string_view field, const TaskSpec& spec,
                              const TaskLimits& limits) {
  if (auto s = ValidateName(absl::StrCat(field, ".type"), spec.type, limits.max_name_bytes);
      !s.ok()) {
    return s;
  }
  // A command-line option that became a task word (`chord a -- b --wait`) would make a task
  // that no executor serves and that waits forever.
  if (spec.type.front() == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".type ", Quote(spec.type),
                     " starts with '-'; task types cannot (a command-line option in the wrong "
                     "place?)"));
  }
  if (auto s = ValidateName(absl::StrCat(field, ".queue"), spec.queue, limits.max_name_bytes);
      !s.ok()) {
    return s;
  }
  if (spec.payload.size() > limits.max_payload_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".payload is ", spec.payload.size(), " bytes; the limit is ",
                     limits.max_payload_bytes, " (--max-payload-bytes)"));
  }
  if (spec.priority < limits.min_priority || spec.priority > limits.max_priority) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".priority ", spec.priority,
                                                   " is outside [", limits.min_priority, ", ",
                                                   limits.max_priority, "]"));
  }
  if (spec.timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".timeout is negative (", absl::FormatDuration(spec.timeout), ")"));
  }
  if (spec.labels.size() > limits.max_labels) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".labels has ", spec.labels.size(),
                                                   " entries; the limit is ", limits.max_labels));
  }
  for (const auto& [key, value] : spec.labels) {
    if (key.empty() || key.size() > limits.max_label_bytes ||
        value.size() > limits.max_label_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".labels['", key.substr(0, 32),
                       "']: keys must be non-empty and keys and values at most ",
                       limits.max_label_bytes, " bytes"));
    }
  }
  if (absl::Status s = ValidateRetryPolicy(absl::StrCat(field, ".retry"), spec.retry, limits);
      !s.ok()) {
    return s;
  }
  if (spec.countdown < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".countdown is negative"));
  }
  if (spec.countdown > absl::ZeroDuration() && spec.not_before != absl::InfinitePast()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": set not_before or countdown, not both"));
  }
  if (spec.expires_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".expires_after is negative"));
  }
  if (spec.retention < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".retention is negative"));
  }
  if (spec.idempotency_key.size() > limits.max_idempotency_key_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".idempotency_key is ", spec.idempotency_key.size(),
                     " bytes; the limit is ", limits.max_idempotency_key_bytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateRetryPolicy(absl::string_view field, const RetryPolicy& p,
                                 const TaskLimits& limits) {
  if (p.max_attempts > limits.max_attempts) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".max_attempts ", p.max_attempts,
                                                   " is above the limit of ",
                                                   limits.max_attempts));
  }
  if (p.initial_backoff < absl::ZeroDuration() || p.max_backoff < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": backoffs must not be negative"));
  }
  if (p.multiplier != 0 && !(p.multiplier >= 1 && p.multiplier <= 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".multiplier ", p.multiplier, " is outside [1, 100]"));
  }
  if (!(p.jitter >= 0 && p.jitter <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".jitter ", p.jitter, " is outside [0, 1]"));
  }
  return absl::OkStatus();
}

}  // namespace taskwire::scheduler
