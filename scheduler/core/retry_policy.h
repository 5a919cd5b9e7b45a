// How long a task waits before its next attempt: exponential backoff with jitter.
#ifndef TASKWIRE_SCHEDULER_CORE_RETRY_POLICY_H_
#define TASKWIRE_SCHEDULER_CORE_RETRY_POLICY_H_

#include <cstdint>

#include "absl/time/time.h"
#include "scheduler/core/task_record.h"

namespace taskwire::scheduler {

// `policy` with every zero field taken from `defaults`.
RetryPolicy WithDefaults(const RetryPolicy& policy, const RetryPolicy& defaults);

// The wait before retry number `retry` (1 for the first retry): initial_backoff *
// multiplier^(retry-1), capped at max_backoff, then scaled into
// [wait * (1 - jitter), wait] by `unit_random` in [0, 1].
absl::Duration BackoffFor(const RetryPolicy& policy, uint32_t retry, double unit_random);

}  // namespace taskwire::scheduler

#endif  // TASKWIRE_SCHEDULER_CORE_RETRY_POLICY_H_
