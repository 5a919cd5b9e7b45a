// Setters for the TaskSpec options beyond type and payload: retries, ETA and countdown,
// queue-wait expiry, idempotency key, retention (docs/tasks.md explains each). They only
// fill the proto; the scheduler validates.
//
//   v1::TaskSpec spec = MakeTask("http.get", "https://example.com");
//   SetRetry(spec, {.max_attempts = 5, .initial_backoff = absl::Seconds(1)});
//   SetCountdown(spec, absl::Seconds(10));
//   SetIdempotencyKey(spec, "fetch-example-2026-01-01");
#ifndef TASKWIRE_CLIENT_TASK_OPTIONS_H_
#define TASKWIRE_CLIENT_TASK_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "taskwire/v1/task.pb.h"

namespace taskwire::client {

// Zero fields take the scheduler's defaults (RetryPolicy in task.proto).
struct RetryOptions {
  uint32_t max_attempts = 0;  // attempts in all, the first included; 1 = no retry
  absl::Duration initial_backoff = absl::ZeroDuration();
  double multiplier = 0;
  absl::Duration max_backoff = absl::ZeroDuration();
  double jitter = 0;  // in [0, 1]
};

void SetRetry(v1::TaskSpec& spec, const RetryOptions& retry);
// Run no sooner than `eta` (TaskSpec.not_before). Clears a countdown.
void SetEta(v1::TaskSpec& spec, absl::Time eta);
// Run no sooner than `delay` after the submission. Clears an ETA.
void SetCountdown(v1::TaskSpec& spec, absl::Duration delay);
// EXPIRED if no attempt has started `after` this long after the submission.
void SetExpiresAfter(v1::TaskSpec& spec, absl::Duration after);
void SetIdempotencyKey(v1::TaskSpec& spec, std::string key);
// Kept this long after it ends (result included).
void SetRetention(v1::TaskSpec& spec, absl::Duration retention);

}  // namespace taskwire::client

#endif  // TASKWIRE_CLIENT_TASK_OPTIONS_H_
